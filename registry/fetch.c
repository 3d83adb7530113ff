/* Blob downloads, several at once on one libcurl multi handle. Every byte passes a
 * running SHA-256 and a size check on its way into the sink; a dropped transfer
 * resumes with a Range request; a blob is committed only when its digest matches. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bale/hasher.h"
#include "registry/registry_private.h"

enum write_failure { WRITE_OK, WRITE_TOO_LONG, WRITE_SINK };

typedef struct transfer {
	bale_registry *reg;
	char *repository;
	bale_descriptor desc;
	bale_sink *sink;
	bale_sink_blob *blob;
	bale_hasher *hasher;
	int64_t received; /* bytes hashed and handed to the sink */
	int attempts;     /* failed attempts so far */
	bool reauthorized;
	long not_before; /* monotonic ms before which it must not start again */
	bool active;
	bool done;
	/* per attempt */
	CURL *h;
	struct curl_slist *headers;
	reg_response resp;
	bale_buf error_body;
	bool status_checked, body_is_error;
	enum write_failure failure;
	bale_error *sink_err;
	char errbuf[CURL_ERROR_SIZE];
	struct bale_registry_fetch *fetch;
	size_t slot; /* in items */
} transfer;

/* What was asked for, kept from the add on, after its transfer is done and freed too:
 * the blob once. Its transfer (some 3 KiB with the response headers and the hasher) is
 * made only when it starts, so the blobs waiting their turn, thousands of configs for a
 * long image list, cost no more than this. */
typedef struct wanted {
	bale_descriptor desc;
	bale_sink *sink;
	bale_registry *reg;
	char *repository; /* taken by its transfer */
} wanted;

struct bale_registry_fetch {
	CURLM *multi;
	/* In the order added; a slot is NULL until its blob starts (from next_new on) and
	 * once it is committed, so that finished transfers (their curl handles above all)
	 * do not pile up over thousands of blobs. */
	transfer **items;
	wanted *wanted; /* wanted[i]: what items[i] fetches, started, done or not */
	size_t n, alloc;
	size_t *table; /* open addressing over wanted: index + 1, 0 for a free bucket */
	size_t buckets;
	size_t next_new; /* items from here on were never started: they start in order */
	size_t waiting;  /* started before, between attempts (a backoff, a new token) */
	int active;
	int max_parallel;
	const bale_log *log;
	bale_progress progress;
	long last_progress, last_items;
	/* the transfers under way, as last reported: copies, as a transfer may end first */
	bale_progress_item items_shown[BALE_PROGRESS_ITEMS_MAX];
	char item_names[BALE_PROGRESS_ITEMS_MAX][128];
	char item_digests[BALE_PROGRESS_ITEMS_MAX][BALE_DIGEST_STR_LEN + 1];
};

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int bale_registry_fetch_new(bale_registry_fetch **out, int max_parallel, const bale_log *log,
                            bale_error **err)
{
	bale_registry_fetch *f = calloc(1, sizeof(*f));
	if (!f || !(f->multi = curl_multi_init())) {
		free(f);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	f->max_parallel = max_parallel > 0 ? max_parallel : 4;
	f->log = log;
	curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)f->max_parallel);
	*out = f;
	return 0;
}

static void transfer_free(transfer *t)
{
	if (!t)
		return;
	if (t->blob)
		bale_sink_blob_abort(t->sink, t->blob);
	if (t->h)
		curl_easy_cleanup(t->h);
	curl_slist_free_all(t->headers);
	reg_response_free(&t->resp);
	bale_buf_free(&t->error_body);
	bale_hasher_free(t->hasher);
	bale_error_free(t->sink_err);
	free(t->repository);
	free(t);
}

void bale_registry_fetch_free(bale_registry_fetch *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		if (f->items[i] && f->items[i]->active)
			curl_multi_remove_handle(f->multi, f->items[i]->h);
		transfer_free(f->items[i]);
		free(f->wanted[i].repository);
	}
	free(f->items);
	free(f->wanted);
	free(f->table);
	curl_multi_cleanup(f->multi);
	free(f);
}

