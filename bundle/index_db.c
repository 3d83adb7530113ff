/* index.db (docs/design.md §7, docs/index-schema.md): written once per bundle in a single
 * transaction through prepared statements. The schema is in index_schema.c; reading it
 * back, from bytes taken out of a bundle that may not be trusted, in index_read.c. */
#include "bale/index_db.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bale/buf.h"
#include "bale/json.h"
#include "bale/manifest.h"
#include "bale/ref.h"
#include "bale/sys/sql_guard.h"
#include "bundle/index_private.h"

#define STRINGIFY(x) #x
#define XSTRINGIFY(x) STRINGIFY(x)

enum stmt_id {
	ST_BLOB,
	ST_IMAGE,
	ST_PLATFORM,
	ST_MANIFEST,
	ST_LAYER,
	ST_IMAGE_MANIFEST,
	ST_LABEL,
	ST_INDEX,
	ST_FOREIGN,
	ST_MEMBER,
	ST_COUNT,
};

/* Shared rows (blobs, manifests, their layers and labels) are inserted OR IGNORE: the
 * first image to carry them writes them, later ones find them there. */
static const char *const stmt_sql[ST_COUNT] = {
    [ST_BLOB] = "INSERT OR IGNORE INTO blobs (digest, size, media_type, kind)"
                " VALUES (?1, ?2, ?3, ?4)",
    [ST_IMAGE] = "INSERT INTO images (ref, registry, repository, tag, digest, media_type,"
                 " size, pulled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_PLATFORM] = "INSERT INTO image_platforms (image_id, position, os, architecture,"
                    " variant, os_version, os_features, manifest_digest, media_type, size,"
                    " carried, artifact, parent_digest, entry_position)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [ST_MANIFEST] = "INSERT OR IGNORE INTO manifests (digest, media_type, os, architecture,"
                    " variant, os_version, os_features, config_digest, created, size,"
                    " artifact, artifact_type, subject_digest)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_LAYER] = "INSERT OR IGNORE INTO manifest_layers (manifest_digest, position,"
                 " layer_digest) VALUES (?1, ?2, ?3)",
    [ST_IMAGE_MANIFEST] = "INSERT OR IGNORE INTO image_manifests (image_id, manifest_digest)"
                          " VALUES (?1, ?2)",
    [ST_LABEL] = "INSERT OR IGNORE INTO labels (config_digest, key, value) VALUES (?1, ?2, ?3)",
    [ST_INDEX] = "INSERT INTO image_indexes (image_id, position, digest, media_type, size,"
                 " parent_digest, entry_position, depth, os, architecture, variant,"
                 " os_version, os_features, carried)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [ST_FOREIGN] = "INSERT OR IGNORE INTO foreign_layers (manifest_digest, position,"
                   " layer_digest, size, media_type, carried) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_MEMBER] = "UPDATE blobs SET member = ?2 WHERE digest = ?1",
};

struct bale_index_db {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *stmt[ST_COUNT];
	size_t expected;           /* layers a delta leaves out: no member place */
	sqlite3_stmt *volume_st;   /* a volume set's rows (schema 4 only: prepared on first use) */
	sqlite3_stmt *referrer_st; /* attachments (schema 5 only: prepared on first use) */
	sqlite3_stmt *rule_st;     /* image set rules (schema 6 only: prepared on first use) */
	bool finished;
};

static int db_fail(sqlite3 *db, int code, bale_error **err, const char *what)
{
	return bale_error_set(err, code, "index.db: %s: %s", what, sqlite3_errmsg(db));
}

static int exec(sqlite3 *db, const char *sql, const char *what, bale_error **err)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, BALE_EGENERIC, err, what);
	return 0;
}

/* Empty strings are stored as NULL: "no tag", "no variant", "no creation time". */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (!s || !*s)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Steps an INSERT to completion and readies it for the next row. */
static int run(bale_index_db *x, enum stmt_id id, const char *what, bale_error **err)
{
	sqlite3_stmt *st = x->stmt[id];
	int src = sqlite3_step(st);
	int rc = 0;
	if (src != SQLITE_DONE)
		rc = db_fail(x->db, BALE_EGENERIC, err, what);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static int add_blob(bale_index_db *x, const bale_descriptor *d, const char *kind, bale_error **err)
{
	sqlite3_stmt *st = x->stmt[ST_BLOB];
	bind_text(st, 1, d->digest.str);
	sqlite3_bind_int64(st, 2, d->size);
	bind_text(st, 3, d->media_type);
	bind_text(st, 4, kind);
	return run(x, ST_BLOB, d->digest.str, err);
}

/* os, architecture, variant, os_version and os_features at columns first.. first+4. */
static void bind_platform(sqlite3_stmt *st, int first, const bale_platform *p)
{
	bind_text(st, first, p->os);
	bind_text(st, first + 1, p->arch);
	bind_text(st, first + 2, p->variant);
	bind_text(st, first + 3, p->os_version);
	bind_text(st, first + 4, p->os_features);
}

static int add_platform(bale_index_db *x, sqlite3_int64 image_id, size_t position,
                        const bale_image_manifest *m, bale_error **err)
{
	sqlite3_stmt *st = x->stmt[ST_PLATFORM];
	sqlite3_bind_int64(st, 1, image_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)position);
	if (m->has_platform)
		bind_platform(st, 3, &m->platform);
	bind_text(st, 8, m->desc.digest.str);
	bind_text(st, 9, m->desc.media_type);
	sqlite3_bind_int64(st, 10, m->desc.size);
	sqlite3_bind_int(st, 11, m->selected ? 1 : 0);
	sqlite3_bind_int(st, 12, m->artifact ? 1 : 0);
	bind_text(st, 13, m->parent.str); /* "" for a single manifest: NULL */
	sqlite3_bind_int64(st, 14, (sqlite3_int64)m->position);
	return run(x, ST_PLATFORM, m->desc.digest.str, err);
}

static int add_index(bale_index_db *x, sqlite3_int64 image_id, size_t position,
                     const bale_image_index *ix, bale_error **err)
{
	sqlite3_stmt *st = x->stmt[ST_INDEX];
	int rc = ix->selected ? add_blob(x, &ix->desc, "index", err) : 0;
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, image_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)position);
	bind_text(st, 3, ix->desc.digest.str);
	bind_text(st, 4, ix->desc.media_type);
	sqlite3_bind_int64(st, 5, ix->desc.size);
	bind_text(st, 6, ix->parent.str);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)ix->position);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)ix->depth);
	if (ix->has_platform)
		bind_platform(st, 9, &ix->platform);
	sqlite3_bind_int(st, 14, ix->selected ? 1 : 0);
	return run(x, ST_INDEX, ix->desc.digest.str, err);
}

