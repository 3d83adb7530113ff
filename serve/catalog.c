/* What bale serve serves: the bundles, their signed indexes, and where each blob's member
 * starts in its archive, worked out from the index's sizes in archive order, so a request
 * reads its blob through the seek table and nothing else. */
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/json.h"
#include "bale/slots.h"
#include "bale/verify.h"
#include "serve/serve_private.h"

#define TAR_BLOCK 512u
/* Bundle readers open at once, each about 1.7 MiB (a zstd decompressor and its buffers):
 * more clients than this wait their turn, so memory stays flat however many connect. */
#define MAX_READERS 8

typedef struct serve_bundle {
	char *path;
	sqlite3 *db; /* its index.db, checked against its signed manifest */
} serve_bundle;

struct serve_catalog {
	serve_bundle *bundles;
	size_t n_bundles;
	serve_blob *blobs;
	size_t n_blobs, blobs_alloc;
	bale_slots *by_digest;
	size_t images;
	pthread_mutex_t mu; /* the indexes are read from every connection's thread */
	sem_t readers;      /* MAX_READERS */
	atomic_size_t refs;
	/* The manifests that have a "subject", by the digest it names: read from the bundles
	 * on the first referrers request (index.db does not record subjects). */
	pthread_mutex_t referrers_mu;
	json_t *referrers;
};

static const char *blob_key(const void *items, size_t pos)
{
	return ((const serve_blob *)items)[pos].digest.str;
}

static uint64_t member_bytes(int64_t size)
{
	return TAR_BLOCK + ((uint64_t)size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
}

static int add_blob(serve_catalog *c, const serve_blob *b, bale_error **err)
{
	if (bale_slots_find(c->by_digest, c->blobs, b->digest.str) != SIZE_MAX)
		return 0; /* in an earlier bundle too: either serves */
	if (c->n_blobs == c->blobs_alloc) {
		size_t want = c->blobs_alloc ? c->blobs_alloc * 2 : 256;
		serve_blob *grown = realloc(c->blobs, want * sizeof(*grown));
		if (!grown)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		c->blobs = grown;
		c->blobs_alloc = want;
	}
	c->blobs[c->n_blobs] = *b;
	return bale_slots_put(c->by_digest, c->blobs, c->n_blobs++, err);
}

static void catalog_free(serve_catalog *c);

/* Bundle k: its head checked, its index kept, its blobs' members placed. */
static int open_bundle(serve_catalog *c, size_t k, const char *path, const bale_trust *trust,
                       bale_error **err)
{
	bale_bundle_reader *r = NULL;
	bale_trusted_head th = {0};
	sqlite3_stmt *st = NULL;
	int rc = bale_bundle_open(&r, path, err);
	if (rc == 0)
		rc = bale_verify_head(r, trust, &th, err);
	if (rc < 0)
		goto cleanup;
	const bale_bundle_manifest *m = th.manifest;
	const bale_bundle_file *layout = bale_bundle_manifest_file(m, "oci-layout");
	const bale_bundle_file *index = bale_bundle_manifest_file(m, "index.json");
	if (m->format_version < BALE_BUNDLE_FORMAT_PLAIN || m->volume || !layout || !index) {
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "bale serve serves bundles of format 2 and 3, whole (this is "
		                    "%s): export it again, or import its volumes into a store",
		                    m->volume ? "a volume of a set" : "format 1");
		goto cleanup;
	}
	/* after index.db (read with the head): oci-layout, index.json, then the blobs */
	uint64_t pos =
	    bale_bundle_position(r) + member_bytes(layout->size) + member_bytes(index->size);
	if (sqlite3_prepare_v2(th.index_db,
	                       "SELECT digest, size FROM blobs WHERE member IS NOT NULL"
	                       " ORDER BY member",
	                       -1, &st, NULL) != SQLITE_OK) {
		rc = bale_error_set(err, BALE_EVERIFY, "%s: %s", BALE_BUNDLE_INDEX_DB,
		                    sqlite3_errmsg(th.index_db));
		goto cleanup;
	}
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		serve_blob b = {.size = sqlite3_column_int64(st, 1), .offset = pos, .bundle = k};
		const char *d = (const char *)sqlite3_column_text(st, 0);
		if ((rc = bale_digest_parse(&b.digest, d ? d : "", err)) == 0)
			rc = add_blob(c, &b, err);
		pos += member_bytes(b.size);
	}
	c->images += (size_t)th.images;
	c->bundles[k].db = th.index_db; /* kept: the head's reader goes */
	th.index_db = NULL;
