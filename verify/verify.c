/* bale verify: signature, then every byte of the bundle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/index_db.h"
#include "bale/json.h"
#include "bale/ref.h"
#include "bale/verify.h"
#include "verify/verify_private.h"

static int by_path(const void *a, const void *b)
{
	return strcmp(((const verify_expected *)a)->path, ((const verify_expected *)b)->path);
}

static void expectations_free(verify_expectations *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->items[i].path);
	free(e->items);
	free(e->sizes);
}

/* Every member after the head is expected as it is listed, in archive order. */
static int expect_one(verify_expectations *e, size_t *cap, const char *path,
                      const bale_digest *digest, int64_t size, bale_error **err)
{
	if (e->n == *cap) {
		size_t want = *cap ? *cap * 2 : 64;
		verify_expected *items = realloc(e->items, want * sizeof(*items));
		if (items)
			e->items = items;
		int64_t *sizes = realloc(e->sizes, want * sizeof(*sizes));
		if (sizes)
			e->sizes = sizes;
		if (!items || !sizes)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		*cap = want;
	}
	verify_expected *x = &e->items[e->n];
	memset(x, 0, sizeof(*x));
	if (!(x->path = strdup(path)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	x->digest = *digest;
	x->size = size;
	e->n++;
	if (strcmp(path, BALE_BUNDLE_INDEX_DB) != 0) /* read with the head */
		e->sizes[e->n_sizes++] = size;
	return 0;
}

static int expect_blob(verify_expectations *e, size_t *cap, const bale_digest *digest, int64_t size,
                       bale_error **err)
{
	char path[128];
	snprintf(path, sizeof(path), "blobs/sha256/%s", bale_digest_hex(digest));
	return expect_one(e, cap, path, digest, size, err);
}

/* Format 2's blobs: index.db's, in their archive order; a delta's expected layers (no
 * archive place) are not members. */
static int expect_index_blobs(verify_expectations *e, size_t *cap, sqlite3 *db, bale_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, src;
	if (sqlite3_prepare_v2(
	        db, "SELECT digest, size FROM blobs WHERE member IS NOT NULL ORDER BY member", -1,
	        &st, NULL) != SQLITE_OK)
		return bale_error_set(err, BALE_EVERIFY, "%s: %s", BALE_BUNDLE_INDEX_DB,
		                      sqlite3_errmsg(db));
	while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
		bale_digest d;
		const char *text = (const char *)sqlite3_column_text(st, 0);
		if ((rc = bale_digest_parse(&d, text ? text : "", err)) < 0)
			rc = bale_error_wrap(err, "%s: blobs", BALE_BUNDLE_INDEX_DB);
		else
			rc = expect_blob(e, cap, &d, sqlite3_column_int64(st, 1), err);
	}
	if (rc == 0 && src != SQLITE_DONE)
		rc = bale_error_set(err, BALE_EVERIFY, "%s: %s", BALE_BUNDLE_INDEX_DB,
		                    sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

/* A volume's blobs and parts of blobs: index.db's volume_members of its number, in their
 * archive order, each held to the digest of its own bytes. */
static int expect_volume_members(verify_expectations *e, size_t *cap, sqlite3 *db, int volume,
                                 bale_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, src;
	if (bale_index_db_version(db) < 4 ||
	    sqlite3_prepare_v2(db,
	                       "SELECT digest, part, part_digest, size FROM volume_members"
	                       " WHERE volume = ?1 ORDER BY position",
	                       -1, &st, NULL) != SQLITE_OK)
		return bale_error_set(err, BALE_EVERIFY, "%s: no volume members: %s",
		                      BALE_BUNDLE_INDEX_DB, sqlite3_errmsg(db));
	sqlite3_bind_int(st, 1, volume);
	while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
		bale_digest blob, part_digest;
		const char *b = (const char *)sqlite3_column_text(st, 0);
		const char *pd = (const char *)sqlite3_column_text(st, 2);
		int part = sqlite3_column_int(st, 1);
		char path[128];
		if ((rc = bale_digest_parse(&blob, b ? b : "", err)) < 0 ||
		    (rc = bale_digest_parse(&part_digest, pd ? pd : "", err)) < 0) {
			rc = bale_error_wrap(err, "%s: volume_members", BALE_BUNDLE_INDEX_DB);
			break;
		}
		if (part == 0 && !bale_digest_equal(&blob, &part_digest)) {
			rc = bale_error_set(err, BALE_EVERIFY,
			                    "%s: volume_members: whole blob %s with another digest",
			                    BALE_BUNDLE_INDEX_DB, blob.str);
			break;
		}
		bale_bundle_member_path(path, sizeof(path), &blob, part);
		rc = expect_one(e, cap, path, &part_digest, sqlite3_column_int64(st, 3), err);
	}
	if (rc == 0 && src != SQLITE_DONE)
		rc = bale_error_set(err, BALE_EVERIFY, "%s: %s", BALE_BUNDLE_INDEX_DB,
		                    sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

/* Every member after the head: bale/manifest.json's "files" (their shape checked when it
 * was read), then the blobs, which format 1 lists there too, formats 2 and 3 in
 * index.db's blobs, and a volume (4) in its volume_members. */
static int load_expectations(verify_expectations *e, const bale_bundle_manifest *m, sqlite3 *db,
                             bale_error **err)
{
	int rc = 0;
	size_t cap = 0;
	for (size_t i = 0; i < m->n_files && rc == 0; i++)
		rc = expect_one(e, &cap, m->files[i].path, &m->files[i].digest, m->files[i].size,
		                err);
	for (size_t i = 0; i < m->n_blobs && rc == 0; i++)
		rc = expect_blob(e, &cap, &m->blobs[i].digest, m->blobs[i].size, err);
	if (rc == 0 && m->format_version == BALE_BUNDLE_FORMAT_VOLUME)
		rc = expect_volume_members(e, &cap, db, m->volume, err);
	else if (rc == 0 && m->format_version >= 2)
		rc = expect_index_blobs(e, &cap, db, err);
	if (rc < 0)
		return rc;
	verify_expectations_sort(e);
	for (size_t i = 1; i < e->n; i++)
		if (strcmp(e->items[i - 1].path, e->items[i].path) == 0)
			return bale_error_set(err, BALE_EVERIFY, "%s: %s listed twice",
			                      BALE_BUNDLE_MANIFEST, e->items[i].path);
	return 0;
}

void verify_expectations_sort(verify_expectations *e)
{
	if (e->n)
		qsort(e->items, e->n, sizeof(*e->items), by_path);
}

verify_expected *verify_expected_find(const verify_expectations *e, const char *path)
{
	verify_expected key = {.path = (char *)path};
	return e->n ? bsearch(&key, e->items, e->n, sizeof(*e->items), by_path) : NULL;
}

/* A damaged member named as the site knows it: the blob's kind and the images that use
 * it ("a layer of registry.site/team/app:1.0 and 2 more images"). The error names the
 * member it failed in, or the one after which a tar header failed: then the damage is in
 * the next member of the archive, as index.db orders them. Nothing is added when the
 * index cannot tell (a head file, a bundle of format 1). */
static void name_owner(sqlite3 *db, bale_error **err)
{
	const char *msg = err && *err ? bale_error_message(*err) : NULL;
	const char *at = msg ? strstr(msg, "blobs/sha256/") : NULL;
	char digest[BALE_DIGEST_STR_LEN + 1];
	sqlite3_stmt *st = NULL;
	if (!at || strspn(at + 13, "0123456789abcdef") < BALE_DIGEST_HEX_LEN)
		return;
	snprintf(digest, sizeof(digest), "sha256:%.64s", at + 13);
	bool after = at - msg >= 17 && strncmp(at - 17, "tar header after ", 17) == 0;
	const char *sql =
	    after ? "SELECT b.digest, b.kind, (SELECT min(ref) FROM image_blobs WHERE digest ="
	            " b.digest), (SELECT count(DISTINCT image_id) FROM image_blobs WHERE digest ="
	            " b.digest) FROM blobs b WHERE b.member = (SELECT member FROM blobs WHERE"
	            " digest = ?1) + 1"
	          : "SELECT b.digest, b.kind, (SELECT min(ref) FROM image_blobs WHERE digest ="
	            " b.digest), (SELECT count(DISTINCT image_id) FROM image_blobs WHERE digest ="
	            " b.digest) FROM blobs b WHERE b.digest = ?1";
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 2)) {
		const char *blob = (const char *)sqlite3_column_text(st, 0);
		const char *kind = (const char *)sqlite3_column_text(st, 1);
		int others = sqlite3_column_int(st, 3) - 1;
		char more[64] = "";
		if (others > 0)
			snprintf(more, sizeof(more), " and %d more image%s", others,
			         others == 1 ? "" : "s");
		const char *ref = (const char *)sqlite3_column_text(st, 2);
		if (after && blob && strlen(blob) > 7)
			bale_error_wrap(err, "in blobs/sha256/%s, the %s of %s%s", blob + 7,
			                kind ? kind : "blob", ref, more);
		else if (!after)
			bale_error_wrap(err, "the %s of %s%s", kind ? kind : "blob", ref, more);
	}
	sqlite3_finalize(st);
}

int bale_verify_signature(const bale_bundle_head *head, const bale_trust *trust,
                          char signer[BALE_KEY_ID_LEN + 1], bale_error **err)
{
	/* Nothing of an unsigned manifest is parsed: the key id is picked out of the raw
	 * bytes, so a hostile manifest costs its size and no more before its signature is
	 * checked. bale_verify_head parses it afterwards and holds the parsed "signer" to
	 * this one. */
	const char *id = NULL;
	size_t id_len = 0;
	int found =
	    bale_json_top_string(head->manifest, head->manifest_len, "signer", &id, &id_len);
	signer[0] = '\0';
	if (found < 0)
		return bale_error_set(err, BALE_ETRUST, "%s: \"signer\" appears more than once",
		                      BALE_BUNDLE_MANIFEST);
	/* A key id is the hex SHA-256 of the key: anything else is no key of ours, and is not
	 * echoed (the bytes were not even checked to be text). */
	bool key_id = id && id_len == BALE_KEY_ID_LEN;
	for (size_t i = 0; key_id && i < id_len; i++)
		key_id = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
	if (key_id)
		snprintf(signer, BALE_KEY_ID_LEN + 1, "%.*s", (int)id_len, id);
	if (!head->signature || !id)
		return bale_error_set(err, BALE_ETRUST, "the bundle is not signed");
	if (!key_id)
		return bale_error_set(err, BALE_ETRUST,
		                      "%s: the signer (%zu bytes) is not a key id",
		                      BALE_BUNDLE_MANIFEST, id_len);
	const bale_key *key = bale_trust_find(trust, signer);
	if (!key)
		return bale_error_set(
		    err, BALE_ETRUST, "signed by key %s, which is not trusted (%zu trusted key%s)",
		    signer, bale_trust_count(trust), bale_trust_count(trust) == 1 ? "" : "s");
	return bale_key_verify(key, head->manifest, head->manifest_len, head->signature, err);
}

/* The image names bale/manifest.json lists: each a normalized reference, as bale writes
 * them, and as a store will be asked to record them (a name such as "../../x" or one with
 * an escape sequence is refused here, before any store sees it). */
static int check_manifest_names(const bale_bundle_manifest *m, bale_error **err)
{
	for (size_t i = 0; i < m->n_images; i++)
		if (bale_ref_check_name(m->images[i].ref, err) < 0)
			return bale_error_wrap(err, "%s: image %zu", BALE_BUNDLE_MANIFEST, i + 1);
	return 0;
}

static int check_index_name(void *payload, int ncols, const char *const *names,
                            const char *const *values)
{
	bale_error **err = payload;
	(void)ncols;
	(void)names;
	if (values && bale_ref_check_name(values[0], err) < 0)
		return bale_error_wrap(err, "%s: images", BALE_BUNDLE_INDEX_DB);
	return 0;
}

static int count_row(void *payload, int ncols, const char *const *names, const char *const *values)
{
	(void)ncols;
	(void)names;
	if (values && values[0])
		*(int64_t *)payload = strtoll(values[0], NULL, 10);
	return 0;
}

/* One count out of index.db. */
static int index_count(sqlite3 *db, const char *sql, int64_t *out, bale_error **err)
{
	*out = 0;
	return bale_index_db_query(db, sql, count_row, out, err);
}

/* How many images and blobs the bundle lists (format 1: its manifest; format 2: index.db),
 * held to the bound on what a reader holds for them. */
static int count_listed(bale_trusted_head *th, const bale_bundle_manifest *m, bale_error **err)
{
	int rc = 0;
	int64_t unplaced = 0; /* index.db's blobs without an archive place, of any kind */
	if (m->format_version < 2) {
		th->images = (int64_t)m->n_images;
		th->blobs = (int64_t)m->n_blobs;
		return 0;
	}
	if ((rc = index_count(th->index_db, "SELECT count(*) FROM images", &th->images, err)) < 0 ||
	    (rc = index_count(th->index_db, "SELECT count(*) FROM blobs", &th->blobs, err)) < 0)
		return rc;
	/* What a delta leaves for the site to have: layers without an archive place, as many
	 * as its signed manifest says (none in any other bundle). */
	if (bale_index_db_version(th->index_db) >= 3 &&
	    ((rc = index_count(th->index_db,
	                       "SELECT count(*) FROM blobs WHERE member IS NULL AND kind = 'layer'",
	                       &th->expected_blobs, err)) < 0 ||
	     (rc = index_count(th->index_db,
	                       "SELECT coalesce(sum(size), 0) FROM blobs WHERE member IS NULL",
	                       &th->expected_bytes, err)) < 0 ||
	     (rc = index_count(th->index_db, "SELECT count(*) FROM blobs WHERE member IS NULL",
	                       &unplaced, err)) < 0))
		return rc;
	if (unplaced != th->expected_blobs || th->expected_blobs != m->expected_blobs ||
	    th->expected_bytes != m->expected_bytes)
		return bale_error_set(
		    err, BALE_EVERIFY,
		    "%s lists %lld blobs without an archive place (%lld of them "
		    "layers, %lld bytes); %s says the bundle expects %lld (%lld bytes)",
		    BALE_BUNDLE_INDEX_DB, (long long)unplaced, (long long)th->expected_blobs,
		    (long long)th->expected_bytes, BALE_BUNDLE_MANIFEST,
		    (long long)m->expected_blobs, (long long)m->expected_bytes);
	if (th->images > BALE_BUNDLE_MAX_MEMBERS || th->blobs > BALE_BUNDLE_MAX_MEMBERS)
		return bale_error_set(
		    err, BALE_EVERIFY,
		    "%s: lists %lld blobs and %lld images, more than the %u a bundle "
		    "may hold",
		    BALE_BUNDLE_INDEX_DB, (long long)th->blobs, (long long)th->images,
		    BALE_BUNDLE_MAX_MEMBERS);
	return 0;
}

/* The names index.db gives images (those an import records): held to the same rule. */
static int check_index_names(sqlite3 *db, bale_error **err)
{
	return bale_index_db_query(db, "SELECT ref FROM images ORDER BY id", check_index_name, err,
	                           err);
}

int bale_verify_head(bale_bundle_reader *r, const bale_trust *trust, bale_trusted_head *out,
                     bale_error **err)
{
	const bale_bundle_head *head = NULL;
	const bale_bundle_manifest *m = NULL;
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
	if ((rc = bale_bundle_read_manifest(r, &m, err)) < 0)
		return rc;
	/* The signature was checked for the key id read from the raw bytes. */
	if (out->signature_checked && (!m->signer || strcmp(m->signer, out->signer) != 0))
		return bale_error_set(err, BALE_ETRUST,
		                      "%s: the signer it names is not the one checked",
		                      BALE_BUNDLE_MANIFEST);
	snprintf(out->signer, sizeof(out->signer), "%s", m->signer ? m->signer : "");
	/* index.db is read with the head and trusted from here on: check it now. */
	const bale_bundle_file *entry = bale_bundle_manifest_file(m, BALE_BUNDLE_INDEX_DB);
	if (!entry)
		return bale_error_set(err, BALE_EVERIFY, "%s: no digest and size for %s",
		                      BALE_BUNDLE_MANIFEST, BALE_BUNDLE_INDEX_DB);
	/* Into a file of its own, held to the signed size and digest as it streams: SQLite
	 * pages in what a query needs, whatever the index's size. */
	if ((rc = bale_index_db_open_member(&out->index_db, r, entry, err)) < 0 ||
	    (rc = check_manifest_names(m, err)) < 0 ||
	    (rc = check_index_names(out->index_db, err)) < 0 ||
	    (rc = count_listed(out, m, err)) < 0) {
		bale_verify_head_close(out);
		return rc;
	}
	out->head = head;
	out->manifest = m;
	out->index_db_size = entry->size;
	return 0;
}

void bale_verify_head_close(bale_trusted_head *th)
{
	sqlite3_close(th->index_db);
	th->index_db = NULL;
}

int bale_verify_bundle(const char *path, const bale_trust *trust, bale_verify_report *report,
                       const bale_log *log, bale_error **err)
{
	int rc = 0;
	bale_bundle_reader *r = NULL;
	const bale_bundle_head *head = NULL;
	const bale_bundle_manifest *manifest = NULL;
	verify_expectations e = {0};
	memset(report, 0, sizeof(*report));
	bale_trusted_head th = {0};
	if ((rc = bale_bundle_open(&r, path, err)) < 0)
		goto cleanup;
	bale_bundle_check_whole_file(r);
	report->file_bytes = bale_bundle_file_size(r);
	if ((rc = bale_verify_head(r, trust, &th, err)) < 0)
		goto cleanup;
	head = th.head;
	manifest = th.manifest;
	report->signature_checked = th.signature_checked;
	snprintf(report->bundle_id, sizeof(report->bundle_id), "%s",
	         manifest->bundle_id ? manifest->bundle_id : "");
	snprintf(report->created, sizeof(report->created), "%s",
	         manifest->created ? manifest->created : "");
	snprintf(report->signer, sizeof(report->signer), "%s",
	         manifest->signer ? manifest->signer : "");
	report->images = th.images;
	report->blobs = th.blobs;
	report->expected_blobs = th.expected_blobs;
	report->expected_bytes = th.expected_bytes;
	report->volume = manifest->volume;
	report->volumes = manifest->volumes;
	if ((rc = load_expectations(&e, manifest, th.index_db, err)) < 0)
		goto cleanup;
	/* index.db was read and checked with the head. */
	verify_expected *db = verify_expected_find(&e, BALE_BUNDLE_INDEX_DB);
	if (db)
		db->seen = true;
	verify_tally tally = {.members = 2 + (head->signature != NULL),
	                      .bytes = (int64_t)head->manifest_len + th.index_db_size};
	rc = verify_members(r, path, &e, VERIFY_MIN_PART_BYTES, &tally, log, err);
	if (rc == BALE_EVERIFY)
		name_owner(th.index_db, err);
	if (rc < 0)
		goto cleanup;
	report->members = tally.members;
	report->content_bytes = tally.bytes;
	bale_log_printf(log, BALE_LOG_DEBUG, "%s: %lld members, %lld bytes checked", path,
	                (long long)report->members, (long long)report->content_bytes);
cleanup:
	expectations_free(&e);
	bale_verify_head_close(&th);
	bale_bundle_close(r);
	return rc;
}
