/* bale check's walk from an image's root, shared by every store kind: each blob is read
 * and hashed once per store (its verdict is kept in the run), each image reports what it
 * lacks. And the walk's cousin for repair: the blobs that the remaining names still need. */
#include <stdio.h>
#include <string.h>

#include "bale/json.h"
#include "bale/log.h"
#include "bale/manifest.h"
#include "store/check_private.h"

/* Nesting of indexes the walk follows: real images have one level at most. */
#define MAX_DEPTH 4

/* ---- the walk ---- */

typedef struct walk {
	check_run *run;
	const check_source *src;
	check_name *name;
	check_digests seen; /* blobs of this image looked at already */
} walk;

static void verdict_key(const walk *w, const bale_digest *d, char *out, size_t size)
{
	snprintf(out, size, "%s%s%s", w->src->scope ? w->src->scope : "", w->src->scope ? "@" : "",
	         d->str);
}

/* The finding of a verdict, for the image being walked. */
static int report(walk *w, const char *object, const bale_digest *d, int problem,
                  const char *detail, bale_error **err)
{
	char path[4096] = "";
	if (w->src->where)
		w->src->where(w->src->ctx, d, path, sizeof(path));
	w->name->damaged = true;
	return check_add(w->run, NULL, err, (bale_check_problem)problem, w->name->ref, object,
	                 d->str, path[0] ? path : NULL, "%s", detail);
}

/* Has this image met d already? Marks it met. */
static int seen_before(walk *w, const bale_digest *d, bool *seen, bale_error **err)
{
	*seen = check_digests_has(&w->seen, d);
	return *seen ? 0 : check_digests_add(&w->seen, d, err);
}

/* Runs a source operation; content the store holds but cannot give back (a disk error, a
 * corrupt record: BALE_EVERIFY) is a finding, not the end of the check. */
static int source_call(int rc, bale_error *e, char *why, size_t size, bale_error **err)
{
	why[0] = '\0';
	if (rc == BALE_EVERIFY || rc == BALE_ENOTFOUND) {
		if (rc == BALE_EVERIFY)
			snprintf(why, size, "%s", bale_error_message(e));
		bale_error_free(e);
		return rc;
	}
	if (rc < 0) {
		if (err && !*err)
			*err = e;
		else
			bale_error_free(e);
	}
	return rc;
}

static int walk_blob(walk *w, const bale_descriptor *d, const char *object, bale_error **err)
{
	char key[600], detail[400], why[300];
	bool seen = false;
	int rc = seen_before(w, &d->digest, &seen, err);
	if (rc < 0 || seen)
		return rc;
	verdict_key(w, &d->digest, key, sizeof(key));
	const check_verdict *v = check_verdict_get(w->run, key);
	if (!v) {
		check_blob b = {0};
		bale_error *e = NULL;
		int problem = -1;
		rc = source_call(w->src->hash(w->src->ctx, d, &b, &e), e, why, sizeof(why), err);
		detail[0] = '\0';
		if (rc == BALE_EVERIFY) {
			problem = BALE_CHECK_UNREADABLE;
			snprintf(detail, sizeof(detail), "unreadable: %s", why);
		} else if (rc < 0 && rc != BALE_ENOTFOUND) {
			return rc;
		} else if (rc == BALE_ENOTFOUND || !b.found) {
			problem = BALE_CHECK_MISSING;
			snprintf(detail, sizeof(detail), "missing");
		} else if (b.size != d->size) {
			problem = BALE_CHECK_SIZE;
			snprintf(detail, sizeof(detail), "size %lld want %lld", (long long)b.size,
			         (long long)d->size);
		} else if (b.hashed && !bale_digest_equal(&b.digest, &d->digest)) {
			problem = BALE_CHECK_DIGEST;
			snprintf(detail, sizeof(detail), "digest mismatch: has %s want %s",
			         b.digest.str, d->digest.str);
		}
		bale_check_summary *sum = check_summary(w->run);
		sum->blobs++;
		sum->bytes += b.hashed ? b.size : 0;
		if ((rc = check_verdict_add(w->run, key, problem, detail, err)) < 0)
			return rc;
		v = check_verdict_get(w->run, key);
	}
	return v->problem < 0 ? 0 : report(w, object, &d->digest, v->problem, v->detail, err);
}

