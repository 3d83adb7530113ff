/* Foreign (non-distributable) layers: the blobs a manifest names with "urls", which a
 * registry need not serve. Each URL is another origin than any registry, so a request to
 * it goes through the transport alone (reg_http_perform without auth hooks): the TLS,
 * proxy, timeouts, retries and minimum speed of a registry request, never a credential.
 * The bytes stream into the sink through a running SHA-256 and a size check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/hasher.h"
#include "registry/request.h"

enum stream_failure { STREAM_OK, STREAM_TOO_LONG, STREAM_SINK };

/* One attempt's body on its way into the sink. */
typedef struct stream {
	const bale_descriptor *desc;
	bale_sink *sink;
	bale_sink_blob *blob;
	bale_hasher *hasher;
	int64_t received;
	reg_response *resp;
	bale_buf *error_body; /* an answer other than 200 goes here */
	bool checked, is_error;
	enum stream_failure failure;
	bale_error *sink_err;
} stream;

static int stream_restart(void *payload, bale_error **err)
{
	stream *s = payload;
	s->checked = s->is_error = false;
	s->failure = STREAM_OK;
	if (s->received == 0)
		return 0;
	bale_hasher_reset(s->hasher);
	s->received = 0;
	return bale_sink_blob_rewind(s->sink, s->blob, err);
}

static size_t stream_write(char *data, size_t size, size_t n, void *payload)
{
	stream *s = payload;
	size_t len = size * n;
	if (!s->checked) { /* the first bytes of the final answer: what is it? */
		s->checked = true;
		s->is_error = s->resp->status != 200;
	}
	if (s->is_error) {
		bale_buf_append(s->error_body, data, len, NULL); /* keep what fits */
		return len;
	}
	if ((int64_t)len > s->desc->size - s->received) {
		s->failure = STREAM_TOO_LONG;
		return 0;
	}
	bale_hasher_update(s->hasher, data, len);
	if (bale_sink_blob_write(s->sink, s->blob, data, len, &s->sink_err) < 0) {
		s->failure = STREAM_SINK;
		return 0;
	}
	s->received += (int64_t)len;
	return len;
}

bool bale_registry_url_fetchable(const char *url)
{
	char origin[REG_ORIGIN_MAX];
	return reg_url_origin(url, origin, NULL) == 0;
}

/* One URL, into a blob of its own: committed when every byte is there and verified. */
static int fetch_from(const bale_registry_options *opts, const char *url,
                      const bale_descriptor *desc, bale_sink *sink, bale_error **err)
{
	char origin[REG_ORIGIN_MAX], hostport[REG_ORIGIN_MAX], status[200];
	reg_http http;
	reg_response resp;
	bale_buf error_body;
	stream s = {.desc = desc, .sink = sink, .resp = &resp, .error_body = &error_body};
	reg_response_init(&resp);
	bale_buf_init(&error_body, BALE_CAP_ERROR_BODY, "error response");
	int rc = 0;
	if (reg_url_origin(url, origin, hostport) < 0) {
		rc = bale_error_set(err, BALE_EFORMAT,
		                    "not an http or https URL: bale fetches foreign layers over "
		                    "http and https only");
		goto cleanup_unset;
	}
	/* Named by its host: --ca-file, the certs.d directory and --insecure-registry of that
	 * host apply, as they would to a registry there. */
	if ((rc = reg_http_init(&http, hostport, opts, err)) < 0)
		goto cleanup;
	if ((rc = bale_hasher_new(&s.hasher, err)) < 0 ||
	    (rc = bale_sink_blob_open(sink, desc, &s.blob, err)) < 0)
		goto cleanup;
	reg_request req = {.url = url,
	                   .peer = http.insecure ? REG_PEER_INSECURE : REG_PEER_VERIFIED,
	                   .write = stream_write,
	                   .restart = stream_restart,
	                   .stream = &s,
	                   .max_size = desc->size};
	rc = reg_http_perform(&http, &req, NULL, NULL, &error_body, &resp, err);
	/* What the stream met explains a stopped transfer better than libcurl's words. */
	if (s.failure != STREAM_OK) {
		bale_error_clear(err);
		if (s.failure == STREAM_TOO_LONG)
			rc = bale_error_set(err, BALE_EVERIFY,
			                    "sent more than the %lld bytes the manifest declares",
			                    (long long)desc->size);
		else
			rc = bale_error_set(err, bale_error_code(s.sink_err), "%s",
			                    bale_error_message(s.sink_err));
		goto cleanup;
	}
	if (rc < 0)
		goto cleanup;
	if (resp.status != 200) {
		reg_describe_status(status, sizeof(status), resp.status, &error_body);
		rc = bale_error_set(err, resp.status == 404 ? BALE_ENOTFOUND : BALE_ENETWORK, "%s",
		                    status);
		goto cleanup;
	}
	if (s.received != desc->size) {
		rc = bale_error_set(err, BALE_EVERIFY, "got %lld bytes, the manifest declares %lld",
		                    (long long)s.received, (long long)desc->size);
		goto cleanup;
	}
	bale_digest got;
	bale_hasher_final(s.hasher, &got);
	if (!bale_digest_equal(&got, &desc->digest)) {
		rc = bale_error_set(err, BALE_EVERIFY, "digest mismatch (content hashes to %s)",
		                    got.str);
		goto cleanup;
	}
	bale_sink_blob *blob = s.blob;
	s.blob = NULL; /* commit frees it, success or not */
	rc = bale_sink_blob_commit(sink, blob, err);
cleanup:
	reg_http_clear(&http);
cleanup_unset:
	if (s.blob)
		bale_sink_blob_abort(sink, s.blob);
	bale_hasher_free(s.hasher);
	bale_error_free(s.sink_err);
	bale_buf_free(&error_body);
	reg_response_free(&resp);
	return rc;
}

int bale_registry_fetch_url(const bale_registry_options *opts, const char *const *urls, size_t n,
                            const bale_descriptor *desc, bale_sink *sink, bale_error **err)
{
	int rc = 0;
	if (!n)
		return bale_error_set(err, BALE_EFORMAT, "foreign layer %s: no urls",
		                      desc->digest.str);
	for (size_t i = 0; i < n; i++) {
		bale_error *why = NULL;
		bale_log_printf(opts->log, BALE_LOG_INFO, "foreign layer %s: fetching %.300s",
		                desc->digest.str, urls[i]);
		if ((rc = fetch_from(opts, urls[i], desc, sink, &why)) == 0)
			return 0;
		if (i + 1 < n) { /* the next URL may serve it */
			bale_log_printf(opts->log, BALE_LOG_WARN,
			                "foreign layer %s from %.300s: %s", desc->digest.str,
			                urls[i], bale_error_message(why));
			bale_error_free(why);
			continue;
		}
		bale_error_set(err, rc, "%s", bale_error_message(why));
		bale_error_free(why);
		bale_error_wrap(err, "foreign layer %s from %.300s%s", desc->digest.str, urls[i],
		                n > 1 ? " (the last of its urls)" : "");
	}
	return rc;
}
