/* bale check: one run (its findings, summary and --image filter) and the walk from an
 * image's root that every store kind shares. The kinds (check_oci.c, check_containerd.c,
 * check_registry.c) list names, read and hash blobs, find partials and repair. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/json.h"
#include "bale/log.h"
#include "bale/manifest.h"
#include "bale/reference.h"
#include "store/check_private.h"

/* Nesting of indexes the walk follows: real images have one level at most. */
#define MAX_DEPTH 4

struct check_item {
	bale_check_finding pub; /* points into the fields below */
	char *ref, *digest, *path, *detail, *repair;
	char object[32];
};

/* What the walk concluded about one blob: a blob shared by several images (or named
 * twice, as containerd names repo:tag and repo@digest) is read and hashed once. */
typedef struct verdict {
	char *key;   /* "[scope@]sha256:…" */
	int problem; /* a bale_check_problem, or -1 when whole */
	char *detail;
} verdict;

struct check_run {
	const bale_check_options *opts;
	bale_check_summary *sum;
	check_item **items;
	size_t n_items;
	verdict *verdicts; /* sorted by key */
	size_t n_verdicts, alloc_verdicts;
	char **wanted; /* --image, normalized */
	bool *matched;
	size_t n_wanted;
	bale_check_view_fn view; /* bale_check_read_store: the caller reads, nothing is checked */
	void *view_payload;
	int view_rc;
};

struct bale_check_view {
	const check_source *src;
	const check_names *names;
};

static const char *const problem_names[] = {"missing", "digest-mismatch", "size-mismatch",
                                            "unreadable", "partial"};

const char *bale_check_problem_name(bale_check_problem p)
{
	return p <= BALE_CHECK_PARTIAL ? problem_names[p] : "unknown";
}

/* ---- digest sets ---- */

static int compare_digest(const bale_digest *a, const bale_digest *b)
{
	return memcmp(a->str, b->str, BALE_DIGEST_STR_LEN);
}

