/* bale import: bundle -> node store. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/bundle.h"
#include "bale/image.h"
#include "bale/import.h"
#include "bale/index_db.h"
#include "bale/ledger.h"
#include "bale/manifest.h"
#include "bale/ref.h"
#include "bale/slots.h"
#include "bale/store.h"
#include "bale/verify.h"
#include "import/import_private.h"

/* One blob the import needs: its descriptor without the 128-byte media type buffer of a
 * bale_descriptor (the plan holds one of these per blob; need_desc makes the descriptor). */
typedef struct need {
	bale_digest digest;
	int64_t size;
	const char *media_type; /* one of the plan's types */
	bool have;              /* in the store already, or written by this import */
	bool expected;          /* a delta leaves it out: the store must hold it already */
} need;

/* Which image needs which blob (a registry store keeps blobs per repository). */
typedef struct user {
	size_t need;
	size_t image;    /* in the result's image list */
	const char *ref; /* owned by that list */
} user;

typedef struct plan {
	sqlite3_stmt *blob_st; /* index.db's size and media type of a blob */
	const char *ref;       /* the image being planned */
	size_t image;          /* its place in the result's image list */
	user *users;
	size_t n_users, users_alloc;
	need *needs;
	size_t n_needs, alloc;
	bale_slots *by_digest; /* needs */
	char **types;          /* the media types the needs name, each kept once (media_type) */
	size_t n_types, types_alloc;
	bale_buf platforms;              /* of the image being planned */
	sqlite3 *ledger;                 /* the node ledger, NULL when there is none */
	bool unpacks;                    /* the store needs every layer, foreign ones too */
	bool takes_foreign;              /* the store gets the foreign layers carried */
	size_t n_lacking;                /* images refused for a foreign layer not carried */
	const char *created, *bundle_id; /* of this bundle */
} plan;

static bale_descriptor need_desc(const need *n)
{
	bale_descriptor d = {.digest = n->digest, .size = n->size};
	snprintf(d.media_type, sizeof(d.media_type), "%s", n->media_type);
	return d;
}

/* The plan's copy of a media type. A bundle names a handful: the last few kept are
 * compared, so that the look-up stays a few steps however many it names. */
static const char *media_type(plan *p, const char *mt, bale_error **err)
{
	for (size_t i = p->n_types, seen = 0; i-- > 0 && seen < 8; seen++)
		if (strcmp(p->types[i], mt) == 0)
			return p->types[i];
	if (p->n_types == p->types_alloc) {
		size_t want = p->types_alloc ? p->types_alloc * 2 : 8;
		char **grown = realloc(p->types, want * sizeof(*grown));
		if (!grown)
			goto oom;
		p->types = grown;
		p->types_alloc = want;
	}
	if (!(p->types[p->n_types] = strndup(mt, sizeof(((bale_descriptor *)0)->media_type) - 1)))
		goto oom;
	return p->types[p->n_types++];
oom:
	bale_error_set(err, BALE_EGENERIC, "out of memory");
	return NULL;
}

static int add_user(plan *p, size_t which, bale_error **err)
{
	if (p->n_users == p->users_alloc) {
		size_t want = p->users_alloc ? p->users_alloc * 2 : 64;
		user *grown = realloc(p->users, want * sizeof(*grown));
		if (!grown)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		p->users = grown;
		p->users_alloc = want;
	}
	p->users[p->n_users++] = (user){which, p->image, p->ref};
	return 0;
}

static const char *need_digest(const void *items, size_t pos)
{
	return ((const need *)items)[pos].digest.str;
}

/* Drops the needs from index keep on, and their place in the table: one left behind would
 * point past the end, at whatever need later takes its place. */
static void needs_drop(plan *p, size_t keep)
{
	for (; p->n_needs > keep; p->n_needs--)
		bale_slots_drop(p->by_digest, p->needs, p->needs[p->n_needs - 1].digest.str);
}

/* The need for digest, NULL when the plan has none. */
static need *need_find(const plan *p, const char *digest)
{
	size_t i = bale_slots_find(p->by_digest, p->needs, digest);
	return i == SIZE_MAX ? NULL : &p->needs[i];
}

/* The signed entry of index.db's blobs for digest: its size and media type. */
static int blob_entry(plan *p, const char *digest, need *out, bale_error **err)
{
	sqlite3_stmt *st = p->blob_st;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	int src = sqlite3_step(st), rc = 0;
	if (src == SQLITE_ROW) {
		const char *mt = (const char *)sqlite3_column_text(st, 1);
		rc = bale_digest_parse(&out->digest, digest, err);
		out->size = sqlite3_column_int64(st, 0);
		out->expected = sqlite3_column_int(st, 2) == 0;
		if (rc == 0 && !(out->media_type = media_type(p, mt ? mt : "", err)))
			rc = BALE_EGENERIC;
	} else if (src == SQLITE_DONE) {
		rc =
		    bale_error_set(err, BALE_EVERIFY, "%s names blob %.80s, which it does not list",
		                   BALE_BUNDLE_INDEX_DB, digest);
	} else {
		rc = bale_error_set(err, BALE_EVERIFY, "%s: %s", BALE_BUNDLE_INDEX_DB,
		                    sqlite3_errmsg(sqlite3_db_handle(st)));
	}
	sqlite3_reset(st);
	return rc;
}

static int plan_need(plan *p, const char *digest, bale_error **err)
{
	int rc = 0;
	need *have = need_find(p, digest);
	if (have)
		return add_user(p, (size_t)(have - p->needs), err);
	if (p->n_needs == p->alloc) {
		size_t want = p->alloc ? p->alloc * 2 : 64;
		need *grown = realloc(p->needs, want * sizeof(*grown));
		if (!grown)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		p->needs = grown;
		p->alloc = want;
	}
	need *n = &p->needs[p->n_needs];
	memset(n, 0, sizeof(*n));
	if ((rc = blob_entry(p, digest, n, err)) < 0)
		return rc;
	if ((rc = bale_slots_put(p->by_digest, p->needs, p->n_needs, err)) < 0)
		return rc;
	p->n_needs++;
	return add_user(p, p->n_needs - 1, err);
}

