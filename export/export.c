/* bale export: resolve, then download and write the bundle at once (see bale/export.h).
 *
 * The cache sink is wrapped so that every blob the pull engine commits (or finds already
 * cached) is announced to the writer thread, which waits for each config and layer in
 * bundle order. When the download ends, waiting ends too: a blob that never came is an
 * error. When the writer fails, the wrapper refuses further blobs so the download stops.
 *
 * A blob committed by this download was hashed against its digest as it arrived; the
 * writer is told so and copies it into the bundle without hashing it again. A blob found
 * in the cache was written by an earlier run: the writer hashes it as it copies it. */
#include "bale/export.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bale/digest.h"
#include "bale/sys/sink.h"
#include "export/export_private.h"

typedef struct arrivals {
	bale_sink base;
	bale_sink *cache;
	const export_delta *delta; /* layers the site has: never fetched, never waited for */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct arrival {
		unsigned char raw[32]; /* the SHA-256: a third of the digest's text */
		bool checked;          /* hashed against its digest by this download */
	} * have;                      /* blobs in the cache, in the order they came */
	size_t n, cap;
	bool fetch_done;    /* no more blobs will come */
	bool writer_failed; /* the wrapper refuses blobs from now on */
	bool refused;       /* and did refuse one */
	bool out_of_memory; /* an arrival could not be recorded */
	size_t hint;        /* the writer's search starts here */
} arrivals;

struct bale_sink_blob {
	arrivals *a;
	bale_sink_blob *inner;
	bale_descriptor desc;
};

/* The 32 bytes of a digest ("sha256:" and lowercase hex, as bale_digest_parse made it). */
static void digest_raw(const bale_digest *d, unsigned char raw[32])
{
	const char *hex = bale_digest_hex(d);
	for (size_t i = 0; i < 32; i++) {
		unsigned hi = (unsigned char)hex[2 * i], lo = (unsigned char)hex[2 * i + 1];
		hi = hi <= '9' ? hi - '0' : hi - 'a' + 10;
		lo = lo <= '9' ? lo - '0' : lo - 'a' + 10;
		raw[i] = (unsigned char)(hi << 4 | lo);
	}
}

static void announce(arrivals *a, const bale_digest *d, bool checked)
{
	struct arrival one = {.checked = checked};
	digest_raw(d, one.raw);
	pthread_mutex_lock(&a->mu);
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 256;
		struct arrival *grown = realloc(a->have, cap * sizeof(*grown));
		if (grown) {
			a->have = grown;
			a->cap = cap;
		}
	}
	if (a->n < a->cap)
		a->have[a->n++] = one;
	else
		a->out_of_memory = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static int refuse_if_writer_failed(arrivals *a, bale_error **err)
{
	pthread_mutex_lock(&a->mu);
	bool failed = a->writer_failed;
	a->refused |= failed;
	pthread_mutex_unlock(&a->mu);
	return failed ? bale_error_set(err, BALE_EGENERIC, "the bundle could not be written") : 0;
}

static int arr_has_blob(bale_sink *sink, const bale_descriptor *desc, bool *out, bale_error **err)
{
	arrivals *a = (arrivals *)sink;
	int rc = refuse_if_writer_failed(a, err);
	if (rc == 0 && export_delta_skips(a->delta, &desc->digest)) {
		*out = true; /* as good as held: the bundle does not carry it */
		return 0;
	}
	if (rc == 0 && (rc = bale_sink_has_blob(a->cache, desc, out, err)) == 0 && *out)
		announce(a, &desc->digest, false);
	return rc;
}

static int arr_blob_open(bale_sink *sink, const bale_descriptor *desc, bale_sink_blob **out,
                         bale_error **err)
{
	arrivals *a = (arrivals *)sink;
	int rc = refuse_if_writer_failed(a, err);
	bale_sink_blob *b = rc == 0 ? calloc(1, sizeof(*b)) : NULL;
	if (rc == 0 && !b)
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (rc == 0 && (rc = bale_sink_blob_open(a->cache, desc, &b->inner, err)) == 0) {
		b->a = a;
		b->desc = *desc;
		*out = b;
		return 0;
	}
	free(b);
	return rc;
}

static int arr_blob_write(bale_sink_blob *b, const void *data, size_t len, bale_error **err)
{
	return bale_sink_blob_write(b->a->cache, b->inner, data, len, err);
}

static int arr_blob_rewind(bale_sink_blob *b, bale_error **err)
{
	return bale_sink_blob_rewind(b->a->cache, b->inner, err);
}

static int arr_blob_commit(bale_sink_blob *b, bale_error **err)
{
	arrivals *a = b->a;
	bale_digest d = b->desc.digest;
	int rc = bale_sink_blob_commit(a->cache, b->inner, err);
	free(b);
	if (rc == 0)
		announce(a, &d, true);
	return rc;
}

static void arr_blob_abort(bale_sink_blob *b)
{
	bale_sink_blob_abort(b->a->cache, b->inner);
	free(b);
}

static int arr_set_name(bale_sink *sink, const char *ref, const bale_descriptor *root,
                        bale_error **err)
{
	arrivals *a = (arrivals *)sink;
	return bale_sink_set_name(a->cache, ref, root, err);
}

static int arr_commit(bale_sink *sink, bale_error **err)
{
	arrivals *a = (arrivals *)sink;
	return bale_sink_commit(a->cache, err);
}

static int arr_blob_read(bale_sink *sink, const bale_descriptor *desc, bale_buf *out,
                         bale_error **err)
{
	arrivals *a = (arrivals *)sink;
	return bale_sink_read(a->cache, desc, out, err);
}

