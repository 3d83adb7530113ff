/* Where a have-list comes from: a node store, read the way bale check reads it (each
 * name walked from its root to the blobs it reaches), or a bundle's index. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/check.h"
#include "bale/have.h"
#include "bale/index_db.h"
#include "bale/manifest.h"
#include "have/have_private.h"

/* Deeper than any index nests (bale's pull stops at the same depth). */
#define MAX_DEPTH 8

typedef struct store_walk {
	bale_have *h;
	bale_check_view *view;
} store_walk;

static int add_held(store_walk *w, const bale_descriptor *d, bale_error **err)
{
	return bale_check_view_has(w->view, &d->digest)
	           ? have_add_blob(w->h, &d->digest, d->size, err)
	           : 0;
}

/* d and what it reaches, as far as the store holds it. */
static int walk(store_walk *w, const bale_descriptor *d, int depth, bale_error **err)
{
	bool index = bale_manifest_type_is_index(d->media_type);
	if (!bale_check_view_has(w->view, &d->digest) || depth > MAX_DEPTH ||
	    (!index && !bale_manifest_type_is_manifest(d->media_type)))
		return 0;
	bale_buf bytes;
	int rc = bale_check_view_read(w->view, d, &bytes, err);
	if (rc == BALE_ENOTFOUND) { /* gone since it was listed */
		bale_error_clear(err);
		rc = 0;
		goto cleanup;
	}
	/* a root's size is the bytes read when the store does not record it (containerd) */
	if (rc < 0 || (rc = have_add_blob(w->h, &d->digest,
	                                  d->size >= 0 ? d->size : (int64_t)bytes.len, err)) < 0)
		goto cleanup;
	if (index) {
		bale_index_entry *e = NULL;
		size_t n = 0;
		rc = bale_manifest_parse_index(&e, &n, bytes.data, bytes.len, err);
		for (size_t i = 0; rc == 0 && i < n; i++)
			rc = walk(w, &e[i].desc, depth + 1, err);
		free(e);
	} else {
		bale_manifest_image m;
		if ((rc = bale_manifest_read_image(&m, bytes.data, bytes.len, err)) == 0) {
			rc = add_held(w, &m.config, err);
			for (size_t i = 0; rc == 0 && i < m.n_layers; i++)
				rc = add_held(w, &m.layers[i], err);
			for (size_t i = 0; rc == 0 && i < m.n_foreign; i++)
				rc = add_held(w, &m.foreign[i], err);
			bale_manifest_image_free(&m);
		}
	}
	/* what the store holds but cannot be parsed reaches nothing more; it is listed */
	if (rc == BALE_EVERIFY || rc == BALE_EFORMAT) {
		bale_error_clear(err);
		rc = 0;
	}
cleanup:
	bale_buf_free(&bytes);
	return rc;
}

static int walk_store(void *payload, bale_check_view *view, bale_error **err)
{
	store_walk *w = payload;
	int rc = 0;
	w->view = view;
	for (size_t i = 0; i < bale_check_view_count(view) && rc == 0; i++) {
		const bale_descriptor *root = bale_check_view_root(view, i);
		const char *name = bale_check_view_name(view, i);
		if (!root->digest.str[0] || !bale_check_view_has(view, &root->digest))
			continue; /* a name without content is nothing the site holds */
		bale_check_view_enter(view, i);
		/* an oci: entry named by its digest alone is content, not an image name */
		if (strcmp(name, root->digest.str) != 0 &&
		    (rc = have_add_image(w->h, name, &root->digest, err)) < 0)
			break;
		rc = walk(w, root, 0, err);
	}
	return rc;
}

int bale_have_add_store(bale_have *h, const char *spec, const bale_store_options *opts,
                        bale_error **err)
{
	store_walk w = {.h = h};
	int rc = bale_check_read_store(spec, opts, walk_store, &w, err);
	return rc < 0 ? rc : have_add_from(h, spec, err);
}

/* ---- bundles ---- */

typedef struct bundle_rows {
	bale_have *h;
	bale_error *err; /* why a row stopped the query */
} bundle_rows;

/* One row of (digest-or-name, digest-or-size) into the set. */
static int bundle_row(bundle_rows *b, bool image, const char *const *values)
{
	bale_digest d;
	if (!values) /* the column names */
		return 0;
	const char *digest = image ? values[1] : values[0];
	int rc = values[0] && values[1] ? bale_digest_parse(&d, digest, &b->err) : -1;
	if (rc == -1)
		rc = bale_error_set(&b->err, BALE_EVERIFY, "a row with NULL");
	if (rc == 0)
		rc = image ? have_add_image(b->h, values[0], &d, &b->err)
		           : have_add_blob(b->h, &d, strtoll(values[1], NULL, 10), &b->err);
	return rc;
}

static int image_row(void *payload, int ncols, const char *const *names, const char *const *values)
{
	(void)ncols;
	(void)names;
	return bundle_row(payload, true, values);
}

static int blob_row(void *payload, int ncols, const char *const *names, const char *const *values)
{
	(void)ncols;
	(void)names;
	return bundle_row(payload, false, values);
}

int bale_have_add_bundle(bale_have *h, const char *path, bale_error **err)
{
	bale_bundle_reader *r = NULL;
	sqlite3 *db = NULL;
	bundle_rows b = {.h = h};
	int rc = bale_index_db_open_bundle(&r, &db, path, err);
	if (rc < 0)
		return rc;
	/* A delta's blobs it only expects have no archive place (member): the site has
	 * them from elsewhere, and that is where their have-list comes from. */
	const char *blobs = bale_index_db_version(db) >= 3
	                        ? "SELECT digest, size FROM blobs WHERE member IS NOT NULL"
	                        : "SELECT digest, size FROM blobs";
	/* A volume holds what its own members are, whole; the rest of its set is elsewhere. */
	const bale_bundle_manifest *m = NULL;
	char volume_sql[160];
	if ((rc = bale_bundle_read_manifest(r, &m, err)) < 0)
		goto cleanup;
	if (m->volume) {
		snprintf(volume_sql, sizeof(volume_sql),
		         "SELECT v.digest, b.size FROM volume_members v JOIN blobs b"
		         " ON b.digest = v.digest WHERE v.volume = %d AND v.part = 0",
		         m->volume);
		blobs = volume_sql;
	}
	if ((rc = bale_index_db_query(db, "SELECT ref, digest FROM images", image_row, &b, err)) ==
	        0 &&
	    (rc = bale_index_db_query(db, blobs, blob_row, &b, err)) == 0)
		rc = have_add_from(h, path, err);
	if (b.err) { /* a row's own error */
		bale_error_free(*err);
		*err = b.err;
		rc = bale_error_wrap(err, "%s: %s", path, BALE_BUNDLE_INDEX_DB);
	}
cleanup:
	sqlite3_close(db);
	bale_bundle_close(r);
	return rc;
}
