/* bale inspect BUNDLE REF: one image as the bundle carries it, from the head only. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/bundle.h"
#include "bale/index_db.h"
#include "bale/ref.h"
#include "cli/cli.h"
#include "cli/terminal.h"

/* One row of image_platforms (every entry of the image's index, carried or not) with
 * the sizes of what is carried; a single-manifest image has its one manifest. The views it
 * needs are spelled out over the base tables: no SQL the file carries runs for bale's own
 * output. */
#define SIZES_SQL                                                                                  \
	"WITH manifest_blobs AS ("                                                                 \
	" SELECT m.digest AS manifest_digest, b.digest AS digest, b.kind AS kind, b.size AS size"  \
	" FROM manifests m JOIN blobs b ON b.digest = m.config_digest"                             \
	" UNION SELECT ml.manifest_digest, b.digest, b.kind, b.size"                               \
	" FROM manifest_layers ml JOIN blobs b ON b.digest = ml.layer_digest),"                    \
	" image_sizes AS ("                                                                        \
	" SELECT im.image_id AS image_id, m.digest AS manifest_digest,"                            \
	" (SELECT count(*) FROM manifest_layers ml WHERE ml.manifest_digest = m.digest) AS "       \
	"layers,"                                                                                  \
	" (SELECT coalesce(sum(mb.size), 0) FROM manifest_blobs mb"                                \
	" WHERE mb.manifest_digest = m.digest) AS bytes"                                           \
	" FROM image_manifests im JOIN manifests m ON m.digest = im.manifest_digest)"

/* Schema version 2: os.version and os.features in the platform, artifacts named as such,
 * the foreign layers a manifest lacks, and the index (root or child) listing each entry. */
static const char platforms_v2_sql[] = SIZES_SQL
    " SELECT CASE WHEN ip.artifact = 1 AND coalesce(ip.os, 'unknown') = 'unknown'"
    "  THEN 'artifact' ELSE coalesce(ip.os || '/' || ip.architecture"
    "  || coalesce('/' || ip.variant, '') || coalesce(':' || ip.os_version, '')"
    "  || coalesce('+' || ip.os_features, ''), 'unknown') END AS platform,"
    "  ip.manifest_digest AS manifest,"
    "  CASE ip.carried WHEN 1 THEN 'carried' ELSE 'left out' END AS status,"
    "  s.layers AS layers, s.bytes AS bytes, m.created AS created,"
    "  (SELECT count(*) FROM foreign_layers fl WHERE fl.manifest_digest = ip.manifest_digest"
    "  AND fl.carried = 0) AS foreign_lacking,"
    "  CASE WHEN ip.parent_digest IS NULL OR ip.parent_digest = i.digest THEN NULL"
    "  ELSE ip.parent_digest END AS child_index"
    " FROM images i JOIN image_platforms ip ON ip.image_id = i.id"
    " LEFT JOIN image_sizes s ON s.image_id = i.id AND s.manifest_digest = ip.manifest_digest"
    " LEFT JOIN manifests m ON m.digest = ip.manifest_digest"
    " WHERE i.ref = %Q ORDER BY ip.position";

/* Schema version 1. */
static const char platforms_sql[] =
    "WITH manifest_blobs AS ("
    " SELECT m.digest AS manifest_digest, b.digest AS digest, b.kind AS kind, b.size AS size"
    " FROM manifests m JOIN blobs b ON b.digest = m.config_digest"
    " UNION SELECT ml.manifest_digest, b.digest, b.kind, b.size"
    " FROM manifest_layers ml JOIN blobs b ON b.digest = ml.layer_digest),"
    " image_sizes AS ("
    " SELECT im.image_id AS image_id, m.digest AS manifest_digest,"
    " (SELECT count(*) FROM manifest_layers ml WHERE ml.manifest_digest = m.digest) AS layers,"
    " (SELECT coalesce(sum(mb.size), 0) FROM manifest_blobs mb"
    " WHERE mb.manifest_digest = m.digest) AS bytes"
    " FROM image_manifests im JOIN manifests m ON m.digest = im.manifest_digest)"
    " SELECT coalesce(ip.os || '/' || ip.architecture || coalesce('/' || ip.variant, ''),"
    "  'unknown') AS platform, ip.manifest_digest AS manifest,"
    "  CASE ip.carried WHEN 1 THEN 'carried' ELSE 'left out' END AS status,"
    "  s.layers AS layers, s.bytes AS bytes, m.created AS created"
    " FROM images i JOIN image_platforms ip ON ip.image_id = i.id"
    " LEFT JOIN image_sizes s ON s.image_id = i.id AND s.manifest_digest = ip.manifest_digest"
    " LEFT JOIN manifests m ON m.digest = ip.manifest_digest"
    " WHERE i.ref = %Q ORDER BY ip.position";