/* The bucket of (sink, digest): hex digits of a SHA-256 are spread evenly already. */
static size_t key_hash(const bale_sink *sink, const bale_digest *d)
{
	size_t h = (size_t)(uintptr_t)sink;
	for (const char *c = d->str; *c; c++)
		h = h * 31 + (unsigned char)*c;
	return h;
}

/* The bucket holding (sink, digest), or the free one where it goes. */
static size_t *key_bucket(const bale_registry_fetch *f, const bale_sink *sink, const bale_digest *d)
{
	size_t i = key_hash(sink, d) & (f->buckets - 1);
	for (;; i = (i + 1) & (f->buckets - 1)) {
		size_t *b = &f->table[i];
		if (!*b || (f->wanted[*b - 1].sink == sink &&
		            bale_digest_equal(&f->wanted[*b - 1].desc.digest, d)))
			return b;
	}
}

/* Room for one more item: the lists, and a table at most half full. */
static int grow(bale_registry_fetch *f, bale_error **err)
{
	if (f->n == f->alloc) {
		size_t want = f->alloc ? f->alloc * 2 : 16;
		transfer **items = realloc(f->items, want * sizeof(*items));
		if (items)
			f->items = items;
		wanted *w = items ? realloc(f->wanted, want * sizeof(*w)) : NULL;
		if (!w)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		f->wanted = w;
		f->alloc = want;
	}
	if (2 * (f->n + 1) <= f->buckets)
		return 0;
	size_t buckets = f->buckets ? 2 * f->buckets : 64;
	size_t *table = calloc(buckets, sizeof(*table)), *old = f->table;
	if (!table)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	f->table = table;
	f->buckets = buckets;
	for (size_t i = 0; i < f->n; i++)
		*key_bucket(f, f->wanted[i].sink, &f->wanted[i].desc.digest) = i + 1;
	free(old);
	return 0;
}

int bale_registry_fetch_add(bale_registry_fetch *f, bale_registry *reg, const char *repository,
                            const bale_descriptor *desc, bale_sink *sink, bale_error **err)
{
	if (f->buckets && *key_bucket(f, sink, &desc->digest))
		return 0; /* shared layer: one transfer serves every image */
	bool have = false;
	int rc = bale_sink_has_blob(sink, desc, &have, err);
	if (rc < 0 || have || (rc = grow(f, err)) < 0)
		return rc;
	char *repo = strdup(repository);
	if (!repo)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	f->wanted[f->n] = (wanted){.desc = *desc, .sink = sink, .reg = reg, .repository = repo};
	*key_bucket(f, sink, &desc->digest) = f->n + 1;
	f->items[f->n++] = NULL;
	f->progress.blobs_total++;
	f->progress.bytes_total += desc->size;
	return 0;
}

/* The transfer of wanted[i], at its first attempt. */
static int transfer_new(bale_registry_fetch *f, size_t i, transfer **out, bale_error **err)
{
	wanted *w = &f->wanted[i];
	transfer *t = calloc(1, sizeof(*t));
	if (!t)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	t->reg = w->reg;
	t->desc = w->desc;
	t->sink = w->sink;
	t->fetch = f;
	t->slot = i;
	t->repository = w->repository;
	w->repository = NULL;
	reg_response_init(&t->resp);
	bale_buf_init(&t->error_body, BALE_CAP_ERROR_BODY, "error response");
	int rc = bale_hasher_new(&t->hasher, err);
	if (rc < 0) {
		transfer_free(t);
		return rc;
	}
	f->items[i] = *out = t;
	return 0;
}

/* The first transfers under way, copied. At most five times a second: a scan of every
 * slot for each of thousands of small blobs would cost more than their download. */
static void gather_items(bale_registry_fetch *f, long now)
{
	if (f->last_items && now - f->last_items < 200) {
		f->progress.items = f->items_shown;
		return;
	}
	f->last_items = now;
	int n = 0;
	for (size_t i = 0; i < f->next_new && n < BALE_PROGRESS_ITEMS_MAX; i++) {
		const transfer *t = f->items[i];
		if (!t || !t->active || t->done)
			continue;
		snprintf(f->item_names[n], sizeof(f->item_names[n]), "%s", t->repository);
		snprintf(f->item_digests[n], sizeof(f->item_digests[n]), "%s", t->desc.digest.str);
		f->items_shown[n] = (bale_progress_item){.name = f->item_names[n],
		                                         .digest = f->item_digests[n],
		                                         .bytes_done = t->received,
		                                         .bytes_total = t->desc.size};
		n++;
	}
	f->progress.items = f->items_shown;
	f->progress.n_items = n;
}

