/* bale verify --policy: at the site, every image a bundle carries is held to the site's
 * containers-policy.json with the cosign signatures the bundle carries for it (index.db's
 * referrers), read from the bundle and hashed against their digests again. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/index_db.h"
#include "bale/policy.h"
#include "bale/verify.h"

/* The signature manifests and their payloads, read from the bundle by digest. */
typedef struct held {
	bale_digest digest;
	bale_buf bytes;
	bool read;
} held;

typedef struct wanted {
	held *list;
	size_t n;
} wanted;

static void wanted_free(wanted *w)
{
	for (size_t i = 0; i < w->n; i++)
		bale_buf_free(&w->list[i].bytes);
	free(w->list);
}

static held *wanted_find(const wanted *w, const char *digest)
{
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->list[i].digest.str, digest) == 0)
			return &w->list[i];
	return NULL;
}

/* Every digest the first column of sql gives, once. */
static int want(wanted *w, sqlite3 *db, const char *sql, bale_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, src;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
	while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 0);
		bale_digest digest;
		if (!d || bale_digest_parse(&digest, d, err) < 0) {
			rc = bale_error_wrap(err, "index.db: referrers");
			break;
		}
		if (wanted_find(w, digest.str))
			continue;
		held *grown = realloc(w->list, (w->n + 1) * sizeof(*grown));
		if (!grown) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			break;
		}
		w->list = grown;
		w->list[w->n] = (held){.digest = digest};
		bale_buf_init(&w->list[w->n++].bytes, BALE_CAP_MANIFEST, "signature");
	}
	sqlite3_finalize(st);
	return rc;
}

/* One pass over the members, keeping the wanted ones (large members are skipped through
 * the seek table); each hashed against its name. */
static int read_wanted(bale_bundle_reader *r, wanted *w, bale_error **err)
{
	bale_bundle_member m;
	char chunk[16384];
	int more = 0;
	size_t left = w->n;
	while (left && (more = bale_bundle_next(r, &m, err)) > 0) {
		held *h = NULL;
		char digest[BALE_DIGEST_STR_LEN + 1];
		if (strncmp(m.path, "blobs/sha256/", 13) == 0 && strlen(m.path) == 13 + 64) {
			snprintf(digest, sizeof(digest), "sha256:%s", m.path + 13);
			h = wanted_find(w, digest);
		}
		if (!h || h->read || m.size > (int64_t)BALE_CAP_MANIFEST)
			continue;
		size_t got = 0;
		int rc = 0;
		do {
			if ((rc = bale_bundle_read(r, chunk, sizeof(chunk), &got, err)) == 0 && got)
				rc = bale_buf_append(&h->bytes, chunk, got, err);
		} while (rc == 0 && got);
		if (rc < 0)
			return rc;
		bale_digest d;
		bale_digest_of(&d, h->bytes.data, h->bytes.len);
		if (!bale_digest_equal(&d, &h->digest))
			return bale_error_set(err, BALE_EVERIFY, "%s: hashes to %s", m.path, d.str);
		h->read = true;
		left--;
	}
	return more < 0 ? more : 0;
}

/* The signatures of each subject: every cosign signature manifest's simple-signing
 * layers, with their payloads. */
static int collect(sqlite3 *db, const wanted *w, bale_policy_sigset *set, bale_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(db,
	                       "SELECT digest, subject FROM referrers"
	                       " WHERE kind = 'cosign-signature' ORDER BY image_id",
	                       -1, &st, NULL) != SQLITE_OK)
		return bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *digest = (const char *)sqlite3_column_text(st, 0);
		const char *subject = (const char *)sqlite3_column_text(st, 1);
		const held *m = digest ? wanted_find(w, digest) : NULL;
		bale_policy_sig_layer *layers = NULL;
		size_t n = 0;
		if (!m || !m->read || !subject) {
			rc = bale_error_set(err, BALE_EVERIFY,
			                    "signature manifest %s: not in the bundle",
			                    digest ? digest : "?");
			break;
		}
		rc = bale_policy_sig_layers(m->bytes.data, m->bytes.len, &layers, &n, err);
		for (size_t i = 0; i < n && rc == 0; i++) {
			const held *p = wanted_find(w, layers[i].desc.digest.str);
			rc = p && p->read
			         ? bale_policy_sigset_add(set, subject, p->bytes.data, p->bytes.len,
			                                  layers[i].signature_b64, err)
			         : bale_error_set(err, BALE_EVERIFY,
			                          "signature %s: its payload %s is not in the "
			                          "bundle",
			                          digest, layers[i].desc.digest.str);
		}
		bale_policy_sig_layers_free(layers, n);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Each image that is not an attachment, with the manifests it carries. */