/* Runs a prepared statement to its end, calling add for the first column of each row. */
static int each_digest(sqlite3_stmt *st, plan *p, bale_error **err)
{
	int rc = 0, src;
	while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW)
		rc = plan_need(p, (const char *)sqlite3_column_text(st, 0), err);
	sqlite3_reset(st);
	return rc;
}

/* A store that unpacks needs every layer: an image with a foreign layer the bundle lacks
 * is refused before anything is written (BALE_ENOTFOUND, the image's own failure). */
static int check_foreign(sqlite3 *db, plan *p, const char *digest, bale_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(db,
	                       "SELECT layer_digest FROM foreign_layers WHERE manifest_digest = ?1"
	                       " AND carried = 0 ORDER BY position LIMIT 1",
	                       -1, &st, NULL) != SQLITE_OK)
		return bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *layer = sqlite3_column_text(st, 0);
		p->n_lacking++;
		rc = bale_error_set(err, BALE_ENOTFOUND,
		                    "%s: foreign layer %.80s is not in the bundle, and containerd "
		                    "needs every layer to unpack the image: export it with "
		                    "--include-foreign-layers",
		                    p->ref, layer ? (const char *)layer : "?");
	}
	sqlite3_finalize(st);
	return rc;
}

/* A manifest, its config and its layers (with the foreign ones the bundle carries, for a
 * store that takes them). */
static int plan_manifest(sqlite3 *db, plan *p, const char *digest, bale_error **err)
{
	static const char *const sql[] = {
	    "SELECT digest FROM manifests WHERE digest = ?1",
	    "SELECT config_digest FROM manifests WHERE digest = ?1",
	    "SELECT layer_digest FROM manifest_layers WHERE manifest_digest = ?1 ORDER BY position",
	    "SELECT layer_digest FROM foreign_layers WHERE manifest_digest = ?1 AND carried = 1"
	    " ORDER BY position",
	};
	/* Schema version 1 recorded no foreign layers. */
	bool foreign = bale_index_db_version(db) >= 2;
	int rc = foreign && p->unpacks ? check_foreign(db, p, digest, err) : 0;
	size_t n = foreign && p->takes_foreign ? 4 : 3;
	for (size_t i = 0; i < n && rc == 0; i++) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(db, sql[i], -1, &st, NULL) != SQLITE_OK)
			return bale_error_set(err, BALE_EVERIFY, "index.db: %s",
			                      sqlite3_errmsg(db));
		sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
		rc = each_digest(st, p, err);
		sqlite3_finalize(st);
	}
	return rc;
}

static const char *column(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	return v ? (const char *)v : NULL;
}

/* The platform of an index.db row (os, architecture, variant, os_version, os_features from
 * column `first` on); false when it declares none. */
static int row_platform(sqlite3_stmt *st, int first, bale_platform *out, bool *has,
                        bale_error **err)
{
	const char *os = column(st, first), *arch = column(st, first + 1);
	const char *version = column(st, first + 3), *features = column(st, first + 4);
	char copy[sizeof(out->os_features)], *saved = NULL;
	const char *list[16];
	size_t n = 0;
	*has = os && arch;
	if (!*has)
		return 0;
	int rc = bale_platform_from_fields(out, os, arch, column(st, first + 2), err);
	snprintf(copy, sizeof(copy), "%s", features ? features : "");
	for (char *f = strtok_r(copy, "+", &saved); f && n < 16; f = strtok_r(NULL, "+", &saved))
		list[n++] = f;
	if (rc == 0 && (version || n))
		rc = bale_platform_set_os_options(out, version ? version : "", list, n, err);
	return rc < 0 ? bale_error_wrap(err, "index.db: image_platforms") : 0;
}

/* A digest index.db names (bale wrote it; a bundle that lies is refused). */
static int row_digest(sqlite3_stmt *st, int i, bale_digest *out, bale_error **err)
{
	const char *text = column(st, i);
	if (!text)
		return bale_error_set(err, BALE_EVERIFY, "index.db: a tree row without a digest");
	return bale_digest_parse(out, text, err) < 0 ? bale_error_wrap(err, "index.db") : 0;
}

/* The carried part of an index's tree as index.db (version 2) records it: its manifests
 * (with their platforms, artifacts and subjects) and its child indexes. */
static int load_tree(sqlite3 *db, sqlite3_int64 id, bale_image *img, bale_error **err)
{
	static const char manifests_sql[] =
	    "SELECT e.manifest_digest, e.parent_digest, e.artifact, m.subject_digest,"
	    " e.os, e.architecture, e.variant, e.os_version, e.os_features"
	    " FROM image_platforms e LEFT JOIN manifests m ON m.digest = e.manifest_digest"
	    " WHERE e.image_id = ?1 AND e.carried = 1 ORDER BY e.position";
	static const char indexes_sql[] = "SELECT digest, parent_digest FROM image_indexes"
	                                  " WHERE image_id = ?1 AND carried = 1 ORDER BY position";
	sqlite3_stmt *st = NULL;
	int rc = 0, src;
	if (sqlite3_prepare_v2(db, manifests_sql, -1, &st, NULL) != SQLITE_OK)
		goto sql_error;
	sqlite3_bind_int64(st, 1, id);
	while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
		bale_image_manifest *grown =
		    realloc(img->manifests, (img->n_manifests + 1) * sizeof(*grown));
		if (!grown) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			break;
		}
		img->manifests = grown;
		bale_image_manifest *m = &img->manifests[img->n_manifests++];
		memset(m, 0, sizeof(*m));
		m->artifact = sqlite3_column_int(st, 2) != 0;
		if ((rc = row_digest(st, 0, &m->desc.digest, err)) < 0 ||
		    (column(st, 1) && (rc = row_digest(st, 1, &m->parent, err)) < 0) ||
		    (column(st, 3) && (rc = row_digest(st, 3, &m->subject, err)) < 0))
			break;
		m->has_subject = column(st, 3) != NULL;
		rc = row_platform(st, 4, &m->platform, &m->has_platform, err);
	}
	sqlite3_finalize(st);
	if (rc < 0)
		return rc;
	if (sqlite3_prepare_v2(db, indexes_sql, -1, &st, NULL) != SQLITE_OK)
		goto sql_error;
	sqlite3_bind_int64(st, 1, id);
	while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
		bale_image_index *grown =
		    realloc(img->indexes, (img->n_indexes + 1) * sizeof(*grown));
		if (!grown) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			break;
		}
		img->indexes = grown;
		bale_image_index *x = &img->indexes[img->n_indexes++];
		memset(x, 0, sizeof(*x));
		if ((rc = row_digest(st, 0, &x->desc.digest, err)) == 0)
			rc = row_digest(st, 1, &x->parent, err);
	}
	sqlite3_finalize(st);
	return rc;