static int add_labels(bale_index_db *x, const bale_image_manifest *m, const bale_buf *config,
                      bale_error **err)
{
	json_t *doc = NULL;
	const char *key;
	json_t *value;
	int rc =
	    bale_json_parse(&doc, config->data, config->len, BALE_CAP_CONFIG, "image config", err);
	if (rc < 0)
		return rc;
	/* Docker writes `"Labels": null` for none; anything not an object has none. */
	json_t *labels = json_object_get(json_object_get(doc, "config"), "Labels");
	sqlite3_stmt *st = x->stmt[ST_LABEL];
	json_object_foreach(labels, key, value)
	{
		if (!json_is_string(value))
			continue; /* labels are string to string; skip what is not */
		bind_text(st, 1, m->config.digest.str);
		sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, json_string_value(value), (int)json_string_length(value),
		                  SQLITE_STATIC);
		if ((rc = run(x, ST_LABEL, "label", err)) < 0)
			goto cleanup;
	}
cleanup:
	json_decref(doc);
	return rc;
}

/* How add_image reads configs for their labels (NULL: no labels). */
typedef struct config_source {
	bale_index_config_fn read;
	void *payload;
} config_source;

/* One carried manifest: its blobs, its row, its layers and its config's labels. */
static int add_manifest(bale_index_db *x, sqlite3_int64 image_id, const bale_image_manifest *m,
                        const config_source *cs, bale_error **err)
{
	int rc = 0;
	sqlite3_stmt *st = x->stmt[ST_MANIFEST];
	if ((rc = add_blob(x, &m->desc, "manifest", err)) < 0 ||
	    (rc = add_blob(x, &m->config, "config", err)) < 0)
		return rc;
	bind_text(st, 1, m->desc.digest.str);
	bind_text(st, 2, m->desc.media_type);
	if (m->has_platform)
		bind_platform(st, 3, &m->platform);
	bind_text(st, 8, m->config.digest.str);
	bind_text(st, 9, m->created);
	sqlite3_bind_int64(st, 10, m->desc.size);
	sqlite3_bind_int(st, 11, m->artifact ? 1 : 0);
	bind_text(st, 12, m->artifact_type);
	bind_text(st, 13, m->has_subject ? m->subject.str : NULL);
	if ((rc = run(x, ST_MANIFEST, m->desc.digest.str, err)) < 0)
		return rc;
	/* A manifest already indexed came with its layers and labels (each image is
	 * added whole or not at all), so another image carrying it costs one row. */
	bool is_new = sqlite3_changes(x->db) > 0;
	for (size_t i = 0; is_new && i < m->n_layers; i++) {
		if ((rc = add_blob(x, &m->layers[i], "layer", err)) < 0)
			return rc;
		/* where it sits in the manifest: foreign layers before it leave gaps */
		st = x->stmt[ST_LAYER];
		bind_text(st, 1, m->desc.digest.str);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)(m->positions ? m->positions[i] : i));
		bind_text(st, 3, m->layers[i].digest.str);
		if ((rc = run(x, ST_LAYER, m->layers[i].digest.str, err)) < 0)
			return rc;
	}
	for (size_t i = 0; is_new && i < m->n_foreign; i++) {
		/* carried: a blob of the bundle like any layer, still recorded here */
		if (m->foreign_carried && (rc = add_blob(x, &m->foreign[i], "layer", err)) < 0)
			return rc;
		st = x->stmt[ST_FOREIGN];
		bind_text(st, 1, m->desc.digest.str);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)m->foreign_positions[i]);
		bind_text(st, 3, m->foreign[i].digest.str);
		sqlite3_bind_int64(st, 4, m->foreign[i].size);
		bind_text(st, 5, m->foreign[i].media_type);
		sqlite3_bind_int(st, 6, m->foreign_carried ? 1 : 0);
		if ((rc = run(x, ST_FOREIGN, m->foreign[i].digest.str, err)) < 0)
			return rc;
	}
	st = x->stmt[ST_IMAGE_MANIFEST];
	sqlite3_bind_int64(st, 1, image_id);
	bind_text(st, 2, m->desc.digest.str);
	if ((rc = run(x, ST_IMAGE_MANIFEST, m->desc.digest.str, err)) < 0)
		return rc;
	if (!is_new || !cs->read)
		return 0;
	/* Read back one at a time: configs are not kept in memory. */
	bale_buf config;
	bale_buf_init(&config, BALE_CAP_CONFIG, "image config");
	if ((rc = cs->read(cs->payload, &m->config, &config, err)) < 0 ||
	    (rc = add_labels(x, m, &config, err)) < 0)
		bale_error_wrap(err, "config %s", m->config.digest.str);
	bale_buf_free(&config);
	return rc;
}