static int check_images(sqlite3 *db, bool attachments, const bale_policy *policy,
                        const bale_policy_sigset *set, bale_verify_policy_report *out,
                        bale_buf *why, bale_error **err)
{
	sqlite3_stmt *images = NULL, *manifests = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(db,
	                       attachments ? "SELECT id, ref, digest FROM images WHERE id NOT IN"
	                                     " (SELECT image_id FROM referrers) ORDER BY id"
	                                   : "SELECT id, ref, digest FROM images ORDER BY id",
	                       -1, &images, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	                       "SELECT manifest_digest FROM image_manifests WHERE image_id = ?1",
	                       -1, &manifests, NULL) != SQLITE_OK) {
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
		goto cleanup;
	}
	while (rc == 0 && sqlite3_step(images) == SQLITE_ROW) {
		const char *ref = (const char *)sqlite3_column_text(images, 1);
		const char *root = (const char *)sqlite3_column_text(images, 2);
		char **list = NULL;
		size_t n = 0;
		bale_error *no = NULL;
		sqlite3_bind_int64(manifests, 1, sqlite3_column_int64(images, 0));
		while (sqlite3_step(manifests) == SQLITE_ROW) {
			char **grown = realloc(list, (n + 1) * sizeof(*grown));
			if (!grown)
				break;
			list = grown;
			if (!(list[n] = strdup((const char *)sqlite3_column_text(manifests, 0))))
				break;
			n++;
		}
		sqlite3_reset(manifests);
		out->images++;
		rc = bale_policy_check_image(policy, ref ? ref : "?", root ? root : "?",
		                             (const char *const *)list, n, set, NULL, &no);
		if (rc == BALE_ETRUST) {
			bale_buf_appendf(why, NULL, "%s%s", out->refused++ ? "; " : "",
			                 bale_error_message(no));
			rc = 0;
		} else if (rc < 0 && err && !*err) {
			*err = no;
			no = NULL;
		}
		bale_error_free(no);
		for (size_t i = 0; i < n; i++)
			free(list[i]);
		free(list);
	}
cleanup:
	sqlite3_finalize(images);
	sqlite3_finalize(manifests);
	return rc;
}

int bale_verify_policy(const char *path, const bale_policy *policy, bale_verify_policy_report *out,
                       bale_error **err)
{
	bale_bundle_reader *r = NULL;
	bale_trusted_head th = {0};
	bale_policy_sigset *set = NULL;
	wanted w = {0};
	bale_buf why;
	bale_buf_init(&why, 1u << 20, "policy refusals");
	memset(out, 0, sizeof(*out));
	int rc = bale_bundle_open(&r, path, err);
	/* the signature was checked by bale_verify_bundle; the head is read again here */
	if (rc == 0)
		rc = bale_verify_head(r, NULL, &th, err);
	if (rc == 0 && th.manifest->volumes)
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "%s: a volume of a set: --policy checks a whole bundle, and a "
		                    "volume need not hold an image's signatures",
		                    path);
	bool attachments = rc == 0 && bale_index_db_version(th.index_db) >= 5;
	if (rc == 0)
		rc = bale_policy_sigset_new(&set, err);
	if (rc == 0 && attachments &&
	    (rc = want(&w, th.index_db,
	               "SELECT digest FROM referrers WHERE kind = 'cosign-signature'"
	               " UNION SELECT ml.layer_digest FROM manifest_layers ml"
	               " JOIN referrers r ON r.digest = ml.manifest_digest"
	               " WHERE r.kind = 'cosign-signature'",
	               err)) == 0 &&
	    (rc = read_wanted(r, &w, err)) == 0)
		rc = collect(th.index_db, &w, set, err);
	if (rc == 0)
		rc = check_images(th.index_db, attachments, policy, set, out, &why, err);
	if (rc == 0 && out->refused)
		rc = bale_error_set(err, BALE_ETRUST,
		                    "%zu of %zu images refused by the site policy: %s",
		                    out->refused, out->images, why.data ? why.data : "");
	bale_buf_free(&why);
	wanted_free(&w);
	bale_policy_sigset_free(set);
	bale_verify_head_close(&th);
	bale_bundle_close(r);
	return rc;
}
