/* index.db (docs/design.md §7, docs/index-schema.md): written once per bundle in a single
 * transaction through prepared statements, then only ever read, from bytes taken out
 * of a bundle that may not be trusted. Keep the schema text here and the tables in
 * docs/index-schema.md in step: the unit test compares them. */
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
#include "bale/text.h"
#include "bale/sys/sql_guard.h"

#define STRINGIFY(x) #x
#define XSTRINGIFY(x) STRINGIFY(x)

/* "bale" in ASCII: lets file(1) and bale itself tell a bale index from another
 * SQLite file before looking at the schema version. */
#define INDEX_APPLICATION_ID 0x62616c65

/* Schema version 1, as bale wrote it before nested indexes, artifacts, os.version and
 * foreign layers were recorded: kept byte for byte, so bundles it made are still read. */
static const char schema_v1_sql[] =
    "CREATE TABLE bundle ("
    " bundle_id TEXT PRIMARY KEY NOT NULL,"
    " created TEXT NOT NULL,"
    " tool_version TEXT NOT NULL,"
    " signer_key_id TEXT,"
    " schema_version INTEGER NOT NULL);"

    "CREATE TABLE blobs ("
    " digest TEXT PRIMARY KEY NOT NULL,"
    " size INTEGER NOT NULL CHECK (size >= 0),"
    " media_type TEXT,"
    " kind TEXT NOT NULL CHECK (kind IN ('index', 'manifest', 'config', 'layer')));"

    "CREATE TABLE images ("
    " id INTEGER PRIMARY KEY,"
    " ref TEXT NOT NULL UNIQUE,"
    " registry TEXT NOT NULL,"
    " repository TEXT NOT NULL,"
    " tag TEXT,"
    " digest TEXT NOT NULL REFERENCES blobs (digest),"
    " media_type TEXT NOT NULL,"
    " size INTEGER NOT NULL CHECK (size >= 0),"
    " pulled_at TEXT NOT NULL);"
    "CREATE INDEX images_digest ON images (digest);"
    "CREATE INDEX images_registry ON images (registry, repository);"

    "CREATE TABLE manifests ("
    " digest TEXT PRIMARY KEY NOT NULL REFERENCES blobs (digest),"
    " media_type TEXT,"
    " os TEXT,"
    " architecture TEXT,"
    " variant TEXT,"
    " config_digest TEXT NOT NULL REFERENCES blobs (digest),"
    " created TEXT,"
    " size INTEGER NOT NULL CHECK (size >= 0));"
    "CREATE INDEX manifests_config ON manifests (config_digest);"
    "CREATE INDEX manifests_platform ON manifests (os, architecture, variant);"

    "CREATE TABLE image_manifests ("
    " image_id INTEGER NOT NULL REFERENCES images (id),"
    " manifest_digest TEXT NOT NULL REFERENCES manifests (digest),"
    " PRIMARY KEY (image_id, manifest_digest));"
    "CREATE INDEX image_manifests_manifest ON image_manifests (manifest_digest);"

    /* Every entry of the image's index, carried or not: the manifest digest of a
     * platform left out names no row of manifests, hence no foreign key. */
    "CREATE TABLE image_platforms ("
    " image_id INTEGER NOT NULL REFERENCES images (id),"
    " position INTEGER NOT NULL CHECK (position >= 0),"
    " os TEXT,"
    " architecture TEXT,"
    " variant TEXT,"
    " manifest_digest TEXT NOT NULL,"
    " media_type TEXT,"
    " size INTEGER NOT NULL CHECK (size >= 0),"
    " carried INTEGER NOT NULL CHECK (carried IN (0, 1)),"
    " PRIMARY KEY (image_id, position));"
    "CREATE INDEX image_platforms_manifest ON image_platforms (manifest_digest);"

    "CREATE TABLE manifest_layers ("
    " manifest_digest TEXT NOT NULL REFERENCES manifests (digest),"
    " position INTEGER NOT NULL CHECK (position >= 0),"
    " layer_digest TEXT NOT NULL REFERENCES blobs (digest),"
    " PRIMARY KEY (manifest_digest, position));"
    "CREATE INDEX manifest_layers_layer ON manifest_layers (layer_digest);"

    "CREATE TABLE labels ("
    " config_digest TEXT NOT NULL REFERENCES blobs (digest),"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY (config_digest, key));"
    "CREATE INDEX labels_key ON labels (key, value);"

    "CREATE VIEW image_layers AS"
    " SELECT i.id AS image_id, i.ref AS ref,"
    " m.os || '/' || m.architecture || coalesce('/' || m.variant, '') AS platform,"
    " m.digest AS manifest_digest, ml.position AS position, ml.layer_digest AS layer_digest,"
    " b.size AS size, b.media_type AS media_type"
    " FROM images i JOIN image_manifests im ON im.image_id = i.id"
    " JOIN manifests m ON m.digest = im.manifest_digest"
    " JOIN manifest_layers ml ON ml.manifest_digest = m.digest"
    " JOIN blobs b ON b.digest = ml.layer_digest;"

    /* The ordered subquery is what sorts the refs group_concat joins. */
    "CREATE VIEW layer_images AS"
    " SELECT layer_digest, size, count(*) AS images, group_concat(ref, ' ') AS refs"
    " FROM (SELECT DISTINCT layer_digest, size, ref FROM image_layers"
    " ORDER BY layer_digest, ref)"
    " GROUP BY layer_digest;"

    "CREATE VIEW shared_layers AS"
    " SELECT layer_digest, size, images, refs FROM layer_images WHERE images > 1;"

    /* UNION, not UNION ALL: a blob a manifest names twice is still carried once. */
    "CREATE VIEW manifest_blobs AS"
    " SELECT m.digest AS manifest_digest, b.digest AS digest, b.kind AS kind, b.size AS size"
    " FROM manifests m JOIN blobs b ON b.digest = m.config_digest"
    " UNION"
    " SELECT ml.manifest_digest, b.digest, b.kind, b.size"
    " FROM manifest_layers ml JOIN blobs b ON b.digest = ml.layer_digest;"

    "CREATE VIEW image_blobs AS"
    " SELECT u.image_id AS image_id, i.ref AS ref, b.digest AS digest, b.kind AS kind,"
    " b.size AS size, b.media_type AS media_type"
    " FROM (SELECT id AS image_id, digest FROM images"
    " UNION SELECT image_id, manifest_digest FROM image_manifests"
    " UNION SELECT im.image_id, mb.digest FROM image_manifests im"
    " JOIN manifest_blobs mb ON mb.manifest_digest = im.manifest_digest) u"
    " JOIN images i ON i.id = u.image_id JOIN blobs b ON b.digest = u.digest;"

    "CREATE VIEW image_sizes AS"
    " SELECT i.id AS image_id, i.ref AS ref,"
    " m.os || '/' || m.architecture || coalesce('/' || m.variant, '') AS platform,"
    " m.digest AS manifest_digest,"
    " (SELECT count(*) FROM manifest_layers ml WHERE ml.manifest_digest = m.digest) AS layers,"
    " (SELECT coalesce(sum(mb.size), 0) FROM manifest_blobs mb"
    " WHERE mb.manifest_digest = m.digest) AS bytes"
    " FROM images i JOIN image_manifests im ON im.image_id = i.id"
    " JOIN manifests m ON m.digest = im.manifest_digest;"

    /* Bytes per platform count each blob once, however many images share it. */
    "CREATE VIEW platform_sizes AS"
    " SELECT c.os || '/' || c.architecture || coalesce('/' || c.variant, '') AS platform,"
    " c.os AS os, c.architecture AS architecture, c.variant AS variant,"
    " c.images AS images, c.manifests AS manifests, coalesce(s.bytes, 0) AS bytes"
    " FROM (SELECT m.os AS os, m.architecture AS architecture, m.variant AS variant,"
    " count(DISTINCT im.image_id) AS images, count(DISTINCT m.digest) AS manifests"
    " FROM manifests m JOIN image_manifests im ON im.manifest_digest = m.digest"
    " GROUP BY m.os, m.architecture, m.variant) c"
    " LEFT JOIN (SELECT os, architecture, variant, sum(size) AS bytes"
    " FROM (SELECT DISTINCT m.os AS os, m.architecture AS architecture,"
    " m.variant AS variant, mb.digest AS digest, mb.size AS size"
    " FROM manifests m JOIN manifest_blobs mb ON mb.manifest_digest = m.digest)"
    " GROUP BY os, architecture, variant) s"
    " ON s.os IS c.os AND s.architecture IS c.architecture AND s.variant IS c.variant;"

    "CREATE VIEW registry_images AS"
    " SELECT c.registry AS registry, c.repositories AS repositories, c.images AS images,"
    " coalesce(s.bytes, 0) AS bytes"
    " FROM (SELECT registry, count(DISTINCT repository) AS repositories,"
    " count(*) AS images FROM images GROUP BY registry) c"
    " LEFT JOIN (SELECT registry, sum(size) AS bytes"
    " FROM (SELECT DISTINCT i.registry AS registry, ib.digest AS digest, ib.size AS size"
    " FROM images i JOIN image_blobs ib ON ib.image_id = i.id)"
    " GROUP BY registry) s ON s.registry = c.registry;";