/* The image row; a reference indexed twice is the caller's duplicate, not a
 * database failure. */
static int add_image_row(bale_index_db *x, const bale_image *image, const char *pulled_at,
                         sqlite3_int64 *id, bale_error **err)
{
	bale_ref *ref = NULL;
	sqlite3_stmt *st = x->stmt[ST_IMAGE];
	int rc = bale_ref_parse(&ref, image->ref, err);
	if (rc < 0)
		return rc;
	bind_text(st, 1, image->ref);
	bind_text(st, 2, image->domain);
	bind_text(st, 3, image->repository);
	bind_text(st, 4, bale_ref_tag(ref));
	bind_text(st, 5, image->root.digest.str);
	sqlite3_bind_text(st, 6, image->root.media_type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, image->root.size);
	bind_text(st, 8, pulled_at);
	int src = sqlite3_step(st);
	if (src == SQLITE_DONE)
		*id = sqlite3_last_insert_rowid(x->db);
	else if (sqlite3_extended_errcode(x->db) == SQLITE_CONSTRAINT_UNIQUE)
		rc = bale_error_set(err, BALE_EUSAGE, "index.db: already indexed");
	else
		rc = db_fail(x->db, BALE_EGENERIC, err, image->ref);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	bale_ref_free(ref);
	return rc;
}