static void report_progress(bale_registry_fetch *f, bool force)
{
	if (!f->log || !f->log->progress)
		return;
	long now = now_ms();
	if (!force && now - f->last_progress < 200)
		return;
	f->last_progress = now;
	gather_items(f, now);
	f->log->progress(f->log->payload, &f->progress);
}

/* Decides, at the first body bytes of an attempt, what the body is. */
static bool accept_status(transfer *t)
{
	long status = t->resp.status;
	char want[40];
	snprintf(want, sizeof(want), "bytes %lld-", (long long)t->received);
	if (status == 206 && t->received > 0 &&
	    strncmp(t->resp.content_range, want, strlen(want)) == 0)
		return true; /* the rest of the blob, where we left off */
	if ((status == 200 || status == 206) && t->received > 0) {
		/* The server ignored our Range, or answered another one: start over. */
		bale_hasher_reset(t->hasher);
		t->fetch->progress.bytes_done -= t->received;
		t->received = 0;
		if (bale_sink_blob_rewind(t->sink, t->blob, &t->sink_err) < 0) {
			t->failure = WRITE_SINK;
			return false;
		}
	}
	if (status == 200)
		return true;
	/* An error body, or a range we cannot use (the next attempt asks for it all). */
	t->body_is_error = true;
	return false;
}

static size_t write_cb(char *data, size_t size, size_t n, void *payload)
{
	transfer *t = payload;
	size_t len = size * n;
	if (!t->status_checked) {
		t->status_checked = true;
		accept_status(t);
		if (t->failure)
			return 0;
	}
	if (t->body_is_error) {
		bale_buf_append(&t->error_body, data, len, NULL); /* keep what fits */
		return len;
	}
	if ((int64_t)len > t->desc.size - t->received) {
		t->failure = WRITE_TOO_LONG;
		return 0;
	}
	bale_hasher_update(t->hasher, data, len);
	if (bale_sink_blob_write(t->sink, t->blob, data, len, &t->sink_err) < 0) {
		t->failure = WRITE_SINK;
		return 0;
	}
	t->received += (int64_t)len;
	t->fetch->progress.bytes_done += (int64_t)len;
	report_progress(t->fetch, false);
	return len;
}

static int start_transfer(bale_registry_fetch *f, transfer *t, bale_error **err)
{
	int rc = 0;
	char url[2048], range[64];
	if ((rc = reg_ensure_pinged(t->reg, err)) < 0)
		return rc;
	if (!t->blob && (rc = bale_sink_blob_open(t->sink, &t->desc, &t->blob, err)) < 0)
		return rc;
	if (!t->h && !(t->h = curl_easy_init()))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	curl_easy_reset(t->h);
	curl_slist_free_all(t->headers);
	t->headers = NULL;
	if ((rc = reg_setup_handle(t->reg, t->h, t->repository, err)) < 0)
		return rc;
	if (t->received > 0) {
		snprintf(range, sizeof(range), "Range: bytes=%lld-", (long long)t->received);
		if (!(t->headers = curl_slist_append(NULL, range)))
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		bale_log_printf(f->log, BALE_LOG_INFO, "%s: resuming %s at byte %lld",
		                t->reg->http.domain, t->desc.digest.str, (long long)t->received);
	}
	snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", t->reg->http.base_url, t->repository,
	         t->desc.digest.str);
	bale_buf_reset(&t->error_body);
	t->status_checked = t->body_is_error = false;
	t->failure = WRITE_OK;
	t->errbuf[0] = '\0';
	curl_easy_setopt(t->h, CURLOPT_URL, url);
	curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(t->h, CURLOPT_ACCEPT_ENCODING, NULL); /* blobs are hashed as stored */
	curl_easy_setopt(t->h, CURLOPT_BUFFERSIZE, 256L * 1024);
	/* An answer announcing more than the blob (or than an error or redirect body may
	 * hold, for tiny blobs) is refused before its body comes. */
	curl_easy_setopt(
	    t->h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)(t->desc.size > BALE_CAP_ERROR_BODY ? t->desc.size : BALE_CAP_ERROR_BODY));
	curl_easy_setopt(t->h, CURLOPT_HEADERFUNCTION, reg_header_cb);
	curl_easy_setopt(t->h, CURLOPT_HEADERDATA, &t->resp);
	curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(t->h, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(t->h, CURLOPT_PRIVATE, t);
	if (curl_multi_add_handle(f->multi, t->h) != CURLM_OK)
		return bale_error_set(err, BALE_EGENERIC, "cannot start transfer");
	t->active = true;
	f->active++;
	return 0;
}