sql_error:
	return bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
}

/* An index (schema version 2): the manifests a pull of the requested platforms would have
 * carried (bale_image_select: runnable ones by platform, artifacts with their subject, an
 * image of artifacts only whole), and the child indexes above them. */
static int plan_tree(sqlite3 *db, plan *p, sqlite3_int64 id, const char *ref,
                     const bale_platform_set *want, bale_error **err)
{
	bale_image img = {.ref = (char *)ref};
	char one[BALE_PLATFORM_TEXT];
	int rc = load_tree(db, id, &img, err);
	if (rc == 0 && (rc = bale_image_select(&img, want, err)) == 0)
		bale_image_select_loaded(&img, want);
	for (size_t i = 0; rc == 0 && i < img.n_manifests; i++) {
		const bale_image_manifest *m = &img.manifests[i];
		if (!m->selected)
			continue;
		if (!m->artifact && m->has_platform)
			bale_buf_appendf(&p->platforms, NULL, "%s%s", p->platforms.len ? "," : "",
			                 bale_platform_format(&m->platform, one, sizeof(one)));
		rc = plan_manifest(db, p, m->desc.digest.str, err);
	}
	/* Children before the indexes that list them, deepest first: a registry takes an
	 * index only once it has everything the index names. */
	for (size_t i = img.n_indexes; rc == 0 && i-- > 0;)
		if (img.indexes[i].selected)
			rc = plan_need(p, img.indexes[i].desc.digest.str, err);
	free(img.manifests);
	free(img.indexes);
	return rc;
}

/* The manifests of one image the node wants: for an index, the carried entries of the
 * requested platforms; a single manifest is taken whatever its platform. */
static int plan_image(sqlite3 *db, plan *p, sqlite3_int64 id, const char *ref, const char *root,
                      bool is_index, const bale_platform_set *want, bale_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = plan_need(p, root, err), chosen = 0;
	char one[64];
	bale_buf offered;
	bale_buf_init(&offered, 4096, "platforms");
	bale_buf_reset(&p->platforms);
	if (rc < 0)
		goto cleanup;
	if (!is_index) {
		rc = plan_manifest(db, p, root, err);
		goto cleanup;
	}
	if (bale_index_db_version(db) >= 2) {
		rc = plan_tree(db, p, id, ref, want, err);
		goto cleanup;
	}
	if (sqlite3_prepare_v2(
	        db,
	        "SELECT os, architecture, variant, manifest_digest FROM image_platforms"
	        " WHERE image_id = ?1 AND carried = 1 ORDER BY position",
	        -1, &st, NULL) != SQLITE_OK) {
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
		goto cleanup;
	}
	sqlite3_bind_int64(st, 1, id);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		bale_platform pl;
		bool has = column(st, 0) && column(st, 1) &&
		           bale_platform_from_fields(&pl, column(st, 0), column(st, 1),
		                                     column(st, 2), NULL) == 0;
		if (has)
			bale_buf_appendf(&offered, NULL, "%s%s", offered.len ? ", " : "",
			                 bale_platform_format(&pl, one, sizeof(one)));
		if (!bale_platform_set_is_all(want) &&
		    !(has && bale_platform_set_contains(want, &pl)))
			continue;
		chosen++;
		if (has)
			bale_buf_appendf(&p->platforms, NULL, "%s%s", p->platforms.len ? "," : "",
			                 bale_platform_format(&pl, one, sizeof(one)));
		rc = plan_manifest(db, p, column(st, 3), err);
	}
	if (rc == 0 && !chosen)
		rc = bale_error_set(err, BALE_ENOTFOUND,
		                    "%s: the bundle carries no manifest for the requested platform "
		                    "(it carries %s)",
		                    ref, offered.data ? offered.data : "none");
cleanup:
	sqlite3_finalize(st);
	bale_buf_free(&offered);
	return rc;
}

/* Normalized spellings of --image, to compare with the index's refs. */
static int wanted_refs(char ***out, const bale_import_options *opts, bale_error **err)
{
	char **refs = calloc(opts->n_images + 1, sizeof(*refs));
	if (!refs)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; i < opts->n_images; i++) {
		bale_ref *ref = NULL;
		int rc = bale_ref_parse(&ref, opts->images[i], err);
		if (rc == 0 && !(refs[i] = strdup(bale_ref_string(ref))))
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		bale_ref_free(ref);
		if (rc < 0) {
			for (size_t j = 0; j <= i; j++)
				free(refs[j]);
			free(refs);
			return rc;
		}
	}
	*out = refs;
	return 0;
}