/* An index, or a manifest whose media type does not say: the bytes tell. */
static bool looks_like_index(const char *media_type, const bale_buf *bytes)
{
	if (bale_manifest_type_is_index(media_type))
		return true;
	if (bale_manifest_type_is_manifest(media_type))
		return false;
	json_t *doc = NULL;
	bool index = false;
	if (bale_json_parse(&doc, bytes->data, bytes->len, BALE_CAP_MANIFEST, "manifest", NULL) ==
	    0)
		index = json_is_array(json_object_get(doc, "manifests"));
	json_decref(doc);
	return index;
}

static int walk_manifest(walk *w, const bale_descriptor *d, int depth, bale_error **err);

static int walk_index(walk *w, const bale_descriptor *d, const bale_buf *bytes, int depth,
                      bale_error **err)
{
	bale_index_entry *children = NULL;
	size_t n = 0, present = 0;
	int rc = bale_manifest_parse_index(&children, &n, bytes->data, bytes->len, NULL);
	if (rc < 0) /* the caller parsed it already */
		return 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		/* A node store keeps the platforms that were imported, not all of them. */
		if (w->src->has && !w->src->has(w->src->ctx, &children[i].desc.digest))
			continue;
		present++;
		rc = walk_manifest(w, &children[i].desc, depth + 1, err);
	}
	if (rc == 0 && w->src->has && n && !present)
		rc = report(w, "index", &d->digest, BALE_CHECK_MISSING,
		            n == 1 ? "its only manifest is missing"
		                   : "missing: none of its manifests is in the store",
		            err);
	free(children);
	return rc;
}

static int walk_image(walk *w, const bale_buf *bytes, bale_error **err)
{
	bale_descriptor config, *layers = NULL;
	size_t n = 0;
	int rc =
	    bale_manifest_parse_image(&config, &layers, &n, NULL, bytes->data, bytes->len, NULL);
	if (rc < 0) /* the caller parsed it already */
		return 0;
	rc = walk_blob(w, &config, "config", err);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = walk_blob(w, &layers[i], "layer", err);
	free(layers);
	return rc;
}

/* Reads a manifest or index and judges its bytes; *problem -1 when they are whole. */
static int judge_manifest(walk *w, const bale_descriptor *d, bale_buf *bytes, bool *index,
                          int *problem, char *detail, size_t size, bale_error **err)
{
	char why[300];
	bale_error *e = NULL;
	bale_digest got;
	*problem = -1;
	*index = bale_manifest_type_is_index(d->media_type);
	const char *children = *index ? "its manifests" : "its config and layers";
	int rc = source_call(w->src->read(w->src->ctx, d, bytes, &e), e, why, sizeof(why), err);
	if (rc == BALE_ENOTFOUND) {
		*problem = BALE_CHECK_MISSING;
		snprintf(detail, size, "missing; %s cannot be checked", children);
		return 0;
	}
	if (rc == BALE_EVERIFY) {
		*problem = BALE_CHECK_UNREADABLE;
		snprintf(detail, size, "unreadable: %s; %s cannot be checked", why, children);
		return 0;
	}
	if (rc < 0)
		return rc;
	bale_digest_of(&got, bytes->data, bytes->len);
	if (d->size >= 0 && (int64_t)bytes->len != d->size) {
		*problem = BALE_CHECK_SIZE;
		snprintf(detail, size, "size %zu want %lld; %s cannot be checked", bytes->len,
		         (long long)d->size, children);
		return 0;
	}
	if (!bale_digest_equal(&got, &d->digest)) {
		*problem = BALE_CHECK_DIGEST;
		snprintf(detail, size, "digest mismatch: has %s want %s; %s cannot be checked",
		         got.str, d->digest.str, children);
		return 0;
	}
	*index = looks_like_index(d->media_type, bytes);
	bale_index_entry *entries = NULL;
	bale_descriptor config, *layers = NULL;
	size_t n = 0;
	rc = *index ? bale_manifest_parse_index(&entries, &n, bytes->data, bytes->len, &e)
	            : bale_manifest_parse_image(&config, &layers, &n, NULL, bytes->data, bytes->len,
	                                        &e);
	if (rc < 0) {
		*problem = BALE_CHECK_UNREADABLE;
		snprintf(detail, size, "does not parse (%s); %s cannot be checked",
		         bale_error_message(e), *index ? "its manifests" : "its config and layers");
		bale_error_free(e);
	}
	free(entries);
	free(layers);
	return 0;
}

