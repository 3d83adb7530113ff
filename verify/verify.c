/* bale verify: signature, then every byte of the bundle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/json.h"
#include "bale/verify.h"
#include "bundle/bundle_private.h"

/* What the manifest says one member must be. */
typedef struct expected {
	char *path;
	bale_digest digest;
	int64_t size;
	bool seen;
} expected;

typedef struct expectations {
	expected *items;
	size_t n;
} expectations;

static int by_path(const void *a, const void *b)
{
	return strcmp(((const expected *)a)->path, ((const expected *)b)->path);
}

static void expectations_free(expectations *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->items[i].path);
	free(e->items);
}

static int expect_one(expectations *e, const char *path, const char *digest, json_t *size,
                      bale_error **err)
{
	expected *x = &e->items[e->n];
	if (!path || !digest || !json_is_integer(size) || json_integer_value(size) < 0)
		return bale_error_set(err, BALE_EVERIFY,
		                      "%s: an entry without path, digest or size",
		                      BALE_BUNDLE_MANIFEST);
	if (bale_digest_parse(&x->digest, digest, NULL) < 0)
		return bale_error_set(err, BALE_EVERIFY, "%s: bad digest for %s",
		                      BALE_BUNDLE_MANIFEST, path);
	if (!bundle_path_is_safe(path))
		return bale_error_set(err, BALE_EVERIFY, "%s: unsafe path %.200s",
		                      BALE_BUNDLE_MANIFEST, path);
	if (!(x->path = strdup(path)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	x->size = json_integer_value(size);
	e->n++;
	return 0;
}

/* Every member after the head: bale/manifest.json's "files" and "blobs". */
static int load_expectations(expectations *e, json_t *doc, bale_error **err)
{
	json_t *files = json_object_get(doc, "files"), *blobs = json_object_get(doc, "blobs");
	int rc = 0;
	if (!json_is_array(files) || !json_is_array(blobs))
		return bale_error_set(err, BALE_EVERIFY, "%s: no files or blobs list",
		                      BALE_BUNDLE_MANIFEST);
	e->items = calloc(json_array_size(files) + json_array_size(blobs) + 1, sizeof(*e->items));
	if (!e->items)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	size_t i;
	json_t *v;
	json_array_foreach(files, i, v)
	{
		if ((rc = expect_one(e, bale_json_str(v, "path"), bale_json_str(v, "digest"),
		                     json_object_get(v, "size"), err)) < 0)
			return rc;
	}
	json_array_foreach(blobs, i, v)
	{
		const char *digest = bale_json_str(v, "digest");
		char path[128];
		snprintf(path, sizeof(path), "blobs/sha256/%s",
		         digest && strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : "?");
		if ((rc = expect_one(e, path, digest, json_object_get(v, "size"), err)) < 0)
			return rc;
	}
	qsort(e->items, e->n, sizeof(*e->items), by_path);
	for (i = 1; i < e->n; i++)
		if (strcmp(e->items[i - 1].path, e->items[i].path) == 0)
			return bale_error_set(err, BALE_EVERIFY, "%s: %s listed twice",
			                      BALE_BUNDLE_MANIFEST, e->items[i].path);
	return 0;
}

static expected *find_expected(expectations *e, const char *path)
{
	expected key = {.path = (char *)path};
	return bsearch(&key, e->items, e->n, sizeof(*e->items), by_path);
}

int bale_verify_signature(const bale_bundle_head *head, const bale_trust *trust,
                          char signer[BALE_KEY_ID_LEN + 1], bale_error **err)
{
	json_t *doc = NULL;
	int rc = bale_json_parse(&doc, head->manifest, head->manifest_len, BUNDLE_CAP_MANIFEST,
	                         BALE_BUNDLE_MANIFEST, err);
	if (rc < 0)
		return rc;
	const char *id = bale_json_str(doc, "signer");
	snprintf(signer, BALE_KEY_ID_LEN + 1, "%s", id ? id : "");
	if (!head->signature || !id) {
		rc = bale_error_set(err, BALE_ETRUST, "the bundle is not signed");
		goto cleanup;
	}
	const bale_key *key = bale_trust_find(trust, id);
	if (!key) {
		rc = bale_error_set(err, BALE_ETRUST,
		                    "signed by key %.64s, which is not trusted (%zu trusted key%s)",
		                    id, bale_trust_count(trust),
		                    bale_trust_count(trust) == 1 ? "" : "s");
		goto cleanup;
	}
	rc = bale_key_verify(key, head->manifest, head->manifest_len, head->signature, err);
cleanup:
	json_decref(doc);
	return rc;
}

/* Streams one member through SHA-256 and checks it against what the manifest says. */
static int check_member(bale_bundle_reader *r, const bale_bundle_member *m, expected *x,
                        int64_t *bytes, bale_error **err)
{
	if (m->size != x->size)
		return bale_error_set(err, BALE_EVERIFY, "%s: %lld bytes, expected %lld", m->path,
		                      (long long)m->size, (long long)x->size);
	bale_descriptor want = {.digest = x->digest, .size = x->size};
	int rc = bale_bundle_check_member(r, m->path, &want, NULL, NULL, err);
	if (rc == 0)
		*bytes += x->size;
	return rc;
}

int bale_verify_head(bale_bundle_reader *r, const bale_trust *trust, bale_trusted_head *out,
                     bale_error **err)
{
	const bale_bundle_head *head = NULL;
	json_t *doc = NULL;
	int rc = 0;
	memset(out, 0, sizeof(*out));
	if ((rc = bale_bundle_read_head(r, &head, err)) < 0)
		return rc;
	/* The signature first: nothing else in an untrusted bundle is worth reading. */
	if (trust) {
		if ((rc = bale_verify_signature(head, trust, out->signer, err)) < 0)
			return rc;
		out->signature_checked = true;
	}
	if ((rc = bale_bundle_read_index(r, &head, err)) < 0 ||
	    (rc = bale_json_parse(&doc, head->manifest, head->manifest_len, BUNDLE_CAP_MANIFEST,
	                          BALE_BUNDLE_MANIFEST, err)) < 0)
		return rc;
	json_int_t version = json_integer_value(json_object_get(doc, "formatVersion"));
	if (version != BALE_BUNDLE_FORMAT_VERSION) {
		rc = bale_error_set(
		    err, BALE_EVERIFY, "%s: format version %lld, this bale reads %d",
		    BALE_BUNDLE_MANIFEST, (long long)version, BALE_BUNDLE_FORMAT_VERSION);
		goto cleanup;
	}
	const char *signer = bale_json_str(doc, "signer");
	snprintf(out->signer, sizeof(out->signer), "%s", signer ? signer : "");
	/* index.db is read with the head and trusted from here on: check it now. */
	size_t i;
	json_t *f, *entry = NULL;
	json_array_foreach(json_object_get(doc, "files"), i, f)
	{
		const char *p = bale_json_str(f, "path");
		if (p && strcmp(p, BALE_BUNDLE_INDEX_DB) == 0)
			entry = f;
	}
	const char *want = bale_json_str(entry, "digest");
	bale_digest d;
	bale_digest_of(&d, head->index_db, head->index_db_len);
	if (!want || strcmp(want, d.str) != 0 ||
	    json_integer_value(json_object_get(entry, "size")) != (json_int_t)head->index_db_len) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "%s: digest mismatch (expected %.80s, got %s)",
		                    BALE_BUNDLE_INDEX_DB, want ? want : "an entry", d.str);
		goto cleanup;
	}
	out->head = head;
	out->manifest = doc;
	doc = NULL;
cleanup:
	json_decref(doc);
	return rc;
}