static void schedule_retry(transfer *t, long retry_after)
{
	t->attempts++;
	long delay = reg_backoff_ms(&t->reg->http, t->attempts, retry_after);
	t->not_before = now_ms() + delay;
	bale_log_printf(t->fetch->log, BALE_LOG_INFO, "%s: %s: %s, retrying in %ld ms",
	                t->reg->http.domain, t->desc.digest.str,
	                t->errbuf[0] ? t->errbuf : "registry busy", delay);
}

/* Handles the end of one attempt. Returns <0 on a failure that ends the whole fetch. */
static int finish_transfer(bale_registry_fetch *f, transfer *t, CURLcode cc, bale_error **err)
{
	char what[1000], status[200], own[REG_ORIGIN_MAX], answer[REG_ORIGIN_MAX];
	long st = t->resp.status;
	curl_multi_remove_handle(f->multi, t->h);
	t->active = false;
	f->active--;
	snprintf(what, sizeof(what), "blob %s from %s/%s", t->desc.digest.str, t->reg->http.domain,
	         t->repository);
	/* Blob storage often lives behind a redirect: say who answered. */
	reg_own_origin(&t->reg->http, t->reg->http.base_url, own);
	reg_answer_origin(t->h, answer);
	bool redirected = answer[0] && strcmp(own, answer) != 0;
	if (cc == CURLE_OK && st == 401 && redirected)
		return reg_check_401_origin(&t->reg->http, t->h, t->reg->http.base_url, what, err);
	if (redirected) {
		size_t n = strlen(what);
		snprintf(what + n, sizeof(what) - n, " (redirected to %s)", answer);
	}
	if (t->failure == WRITE_TOO_LONG || cc == CURLE_FILESIZE_EXCEEDED)
		return bale_error_set(
		    err, BALE_EVERIFY,
		    "%s: registry sent more than the %lld bytes the manifest declares", what,
		    (long long)t->desc.size);
	if (t->failure == WRITE_SINK) {
		int code = bale_error_code(t->sink_err);
		bale_error_set(err, code, "%s", bale_error_message(t->sink_err));
		return bale_error_wrap(err, "%s", what);
	}
	if (cc == CURLE_OK && !t->body_is_error && (st == 200 || st == 206)) {
		if (t->received != t->desc.size) { /* cut short without curl noticing */
			if (t->attempts >= t->reg->http.opts.retries)
				return bale_error_set(
				    err, BALE_ENETWORK,
				    "%s: got %lld of %lld bytes (gave up after %d attempts)", what,
				    (long long)t->received, (long long)t->desc.size,
				    t->attempts + 1);
			snprintf(t->errbuf, sizeof(t->errbuf), "transfer cut short");
			schedule_retry(t, -1);
			return 0;
		}
		bale_digest got;
		bale_hasher_final(t->hasher, &got);
		if (!bale_digest_equal(&got, &t->desc.digest))
			return bale_error_set(err, BALE_EVERIFY,
			                      "%s: digest mismatch (content hashes to %s)", what,
			                      got.str);
		bale_sink_blob *blob = t->blob;
		t->blob = NULL; /* commit frees it, success or not */
		int rc = bale_sink_blob_commit(t->sink, blob, err);
		if (rc < 0)
			return bale_error_wrap(err, "%s", what);
		t->done = true;
		f->progress.blobs_done++;
		report_progress(f, true);
		return 0;
	}
	if (cc == CURLE_OK && st == 401 && !t->reauthorized) {
		t->reauthorized = true;
		reg_auth_forget(&t->reg->auth, t->repository, NULL);
		int rc = reg_authorize(&t->reg->auth, t->repository, NULL,
		                       t->resp.www_authenticate.data, err);
		return rc < 0 ? bale_error_wrap(err, "%s", what) : 0;
	}
	bool again = cc != CURLE_OK ? reg_curl_retryable(&t->reg->http, cc, t->errbuf)
	                            : reg_status_retryable(st);
	if (cc == CURLE_OK && (st == 200 || st == 206)) /* 206 with a range we did not ask for */
		again = true;
	if (again && t->attempts < t->reg->http.opts.retries) {
		schedule_retry(t, cc == CURLE_OK ? t->resp.retry_after : -1);
		return 0;
	}
	if (cc != CURLE_OK) {
		reg_curl_error(err, &t->reg->http, t->h, cc, t->errbuf, &t->resp, 0);
		if (again)
			bale_error_wrap(err, "%s (gave up after %d attempts)", what,
			                t->attempts + 1);
		else
			bale_error_wrap(err, "%s", what);
		return bale_error_code(*err);
	}
	reg_describe_status(status, sizeof(status), st, &t->error_body);
	if (st == 404)
		return bale_error_set(err, BALE_ENOTFOUND, "%s: not found (%s)", what, status);
	if (st == 401 || st == 403)
		return bale_error_set(err, BALE_EAUTH, "%s: access refused (%s, %s)", what, status,
		                      reg_auth_source(&t->reg->auth));
	return bale_error_set(err, BALE_ENETWORK, "%s: %s%s", what, status,
	                      again ? " (gave up after retries)" : "");
}