/* What an attachment is, beside its image row: an index written without the referrers
 * table (a bundle said to carry none) refuses it. */
static int add_referrer(bale_index_db *x, sqlite3_int64 image_id, const bale_image *image,
                        bale_error **err)
{
	const char *tag = strrchr(image->ref, ':');
	if (!x->referrer_st &&
	    sqlite3_prepare_v2(x->db,
	                       "INSERT INTO referrers (image_id, subject, digest, media_type,"
	                       " artifact_type, kind, tag, signer_key_id, policy_digest)"
	                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	                       -1, &x->referrer_st, NULL) != SQLITE_OK)
		return db_fail(x->db, BALE_EGENERIC, err, "referrers");
	sqlite3_stmt *st = x->referrer_st;
	sqlite3_bind_int64(st, 1, image_id);
	bind_text(st, 2, image->subject.str);
	bind_text(st, 3, image->root.digest.str);
	bind_text(st, 4, image->root.media_type);
	bind_text(st, 5, image->attachment_type);
	bind_text(st, 6, image->attachment_kind);
	/* the tag it was found under; a referrer by digest has none */
	bind_text(st, 7, strchr(image->ref, '@') || !tag || strchr(tag, '/') ? NULL : tag + 1);
	bind_text(st, 8, image->signer_key_id);
	bind_text(st, 9, image->policy_digest);
	int rc =
	    sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(x->db, BALE_EGENERIC, err, "referrers");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* Which rule of an image set chose the image (schema 6). */
static int add_rule(bale_index_db *x, sqlite3_int64 image_id, const bale_image *image,
                    bale_error **err)
{
	if (!x->rule_st &&
	    sqlite3_prepare_v2(x->db, "INSERT INTO image_rules (image_id, rule) VALUES (?1, ?2)",
	                       -1, &x->rule_st, NULL) != SQLITE_OK)
		return db_fail(x->db, BALE_EGENERIC, err, "image_rules");
	sqlite3_bind_int64(x->rule_st, 1, image_id);
	bind_text(x->rule_st, 2, image->rule);
	int rc = sqlite3_step(x->rule_st) == SQLITE_DONE
	             ? 0
	             : db_fail(x->db, BALE_EGENERIC, err, "image_rules");
	sqlite3_reset(x->rule_st);
	sqlite3_clear_bindings(x->rule_st);
	return rc;
}

static int add_image_rows(bale_index_db *x, const bale_image *image, const char *pulled_at,
                          const config_source *cs, bale_error **err)
{
	sqlite3_int64 id = 0;
	const char *root_kind =
	    bale_manifest_type_is_index(image->root.media_type) ? "index" : "manifest";
	int rc = add_blob(x, &image->root, root_kind, err);
	if (rc < 0 || (rc = add_image_row(x, image, pulled_at, &id, err)) < 0 ||
	    (image->attachment_kind[0] && (rc = add_referrer(x, id, image, err)) < 0) ||
	    (image->rule[0] && (rc = add_rule(x, id, image, err)) < 0))
		return rc;
	for (size_t i = 0; i < image->n_indexes; i++)
		if ((rc = add_index(x, id, i, &image->indexes[i], err)) < 0)
			return rc;
	for (size_t i = 0; i < image->n_manifests; i++) {
		const bale_image_manifest *m = &image->manifests[i];
		if ((rc = add_platform(x, id, i, m, err)) < 0)
			return rc;
		if (m->selected && (rc = add_manifest(x, id, m, cs, err)) < 0)
			return rc;
	}
	return 0;
}

static void finalize_all(bale_index_db *x)
{
	for (size_t i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(x->stmt[i]);
		x->stmt[i] = NULL;
	}
	sqlite3_finalize(x->volume_st);
	x->volume_st = NULL;
	sqlite3_finalize(x->referrer_st);
	x->referrer_st = NULL;
	sqlite3_finalize(x->rule_st);
	x->rule_st = NULL;
}

int bale_index_db_create(bale_index_db **out, const char *path, const bale_index_bundle_info *info,
                         bale_error **err)
{
	assert(info && info->bundle_id && info->created && info->tool_version);
	bale_index_db *x = NULL;
	sqlite3_stmt *st = NULL;
	bool created = false;
	int rc = 0;
	int version = info->rules       ? BALE_INDEX_SCHEMA_RULES
	              : info->referrers ? BALE_INDEX_SCHEMA_REFERRERS
	              : info->volumes   ? BALE_INDEX_SCHEMA_VOLUMES
	                                : BALE_INDEX_SCHEMA_VERSION;
	char user_version[64];
	snprintf(user_version, sizeof(user_version), "PRAGMA user_version = %d", version);
	/* O_EXCL: never build on top of a file someone else left or is writing. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "index.db: create %s", path);
		goto cleanup;
	}
	close(fd);
	created = true;
	if (!(x = calloc(1, sizeof(*x))) || !(x->path = strdup(path))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if (sqlite3_open_v2(path, &x->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		rc = x->db ? db_fail(x->db, BALE_EGENERIC, err, path)
		           : bale_error_set(err, BALE_EGENERIC, "index.db: out of memory");
		goto cleanup;
	}
	/* No journal file and no syncs while building: the caller renames the file into
	 * place only after finish, so a crash leaves a temporary file, never a half index.
	 * The journal stays in memory so that a failed image can still be rolled back.
	 * The page cache is held to 512 KiB (SQLite's default is 2 MiB): the index grows
	 * with the images and its pages spill to the file, so memory does not. */
	if ((rc = exec(x->db,
	               "PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF;"
	               "PRAGMA cache_size = -512;"
	               "PRAGMA foreign_keys = ON;"
	               "PRAGMA application_id = " XSTRINGIFY(INDEX_APPLICATION_ID) ";",
	               "settings", err)) < 0 ||
	    (rc = exec(x->db, "BEGIN", "begin", err)) < 0 ||
	    (rc = bundle_index_schema_create(x->db, version) == SQLITE_OK
	              ? 0
	              : db_fail(x->db, BALE_EGENERIC, err, "schema")) < 0 ||
	    (rc = exec(x->db, user_version, "schema version", err)) < 0)
		goto cleanup;
	if (sqlite3_prepare_v2(x->db,
	                       "INSERT INTO bundle (bundle_id, created, tool_version,"
	                       " signer_key_id, schema_version) VALUES (?1, ?2, ?3, ?4, ?5)",
	                       -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(x->db, BALE_EGENERIC, err, "bundle");
		goto cleanup;
	}
	bind_text(st, 1, info->bundle_id);
	bind_text(st, 2, info->created);
	bind_text(st, 3, info->tool_version);
	bind_text(st, 4, info->signer_key_id);
	sqlite3_bind_int(st, 5, version);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(x->db, BALE_EGENERIC, err, "bundle");
		goto cleanup;
	}
	for (size_t i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(x->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		                       &x->stmt[i], NULL) != SQLITE_OK) {
			rc = db_fail(x->db, BALE_EGENERIC, err, "prepare");
			goto cleanup;
		}
	}
	*out = x;
	x = NULL;
	created = false;
cleanup:
	sqlite3_finalize(st);
	bale_index_db_free(x);
	if (created)
		unlink(path);
	return rc;
}