/* The schema this bale writes (BALE_INDEX_SCHEMA_VERSION). Views write a platform as
 * os/architecture[/variant][:os.version][+features]: NULL when none is declared. */
static const char schema_v2_sql[] =
    "CREATE TABLE bundle ("
    " bundle_id TEXT PRIMARY KEY NOT NULL,"
    " created TEXT NOT NULL,"
    " tool_version TEXT NOT NULL,"
    " signer_key_id TEXT,"
    " schema_version INTEGER NOT NULL);"

    "CREATE TABLE blobs ("
    " digest TEXT PRIMARY KEY NOT NULL,"
    " size INTEGER NOT NULL CHECK (size >= 0),"
    " media_type TEXT,"
    " kind TEXT NOT NULL CHECK (kind IN ('index', 'manifest', 'config', 'layer')));"

    "CREATE TABLE images ("
    " id INTEGER PRIMARY KEY,"
    " ref TEXT NOT NULL UNIQUE,"
    " registry TEXT NOT NULL,"
    " repository TEXT NOT NULL,"
    " tag TEXT,"
    " digest TEXT NOT NULL REFERENCES blobs (digest),"
    " media_type TEXT NOT NULL,"
    " size INTEGER NOT NULL CHECK (size >= 0),"
    " pulled_at TEXT NOT NULL);"
    "CREATE INDEX images_digest ON images (digest);"
    "CREATE INDEX images_registry ON images (registry, repository);"

    "CREATE TABLE manifests ("
    " digest TEXT PRIMARY KEY NOT NULL REFERENCES blobs (digest),"
    " media_type TEXT,"
    " os TEXT,"
    " architecture TEXT,"
    " variant TEXT,"
    " os_version TEXT,"
    " os_features TEXT,"
    " config_digest TEXT NOT NULL REFERENCES blobs (digest),"
    " created TEXT,"
    " size INTEGER NOT NULL CHECK (size >= 0),"
    " artifact INTEGER NOT NULL CHECK (artifact IN (0, 1)),"
    " artifact_type TEXT,"
    " subject_digest TEXT);"
    "CREATE INDEX manifests_config ON manifests (config_digest);"
    "CREATE INDEX manifests_platform ON manifests (os, architecture, variant);"

    "CREATE TABLE image_manifests ("
    " image_id INTEGER NOT NULL REFERENCES images (id),"
    " manifest_digest TEXT NOT NULL REFERENCES manifests (digest),"
    " PRIMARY KEY (image_id, manifest_digest));"
    "CREATE INDEX image_manifests_manifest ON image_manifests (manifest_digest);"

    /* Every entry of the image's index, carried or not: the manifest digest of a
     * platform left out names no row of manifests, hence no foreign key. */
    "CREATE TABLE image_platforms ("
    " image_id INTEGER NOT NULL REFERENCES images (id),"
    " position INTEGER NOT NULL CHECK (position >= 0),"
    " os TEXT,"
    " architecture TEXT,"
    " variant TEXT,"
    " os_version TEXT,"
    " os_features TEXT,"
    " manifest_digest TEXT NOT NULL,"
    " media_type TEXT,"
    " size INTEGER NOT NULL CHECK (size >= 0),"
    " carried INTEGER NOT NULL CHECK (carried IN (0, 1)),"
    " artifact INTEGER NOT NULL CHECK (artifact IN (0, 1)),"
    " parent_digest TEXT,"
    " entry_position INTEGER NOT NULL CHECK (entry_position >= 0),"
    " PRIMARY KEY (image_id, position));"
    "CREATE INDEX image_platforms_manifest ON image_platforms (manifest_digest);"

    /* The indexes an index lists, to any depth, parents first: kept byte for byte. */
    "CREATE TABLE image_indexes ("
    " image_id INTEGER NOT NULL REFERENCES images (id),"
    " position INTEGER NOT NULL CHECK (position >= 0),"
    " digest TEXT NOT NULL,"
    " media_type TEXT,"
    " size INTEGER NOT NULL CHECK (size >= 0),"
    " parent_digest TEXT NOT NULL,"
    " entry_position INTEGER NOT NULL CHECK (entry_position >= 0),"
    " depth INTEGER NOT NULL CHECK (depth >= 1),"
    " os TEXT,"
    " architecture TEXT,"
    " variant TEXT,"
    " os_version TEXT,"
    " os_features TEXT,"
    " carried INTEGER NOT NULL CHECK (carried IN (0, 1)),"
    " PRIMARY KEY (image_id, position));"
    "CREATE INDEX image_indexes_digest ON image_indexes (digest);"

    "CREATE TABLE manifest_layers ("
    " manifest_digest TEXT NOT NULL REFERENCES manifests (digest),"
    " position INTEGER NOT NULL CHECK (position >= 0),"
    " layer_digest TEXT NOT NULL REFERENCES blobs (digest),"
    " PRIMARY KEY (manifest_digest, position));"
    "CREATE INDEX manifest_layers_layer ON manifest_layers (layer_digest);"

    /* Non-distributable layers a manifest names with "urls": carried only on request. */
    "CREATE TABLE foreign_layers ("
    " manifest_digest TEXT NOT NULL REFERENCES manifests (digest),"
    " position INTEGER NOT NULL CHECK (position >= 0),"
    " layer_digest TEXT NOT NULL,"
    " size INTEGER NOT NULL CHECK (size >= 0),"
    " media_type TEXT,"
    " carried INTEGER NOT NULL CHECK (carried IN (0, 1)),"
    " PRIMARY KEY (manifest_digest, position));"

    "CREATE TABLE labels ("
    " config_digest TEXT NOT NULL REFERENCES blobs (digest),"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY (config_digest, key));"
    "CREATE INDEX labels_key ON labels (key, value);"

    "CREATE VIEW image_layers AS"
    " SELECT i.id AS image_id, i.ref AS ref,"
    " m.os || '/' || m.architecture || coalesce('/' || m.variant, '')"
    " || coalesce(':' || m.os_version, '') || coalesce('+' || m.os_features, '') AS platform,"
    " m.digest AS manifest_digest, ml.position AS position, ml.layer_digest AS layer_digest,"
    " b.size AS size, b.media_type AS media_type"
    " FROM images i JOIN image_manifests im ON im.image_id = i.id"
    " JOIN manifests m ON m.digest = im.manifest_digest"
    " JOIN manifest_layers ml ON ml.manifest_digest = m.digest"
    " JOIN blobs b ON b.digest = ml.layer_digest;"

    /* The ordered subquery is what sorts the refs group_concat joins. */
    "CREATE VIEW layer_images AS"
    " SELECT layer_digest, size, count(*) AS images, group_concat(ref, ' ') AS refs"
    " FROM (SELECT DISTINCT layer_digest, size, ref FROM image_layers"
    " ORDER BY layer_digest, ref)"
    " GROUP BY layer_digest;"

    "CREATE VIEW shared_layers AS"
    " SELECT layer_digest, size, images, refs FROM layer_images WHERE images > 1;"

    /* UNION, not UNION ALL: a blob a manifest names twice is still carried once. */
    "CREATE VIEW manifest_blobs AS"
    " SELECT m.digest AS manifest_digest, b.digest AS digest, b.kind AS kind, b.size AS size"
    " FROM manifests m JOIN blobs b ON b.digest = m.config_digest"
    " UNION"
    " SELECT ml.manifest_digest, b.digest, b.kind, b.size"
    " FROM manifest_layers ml JOIN blobs b ON b.digest = ml.layer_digest;"

    "CREATE VIEW image_blobs AS"
    " SELECT u.image_id AS image_id, i.ref AS ref, b.digest AS digest, b.kind AS kind,"
    " b.size AS size, b.media_type AS media_type"
    " FROM (SELECT id AS image_id, digest FROM images"
    " UNION SELECT image_id, manifest_digest FROM image_manifests"
    " UNION SELECT image_id, digest FROM image_indexes WHERE carried = 1"
    " UNION SELECT im.image_id, mb.digest FROM image_manifests im"
    " JOIN manifest_blobs mb ON mb.manifest_digest = im.manifest_digest) u"
    " JOIN images i ON i.id = u.image_id JOIN blobs b ON b.digest = u.digest;"

    "CREATE VIEW image_sizes AS"
    " SELECT i.id AS image_id, i.ref AS ref,"
    " m.os || '/' || m.architecture || coalesce('/' || m.variant, '')"
    " || coalesce(':' || m.os_version, '') || coalesce('+' || m.os_features, '') AS platform,"
    " m.digest AS manifest_digest,"
    " (SELECT count(*) FROM manifest_layers ml WHERE ml.manifest_digest = m.digest) AS layers,"
    " (SELECT coalesce(sum(mb.size), 0) FROM manifest_blobs mb"
    " WHERE mb.manifest_digest = m.digest) AS bytes"
    " FROM images i JOIN image_manifests im ON im.image_id = i.id"
    " JOIN manifests m ON m.digest = im.manifest_digest;"

    /* Bytes per platform count each blob once, however many images share it. */
    "CREATE VIEW platform_sizes AS"
    " SELECT c.os || '/' || c.architecture || coalesce('/' || c.variant, '')"
    " || coalesce(':' || c.os_version, '') || coalesce('+' || c.os_features, '') AS platform,"
    " c.os AS os, c.architecture AS architecture, c.variant AS variant,"
    " c.os_version AS os_version, c.os_features AS os_features,"
    " c.images AS images, c.manifests AS manifests, coalesce(s.bytes, 0) AS bytes"
    " FROM (SELECT m.os AS os, m.architecture AS architecture, m.variant AS variant,"
    " m.os_version AS os_version, m.os_features AS os_features,"
    " count(DISTINCT im.image_id) AS images, count(DISTINCT m.digest) AS manifests"
    " FROM manifests m JOIN image_manifests im ON im.manifest_digest = m.digest"
    " GROUP BY m.os, m.architecture, m.variant, m.os_version, m.os_features) c"
    " LEFT JOIN (SELECT os, architecture, variant, os_version, os_features, sum(size) AS bytes"
    " FROM (SELECT DISTINCT m.os AS os, m.architecture AS architecture,"
    " m.variant AS variant, m.os_version AS os_version, m.os_features AS os_features,"
    " mb.digest AS digest, mb.size AS size"
    " FROM manifests m JOIN manifest_blobs mb ON mb.manifest_digest = m.digest)"
    " GROUP BY os, architecture, variant, os_version, os_features) s"
    " ON s.os IS c.os AND s.architecture IS c.architecture AND s.variant IS c.variant"
    " AND s.os_version IS c.os_version AND s.os_features IS c.os_features;"

    "CREATE VIEW registry_images AS"
    " SELECT c.registry AS registry, c.repositories AS repositories, c.images AS images,"
    " coalesce(s.bytes, 0) AS bytes"
    " FROM (SELECT registry, count(DISTINCT repository) AS repositories,"
    " count(*) AS images FROM images GROUP BY registry) c"
    " LEFT JOIN (SELECT registry, sum(size) AS bytes"
    " FROM (SELECT DISTINCT i.registry AS registry, ib.digest AS digest, ib.size AS size"
    " FROM images i JOIN image_blobs ib ON ib.image_id = i.id)"
    " GROUP BY registry) s ON s.registry = c.registry;";