int bale_verify_bundle(const char *path, const bale_trust *trust, bale_verify_report *report,
                       const bale_log *log, bale_error **err)
{
	int rc = 0;
	bale_bundle_reader *r = NULL;
	const bale_bundle_head *head = NULL;
	json_t *doc = NULL;
	expectations e = {0};
	memset(report, 0, sizeof(*report));
	bale_trusted_head th;
	if ((rc = bale_bundle_open(&r, path, err)) < 0)
		goto cleanup;
	bale_bundle_check_whole_file(r);
	report->file_bytes = bale_bundle_file_size(r);
	if ((rc = bale_verify_head(r, trust, &th, err)) < 0)
		goto cleanup;
	head = th.head;
	doc = th.manifest;
	report->signature_checked = th.signature_checked;
	const char *id = bale_json_str(doc, "bundleId"), *created = bale_json_str(doc, "created");
	const char *signer = bale_json_str(doc, "signer");
	snprintf(report->bundle_id, sizeof(report->bundle_id), "%s", id ? id : "");
	snprintf(report->created, sizeof(report->created), "%s", created ? created : "");
	snprintf(report->signer, sizeof(report->signer), "%s", signer ? signer : "");
	report->images = (int64_t)json_array_size(json_object_get(doc, "images"));
	report->blobs = (int64_t)json_array_size(json_object_get(doc, "blobs"));
	if ((rc = load_expectations(&e, doc, err)) < 0)
		goto cleanup;
	/* index.db was read and checked with the head. */
	expected *db = find_expected(&e, BALE_BUNDLE_INDEX_DB);
	if (db)
		db->seen = true;
	report->members = 2 + (head->signature != NULL);
	report->content_bytes = (int64_t)(head->manifest_len + head->index_db_len);
	for (;;) {
		bale_bundle_member m;
		if ((rc = bale_bundle_next(r, &m, err)) < 0)
			goto cleanup;
		if (rc == 0)
			break;
		if (!bundle_path_is_safe(m.path)) {
			rc =
			    bale_error_set(err, BALE_EVERIFY, "member %.200s: unsafe path", m.path);
			goto cleanup;
		}
		if (m.type != BALE_MEMBER_FILE) {
			rc = bale_error_set(err, BALE_EVERIFY, "member %.200s: not a regular file",
			                    m.path);
			goto cleanup;
		}
		expected *x = find_expected(&e, m.path);
		if (!x || x->seen) {
			rc = bale_error_set(err, BALE_EVERIFY, "member %.200s: %s", m.path,
			                    x ? "appears twice"
			                      : "not listed in " BALE_BUNDLE_MANIFEST);
			goto cleanup;
		}
		x->seen = true;
		if ((rc = check_member(r, &m, x, &report->content_bytes, err)) < 0)
			goto cleanup;
		report->members++;
	}
	rc = 0;
	for (size_t i = 0; i < e.n; i++)
		if (!e.items[i].seen) {
			rc = bale_error_set(err, BALE_EVERIFY, "member %s: missing (listed in %s)",
			                    e.items[i].path, BALE_BUNDLE_MANIFEST);
			goto cleanup;
		}
	bale_log_printf(log, BALE_LOG_DEBUG, "%s: %lld members, %lld bytes checked", path,
	                (long long)report->members, (long long)report->content_bytes);
cleanup:
	expectations_free(&e);
	json_decref(doc);
	bale_bundle_close(r);
	if (rc < 0)
		bale_error_wrap(err, "verify %s", path);
	return rc;
}