int bale_index_db_add_image(bale_index_db *x, const bale_image *image, const char *pulled_at,
                            bale_index_config_fn read_config, void *payload, bale_error **err)
{
	assert(x && !x->finished && image && pulled_at);
	const config_source cs = {read_config, payload};
	/* A savepoint per image: one that fails leaves nothing behind, and the caller may
	 * go on with the others. */
	int rc = exec(x->db, "SAVEPOINT add_image", "savepoint", err);
	if (rc < 0)
		return rc;
	if ((rc = add_image_rows(x, image, pulled_at, &cs, err)) < 0) {
		bale_error_wrap(err, "%s", image->ref);
		sqlite3_exec(x->db, "ROLLBACK TO add_image; RELEASE add_image", NULL, NULL, NULL);
		return rc;
	}
	return exec(x->db, "RELEASE add_image", "release", err);
}

int bale_index_db_set_member(bale_index_db *x, const bale_digest *blob, int64_t member,
                             bale_error **err)
{
	sqlite3_stmt *st = x->stmt[ST_MEMBER];
	bind_text(st, 1, blob->str);
	sqlite3_bind_int64(st, 2, member);
	int rc = run(x, ST_MEMBER, blob->str, err);
	if (rc == 0 && sqlite3_changes(x->db) != 1)
		rc = bale_error_set(err, BALE_EGENERIC, "index.db: blob %s is not recorded",
		                    blob->str);
	return rc;
}