/* The schema text of each version this bale reads, by version. */
static const char *schema_of(sqlite3_int64 version)
{
	return version == 1 ? schema_v1_sql : version == 2 ? schema_v2_sql : NULL;
}

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
};

struct bale_index_db {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *stmt[ST_COUNT];
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

static int add_image_rows(bale_index_db *x, const bale_image *image, const char *pulled_at,
                          const config_source *cs, bale_error **err)
{
	sqlite3_int64 id = 0;
	const char *root_kind =
	    bale_manifest_type_is_index(image->root.media_type) ? "index" : "manifest";
	int rc = add_blob(x, &image->root, root_kind, err);
	if (rc < 0 || (rc = add_image_row(x, image, pulled_at, &id, err)) < 0)
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
}

int bale_index_db_create(bale_index_db **out, const char *path, const bale_index_bundle_info *info,
                         bale_error **err)
{
	assert(info && info->bundle_id && info->created && info->tool_version);
	bale_index_db *x = NULL;
	sqlite3_stmt *st = NULL;
	bool created = false;
	int rc = 0;
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
	 * The journal stays in memory so that a failed image can still be rolled back. */
	if ((rc = exec(x->db,
	               "PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF;"
	               "PRAGMA foreign_keys = ON;"
	               "PRAGMA application_id = " XSTRINGIFY(INDEX_APPLICATION_ID) ";",
	               "settings", err)) < 0 ||
	    (rc = exec(x->db, "BEGIN", "begin", err)) < 0 ||
	    (rc = exec(x->db, schema_v2_sql, "schema", err)) < 0 ||
	    (rc = exec(x->db, "PRAGMA user_version = " XSTRINGIFY(BALE_INDEX_SCHEMA_VERSION),
	               "schema version", err)) < 0)
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
	sqlite3_bind_int(st, 5, BALE_INDEX_SCHEMA_VERSION);
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

int bale_index_db_finish(bale_index_db *x, bale_error **err)
{
	assert(x && !x->finished);
	int rc = 0, fd = -1;
	finalize_all(x);
	if ((rc = exec(x->db, "COMMIT", "commit", err)) < 0)
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

/* ---- reading ---- */

/* Runs a statement that returns one integer (a PRAGMA of ours). */
static int query_int(sqlite3 *db, const char *sql, sqlite3_int64 *out, bale_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
		goto cleanup;
	}
	*out = sqlite3_column_int64(st, 0);
cleanup:
	sqlite3_finalize(st);
	return rc;
}

/* The schema objects of db, in one order: type, name, table and the SQL that made them. */
static const char schema_listing[] =
    "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name";

static const char *text_or_empty(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? (const char *)t : "";
}

/* The schema must be the one bale writes, object for object and byte for byte: views
 * run SQL the file itself supplies (bale ls, inspect and users' queries read them), so a
 * view or trigger of another making is refused before anything is asked of the file. */
static int check_schema(sqlite3 *db, sqlite3_int64 version, bale_error **err)
{
	sqlite3 *ref = NULL;
	sqlite3_stmt *want = NULL, *have = NULL;
	int rc = 0, w = SQLITE_DONE, h = SQLITE_DONE;
	if (sqlite3_open_v2(":memory:", &ref, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_exec(ref, schema_of(version), NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ref, schema_listing, -1, &want, NULL) != SQLITE_OK) {
		rc = bale_error_set(err, BALE_EGENERIC, "index.db: the reference schema: %s",
		                    ref ? sqlite3_errmsg(ref) : "out of memory");
		goto cleanup;
	}
	if (sqlite3_prepare_v2(db, schema_listing, -1, &have, NULL) != SQLITE_OK) {
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
		goto cleanup;
	}
	for (;;) {
		w = sqlite3_step(want);
		h = sqlite3_step(have);
		if (w != SQLITE_ROW || h != SQLITE_ROW)
			break;
		const char *wt = text_or_empty(want, 0), *wn = text_or_empty(want, 1);
		const char *ht = text_or_empty(have, 0), *hn = text_or_empty(have, 1);
		int order = strcmp(wt, ht) ? strcmp(wt, ht) : strcmp(wn, hn);
		char quoted[BALE_TEXT_QUOTE_SIZE];
		if (order < 0) {
			rc = bale_error_set(err, BALE_EVERIFY,
			                    "index.db: no %s %s (schema version %d)", wt, wn,
			                    (int)version);
			goto cleanup;
		}
		if (order > 0) {
			bale_text_quote(quoted, sizeof(quoted), hn);
			rc = bale_error_set(err, BALE_EVERIFY,
			                    "index.db: %s \"%s\" is not part of bale's schema "
			                    "(version %d): refused",
			                    ht, quoted, (int)version);
			goto cleanup;
		}
		if (strcmp(text_or_empty(want, 2), text_or_empty(have, 2)) != 0 ||
		    strcmp(text_or_empty(want, 3), text_or_empty(have, 3)) != 0) {
			rc = bale_error_set(err, BALE_EVERIFY,
			                    "index.db: %s %s is not the one bale writes (schema "
			                    "version %d): refused",
			                    wt, wn, (int)version);
			goto cleanup;
		}
	}
	if (w == SQLITE_ROW)
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: no %s %s (schema version %d)",
		                    text_or_empty(want, 0), text_or_empty(want, 1), (int)version);
	else if (h == SQLITE_ROW) {
		char quoted[BALE_TEXT_QUOTE_SIZE];
		bale_text_quote(quoted, sizeof(quoted), text_or_empty(have, 1));
		rc =
		    bale_error_set(err, BALE_EVERIFY,
		                   "index.db: %s \"%s\" is not part of bale's schema (version %d): "
		                   "refused",
		                   text_or_empty(have, 0), quoted, (int)version);
	} else if (w != SQLITE_DONE || h != SQLITE_DONE)
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
cleanup:
	sqlite3_finalize(want);
	sqlite3_finalize(have);
	sqlite3_close(ref);
	return rc;
}

/* Structure, version and the exact schema, before anyone queries. */
static int check_index(sqlite3 *db, bale_error **err)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 app = 0, version = 0;
	int rc = 0;
	if ((rc = query_int(db, "PRAGMA application_id", &app, err)) < 0 ||
	    (rc = query_int(db, "PRAGMA user_version", &version, err)) < 0)
		goto cleanup;
	if (app != INDEX_APPLICATION_ID) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "index.db: not a bale index (application id %lld)",
		                    (long long)app);
		goto cleanup;
	}
	/* Older versions are read as they were written; newer ones are another bale's. */
	if (!schema_of(version)) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "index.db: schema version %lld, this bale reads 1 to %d: "
		                    "read it with a newer bale",
		                    (long long)version, BALE_INDEX_SCHEMA_VERSION);
		goto cleanup;
	}
	/* The file did not come from us: let SQLite walk every page once before a query
	 * does, so damage is reported as such rather than as a strange query result. */
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: damaged: %s", sqlite3_errmsg(db));
		goto cleanup;
	}
	const char *verdict = (const char *)sqlite3_column_text(st, 0);
	if (!verdict || strcmp(verdict, "ok") != 0) {
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: damaged: %s",
		                    verdict ? verdict : "?");
		goto cleanup;
	}
	rc = check_schema(db, version, err);