static int add_result(bale_import_result *out, const char *ref, const char *digest,
                      const char *platforms, bale_error **err)
{
	bale_imported_image *grown = realloc(out->images, (out->n_images + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	out->images = grown;
	bale_imported_image *img = &out->images[out->n_images];
	memset(img, 0, sizeof(*img));
	snprintf(img->digest, sizeof(img->digest), "%s", digest);
	img->ref = strdup(ref);
	img->platforms = strdup(platforms ? platforms : "");
	out->n_images++;
	return img->ref && img->platforms ? 0 : bale_error_set(err, BALE_EGENERIC, "out of memory");
}

static int add_problem(bale_import_problem **list, size_t *n, const char *ref, const char *digest,
                       const char *message, bale_error **err)
{
	bale_import_problem *grown = realloc(*list, (*n + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	*list = grown;
	bale_import_problem *p = &grown[(*n)++];
	memset(p, 0, sizeof(*p));
	snprintf(p->digest, sizeof(p->digest), "%s", digest);
	p->ref = strdup(ref);
	p->message = strdup(message);
	return p->ref && p->message ? 0 : bale_error_set(err, BALE_EGENERIC, "out of memory");
}

/* Tags move forward only: *why is set (the one line to print) when the ledger says a
 * bundle newer than this one set ref to another digest in this store. A name set by an
 * entry without a creation time (schema 1) or by this same bundle is not held back. */
static int held_back(const plan *p, const bale_import_options *opts, const char *ref,
                     const char *digest, char *why, size_t size, bale_error **err)
{
	*why = '\0';
	if (!p->ledger || opts->allow_downgrade || !p->created || !*p->created || !opts->store)
		return 0;
	/* containerd's default socket has two spellings */
	static const char def[] = "containerd:" BALE_DEFAULT_CONTAINERD_SOCKET;
	const char *stores[2] = {opts->store, NULL};
	size_t n = 1;
	if (strcmp(opts->store, "containerd") == 0)
		stores[n++] = def;
	else if (strcmp(opts->store, def) == 0)
		stores[n++] = "containerd";
	bale_ledger_setter set;
	int rc = bale_ledger_last_set(p->ledger, ref, stores, n, &set, err);
	if (rc == BALE_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	if (strcmp(set.digest, digest) == 0 || !set.bundle_created[0] ||
	    strcmp(p->created, set.bundle_created) >= 0 ||
	    (p->bundle_id && strcmp(p->bundle_id, set.bundle_id) == 0))
		return 0;
	snprintf(why, size,
	         "%s: kept at %s, which bundle %.12s (created %s) set on %s; this bundle "
	         "(created %s) is older (--allow-downgrade moves the tag back)",
	         ref, set.digest, set.bundle_id, set.bundle_created, set.time, p->created);
	return 0;
}

/* Every image asked for, with its manifests, configs and layers. */
static int make_plan(sqlite3 *db, plan *p, const bale_import_options *opts,
                     const bale_platform_set *platforms, bale_import_result *out, bale_error **err)
{
	char **wanted = NULL;
	sqlite3_stmt *st = NULL;
	int rc = wanted_refs(&wanted, opts, err);
	if (rc < 0)
		return rc;
	if (sqlite3_prepare_v2(db, "SELECT id, ref, digest, media_type FROM images ORDER BY id", -1,
	                       &st, NULL) != SQLITE_OK) {
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
		goto cleanup;
	}
	bool *found = calloc(opts->n_images + 1, sizeof(*found));
	if (!found) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *ref = column(st, 1), *digest = column(st, 2), *mt = column(st, 3);
		/* A name goes to the store as it is: held to what bale writes before any blob. */
		if ((rc = bale_ref_check_name(ref, err)) < 0) {
			bale_error_wrap(err, "index.db: images");
			break;
		}
		bool take = opts->n_images == 0;
		for (size_t i = 0; i < opts->n_images; i++)
			if (strcmp(wanted[i], ref) == 0)
				take = found[i] = true;
		if (!take)
			continue;
		char why[1024];
		if ((rc = held_back(p, opts, ref, digest, why, sizeof(why), err)) < 0)
			break;
		if (*why) {
			rc = add_problem(&out->skipped, &out->n_skipped, ref, digest, why, err);
			continue;
		}
		if ((rc = add_result(out, ref, digest, "", err)) < 0)
			break;
		bale_imported_image *img = &out->images[out->n_images - 1];
		size_t needs = p->n_needs, users = p->n_users;
		p->ref = img->ref;
		p->image = out->n_images - 1;
		rc = plan_image(db, p, sqlite3_column_int64(st, 0), ref, digest,
		                bale_manifest_type_is_index(mt ? mt : ""), platforms, err);
		/* lacks the platform, or a foreign layer the store needs: the others land */
		if (rc == BALE_ENOTFOUND) {
			rc = add_problem(&out->failed, &out->n_failed, ref, digest,
			                 bale_error_message(*err), NULL);
			bale_error_clear(err);
			if (rc < 0) {
				rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
				break;
			}
			needs_drop(p, needs);
			p->n_users = users;
			free(img->ref);
			free(img->platforms);
			out->n_images--;
			continue;
		}
		if (rc == 0 && p->platforms.data) {
			free(img->platforms);
			if (!(img->platforms = strdup(p->platforms.data)))
				rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		}
	}
	for (size_t i = 0; rc == 0 && i < opts->n_images; i++)
		if (!found[i])
			rc = bale_error_set(err, BALE_ENOTFOUND, "%s: not in this bundle",
			                    wanted[i]);
	free(found);
cleanup:
	sqlite3_finalize(st);
	for (size_t i = 0; wanted && i < opts->n_images; i++)
		free(wanted[i]);
	free(wanted);
	return rc;
}

typedef struct store_blob {
	bale_sink *store;
	bale_sink_blob *blob;
} store_blob;

static int write_to_blob(void *payload, const void *data, size_t len, bale_error **err)
{
	store_blob *sb = payload;
	return bale_sink_blob_write(sb->store, sb->blob, data, len, err);
}

/* Streams one member into the store, checking it against what the manifest says. */
static int take_member(bale_bundle_reader *r, const char *path, bale_sink *store, need *n,
                       bale_import_result *out, bale_error **err)
{
	store_blob sb = {store, NULL};
	bale_descriptor desc = need_desc(n);
	int rc = bale_sink_blob_open(store, &desc, &sb.blob, err);
	if (rc == 0)
		rc = bale_bundle_check_member(r, path, &desc, write_to_blob, &sb, err);
	if (rc < 0) {
		if (sb.blob)
			bale_sink_blob_abort(store, sb.blob);
		return rc;
	}
	if ((rc = bale_sink_blob_commit(store, sb.blob, err)) == 0) {
		n->have = true;
		out->blobs_written++;
		out->bytes_written += n->size;
	}
	return rc;
}

/* Which images wait on which blobs: each image is named in the store, in the order of the
 * result, as soon as all it uses is in, so that a store which lands images one by one
 * (containerd) unpacks it while the next ones stream. */
typedef struct landing {
	size_t *missing;  /* per image: its uses of blobs the store lacks */
	size_t *first;    /* per need: where its users start in by_need; one more at the end */
	size_t *by_need;  /* the users, need by need */
	size_t next_name; /* the first image not named yet */
	bool *waiting;    /* per image: a volume it needs was not given (never named) */
} landing;

static void landing_free(landing *l)
{
	free(l->missing);
	free(l->first);
	free(l->by_need);
	free(l->waiting);
}

static int landing_new(landing *l, const plan *p, size_t n_images, bale_error **err)
{
	memset(l, 0, sizeof(*l));
	l->missing = calloc(n_images + 1, sizeof(*l->missing));
	l->first = calloc(p->n_needs + 1, sizeof(*l->first));
	l->by_need = calloc(p->n_users + 1, sizeof(*l->by_need));
	l->waiting = calloc(n_images + 1, sizeof(*l->waiting));
	if (!l->missing || !l->first || !l->by_need || !l->waiting) {
		landing_free(l);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	for (size_t u = 0; u < p->n_users; u++) {
		l->first[p->users[u].need + 1]++;
		l->missing[p->users[u].image] += !p->needs[p->users[u].need].have;
	}
	for (size_t i = 0; i < p->n_needs; i++)
		l->first[i + 1] += l->first[i];
	/* each group filled from its start, which moves to the next group's start... */
	for (size_t u = 0; u < p->n_users; u++)
		l->by_need[l->first[p->users[u].need]++] = u;
	/* ...and is moved back */
	for (size_t i = p->n_needs; i > 0; i--)
		l->first[i] = l->first[i - 1];
	l->first[0] = 0;
	return 0;
}

/* Names the images, in order, from the first not named yet up to one still missing a blob
 * (those waiting for a volume are passed over). */
static int name_ready(bale_sink *store, const plan *p, landing *l, bale_import_result *out,
                      bale_error **err)
{
	int rc = 0;
	for (; rc == 0 && l->next_name < out->n_images &&
	       (l->waiting[l->next_name] || !l->missing[l->next_name]);
	     l->next_name++) {
		if (l->waiting[l->next_name])
			continue;
		const bale_imported_image *img = &out->images[l->next_name];
		const need *n = need_find(p, img->digest);
		bale_descriptor root = n ? need_desc(n) : (bale_descriptor){0};
		rc = bale_sink_set_name(store, img->ref, &root, err);
	}
	return rc;
}

/* need has landed: the images that use it miss one blob less. */
static void landed(const plan *p, landing *l, const need *n)
{
	size_t i = (size_t)(n - p->needs);
	for (size_t k = l->first[i]; k < l->first[i + 1]; k++)
		l->missing[p->users[l->by_need[k]].image]--;
}

/* The first image that uses need i. */
static const char *user_of(const plan *p, size_t i)
{
	for (size_t u = 0; u < p->n_users; u++)
		if (p->users[u].need == i)
			return p->users[u].ref;
	return "?";
}

/* The layers a delta expects at the site: each one the store lacks or holds damaged is
 * named (the first few, and how many), with the image that needs it. */
static int check_expected(bale_sink *store, plan *p, bale_error **err)
{
	size_t lacking = 0, expected = 0;
	bale_buf names;
	int rc = 0;
	bale_buf_init(&names, 4096, "missing blobs");
	for (size_t i = 0; i < p->n_needs && rc == 0; i++) {
		need *n = &p->needs[i];
		if (!n->expected)
			continue;
		expected++;
		bale_descriptor desc = need_desc(n);
		bool whole = false;
		if ((rc = bale_sink_blob_check(store, &desc, &whole, err)) < 0 || whole) {
			n->have = whole;
			continue;
		}
		n->have = false;
		if (lacking++ < 3)
			bale_buf_appendf(&names, NULL, "%s%s (a layer of %s)",
			                 lacking > 1 ? ", " : "", n->digest.str, user_of(p, i));
	}
	if (rc == 0 && lacking)
		rc = bale_error_set(
		    err, BALE_ESTORE,
		    "the store lacks %zu of the %zu layers this delta expects at the "
		    "site: %s%s; import the bundles it was made against first "
		    "(bale have --store lists what a store holds)",
		    lacking, expected, names.data ? names.data : "", lacking > 3 ? ", …" : "");
	bale_buf_free(&names);
	return rc;
}

/* What the walk of the volumes needs to take a blob straight into the store. */
typedef struct direct {
	plan *p;
	landing *l;
	bale_sink *store;
	bale_import_result *out;
	bool *lands_now; /* per need: an image that lands in this run uses it */
} direct;

/* Does the import need no volume's copy of blob (the store has it, or no image asked for
 * uses it)? */
static bool not_needed(void *payload, const bale_digest *blob)
{
	const need *n = need_find(((const direct *)payload)->p, blob->str);
	return !n || n->have;
}

static int take_now(void *payload, bale_bundle_reader *r, const char *member,
                    const bale_digest *blob, bale_error **err)
{
	direct *d = payload;
	need *n = need_find(d->p, blob->str);
	if (!n || n->have || !d->lands_now[n - d->p->needs])
		return 0;
	int rc = take_member(r, member, d->store, n, d->out, err);
	if (rc < 0)
		return rc;
	landed(d->p, d->l, n);
	return 1;
}

/* Which needs an image landing in this run uses: one whose every blob is in the store,
 * staged, or in the volumes given. Those come straight into the store as the walk reaches
 * them; what waits for another volume is staged. */
static int plan_direct(direct *d, const bale_import_options *opts, const char *set_id, int volumes,
                       import_staging *staging, sqlite3 *db, bale_error **err)
{
	const plan *p = d->p;
	size_t n = opts->n_volumes ? opts->n_volumes : 1;
	bool *given = calloc((size_t)volumes + 1, sizeof(*given));
	bool *obtainable = calloc(p->n_needs + 1, sizeof(*obtainable));
	bool *whole = calloc(d->out->n_images + 1, sizeof(*whole)); /* per image */
	int rc = given && obtainable && whole && (d->lands_now = calloc(p->n_needs + 1, 1))
	             ? 0
	             : bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; i < n && rc == 0; i++) {
		int k = 0;
		rc = import_staging_volume_of(opts->n_volumes ? opts->volumes[i] : opts->bundle,
		                              opts->trust, set_id, &k, err);
		if (rc == 0 && k >= 1 && k <= volumes)
			given[k] = true;
	}
	for (size_t i = 0; i < p->n_needs && rc == 0; i++)
		obtainable[i] =
		    p->needs[i].have ||
		    import_staging_obtainable(staging, db, &p->needs[i].digest, given, volumes);
	for (size_t i = 0; rc == 0 && i < d->out->n_images; i++)
		whole[i] = true;
	for (size_t u = 0; rc == 0 && u < p->n_users; u++)
		whole[p->users[u].image] &= obtainable[p->users[u].need];
	for (size_t u = 0; rc == 0 && u < p->n_users; u++)
		d->lands_now[p->users[u].need] |= whole[p->users[u].image];
	free(given);
	free(obtainable);
	free(whole);
	return rc;
}

/* Stages what the volumes given bring (the first is the bundle the head was read from),
 * but for the blobs of images that land now, which go straight to the store. */
static int stage_volumes(const bale_import_options *opts, const char *set_id, int volumes, plan *p,
                         landing *l, bale_sink *store, bale_import_result *out,
                         import_staging *staging, sqlite3 *db, bale_error **err)
{
	direct d = {.p = p, .l = l, .store = store, .out = out};
	size_t taken = 0, n = opts->n_volumes ? opts->n_volumes : 1;
	int rc = plan_direct(&d, opts, set_id, volumes, staging, db, err);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc =
		    import_staging_take(staging, opts->n_volumes ? opts->volumes[i] : opts->bundle,
		                        opts->trust, set_id, not_needed, take_now, &d, &taken, err);
	bale_log_printf(opts->log, BALE_LOG_DEBUG, "staged %zu blobs and parts of blobs", taken);
	free(d.lands_now);
	return rc;
}

/* Moves the images that wait for a volume from out->images to out->waiting, each with the
 * volumes that hold what it lacks. */
static int set_aside_waiting(const plan *p, const landing *l, bale_import_result *out,
                             import_staging *staging, sqlite3 *db, bale_error **err)
{
	size_t kept = 0, u = 0;
	int rc = 0;
	for (size_t i = 0; i < out->n_images && rc == 0; i++) {
		bale_imported_image *img = &out->images[i];
		/* the plan lists the users image by image: image i's are the next ones */
		size_t first = u;
		while (u < p->n_users && p->users[u].image == i)
			u++;
		if (!l->waiting[i]) {
			out->images[kept++] = *img;
			continue;
		}
		bale_buf volumes;
		bale_buf_init(&volumes, 64 << 10, "volumes");
		for (size_t k = first; k < u && rc == 0; k++)
			if (!p->needs[p->users[k].need].have)
				rc = import_staging_volumes(
				    staging, db, &p->needs[p->users[k].need].digest, &volumes, err);
		char *list = volumes.data ? volumes.data + 1 : NULL; /* ",2,3," */
		if (list && *list)
			list[strlen(list) - 1] = '\0';
		char why[512];
		snprintf(why, sizeof(why), "waits for volume%s %s",
		         list && strchr(list, ',') ? "s" : "",
		         list && *list ? list : "(none holds what it lacks)");
		if (rc == 0)
			rc = add_problem(&out->waiting, &out->n_waiting, img->ref, img->digest, why,
			                 err);
		bale_buf_free(&volumes);
		free(img->ref);
		free(img->platforms);
	}
	for (size_t i = kept; i < out->n_images; i++)
		memset(&out->images[i], 0, sizeof(out->images[i]));
	out->n_images = kept;
	return rc;
}

/* A volume set: every image whose blobs are all in the store or staged lands, its staged
 * blobs read back, hashed and written to the store; the others wait, named nowhere. */
static int land_staged(bale_sink *store, plan *p, landing *l, bale_import_result *out,
                       import_staging *staging, sqlite3 *db, bale_error **err)
{
	int rc = 0;
	bool *staged = calloc(p->n_needs + 1, sizeof(*staged));
	if (!staged)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; i < p->n_needs; i++)
		staged[i] =
		    !p->needs[i].have && import_staging_has(staging, db, &p->needs[i].digest);
	for (size_t u = 0; u < p->n_users; u++) {
		size_t i = p->users[u].need;
		if (!p->needs[i].have && !staged[i])
			l->waiting[p->users[u].image] = true;
	}
	rc = name_ready(store, p, l, out, err);
	for (size_t i = 0; i < p->n_needs && rc == 0; i++) {
		bool wanted = false; /* by an image that lands now */
		for (size_t k = l->first[i]; k < l->first[i + 1] && !wanted; k++)
			wanted = !l->waiting[p->users[l->by_need[k]].image];
		if (!staged[i] || !wanted)
			continue;
		bale_descriptor desc = need_desc(&p->needs[i]);
		int parts = 0;
		if ((rc = import_staging_copy(staging, db, store, &desc, err)) < 0 ||
		    (rc = import_staging_parts(db, &desc.digest, &parts, err)) < 0)
			break;
		import_staging_drop(staging, &desc, parts); /* the store has it now */
		p->needs[i].have = true;
		out->blobs_written++;
		out->bytes_written += desc.size;
		landed(p, l, &p->needs[i]);
		rc = name_ready(store, p, l, out, err);
	}
	free(staged);
	return rc < 0 ? rc : set_aside_waiting(p, l, out, staging, db, err);
}

static void report(const bale_log *log, const bale_progress *p)
{
	if (log && log->progress && p->blobs_total)
		log->progress(log->payload, p);
}

/* Walks the bundle taking what the plan needs, naming each image once it is whole; stops
 * as soon as all of it is in. A volume set (staging) lands from its staged blobs instead:
 * what the given volumes lack waits. */
static int stream_blobs(bale_bundle_reader *r, bale_sink *store, plan *p, bale_import_result *out,
                        const bale_import_options *opts, const char *set_id, int volumes,
                        import_staging *staging, sqlite3 *db, bale_error **err)
{
	size_t missing = 0;
	landing l = {0};
	int rc = 0;
	for (size_t i = 0; i < p->n_users; i++) { /* which image needs what, for the store */
		bale_descriptor desc = need_desc(&p->needs[p->users[i].need]);
		if ((rc = bale_sink_blob_for(store, &desc, p->users[i].ref, err)) < 0)
			return rc;
	}
	uint64_t bytes = 0;
	for (size_t i = 0; i < p->n_needs; i++) {
		bale_descriptor desc = need_desc(&p->needs[i]);
		if ((rc = bale_sink_has_blob(store, &desc, &p->needs[i].have, err)) < 0)
			return rc;
		out->blobs_present += p->needs[i].have;
		if (p->needs[i].expected)
			continue; /* never in the bundle: checked below */
		missing += !p->needs[i].have;
		if (!p->needs[i].have && p->needs[i].size > 0)
			bytes += (uint64_t)p->needs[i].size;
	}
	/* A delta's layers the store must hold: re-read and hashed before anything is
	 * written, so that a store that lacks one gets nothing. */
	if ((rc = check_expected(store, p, err)) < 0)
		return rc;
	/* What the store lacks must fit before the first byte is written. */
	if ((rc = bale_sink_check_space(store, bytes, "the blobs to import", err)) < 0 ||
	    (rc = landing_new(&l, p, out->n_images, err)) < 0)
		goto cleanup;
	if (staging) { /* a volume set: what its volumes bring is staged, then lands */
		rc = stage_volumes(opts, set_id, volumes, p, &l, store, out, staging, db, err);
		if (rc == 0)
			rc = land_staged(store, p, &l, out, staging, db, err);
		goto cleanup;
	}
	if ((rc = name_ready(store, p, &l, out, err)) < 0)
		goto cleanup;
	/* what is taken from the bundle, reported as a download's transfers are */
	bale_progress progress = {.bytes_total = (int64_t)bytes,
	                          .blobs_total = (int)missing,
	                          .images_done = (int)l.next_name,
	                          .images_total = (int)out->n_images};
	report(opts->log, &progress);
	while (rc == 0 && missing) {
		bale_bundle_member m;
		int more = bale_bundle_next(r, &m, err);
		if (more <= 0) {
			rc = more;
			break;
		}
		if (m.type != BALE_MEMBER_FILE || strncmp(m.path, "blobs/sha256/", 13) != 0 ||
		    strlen(m.path + 13) != BALE_DIGEST_HEX_LEN)
			continue; /* skipped through the seek table when it is large */
		/* found through the needs table: a bundle of many blobs is walked in one pass */
		char digest[BALE_DIGEST_STR_LEN + 1];
		snprintf(digest, sizeof(digest), "sha256:%s", m.path + 13);
		need *n = need_find(p, digest);
		if (!n || n->have)
			continue;
		if ((rc = take_member(r, m.path, store, n, out, err)) < 0)
			break;
		missing--;
		landed(p, &l, n);
		rc = name_ready(store, p, &l, out, err);
		progress.blobs_done++;
		progress.bytes_done += n->size;
		progress.images_done = (int)l.next_name;
		report(opts->log, &progress);
	}
	for (size_t i = 0; rc == 0 && i < p->n_needs; i++)
		if (!p->needs[i].have)
			rc = bale_error_set(err, BALE_EVERIFY,
			                    "blobs/sha256/%s: missing from the bundle",
			                    bale_digest_hex(&p->needs[i].digest));
cleanup:
	landing_free(&l);
	return rc;
}

static void drop_images(bale_import_result *r)
{
	for (size_t i = 0; i < r->n_images; i++) {
		free(r->images[i].ref);
		free(r->images[i].platforms);
	}
	free(r->images);
	r->images = NULL;
	r->n_images = 0;
}

/* A commit that landed some images: those that did not move to out->failed. */
static int sort_landed(bale_sink *store, bale_import_result *out, int rc, bale_error **err)
{
	size_t kept = 0;
	for (size_t i = 0; i < out->n_images; i++) {
		bale_imported_image *img = &out->images[i];
		const bale_error *why = bale_sink_image_error(store, img->ref);
		if (!why) {
			out->images[kept++] = *img;
			continue;
		}
		if (add_problem(&out->failed, &out->n_failed, img->ref, img->digest,
		                bale_error_message(why), NULL) < 0) {
			bale_error_free(*err);
			*err = NULL;
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		}
		free(img->ref);
		free(img->platforms);
	}
	out->n_images = kept;
	return rc;
}

int bale_import_bundle(const bale_import_options *opts, bale_sink *store, bale_import_result *out,
                       bale_error **err)
{
	int rc = 0;
	bale_bundle_reader *r = NULL;
	bale_trusted_head th = {0};
	bale_platform_set *host = NULL;
	sqlite3 *db = NULL;
	import_staging *staging = NULL;
	plan p = {0};
	memset(out, 0, sizeof(*out));
	if ((rc = bale_slots_new(&p.by_digest, need_digest, err)) < 0)
		return rc;
	bale_buf_init(&p.platforms, 4096, "platforms");
	const bale_platform_set *platforms = opts->platforms;
	if (!platforms && (rc = bale_platform_set_parse(&host, NULL, err)) < 0)
		goto cleanup;
	if (!platforms)
		platforms = host;
	if ((rc = bale_bundle_open(&r, opts->bundle, err)) < 0)
		goto cleanup;
	/* What identifies the file, and the key it claims, go to the ledger even when the
	 * bundle is then refused. */
	bale_digest data;
	bale_bundle_data_digest(r, &data);
	snprintf(out->bundle_digest, sizeof(out->bundle_digest), "%s", data.str);
	rc = bale_verify_head(r, opts->trust, &th, err);
	memcpy(out->signer, th.signer, sizeof(out->signer));
	if (rc < 0)
		goto cleanup;
	const char *id = th.manifest->bundle_id;
	snprintf(out->bundle_id, sizeof(out->bundle_id), "%s", id ? id : "");
	snprintf(out->bundle_created, sizeof(out->bundle_created), "%s",
	         th.manifest->created ? th.manifest->created : "");
	out->signature_checked = th.signature_checked;
	p.created = out->bundle_created;
	p.bundle_id = out->bundle_id;
	p.unpacks = bale_sink_traits(store) & BALE_SINK_UNPACKS;
	p.takes_foreign = !(bale_sink_traits(store) & BALE_SINK_LEAVES_FOREIGN);
	if (opts->ledger && !opts->allow_downgrade &&
	    (rc = bale_ledger_open_for_import(&p.ledger, opts->ledger, err)) < 0) {
		if (rc != BALE_ENOTFOUND)
			goto cleanup;
		bale_error_clear(err); /* no import on record: nothing to hold back */
		rc = 0;
	}
	/* The signed list of blobs: sizes and media types come from there. */
	db = th.index_db;
	/* A delta's expected layers have no archive place (schema 3's member). */
	const char *blob_sql =
	    bale_index_db_version(db) >= 3
	        ? "SELECT size, media_type, member IS NOT NULL FROM blobs WHERE digest = ?1"
	        : "SELECT size, media_type, 1 FROM blobs WHERE digest = ?1";
	if (sqlite3_prepare_v2(db, blob_sql, -1, &p.blob_st, NULL) != SQLITE_OK) {
		rc = bale_error_set(err, BALE_EVERIFY, "%s: %s", BALE_BUNDLE_INDEX_DB,
		                    sqlite3_errmsg(db));
		goto cleanup;
	}
	if ((rc = make_plan(db, &p, opts, platforms, out, err)) < 0)
		goto cleanup;
	if (!out->n_images && out->n_failed) { /* none has the platform: nothing to do */
		rc = bale_error_set(err, BALE_ENOTFOUND, "%s", out->failed[0].message);
		goto cleanup;
	}
	if (th.manifest->format_version != BALE_BUNDLE_FORMAT_VOLUME && opts->n_volumes > 1) {
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "%s is a bundle of its own: only the volumes of a set are "
		                    "imported together (import bundles one at a time)",
		                    opts->bundle);
		goto cleanup;
	}
	if (th.manifest->format_version == BALE_BUNDLE_FORMAT_VOLUME) {
		if (!opts->staging) {
			rc = bale_error_set(
			    err, BALE_EUSAGE,
			    "%s is a volume of a set: its blobs wait in a staging "
			    "directory until their images are whole, and none was given",
			    opts->bundle);
			goto cleanup;
		}
		if ((rc = import_staging_open(&staging, opts->staging, id, err)) < 0)
			goto cleanup;
	}
	if ((rc = stream_blobs(r, store, &p, out, opts, id, th.manifest->volumes, staging, db,
	                       err)) < 0)
		goto cleanup;
	/* every image of the set in the store: its staging area has done its work */
	if (staging && !out->n_waiting && !opts->n_images && !out->n_failed)
		import_staging_remove(staging);
	if ((rc = bale_sink_commit(store, err)) < 0 &&
	    (bale_sink_traits(store) & BALE_SINK_LANDS_EACH))
		rc = sort_landed(store, out, rc, err);
	/* The images that lack the platform or a foreign layer, listed by the CLI. */
	if (rc == 0 && out->n_failed)
		rc = bale_error_set(
		    err, BALE_ENOTFOUND, "%zu image%s not imported: %s (the others landed)",
		    out->n_failed, out->n_failed == 1 ? "" : "s",
		    !p.n_lacking ? "no manifest for the platforms asked for"
		    : p.n_lacking == out->n_failed
		        ? "foreign layers the bundle lacks (export with --include-foreign-layers)"
		        : "no manifest for the platforms asked for, or foreign layers the bundle "
		          "lacks");
cleanup:
	if (rc < 0 && !out->n_failed) /* all or nothing: nothing landed */
		drop_images(out);
	sqlite3_close(p.ledger);
	sqlite3_finalize(p.blob_st);
	bale_verify_head_close(&th);
	bale_slots_free(p.by_digest);
	free(p.needs);
	for (size_t i = 0; i < p.n_types; i++)
		free(p.types[i]);
	free(p.types);
	free(p.users);
	bale_buf_free(&p.platforms);
	bale_platform_set_free(host);
	bale_bundle_close(r);
	import_staging_free(staging);
	return rc;
}

static void free_problems(bale_import_problem **list, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		free((*list)[i].ref);
		free((*list)[i].message);
	}
	free(*list);
	*list = NULL;
	*n = 0;
}

void bale_import_result_free(bale_import_result *r)
{
	drop_images(r);
	free_problems(&r->skipped, &r->n_skipped);
	free_problems(&r->failed, &r->n_failed);
	free_problems(&r->waiting, &r->n_waiting);
}