/* Where d is in s, or where it would go. */
static size_t digests_find(const check_digests *s, const bale_digest *d, bool *found)
{
	size_t lo = 0, hi = s->n;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = compare_digest(&s->items[mid], d);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Makes room for one more item in a sorted array of n (doubling, from first). */
static int room_for_one(void **items, size_t *alloc, size_t n, size_t size, size_t first,
                        bale_error **err)
{
	if (n < *alloc)
		return 0;
	size_t want = *alloc ? *alloc * 2 : first;
	void *grown = realloc(*items, want * size);
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	*items = grown;
	*alloc = want;
	return 0;
}

int check_digests_add(check_digests *s, const bale_digest *d, bale_error **err)
{
	bool found;
	size_t at = digests_find(s, d, &found);
	if (found)
		return 0;
	if (room_for_one((void **)&s->items, &s->alloc, s->n, sizeof(*s->items), 32, err) < 0)
		return BALE_EGENERIC;
	memmove(s->items + at + 1, s->items + at, (s->n - at) * sizeof(*s->items));
	s->items[at] = *d;
	s->n++;
	return 0;
}

bool check_digests_has(const check_digests *s, const bale_digest *d)
{
	bool found;
	digests_find(s, d, &found);
	return found;
}

void check_digests_free(check_digests *s)
{
	free(s->items);
	memset(s, 0, sizeof(*s));
}

/* ---- names ---- */

int check_names_add(check_names *names, const char *ref, const bale_descriptor *root,
                    bale_error **err)
{
	check_name *grown = realloc(names->items, (names->n + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	names->items = grown;
	check_name *n = &names->items[names->n];
	memset(n, 0, sizeof(*n));
	if (!(n->ref = strdup(ref)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	n->root = *root;
	names->n++;
	return 0;
}

void check_names_free(check_names *names)
{
	for (size_t i = 0; i < names->n; i++)
		free(names->items[i].ref);
	free(names->items);
	memset(names, 0, sizeof(*names));
}

/* ---- the run ---- */

const bale_check_options *check_opts(const check_run *run)
{
	return run->opts;
}

bale_check_summary *check_summary(check_run *run)
{
	return run->sum;
}

const bale_log *check_log(const check_run *run)
{
	return run->opts->store ? run->opts->store->log : NULL;
}

bool check_wanted(check_run *run, const char *ref)
{
	if (!run->n_wanted)
		return true;
	bale_ref *parsed = NULL;
	const char *normal = ref;
	if (bale_ref_parse(&parsed, ref, NULL) == 0)
		normal = bale_ref_string(parsed);
	bool want = false;
	for (size_t i = 0; i < run->n_wanted; i++)
		if (strcmp(run->wanted[i], normal) == 0)
			want = run->matched[i] = true;
	bale_ref_free(parsed);
	return want;
}

int check_all_found(const check_run *run, bale_error **err)
{
	for (size_t i = 0; i < run->n_wanted; i++)
		if (!run->matched[i])
			return bale_error_set(err, BALE_ENOTFOUND,
			                      "%s: the store has no image of that name",
			                      run->wanted[i]);
	return 0;
}

int check_add(check_run *run, check_item **out, bale_error **err, bale_check_problem problem,
              const char *ref, const char *object, const char *digest, const char *path,
              const char *fmt, ...)
{
	char detail[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	check_item **grown = realloc(run->items, (run->n_items + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	run->items = grown;
	check_item *it = calloc(1, sizeof(*it));
	if (!it)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	run->items[run->n_items++] = it; /* freed with the run even when incomplete */
	snprintf(it->object, sizeof(it->object), "%s", object);
	it->ref = ref ? strdup(ref) : NULL;
	it->digest = digest ? strdup(digest) : NULL;
	it->path = path ? strdup(path) : NULL;
	it->detail = strdup(detail);
	if ((ref && !it->ref) || (digest && !it->digest) || (path && !it->path) || !it->detail)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	it->pub = (bale_check_finding){.problem = problem,
	                               .ref = it->ref,
	                               .object = it->object,
	                               .digest = it->digest,
	                               .path = it->path,
	                               .detail = it->detail};
	if (out)
		*out = it;
	return 0;
}

void check_set_repair(check_item *item, bool repaired, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	free(item->repair);
	item->repair = strdup(text); /* NULL when out of memory: the line goes without it */
	item->pub.repair = item->repair;
	item->pub.repaired = repaired;
}

size_t check_count(const check_run *run)
{
	return run->n_items;
}

check_item *check_at(check_run *run, size_t i)
{
	return run->items[i];
}

const bale_check_finding *check_item_finding(const check_item *item)
{
	return &item->pub;
}

bool check_item_damaged_blob(const check_item *item, bale_digest *out)
{
	/* Unreadable counts when the bytes could not be read back (an I/O error), not when
	 * they are whole but do not parse: removing those would change nothing. */
	bool damaged = item->pub.problem == BALE_CHECK_DIGEST ||
	               item->pub.problem == BALE_CHECK_SIZE ||
	               (item->pub.problem == BALE_CHECK_UNREADABLE &&
	                strncmp(item->detail, "unreadable:", 11) == 0);
	return damaged && item->digest && bale_digest_parse(out, item->digest, NULL) == 0;
}

static void item_free(check_item *it)
{
	free(it->ref);
	free(it->digest);
	free(it->path);
	free(it->detail);
	free(it->repair);
	free(it);
}

/* ---- verdicts ---- */

static size_t verdict_find(const check_run *run, const char *key, bool *found)
{
	size_t lo = 0, hi = run->n_verdicts;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(run->verdicts[mid].key, key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int verdict_add(check_run *run, const char *key, int problem, const char *detail,
                       bale_error **err)
{
	bool found;
	size_t at = verdict_find(run, key, &found);
	if (found)
		return 0;
	if (room_for_one((void **)&run->verdicts, &run->alloc_verdicts, run->n_verdicts,
	                 sizeof(*run->verdicts), 64, err) < 0)
		return BALE_EGENERIC;
	verdict v = {strdup(key), problem, strdup(detail ? detail : "")};
	if (!v.key || !v.detail) {
		free(v.key);
		free(v.detail);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	memmove(run->verdicts + at + 1, run->verdicts + at,
	        (run->n_verdicts - at) * sizeof(*run->verdicts));
	run->verdicts[at] = v;
	run->n_verdicts++;
	return 0;
}

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
	bool seen = false, found = false;
	int rc = seen_before(w, &d->digest, &seen, err);
	if (rc < 0 || seen)
		return rc;
	verdict_key(w, &d->digest, key, sizeof(key));
	size_t at = verdict_find(w->run, key, &found);
	if (!found) {
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
		w->run->sum->blobs++;
		w->run->sum->bytes += b.hashed ? b.size : 0;
		if ((rc = verdict_add(w->run, key, problem, detail, err)) < 0)
			return rc;
		at = verdict_find(w->run, key, &found);
	}
	const verdict *v = &w->run->verdicts[at];
	return v->problem < 0 ? 0 : report(w, object, &d->digest, v->problem, v->detail, err);
}

/* An index, or a manifest whose media type does not say: the bytes tell. */
static bool looks_like_index(const char *media_type, const bale_buf *bytes)
{
	if (bale_media_type_is_index(media_type))
		return true;
	if (bale_media_type_is_manifest(media_type))
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
	*index = bale_media_type_is_index(d->media_type);
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
	bool seen = false, found = false, index = false;
	int problem = -1;
	bale_buf bytes;
	bale_buf_init(&bytes, BALE_CAP_MANIFEST, "manifest");
	int rc = seen_before(w, &d->digest, &seen, err);
	if (rc < 0 || seen)
		goto cleanup;
	verdict_key(w, &d->digest, key, sizeof(key));
	size_t at = verdict_find(w->run, key, &found);
	if (found && w->run->verdicts[at].problem >= 0) { /* judged bad before: no need to read */
		const verdict *v = &w->run->verdicts[at];
		rc = report(w, bale_media_type_is_index(d->media_type) ? "index" : "manifest",
		            &d->digest, v->problem, v->detail, err);
		goto cleanup;
	}
	if ((rc = judge_manifest(w, d, &bytes, &index, &problem, detail, sizeof(detail), err)) < 0)
		goto cleanup;
	if (!found) {
		w->run->sum->blobs++;
		w->run->sum->bytes += (int64_t)bytes.len;
		if ((rc = verdict_add(w->run, key, problem, detail, err)) < 0)
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
	run->sum->images++;
	name->checked = true;
	int rc = walk_manifest(&w, &name->root, 0, err);
	run->sum->damaged_images += name->damaged;
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

/* ---- the entry point ---- */

static int set_wanted(check_run *run, const bale_check_options *opts, bale_error **err)
{
	if (!opts->n_images)
		return 0;
	run->wanted = calloc(opts->n_images, sizeof(*run->wanted));
	run->matched = calloc(opts->n_images, sizeof(*run->matched));
	if (!run->wanted || !run->matched)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; i < opts->n_images; i++) {
		bale_ref *ref = NULL;
		int rc = bale_ref_parse(&ref, opts->images[i], err);
		if (rc < 0)
			return bale_error_wrap(err, "--image %s", opts->images[i]);
		run->wanted[i] = strdup(bale_ref_string(ref));
		bale_ref_free(ref);
		if (!run->wanted[i])
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		run->n_wanted = i + 1;
	}
	return 0;
}

static int dispatch(check_run *run, const char *spec, bale_error **err)
{
	if (strncmp(spec, "oci:", 4) == 0 && spec[4])
		return check_oci(run, spec + 4, err);
	if (strcmp(spec, "containerd") == 0)
		return check_containerd(run, BALE_DEFAULT_CONTAINERD_SOCKET, err);
	if (strncmp(spec, "containerd:", 11) == 0 && spec[11])
		return check_containerd(run, spec + 11, err);
	if (strncmp(spec, "registry://", 11) == 0)
		return check_registry(run, spec + 11, err);
	return bale_error_set(
	    err, BALE_EUSAGE,
	    "unknown store \"%s\" (want oci:DIR, containerd[:SOCKET] or registry://HOST[/PREFIX])",
	    spec);
}

static void run_free(check_run *run)
{
	for (size_t i = 0; i < run->n_items; i++)
		item_free(run->items[i]);
	free(run->items);
	for (size_t i = 0; i < run->n_verdicts; i++) {
		free(run->verdicts[i].key);
		free(run->verdicts[i].detail);
	}
	free(run->verdicts);
	for (size_t i = 0; i < run->n_wanted; i++)
		free(run->wanted[i]);
	free(run->wanted);
	free(run->matched);
}

int bale_check_store(const char *spec, const bale_check_options *opts, bale_check_summary *summary,
                     bale_error **err)
{
	check_run run = {.opts = opts, .sum = summary};
	memset(summary, 0, sizeof(*summary));
	int rc = set_wanted(&run, opts, err);
	if (rc == 0)
		rc = dispatch(&run, spec, err);
	for (size_t i = 0; i < run.n_items && rc == 0; i++) {
		const bale_check_finding *f = &run.items[i]->pub;
		summary->findings++;
		summary->partials += f->problem == BALE_CHECK_PARTIAL;
		summary->repaired += f->repaired;
		if (opts->report)
			rc = opts->report(opts->payload, f, err);
	}
	run_free(&run);
	return rc;
}

/* ---- reading a store ---- */

bool check_reading(const check_run *run)
{
	return run->view != NULL;
}

void check_hand_over(check_run *run, const check_source *src, const check_names *names,
                     bale_error **err)
{
	bale_check_view v = {.src = src, .names = names};
	run->view_rc = run->view(run->view_payload, &v, err);
}

int bale_check_read_store(const char *spec, const bale_store_options *opts, bale_check_view_fn fn,
                          void *payload, bale_error **err)
{
	bale_check_options o = {.store = opts};
	bale_check_summary summary = {0};
	check_run run = {.opts = &o, .sum = &summary, .view = fn, .view_payload = payload};
	if (strncmp(spec, "registry://", 11) == 0)
		return bale_error_set(
		    err, BALE_EUSAGE,
		    "%s is not a node store (want oci:DIR or containerd[:SOCKET])", spec);
	int rc = dispatch(&run, spec, err);
	run_free(&run);
	return rc < 0 ? rc : run.view_rc;
}

size_t bale_check_view_count(const bale_check_view *v)
{
	return v->names->n;
}

const char *bale_check_view_name(const bale_check_view *v, size_t i)
{
	return v->names->items[i].ref;
}

const bale_descriptor *bale_check_view_root(const bale_check_view *v, size_t i)
{
	return &v->names->items[i].root;
}

int bale_check_view_read(bale_check_view *v, const bale_descriptor *d, bale_buf *out,
                         bale_error **err)
{
	bale_error *e = NULL;
	bale_buf_init(out, BALE_CAP_MANIFEST, "manifest");
	int rc = v->src->read(v->src->ctx, d, out, &e);
	if (rc == BALE_ENOTFOUND && !e) /* the kinds say "not there" without a message */
		return bale_error_set(err, BALE_ENOTFOUND, "%s is not in the store", d->digest.str);
	if (rc < 0 && err && !*err)
		*err = e;
	else
		bale_error_free(e);
	return rc;
}

bool bale_check_view_has(bale_check_view *v, const bale_digest *d)
{
	return v->src->has(v->src->ctx, d);
}