cleanup:
	sqlite3_finalize(st);
	return rc;
}

int bale_index_db_open_bytes(sqlite3 **out, const void *bytes, size_t len, bale_error **err)
{
	sqlite3 *db = NULL;
	unsigned char *copy = NULL;
	int rc = 0;
	if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		rc = bale_error_set(err, BALE_EGENERIC, "index.db: open: %s",
		                    db ? sqlite3_errmsg(db) : "out of memory");
		goto cleanup;
	}
	/* SQLite owns the copy from here on (FREEONCLOSE frees it even when deserialize
	 * fails); the caller's bytes stay the caller's. */
	if (!(copy = sqlite3_malloc64(len ? len : 1))) {
		rc = bale_error_set(err, BALE_EGENERIC, "index.db: out of memory");
		goto cleanup;
	}
	if (len)
		memcpy(copy, bytes, len);
	if (sqlite3_deserialize(db, "main", copy, (sqlite3_int64)len, (sqlite3_int64)len,
	                        SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY) !=
	    SQLITE_OK) {
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
		goto cleanup;
	}
	/* Guarded before the first look inside: the bytes may not be ours. */
	if ((rc = bale_sql_guard(db, err)) < 0) {
		bale_error_wrap(err, "index.db");
		goto cleanup;
	}
	if ((rc = check_index(db, err)) < 0)
		goto cleanup;
	*out = db;
	db = NULL;