cleanup:
	sqlite3_finalize(st);
	bale_verify_head_close(&th);
	bale_bundle_close(r);
	return rc < 0 ? bale_error_wrap(err, "%s", path) : 0;
}

int serve_catalog_open(serve_catalog **out, const char *const *bundles, size_t n,
                       const bale_trust *trust, const bale_log *log, bale_error **err)
{
	bale_progress phase = {.phase = "opening bundles", .total = (int)n};
	serve_catalog *c = calloc(1, sizeof(*c));
	int rc = c && (c->bundles = calloc(n + 1, sizeof(*c->bundles)))
	             ? bale_slots_new(&c->by_digest, blob_key, err)
	             : bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (c) {
		pthread_mutex_init(&c->mu, NULL);
		pthread_mutex_init(&c->referrers_mu, NULL);
		sem_init(&c->readers, 0, MAX_READERS);
		atomic_init(&c->refs, 1);
	}
	for (size_t k = 0; k < n && rc == 0; k++) {
		if (log && log->progress) /* each is checked whole at its head: say which */
			log->progress(log->payload, &phase);
		if (!(c->bundles[k].path = strdup(bundles[k])))
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		c->n_bundles = k + 1;
		if (rc == 0)
			rc = open_bundle(c, k, bundles[k], trust, err);
		phase.done = (int)k + 1;
	}
	if (rc == 0 && log && log->progress)
		log->progress(log->payload, &phase);
	if (rc < 0) {
		catalog_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

static void catalog_free(serve_catalog *c)
{
	if (!c)
		return;
	for (size_t k = 0; k < c->n_bundles; k++) {
		sqlite3_close(c->bundles[k].db);
		free(c->bundles[k].path);
	}
	free(c->bundles);
	free(c->blobs);
	bale_slots_free(c->by_digest);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->referrers_mu);
	sem_destroy(&c->readers);
	json_decref(c->referrers);
	free(c);
}

void serve_catalog_ref(serve_catalog *c)
{
	atomic_fetch_add(&c->refs, 1);
}

void serve_catalog_unref(serve_catalog *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1)
		catalog_free(c);
}

size_t serve_catalog_images(const serve_catalog *c)
{
	return c->images;
}

const serve_blob *serve_catalog_blob(serve_catalog *c, const char *digest)
{
	size_t i = bale_slots_find(c->by_digest, c->blobs, digest);
	return i == SIZE_MAX ? NULL : &c->blobs[i];
}

/* The first text column of sql's first row in bundle k (binding ?1 to ?3 to the values
 * that are not NULL), or false. */
