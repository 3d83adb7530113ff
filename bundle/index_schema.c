/* The schema text of each index.db version bale reads: written by bale_index_db_create
 * (the newest), held to byte for byte by every reader (index_read.c). Keep the tables in
 * docs/index-schema.md in step: the unit test compares them. */
#include <stddef.h>

#include "bale/index_db.h"
#include "bundle/index_private.h"

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

/* Version 3 is version 2 and the archive order of the blobs (bundle format 2 lists its
 * members here, not in bale/manifest.json). Created by ALTER TABLE, SQLite keeps the
 * column in the table's text exactly as a reader's reference copy gets it. */
static const char schema_v3_more_sql[] =
    "ALTER TABLE blobs ADD COLUMN member INTEGER CHECK (member >= 0);"
    "CREATE UNIQUE INDEX blobs_member ON blobs (member);";

/* Version 4 is version 3 and where the blobs of a bundle cut into volumes are: each
 * volume's members in their archive order, whole blobs and parts of blobs too large for a
 * volume (bundle format 4). Only volume sets are written with it. */
static const char schema_v4_more_sql[] =
    "CREATE TABLE volume_members ("
    " volume INTEGER NOT NULL CHECK (volume >= 1),"
    " position INTEGER NOT NULL CHECK (position >= 0),"
    " digest TEXT NOT NULL REFERENCES blobs (digest),"
    " part INTEGER NOT NULL CHECK (part >= 0),"
    " offset INTEGER NOT NULL CHECK (offset >= 0),"
    " size INTEGER NOT NULL CHECK (size >= 0),"
    " part_digest TEXT NOT NULL,"
    " PRIMARY KEY (volume, position));"
    "CREATE INDEX volume_members_digest ON volume_members (digest, part);";

/* Version 5 is version 4 (volume_members empty unless the bundle is a volume set) and
 * what each attachment is: the image row that carries it, the manifest it is about, how
 * it was found. */
static const char schema_v5_more_sql[] =
    "CREATE TABLE referrers ("
    " image_id INTEGER PRIMARY KEY REFERENCES images (id),"
    " subject TEXT NOT NULL,"
    " digest TEXT NOT NULL REFERENCES blobs (digest),"
    " media_type TEXT,"
    " artifact_type TEXT,"
    " kind TEXT NOT NULL CHECK (kind IN ('cosign-signature', 'cosign-attestation',"
    " 'cosign-sbom', 'oci-referrer')),"
    " tag TEXT,"
    " signer_key_id TEXT,"
    " policy_digest TEXT);"
    "CREATE INDEX referrers_subject ON referrers (subject);";

/* Version 6 is version 5 and which rule of an image set chose each image it chose. */
static const char schema_v6_more_sql[] = "CREATE TABLE image_rules ("
                                         " image_id INTEGER PRIMARY KEY REFERENCES images (id),"
                                         " rule TEXT NOT NULL);";

bool bundle_index_schema_known(sqlite3_int64 version)
{
	return version >= 1 && version <= BALE_INDEX_SCHEMA_RULES;
}

int bundle_index_schema_create(sqlite3 *db, sqlite3_int64 version)
{
	if (version == 1)
		return sqlite3_exec(db, schema_v1_sql, NULL, NULL, NULL);
	int src = sqlite3_exec(db, schema_v2_sql, NULL, NULL, NULL);
	if (src == SQLITE_OK && version >= 3)
		src = sqlite3_exec(db, schema_v3_more_sql, NULL, NULL, NULL);
	if (src == SQLITE_OK && version >= 4)
		src = sqlite3_exec(db, schema_v4_more_sql, NULL, NULL, NULL);
	if (src == SQLITE_OK && version >= 5)
		src = sqlite3_exec(db, schema_v5_more_sql, NULL, NULL, NULL);
	if (src == SQLITE_OK && version >= 6)
		src = sqlite3_exec(db, schema_v6_more_sql, NULL, NULL, NULL);
	return src;
}