cleanup:
	sqlite3_close(db);
	return rc;
}

static int prepare_fail(sqlite3 *db, int src, bale_error **err)
{
	/* What SQLite said, before the guard is asked (asking runs a statement). */
	char msg[512];
	int at = -1;
	snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(db));
#if SQLITE_VERSION_NUMBER >= 3038000 /* sqlite3_error_offset */
	at = sqlite3_error_offset(db);
#endif
	if (bale_sql_guard_error(db, src, err) < 0)
		return bale_error_wrap(err, "query");
	/* Denied by the authorizer; SQLite says so with SQLITE_AUTH, or from inside a
	 * table-valued function, with SQLITE_ERROR and this message. */
	if (src == SQLITE_AUTH || strcmp(msg, "not authorized") == 0)
		return bale_error_set(err, BALE_EUSAGE,
		                      "query: %s: the index is read-only (SELECT, WITH and "
		                      "read-only PRAGMAs only; no ATTACH)",
		                      msg);
	if (at >= 0)
		return bale_error_set(err, BALE_EUSAGE, "query: %s (at character %d)", msg, at + 1);
	return bale_error_set(err, BALE_EUSAGE, "query: %s", msg);
}

/* Where a second statement starts in text (what follows the first), or NULL when
 * there are only spaces, semicolons and comments. */