static int arr_blob_for(bale_sink *sink, const bale_descriptor *desc, const char *ref,
                        bale_error **err)
{
	arrivals *a = (arrivals *)sink;
	return bale_sink_blob_for(a->cache, desc, ref, err);
}

static int arr_space(bale_sink *sink, uint64_t *avail, const char **where, bale_error **err)
{
	arrivals *a = (arrivals *)sink;
	return bale_sink_space(a->cache, avail, where, err); /* UINT64_MAX when it cannot tell */
}

static void arr_free(bale_sink *sink)
{
	(void)sink; /* lives on bale_export's stack; the cache is the caller's */
}

static const bale_sink_ops arrivals_ops = {
    .has_blob = arr_has_blob,
    .blob_open = arr_blob_open,
    .blob_write = arr_blob_write,
    .blob_rewind = arr_blob_rewind,
    .blob_commit = arr_blob_commit,
    .blob_abort = arr_blob_abort,
    .set_name = arr_set_name,
    .commit = arr_commit,
    .free = arr_free,
    .blob_read = arr_blob_read,
    .blob_for = arr_blob_for,
    .space = arr_space,
};

/* The writer's side: returns once desc is in the cache, and whether this download checked
 * it. The list of arrivals only grows; the search starts where the last one ended, since
 * blobs mostly come in bundle order. */
static int wait_blob(void *payload, const bale_digest *blob, bool *checked, bale_error **err)
{
	arrivals *a = payload;
	bool found = false;
	size_t at = 0;
	unsigned char want[32];
	digest_raw(blob, want);
	pthread_mutex_lock(&a->mu);
	size_t end = a->n, from = a->hint < end ? a->hint : 0;
	for (size_t k = 0; !found && k < end; k++) {
		size_t i = (from + k) % end;
		if ((found = memcmp(a->have[i].raw, want, sizeof(want)) == 0))
			a->hint = (at = i) + 1;
	}
	for (size_t looked = end; !found && !a->fetch_done && !a->out_of_memory;) {
		pthread_cond_wait(&a->cv, &a->mu);
		for (; !found && looked < a->n; looked++)
			if ((found = memcmp(a->have[looked].raw, want, sizeof(want)) == 0))
				a->hint = (at = looked) + 1;
	}
	bool oom = a->out_of_memory;
	*checked = found && a->have[at].checked;
	pthread_mutex_unlock(&a->mu);
	if (found)
		return 0;
	return oom ? bale_error_set(err, BALE_EGENERIC, "out of memory")
	           : bale_error_set(err, BALE_EGENERIC, "blob %s never reached the cache",
	                            blob->str);
}

/* Passes an error up: the caller's err takes from's error (when it has none yet). */
static void hand_over(bale_error **to, bale_error **from)
{
	if (to && !*to) {
		*to = *from;
		*from = NULL;
	}
}

typedef struct writer_job {
	bale_bundle_write_options opts;
	bale_bundle_images images; /* read back from the pull, one at a time */
	arrivals *a;
	int rc;
	bale_error *err;
} writer_job;

static void *writer_main(void *arg)
{
	writer_job *job = arg;
	job->rc = bale_bundle_write(&job->opts, &job->images, &job->err);
	if (job->rc < 0) { /* stop the download: its blobs have nowhere to go */
		pthread_mutex_lock(&job->a->mu);
		job->a->writer_failed = true;
		pthread_mutex_unlock(&job->a->mu);
	}
	return NULL;
}

static int load_image(void *payload, size_t i, bale_image **out, bale_error **err)
{
	return bale_pull_image_load(payload, i, out, err);
}

int bale_export(bale_pull *pull, const char *const *refs, size_t n, bale_sink *cache,
                const bale_have *have, const bale_policy *policy,
                const bale_bundle_write_options *opts, bale_error **err)
{
	arrivals a = {.base = {.ops = &arrivals_ops}, .cache = cache};
	writer_job job = {.opts = *opts, .a = &a};
	bale_error *fetch_err = NULL;
	export_delta *delta = NULL;
	int rc = bale_pull_resolve_all(pull, refs, n, cache, err);
	if (rc == 0 && policy)
		rc = export_policy_check(pull, policy, err);
	if (rc < 0)
		return rc;
	job.images = (bale_bundle_images){.n = bale_pull_image_count(pull),
	                                  .attachments = bale_pull_attachment_count(pull) > 0,
	                                  .rules = bale_pull_rule_count(pull) > 0,
	                                  .load = load_image,
	                                  .payload = pull};
	if (have && (rc = export_delta_new(&delta, have, &job.images, err)) < 0)
		return rc;
	a.delta = delta;
	job.opts.left_out = delta ? export_delta_left_out : NULL;
	job.opts.left_out_payload = delta;
	job.opts.wait_blob = wait_blob;
	job.opts.wait_payload = &a;
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	pthread_t writer;
	int e = pthread_create(&writer, NULL, writer_main, &job);
	if (e != 0) {
		rc = bale_error_set_errno(err, BALE_EGENERIC, e, "start the bundle writer");
		goto cleanup;
	}
	rc = bale_pull_fetch(pull, &a.base, &fetch_err);
	pthread_mutex_lock(&a.mu);
	a.fetch_done = true;
	pthread_cond_broadcast(&a.cv);
	pthread_mutex_unlock(&a.mu);
	pthread_join(writer, NULL);
	/* The root cause: a download that failed by itself, else the writer's error. */
	if (rc < 0 && !a.refused) {
		hand_over(err, &fetch_err);
	} else if (job.rc < 0) {
		rc = job.rc;
		hand_over(err, &job.err);
	}
cleanup:
	bale_error_free(fetch_err);
	bale_error_free(job.err);
	pthread_mutex_destroy(&a.mu);
	pthread_cond_destroy(&a.cv);
	free(a.have);
	export_delta_free(delta);
	return rc;
}