/* Starts what may start, in the order added: first those between attempts (scanned only
 * while there are some), then those never started. *pending: something is left besides
 * what runs; *wait: ms until the first backoff ends. Each round costs what is running or
 * waiting, not every blob of the fetch. */
static int start_ready(bale_registry_fetch *f, bool *pending, long *wait, bale_error **err)
{
	long now = now_ms();
	for (size_t i = f->waiting ? 0 : f->next_new; i < f->n; i++) {
		bool fresh = i >= f->next_new; /* its transfer is made as it starts */
		transfer *t = f->items[i];
		if (!fresh && (!t || t->active))
			continue;
		*pending = true;
		if (!fresh && t->not_before > now) {
			if (t->not_before - now < *wait)
				*wait = t->not_before - now;
			continue;
		}
		if (f->active >= f->max_parallel) {
			if (fresh)
				break; /* the rest wait their turn */
			continue;
		}
		int rc = fresh ? transfer_new(f, i, &t, err) : 0;
		if (rc == 0)
			rc = start_transfer(f, t, err);
		if (rc < 0)
			return rc;
		if (fresh)
			f->next_new = i + 1;
		else
			f->waiting--;
	}
	return 0;
}

/* The end of an attempt: a committed blob's transfer is freed, its slot emptied. */
static int finished(bale_registry_fetch *f, CURLMsg *msg, bale_error **err)
{
	transfer *t = NULL;
	curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
	int rc = finish_transfer(f, t, msg->data.result, err);
	if (rc < 0)
		return rc;
	if (t->done) {
		f->items[t->slot] = NULL;
		transfer_free(t);
	} else {
		f->waiting++;
	}
	return 0;
}

int bale_registry_fetch_run(bale_registry_fetch *f, bale_error **err)
{
	int rc = 0, running = 0;
	report_progress(f, true);
	for (;;) {
		long wait = 1000;
		bool pending = false;
		if ((rc = start_ready(f, &pending, &wait, err)) < 0)
			goto cleanup;
		if (!pending && f->active == 0)
			break;
		if (f->active == 0) { /* everything left is waiting out a backoff */
			reg_sleep_ms(wait);
			continue;
		}
		curl_multi_perform(f->multi, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(f->multi, &left))) {
			if (msg->msg == CURLMSG_DONE && (rc = finished(f, msg, err)) < 0)
				goto cleanup;
		}
		/* Wait for sockets only while something is in flight: a finished transfer
		 * may free a slot for the next one right away. */
		if (running)
			curl_multi_poll(f->multi, NULL, 0, (int)(wait > 0 ? wait : 1), NULL);
	}
cleanup:
	/* On failure, bale_registry_fetch_free aborts every transfer still open: nothing
	 * half-written stays in the sink. */
	return rc;
}