int bale_index_db_add_volume_member(bale_index_db *x, int volume, int64_t position,
                                    const bale_digest *blob, int part, int64_t offset, int64_t size,
                                    const bale_digest *part_digest, bale_error **err)
{
	int rc = 0;
	if (!x->volume_st &&
	    sqlite3_prepare_v3(x->db,
	                       "INSERT INTO volume_members (volume, position, digest, part, offset,"
	                       " size, part_digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	                       -1, SQLITE_PREPARE_PERSISTENT, &x->volume_st, NULL) != SQLITE_OK)
		return db_fail(x->db, BALE_EGENERIC, err, "volume members");
	sqlite3_stmt *st = x->volume_st;
	sqlite3_bind_int(st, 1, volume);
	sqlite3_bind_int64(st, 2, position);
	bind_text(st, 3, blob->str);
	sqlite3_bind_int(st, 4, part);
	sqlite3_bind_int64(st, 5, offset);
	sqlite3_bind_int64(st, 6, size);
	bind_text(st, 7, part_digest->str);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(x->db, BALE_EGENERIC, err, "volume members");
	sqlite3_reset(st);
	return rc;
}

int bale_index_db_expect(bale_index_db *x, const bale_digest *blob, bale_error **err)
{
	(void)blob; /* no place is its mark; check_members holds the count to it */
	(void)err;
	x->expected++;
	return 0;
}

/* Every blob has its place in the archive, but the layers a delta expects at the site:
 * what the index lists is what the bundle holds or says it leaves out. */
static int check_members(bale_index_db *x, bale_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(x->db,
	                       "SELECT count(*), min(digest), sum(kind != 'layer') FROM blobs"
	                       " WHERE member IS NULL",
	                       -1, &st, NULL) != SQLITE_OK)
		return db_fail(x->db, BALE_EGENERIC, err, "members");
	int src = sqlite3_step(st);
	if (src == SQLITE_ROW &&
	    ((size_t)sqlite3_column_int64(st, 0) != x->expected || sqlite3_column_int64(st, 2) > 0))
		rc = bale_error_set(err, BALE_EGENERIC,
		                    "index.db: blob %s is recorded but neither carried nor an "
		                    "expected layer",
		                    (const char *)sqlite3_column_text(st, 1));
	else if (src != SQLITE_ROW)
		rc = db_fail(x->db, BALE_EGENERIC, err, "members");
	sqlite3_finalize(st);
	return rc;
}

int bale_index_db_finish(bale_index_db *x, bale_error **err)
{
	assert(x && !x->finished);
	int rc = 0, fd = -1;
	finalize_all(x);
	if ((rc = check_members(x, err)) < 0 || (rc = exec(x->db, "COMMIT", "commit", err)) < 0)
		goto cleanup;
	x->finished = true;
	/* Nothing to sync through SQLite (synchronous = OFF): close it, then make the
	 * bytes durable ourselves before anyone hashes or renames the file. */
	if (sqlite3_close(x->db) != SQLITE_OK) {
		rc = db_fail(x->db, BALE_EGENERIC, err, "close");
		goto cleanup;
	}
	x->db = NULL;
	if ((fd = open(x->path, O_RDONLY | O_CLOEXEC)) < 0 || fsync(fd) < 0) {
		rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "index.db: sync %s", x->path);
		goto cleanup;
	}
cleanup:
	if (fd >= 0)
		close(fd);
	return rc;
}

void bale_index_db_free(bale_index_db *x)
{
	if (!x)
		return;
	finalize_all(x);
	if (x->db) {
		if (!x->finished)
			sqlite3_exec(x->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(x->db);
	}
	free(x->path);
	free(x);
}
