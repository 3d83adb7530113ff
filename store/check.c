/* bale check: one run (its findings, verdicts, summary and --image filter), its entry point,
 * and the read side the preflight uses. The walk from an image's root that every store kind
 * shares is in check_walk.c; the kinds (check_oci.c, check_containerd.c, check_registry.c)
 * list names, read and hash blobs, find partials and repair. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/log.h"
#include "bale/ref.h"
#include "store/check_private.h"
#include "store/store_private.h"

struct check_item {
	bale_check_finding pub; /* points into the fields below */
	char *ref, *digest, *path, *detail, *repair;
	char object[32];
};

/* What the walk concluded about one blob: a blob shared by several images (or named
 * twice, as containerd names repo:tag and repo@digest) is read and hashed once. */

struct check_run {
	const bale_check_options *opts;
	bale_check_summary *sum;
	check_item **items;
	size_t n_items;
	check_verdict *verdicts; /* sorted by key */
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

const check_verdict *check_verdict_get(const check_run *run, const char *key)
{
	bool found;
	size_t at = verdict_find(run, key, &found);
	return found ? &run->verdicts[at] : NULL;
}

int check_verdict_add(check_run *run, const char *key, int problem, const char *detail,
                      bale_error **err)
{
	bool found;
	size_t at = verdict_find(run, key, &found);
	if (found)
		return 0;
	if (room_for_one((void **)&run->verdicts, &run->alloc_verdicts, run->n_verdicts,
	                 sizeof(*run->verdicts), 64, err) < 0)
		return BALE_EGENERIC;
	check_verdict v = {strdup(key), problem, strdup(detail ? detail : "")};
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
	store_kind kind = STORE_OCI;
	const char *where = NULL;
	int rc = store_spec_parse(spec, &kind, &where, err);
	if (rc < 0)
		return rc;
	if (kind == STORE_OCI)
		return check_oci(run, where, err);
	if (kind == STORE_CONTAINERD)
		return check_containerd(run, where, err);
	return check_registry(run, where, err);
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

int check_names_walk(check_run *run, const check_source *src, check_names *names, bale_error **err)
{
	int rc = 0;
	if (check_reading(run)) {
		bale_check_view v = {.src = src, .names = names};
		run->view_rc = run->view(run->view_payload, &v, err);
		return 0;
	}
	for (size_t i = 0; i < names->n && rc == 0; i++)
		if (!names->items[i].checked)
			rc = check_walk(run, src, &names->items[i], err);
	return rc;
}

int bale_check_read_store(const char *spec, const bale_store_options *opts, bale_check_view_fn fn,
                          void *payload, bale_error **err)
{
	bale_check_options o = {.store = opts};
	bale_check_summary summary = {0};
	check_run run = {.opts = &o, .sum = &summary, .view = fn, .view_payload = payload};
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
	/* no presence test: the store holds every blob its manifests name (a registry) */
	return !v->src->has || v->src->has(v->src->ctx, d);
}

void bale_check_view_enter(bale_check_view *v, size_t i)
{
	if (v->src->enter)
		v->src->enter(v->src->ctx, i);
}