static int walk_manifest(walk *w, const bale_descriptor *d, int depth, bale_error **err)
{
	char key[600], detail[600];
	bool seen = false, index = false;
	int problem = -1;
	bale_buf bytes;
	bale_buf_init(&bytes, BALE_CAP_MANIFEST, "manifest");
	int rc = seen_before(w, &d->digest, &seen, err);
	if (rc < 0 || seen)
		goto cleanup;
	verdict_key(w, &d->digest, key, sizeof(key));
	const check_verdict *v = check_verdict_get(w->run, key);
	bool found = v != NULL;
	if (found && v->problem >= 0) { /* judged bad before: no need to read */
		rc = report(w, bale_manifest_type_is_index(d->media_type) ? "index" : "manifest",
		            &d->digest, v->problem, v->detail, err);
		goto cleanup;
	}
	if ((rc = judge_manifest(w, d, &bytes, &index, &problem, detail, sizeof(detail), err)) < 0)
		goto cleanup;
	if (!found) {
		bale_check_summary *sum = check_summary(w->run);
		sum->blobs++;
		sum->bytes += (int64_t)bytes.len;
		if ((rc = check_verdict_add(w->run, key, problem, detail, err)) < 0)
			goto cleanup;
	}
	if (problem >= 0) {
		rc = report(w, index ? "index" : "manifest", &d->digest, problem, detail, err);
	} else if (index && depth >= MAX_DEPTH) {
		rc = report(w, "index", &d->digest, BALE_CHECK_UNREADABLE,
		            "indexes nested too deep; its manifests cannot be checked", err);
	} else {
		rc = index ? walk_index(w, d, &bytes, depth, err) : walk_image(w, &bytes, err);
	}
cleanup:
	bale_buf_free(&bytes);
	return rc;
}

int check_walk(check_run *run, const check_source *src, check_name *name, bale_error **err)
{
	walk w = {.run = run, .src = src, .name = name};
	bale_log_printf(check_log(run), BALE_LOG_DEBUG, "checking %s (%s)", name->ref,
	                name->root.digest.str);
	check_summary(run)->images++;
	name->checked = true;
	int rc = walk_manifest(&w, &name->root, 0, err);
	check_summary(run)->damaged_images += name->damaged;
	check_digests_free(&w.seen);
	return rc;
}

/* ---- what remaining names need ---- */

static int collect(const check_source *src, const bale_descriptor *d, check_digests *set, int depth,
                   bale_error **err)
{
	bale_buf bytes;
	bale_error *e = NULL;
	bale_index_entry *children = NULL;
	bale_descriptor config, *layers = NULL;
	size_t n = 0;
	char why[300];
	if (check_digests_has(set, &d->digest))
		return 0;
	int rc = check_digests_add(set, &d->digest, err);
	if (rc < 0 || depth > MAX_DEPTH)
		return rc;
	bale_buf_init(&bytes, BALE_CAP_MANIFEST, "manifest");
	rc = source_call(src->read(src->ctx, d, &bytes, &e), e, why, sizeof(why), err);
	if (rc == BALE_ENOTFOUND || rc == BALE_EVERIFY) { /* nothing more to learn from it */
		rc = 0;
		goto cleanup;
	}
	if (rc < 0)
		goto cleanup;
	if (looks_like_index(d->media_type, &bytes)) {
		if (bale_manifest_parse_index(&children, &n, bytes.data, bytes.len, NULL) == 0)
			for (size_t i = 0; i < n && rc == 0; i++)
				rc = collect(src, &children[i].desc, set, depth + 1, err);
	} else if (bale_manifest_parse_image(&config, &layers, &n, NULL, bytes.data, bytes.len,
	                                     NULL) == 0) {
		rc = check_digests_add(set, &config.digest, err);
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = check_digests_add(set, &layers[i].digest, err);
	}
cleanup:
	free(children);
	free(layers);
	bale_buf_free(&bytes);
	return rc;
}

int check_collect(const check_source *src, const bale_descriptor *root, check_digests *set,
                  bale_error **err)
{
	return collect(src, root, set, 0, err);
}