static bool first_text(serve_catalog *c, size_t k, const char *sql, const char *const bind[3],
                       char *out, size_t size)
{
	sqlite3_stmt *st = NULL;
	bool found = false;
	pthread_mutex_lock(&c->mu);
	if (sqlite3_prepare_v2(c->bundles[k].db, sql, -1, &st, NULL) == SQLITE_OK) {
		for (int i = 0; i < 3; i++)
			if (bind[i])
				sqlite3_bind_text(st, i + 1, bind[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			const char *t = (const char *)sqlite3_column_text(st, 0);
			snprintf(out, size, "%s", t ? t : "");
			found = true;
		}
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&c->mu);
	return found;
}

bool serve_catalog_has_repository(serve_catalog *c, const char *name, const char *ns)
{
	char one[8];
	const char *bind[3] = {name, ns, NULL};
	for (size_t k = 0; k < c->n_bundles; k++)
		if (first_text(c, k,
		               "SELECT 1 FROM images WHERE repository = ?1"
		               " AND (?2 IS NULL OR registry = ?2) LIMIT 1",
		               bind, one, sizeof(one)))
			return true;
	return false;
}

const serve_blob *serve_catalog_tag(serve_catalog *c, const char *name, const char *tag,
                                    const char *ns)
{
	char digest[BALE_DIGEST_STR_LEN + 8];
	const char *bind[3] = {name, tag, ns};
	/* With ns, the image of that registry; without, of whichever registry comes first by
	 * name when several share the path. A later bundle's tag wins. */
	for (size_t k = c->n_bundles; k-- > 0;)
		if (first_text(c, k,
		               "SELECT digest FROM images WHERE repository = ?1 AND tag = ?2"
		               " AND (?3 IS NULL OR registry = ?3) ORDER BY registry LIMIT 1",
		               bind, digest, sizeof(digest)))
			return serve_catalog_blob(c, digest);
	return NULL;
}

void serve_catalog_describe(serve_catalog *c, const serve_blob *b, char media_type[128],
                            bool *manifest)
{
	char kind[16] = "";
	const char *bind[3] = {b->digest.str, NULL, NULL};
	media_type[0] = '\0';
	first_text(c, b->bundle, "SELECT coalesce(media_type, '') FROM blobs WHERE digest = ?1",
	           bind, media_type, 128);
	first_text(c, b->bundle, "SELECT kind FROM blobs WHERE digest = ?1", bind, kind,
	           sizeof(kind));
	*manifest = strcmp(kind, "index") == 0 || strcmp(kind, "manifest") == 0;
}

/* The distinct values of sql's first column over every bundle, as a JSON list. */
static int json_list(serve_catalog *c, const char *sql, const char *bind, json_t *list,
                     bale_error **err)
{
	int rc = 0;
	pthread_mutex_lock(&c->mu);
	for (size_t k = 0; k < c->n_bundles && rc == 0; k++) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(c->bundles[k].db, sql, -1, &st, NULL) != SQLITE_OK) {
			rc = bale_error_set(err, BALE_EVERIFY, "index.db: %s",
			                    sqlite3_errmsg(c->bundles[k].db));
			break;
		}
		if (bind)
			sqlite3_bind_text(st, 1, bind, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *t = (const char *)sqlite3_column_text(st, 0);
			bool seen = false;
			for (size_t i = 0; t && !seen && i < json_array_size(list); i++)
				seen = strcmp(json_string_value(json_array_get(list, i)), t) == 0;
			if (t && !seen)
				json_array_append_new(list, json_string(t));
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static int dump(json_t *doc, bale_buf *out, bale_error **err)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	int rc = text ? bale_buf_append(out, text, strlen(text), err)
	              : bale_error_set(err, BALE_EGENERIC, "out of memory");
	free(text);
	return rc;
}

int serve_catalog_tags(serve_catalog *c, const char *name, bale_buf *out, bale_error **err)
{
	json_t *tags = json_array();
	int rc = json_list(c,
	                   "SELECT DISTINCT tag FROM images WHERE repository = ?1 AND tag IS NOT"
	                   " NULL ORDER BY tag",
	                   name, tags, err);
	if (rc < 0) {
		json_decref(tags);
		return rc;
	}
	return dump(json_pack("{s:s,s:o}", "name", name, "tags", tags), out, err);
}

int serve_catalog_repositories(serve_catalog *c, bale_buf *out, bale_error **err)
{
	json_t *repos = json_array();
	int rc = json_list(c, "SELECT DISTINCT repository FROM images ORDER BY repository", NULL,
	                   repos, err);
	if (rc < 0) {
		json_decref(repos);
		return rc;
	}
	return dump(json_pack("{s:o}", "repositories", repos), out, err);
}

int serve_catalog_read(serve_catalog *c, const serve_blob *b, bale_member_copy_fn copy,
                       void *payload, bale_error **err)
{
	bale_bundle_reader *r = NULL;
	bale_bundle_member m;
	char path[128];
	bale_bundle_member_path(path, sizeof(path), &b->digest, 0);
	while (sem_wait(&c->readers) < 0) /* EINTR only */
		;
	int rc = bale_bundle_open_part(&r, c->bundles[b->bundle].path, b->offset, UINT64_MAX, err);
	if (rc == 0 && (rc = bale_bundle_next(r, &m, err)) == 1 && strcmp(m.path, path) != 0)
		rc = bale_error_set(err, BALE_EVERIFY, "%s: %s is not where its index puts it",
		                    c->bundles[b->bundle].path, path);
	else if (rc == 0)
		rc = bale_error_set(err, BALE_EVERIFY, "%s: %s is missing",
		                    c->bundles[b->bundle].path, path);
	if (rc == 1) {
		bale_descriptor want = {.digest = b->digest, .size = b->size};
		rc = bale_bundle_check_member(r, path, &want, copy, payload, err);
	}
	bale_bundle_close(r);
	sem_post(&c->readers);
	return rc;
}

static int to_buf(void *payload, const void *data, size_t len, bale_error **err)
{
	return bale_buf_append(payload, data, len, err);
}

/* Manifest b of media type type: when it names a subject, its descriptor goes to the list
 * of that subject in by_subject. */
static int note_referrer(serve_catalog *c, json_t *by_subject, const serve_blob *b,
                         const char *type, bale_error **err)
{
	bale_buf bytes;
	json_t *doc = NULL;
	bale_buf_init(&bytes, BALE_CAP_MANIFEST, "manifest");
	int rc = serve_catalog_read(c, b, to_buf, &bytes, err);
	if (rc == 0)
		rc = bale_json_parse(&doc, bytes.data, bytes.len, BALE_CAP_MANIFEST, b->digest.str,
		                     err);
	const char *subject = bale_json_str(json_object_get(doc, "subject"), "digest");
	if (rc == 0 && subject) {
		/* as the referrers API says: the artifact type, else the config's media type */
		const char *artifact = bale_json_str(doc, "artifactType");
		if (!artifact)
			artifact = bale_json_str(json_object_get(doc, "config"), "mediaType");
		json_t *d = json_pack("{s:s,s:s,s:I}", "mediaType", type, "digest", b->digest.str,
		                      "size", (json_int_t)b->size);
		if (artifact)
			json_object_set_new(d, "artifactType", json_string(artifact));
		if (json_is_object(json_object_get(doc, "annotations")))
			json_object_set(d, "annotations", json_object_get(doc, "annotations"));
		json_t *list = json_object_get(by_subject, subject);
		if (!list)
			json_object_set_new(by_subject, subject, list = json_array());
		if (!d || json_array_append_new(list, d) < 0)
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	json_decref(doc);
	free(bytes.data); /* a manifest: nothing secret */
	return rc;
}

/* Every manifest and index of the bundles that names a subject, once per catalog. */
static int scan_referrers(serve_catalog *c, bale_error **err)
{
	json_t *by_subject = json_object();
	int rc = by_subject ? 0 : bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t k = 0; k < c->n_bundles && rc == 0; k++) {
		sqlite3_stmt *st = NULL;
		pthread_mutex_lock(&c->mu);
		if (sqlite3_prepare_v2(
		        c->bundles[k].db,
		        "SELECT digest, coalesce(media_type, '') FROM blobs"
		        " WHERE kind IN ('manifest', 'index') AND member IS NOT NULL",
		        -1, &st, NULL) != SQLITE_OK)
			rc = bale_error_set(err, BALE_EVERIFY, "index.db: %s",
			                    sqlite3_errmsg(c->bundles[k].db));
		pthread_mutex_unlock(&c->mu);
		for (;;) {
			char digest[BALE_DIGEST_STR_LEN + 8] = "", type[128] = "";
			pthread_mutex_lock(&c->mu);
			bool row = rc == 0 && sqlite3_step(st) == SQLITE_ROW;
			if (row) {
				snprintf(digest, sizeof(digest), "%s", sqlite3_column_text(st, 0));
				snprintf(type, sizeof(type), "%s", sqlite3_column_text(st, 1));
			}
			pthread_mutex_unlock(&c->mu);
			if (!row)
				break;
			const serve_blob *b = serve_catalog_blob(c, digest);
			if (b)
				rc = note_referrer(c, by_subject, b, type, err);
		}
		pthread_mutex_lock(&c->mu);
		sqlite3_finalize(st);
		pthread_mutex_unlock(&c->mu);
	}
	if (rc == 0)
		c->referrers = by_subject;
	else
		json_decref(by_subject);
	return rc;
}

int serve_catalog_referrers(serve_catalog *c, const char *digest, const char *type, bale_buf *out,
                            bale_error **err)
{
	int rc = 0;
	pthread_mutex_lock(&c->referrers_mu);
	if (!c->referrers)
		rc = scan_referrers(c, err);
	json_t *all = rc == 0 ? json_object_get(c->referrers, digest) : NULL;
	json_t *list = json_array();
	for (size_t i = 0; all && i < json_array_size(all); i++) {
		json_t *d = json_array_get(all, i);
		if (!type || (bale_json_str(d, "artifactType") &&
		              strcmp(bale_json_str(d, "artifactType"), type) == 0))
			json_array_append(list, d);
	}
	pthread_mutex_unlock(&c->referrers_mu);
	if (rc < 0) {
		json_decref(list);
		return rc;
	}
	return dump(json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType",
	                      "application/vnd.oci.image.index.v1+json", "manifests", list),
	            out, err);
}