static const char *more_sql(sqlite3 *db, const char *text)
{
	sqlite3_stmt *st = NULL;
	while (*text == ';' || *text == ' ' || (*text >= '\t' && *text <= '\r'))
		text++;
	if (!*text)
		return NULL;
	/* Only comments prepare to no statement at all. */
	int src = sqlite3_prepare_v2(db, text, -1, &st, NULL);
	bool more = src != SQLITE_OK || st != NULL;
	sqlite3_finalize(st);
	return more ? text : NULL;
}

int bale_index_db_query(sqlite3 *db, const char *sql, bale_index_row_fn row, void *payload,
                        bale_error **err)
{
	assert(db && sql && row);
	sqlite3_stmt *st = NULL;
	const char **names = NULL, **values = NULL;
	const char *tail = NULL;
	int rc = 0, src;
	bale_sql_guard_reset(db); /* each statement has the whole budget */
	if ((src = sqlite3_prepare_v2(db, sql, -1, &st, &tail)) != SQLITE_OK) {
		rc = prepare_fail(db, src, err);
		goto cleanup;
	}
	if (!st) {
		rc = bale_error_set(err, BALE_EUSAGE, "query: no SQL statement");
		goto cleanup;
	}
	if ((tail = more_sql(db, tail))) {
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "query: one statement at a time (more SQL at character %zu)",
		                    (size_t)(tail - sql) + 1);
		goto cleanup;
	}
	if (!sqlite3_stmt_readonly(st)) {
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "query: read-only: statements that write are refused");
		goto cleanup;
	}
	int ncols = sqlite3_column_count(st);
	names = calloc((size_t)ncols + 1, sizeof(*names));
	values = calloc((size_t)ncols + 1, sizeof(*values));
	if (!names || !values) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	for (int i = 0; i < ncols; i++)
		if (!(names[i] = sqlite3_column_name(st, i))) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
	/* The column names first, so an empty result still has a header. */
	if ((rc = row(payload, ncols, names, NULL)) != 0)
		goto cleanup;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < ncols; i++) {
			bool is_null = sqlite3_column_type(st, i) == SQLITE_NULL;
			values[i] = is_null ? NULL : (const char *)sqlite3_column_text(st, i);
			if (!is_null && !values[i]) {
				rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
				goto cleanup;
			}
		}
		/* A callback that says stop ends the query; its value is the result. */
		if ((rc = row(payload, ncols, names, values)) != 0)
			goto cleanup;
	}
	if (src != SQLITE_DONE) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(db));
		int code = (src & 0xff) == SQLITE_CORRUPT || (src & 0xff) == SQLITE_NOTADB
		               ? BALE_EVERIFY
		           : (src & 0xff) == SQLITE_NOMEM ? BALE_EGENERIC
		                                          : BALE_EUSAGE;
		rc = bale_sql_guard_error(db, src, err) < 0
		         ? bale_error_wrap(err, "query")
		         : bale_error_set(err, code, "query: %s", msg);
	}