/* Row values as JSON: counts and sizes as numbers, the rest as strings. */
static json_t *json_value(const char *name, const char *value)
{
	if (!value)
		return json_null();
	bool number = !strcmp(name, "size") || !strcmp(name, "layers") || !strcmp(name, "bytes") ||
	              !strcmp(name, "foreign_lacking");
	return number ? json_integer(strtoll(value, NULL, 10)) : json_string(value);
}

static int found_image(void *payload, int ncols, const char *const *names,
                       const char *const *values)
{
	json_t *o = payload;
	for (int i = 0; values && i < ncols; i++)
		json_object_set_new(o, names[i], json_value(names[i], values[i]));
	return 0;
}

static int found_platform(void *payload, int ncols, const char *const *names,
                          const char *const *values)
{
	if (!values) /* the column names: nothing to keep */
		return 0;
	json_t *row = json_object();
	for (int i = 0; i < ncols; i++)
		json_object_set_new(row, names[i], json_value(names[i], values[i]));
	json_array_append_new(payload, row);
	return 0;
}

/* Schema version 5: what the image brought with it (bale export --referrers), about its
 * root or a manifest it carries. */
static const char attachments_sql[] =
    "SELECT r.kind AS kind, i.ref AS ref, r.subject AS subject, r.artifact_type AS artifactType"
    " FROM referrers r JOIN images i ON i.id = r.image_id"
    " WHERE r.subject = (SELECT digest FROM images WHERE ref = %Q)"
    " OR r.subject IN (SELECT im.manifest_digest FROM image_manifests im"
    " JOIN images x ON x.id = im.image_id WHERE x.ref = %Q) ORDER BY r.image_id";

int cmd_inspect_bundle(cli_common *c, const char *bundle, const char *text, bool as_json,
                       bale_error **err)
{
	bale_bundle_reader *reader = NULL;
	bale_ref *ref = NULL;
	sqlite3 *db = NULL;
	char *sql = NULL;
	json_t *image = json_object();
	int rc = 0;
	if (bale_ref_parse(&ref, text, err) < 0 ||
	    bale_index_db_open_bundle(&reader, &db, bundle, err) < 0)
		goto failed;
	sql = sqlite3_mprintf("SELECT ref AS name, digest, media_type AS mediaType, size FROM "
	                      "images WHERE ref = %Q",
	                      bale_ref_string(ref));
	if (!sql || bale_index_db_query(db, sql, found_image, image, err) < 0)
		goto failed;
	if (!json_object_size(image)) {
		bale_error_set(err, BALE_ENOTFOUND, "%s: no image %s in this bundle", bundle,
		               bale_ref_string(ref));
		goto failed;
	}
	sqlite3_free(sql);
	sql = sqlite3_mprintf(bale_index_db_version(db) >= 2 ? platforms_v2_sql : platforms_sql,
	                      bale_ref_string(ref));
	if (!sql)
		goto failed;
	if (!as_json) { /* escaped: every value comes from the bundle */
		fputs("Name:       ", stdout);
		cli_put_text(stdout, json_string_value(json_object_get(image, "name")));
		fputs("\nDigest:     ", stdout);
		cli_put_text(stdout, json_string_value(json_object_get(image, "digest")));
		fputs("\nMediaType:  ", stdout);
		cli_put_text(stdout, json_string_value(json_object_get(image, "mediaType")));
		printf("\nSize:       %lld\n\n",
		       (long long)json_integer_value(json_object_get(image, "size")));
		if (cli_run_query(db, sql, OPT_HELP, false, err) < 0)
			goto failed;
	} else {
		json_t *platforms = json_array();
		json_object_set_new(image, "platforms", platforms);
		if (bale_index_db_query(db, sql, found_platform, platforms, err) < 0)
			goto failed;
	}
	sqlite3_free(sql);
	sql = NULL;
	if (bale_index_db_version(db) >= 5 &&
	    !(sql = sqlite3_mprintf(attachments_sql, bale_ref_string(ref), bale_ref_string(ref))))
		goto failed;
	if (sql && !as_json) {
		fputs("\nAttachments:\n", stdout);
		if (cli_run_query(db, sql, OPT_HELP, false, err) < 0)
			goto failed;
	} else if (as_json) {
		json_t *attachments = json_array();
		json_object_set_new(image, "attachments", attachments);
		if (sql && bale_index_db_query(db, sql, found_platform, attachments, err) < 0)
			goto failed;
		json_dumpf(image, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	}
	goto cleanup;
failed:
	rc = *err ? bale_error_code(*err) : bale_error_set(err, BALE_EGENERIC, "out of memory");
cleanup:
	(void)c;
	json_decref(image);
	sqlite3_free(sql);
	sqlite3_close(db);
	bale_bundle_close(reader);
	bale_ref_free(ref);
	return rc;
}