cleanup:
	free(names);
	free(values);
	sqlite3_finalize(st);
	return rc;
}

int bale_index_db_image_digest(sqlite3 *db, const char *ref, char digest[80], bale_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, src;
	digest[0] = '\0';
	bale_sql_guard_reset(db); /* one lookup per image: each has the whole budget */
	if (sqlite3_prepare_v2(db, "SELECT digest FROM images WHERE ref = ?1", -1, &st, NULL) ==
	        SQLITE_OK &&
	    sqlite3_bind_text(st, 1, ref, -1, SQLITE_TRANSIENT) == SQLITE_OK)
		src = sqlite3_step(st);
	else
		src = sqlite3_errcode(db);
	if (src == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(digest, 80, "%s", (const char *)sqlite3_column_text(st, 0));
	else if (src != SQLITE_ROW && src != SQLITE_DONE)
		rc = bale_sql_guard_error(db, src, err) < 0
		         ? bale_error_wrap(err, "index.db: %s", ref)
		         : bale_error_set(err, BALE_EVERIFY, "index.db: %s: %s", ref,
		                          sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

int bale_index_db_open_bundle(bale_bundle_reader **reader, sqlite3 **db, const char *path,
                              bale_error **err)
{
	const bale_bundle_head *head = NULL;
	int rc = bale_bundle_open(reader, path, err); /* its errors name the file */
	if (rc < 0)
		return rc;
	if ((rc = bale_bundle_read_head(*reader, &head, err)) < 0 ||
	    (rc = bale_bundle_read_index(*reader, &head, err)) < 0 ||
	    (rc = bale_index_db_open_bytes(db, head->index_db, head->index_db_len, err)) < 0) {
		bale_bundle_close(*reader);
		*reader = NULL;
	}
	return rc;
}

int bale_index_db_version(sqlite3 *db)
{
	sqlite3_int64 version = 0;
	bale_sql_guard_reset(db);
	if (query_int(db, "PRAGMA user_version", &version, NULL) < 0)
		return 0;
	return (int)version;
}
