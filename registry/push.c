/* Pushing to a registry (a site registry as bale's store): existence probes,
 * cross-repository mounts, manifests, and blob uploads, monolithic or in chunks. Every
 * request goes through reg_perform (retries, 401 re-authorization); a push session asks
 * for tokens scoped "pull,push" (bale_registry_options.push). */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/hasher.h"
#include "bale/json.h"
#include "registry/registry_private.h"

/* One PATCH, and the largest monolithic PUT: large enough that a round trip is small next
 * to the transfer, small enough to hold in memory while a layer streams past. */
#define UPLOAD_CHUNK ((size_t)8 << 20)
/* URLs we build: an upload location (capped by reg_response) plus a digest query. */
#define URL_CAP (32u << 10)

struct bale_registry_upload {
	bale_registry *reg;
	char *repository;
	bale_descriptor desc;
	char what[600];       /* "blob sha256:… to host/repo", for messages */
	char *location;       /* where the next request goes: it changes after every PATCH */
	unsigned char *chunk; /* bytes not sent yet */
	size_t chunk_alloc, fill;
	int64_t sent;    /* bytes the registry holds */
	int64_t written; /* bytes handed to bale_registry_upload_write */
	bale_hasher *hasher;
	bool patched; /* chunked: a PATCH went out, the final PUT carries no bytes */
	bool done;    /* the registry has the blob: nothing to cancel */
	bool failed;  /* a request failed midway: the upload cannot go on */
};

/* A header list from NULL-terminated lines; NULL when out of memory. */
static struct curl_slist *headers_new(const char *first, ...)
{
	struct curl_slist *list = NULL;
	va_list ap;
	va_start(ap, first);
	for (const char *line = first; line; line = va_arg(ap, const char *)) {
		struct curl_slist *grown = curl_slist_append(list, line);
		if (!grown) {
			curl_slist_free_all(list);
			list = NULL;
			break;
		}
		list = grown;
	}
	va_end(ap);
	return list;
}

/* The error for an answer we did not expect about `what`. */
static int status_error(const bale_registry *reg, const char *what, long status,
                        const bale_buf *body, bale_error **err)
{
	char st[200];
	reg_describe_status(st, sizeof(st), status, body);
	if (status == 401 || status == 403)
		return bale_error_set(err, BALE_EAUTH, "%s: access refused (%s, %s)", what, st,
		                      reg_auth_source(&reg->auth));
	return bale_error_set(err, BALE_ENETWORK, "%s: %s", what, st);
}

/* The first error code of a registry error body, e.g. "MANIFEST_BLOB_UNKNOWN", and its
 * detail when that is a string (distribution puts the missing blob's digest there). */
static void error_code(const bale_buf *body, char code[64], char detail[128])
{
	json_t *doc = NULL;
	code[0] = detail[0] = '\0';
	if (!body->len ||
	    bale_json_parse(&doc, body->data, body->len, BALE_CAP_ERROR_BODY, "error", NULL) < 0)
		return;
	json_t *first = json_array_get(json_object_get(doc, "errors"), 0);
	const char *c = bale_json_str(first, "code");
	const char *d = bale_json_str(first, "detail");
	snprintf(code, 64, "%s", c ? c : "");
	snprintf(detail, 128, "%s", d ? d : "");
	json_decref(doc);
}

/* A registry whose Docker-Content-Digest disagrees stored something else than we sent. */
static int check_digest_header(const reg_response *resp, const bale_digest *want, const char *what,
                               bale_error **err)
{
	if (!resp->docker_digest[0] || strcmp(resp->docker_digest, want->str) == 0)
		return 0;
	return bale_error_set(err, BALE_EVERIFY, "%s: the registry answered with digest %.80s",
	                      what, resp->docker_digest);
}

/* HEAD /v2/<repository>/<kind>/<digest>: 200 there, 404 not. */
static int probe(bale_registry *reg, const char *repository, const char *kind, const char *noun,
                 const bale_digest *digest, struct curl_slist *headers, bool *out, bale_error **err)
{
	int rc = 0;
	char url[2048], what[600];
	reg_response resp;
	bale_buf body;
	reg_response_init(&resp);
	bale_buf_init(&body, BALE_CAP_ERROR_BODY, "error response");
	snprintf(what, sizeof(what), "%s %s in %s/%s", noun, digest->str, reg->http.domain,
	         repository);
	*out = false;
	if ((rc = reg_ensure_pinged(reg, err)) < 0)
		goto cleanup;
	snprintf(url, sizeof(url), "%s/v2/%s/%s/%s", reg->http.base_url, repository, kind,
	         digest->str);
	reg_request req = {
	    .method = "HEAD", .url = url, .repository = repository, .headers = headers};
	if ((rc = reg_perform(reg, &req, &body, &resp, err)) < 0) {
		bale_error_wrap(err, "%s", what);
		goto cleanup;
	}
	if (resp.status == 200)
		*out = true;
	else if (resp.status != 404)
		rc = status_error(reg, what, resp.status, &body, err);
	if (*out)
		rc = check_digest_header(&resp, digest, what, err);
cleanup:
	bale_buf_free(&body);
	reg_response_free(&resp);
	return rc;
}

int bale_registry_blob_exists(bale_registry *reg, const char *repository,
                              const bale_descriptor *desc, bool *out, bale_error **err)
{
	return probe(reg, repository, "blobs", "blob", &desc->digest, NULL, out, err);
}

int bale_registry_manifest_exists(bale_registry *reg, const char *repository,
                                  const bale_digest *digest, bool *out, bale_error **err)
{
	/* Without the Accept list a registry may answer for a converted schema 1 manifest. */
	struct curl_slist *headers = headers_new(reg_accept_manifests, NULL);
	if (!headers)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	int rc = probe(reg, repository, "manifests", "manifest", digest, headers, out, err);
	curl_slist_free_all(headers);
	return rc;
}

/* DELETE of an upload we will not finish. Best effort: registries purge abandoned uploads
 * themselves after a while (distribution: a week), and a token scoped "pull,push" may
 * not allow it (distribution asks for "delete"; asking for more than pushing needs is
 * not worth it), so a failure is only logged. */
static void cancel_upload(bale_registry *reg, const char *repository, const char *location)
{
	bale_error *err = NULL;
	reg_response resp;
	bale_buf body;
	reg_response_init(&resp);
	bale_buf_init(&body, BALE_CAP_ERROR_BODY, "error response");
	reg_request req = {
	    .method = "DELETE", .url = location, .repository = repository, .once = true};
	if (reg_perform(reg, &req, &body, &resp, &err) < 0)
		bale_log_printf(reg->http.opts.log, BALE_LOG_DEBUG,
		                "%s/%s: cancelling an upload: %s", reg->http.domain, repository,
		                bale_error_message(err));
	else if (resp.status != 204 && resp.status != 200 && resp.status != 404)
		bale_log_printf(reg->http.opts.log, BALE_LOG_DEBUG,
		                "%s/%s: cancelling an upload: HTTP %ld", reg->http.domain,
		                repository, resp.status);
	bale_error_free(err);
	bale_buf_free(&body);
	reg_response_free(&resp);
}

int bale_registry_blob_mount(bale_registry *reg, const char *repository, const char *from,
                             const bale_descriptor *desc, bool *mounted, bale_error **err)
{
	int rc = 0;
	char what[900];
	char *from_q = NULL;
	bale_buf url, body;
	reg_response resp;
	/* A POST without a body: no form Content-Type, which curl would add. */
	struct curl_slist *headers = headers_new("Content-Type:", NULL);
	reg_response_init(&resp);
	bale_buf_init(&url, URL_CAP, "URL");
	bale_buf_init(&body, BALE_CAP_ERROR_BODY, "error response");
	snprintf(what, sizeof(what), "mounting blob %s from %s/%s into %s", desc->digest.str,
	         reg->http.domain, from, repository);
	*mounted = false;
	if (!headers || !(from_q = curl_easy_escape(reg->http.easy, from, 0))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = reg_ensure_pinged(reg, err)) < 0)
		goto cleanup;
	if ((rc = bale_buf_appendf(&url, err, "%s/v2/%s/blobs/uploads/?mount=sha256%%3A%s&from=%s",
	                           reg->http.base_url, repository, bale_digest_hex(&desc->digest),
	                           from_q)) < 0)
		goto cleanup;
	reg_request req = {.method = "POST",
	                   .url = url.data,
	                   .repository = repository,
	                   .mount_from = from,
	                   .headers = headers};
	if ((rc = reg_perform(reg, &req, &body, &resp, err)) < 0) {
		bale_error_wrap(err, "%s", what);
		goto cleanup;
	}
	if (resp.status == 201) {
		*mounted = true;
		rc = check_digest_header(&resp, &desc->digest, what, err);
	} else if (resp.status == 202) {
		/* Declined (the blob is not in `from`, or mounting is off): the registry opened
		 * an ordinary upload instead, which the caller does not want from here. */
		bale_log_printf(reg->http.opts.log, BALE_LOG_DEBUG, "%s: declined", what);
		if (resp.location.len)
			cancel_upload(reg, repository, resp.location.data);
	} else if (resp.status == 401 || resp.status == 403) {
		/* Credentials that may push here but not read `from`: a plain upload still
		 * works, and one refused here too reports it against this repository. */
		bale_log_printf(reg->http.opts.log, BALE_LOG_DEBUG, "%s: refused (HTTP %ld)", what,
		                resp.status);
	} else {
		rc = status_error(reg, what, resp.status, &body, err);
	}
cleanup:
	curl_free(from_q);
	curl_slist_free_all(headers);
	bale_buf_free(&url);
	bale_buf_free(&body);
	reg_response_free(&resp);
	return rc;
}

/* Registry error codes that say the content is wrong, not the transport. */
static bool content_refused(const char *code)
{
	static const char *const codes[] = {"MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID",
	                                    "MANIFEST_UNVERIFIED",   "DIGEST_INVALID",
	                                    "SIZE_INVALID",          "BLOB_UNKNOWN"};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

/* The error for a 400 whose code says the content was refused; else status_error. */
static int refusal_error(const bale_registry *reg, const char *what, long status,
                         const bale_buf *body, bale_error **err)
{
	char code[64], detail[128], st[200];
	error_code(body, code, detail);
	if (status != 400 || !content_refused(code))
		return status_error(reg, what, status, body, err);
	reg_describe_status(st, sizeof(st), status, body);
	return bale_error_set(err, BALE_EVERIFY, "%s: refused by the registry: %s%s%.100s%s", what,
	                      st, detail[0] ? " [" : "", detail, detail[0] ? "]" : "");
}

int bale_registry_put_manifest(bale_registry *reg, const char *repository, const char *reference,
                               const char *media_type, const void *bytes, size_t len,
                               bale_error **err)
{
	int rc = 0;
	char url[2048], what[900], content_type[160];
	bale_digest digest, want;
	bale_buf body;
	reg_response resp;
	struct curl_slist *headers = NULL;
	bool by_digest = strchr(reference, ':') != NULL;
	reg_response_init(&resp);
	bale_buf_init(&body, BALE_CAP_ERROR_BODY, "error response");
	bale_digest_of(&digest, bytes, len);
	snprintf(what, sizeof(what), "manifest %s to %s/%s%s%s", digest.str, reg->http.domain,
	         repository, by_digest ? "@" : ":", reference);
	if (by_digest && ((rc = bale_digest_parse(&want, reference, err)) < 0 ||
	                  !bale_digest_equal(&want, &digest))) {
		rc = rc < 0 ? bale_error_wrap(err, "%s", what)
		            : bale_error_set(err, BALE_EVERIFY, "%s: the bytes hash to %s", what,
		                             digest.str);
		goto cleanup;
	}
	/* The media type goes into a header line: nothing that could end it. */
	if (strcspn(media_type, "\r\n") != strlen(media_type) ||
	    snprintf(content_type, sizeof(content_type), "Content-Type: %s", media_type) >=
	        (int)sizeof(content_type)) {
		rc = bale_error_set(err, BALE_EUSAGE, "%s: unusable media type", what);
		goto cleanup;
	}
	/* No "Expect: 100-continue" wait before a large index. */
	if (!(headers = headers_new(content_type, "Expect:", NULL))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = reg_ensure_pinged(reg, err)) < 0)
		goto cleanup;
	snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", reg->http.base_url, repository,
	         reference);
	reg_request req = {.method = "PUT",
	                   .url = url,
	                   .repository = repository,
	                   .headers = headers,
	                   .body = bytes,
	                   .body_len = len};
	if ((rc = reg_perform(reg, &req, &body, &resp, err)) < 0) {
		bale_error_wrap(err, "%s", what);
		goto cleanup;
	}
	if (resp.status != 201) {
		rc = refusal_error(reg, what, resp.status, &body, err);
		goto cleanup;
	}
	rc = check_digest_header(&resp, &digest, what, err);
cleanup:
	curl_slist_free_all(headers);
	bale_buf_free(&body);
	reg_response_free(&resp);
	return rc;
}

/* ---- blob uploads ---- */

/* Adopts the Location of an upload answer. The next request carries our credentials
 * there, so it must stay with the registry we authenticated to (same scheme, host and
 * port): no downgrade to plain HTTP, no hand-over to another host. */
static int take_location(bale_registry_upload *u, reg_response *resp, bale_error **err)
{
	const char *base = u->reg->http.base_url;
	size_t n = strlen(base);
	if (!resp->location.len)
		return bale_error_set(err, BALE_ENETWORK,
		                      "%s: the registry sent no upload location (HTTP %ld)",
		                      u->what, resp->status);
	if (strncmp(resp->location.data, base, n) != 0 || resp->location.data[n] != '/')
		return bale_error_set(err, BALE_ENETWORK,
		                      "%s: the registry sent an upload location outside %s",
		                      u->what, base);
	free(u->location);
	u->location = bale_buf_detach(&resp->location, NULL);
	return 0;
}

int bale_registry_upload_begin(bale_registry_upload **out, bale_registry *reg,
                               const char *repository, const bale_descriptor *desc,
                               bale_error **err)
{
	int rc = 0;
	char url[2048];
	bale_buf body;
	reg_response resp;
	struct curl_slist *headers = headers_new("Content-Type:", NULL);
	bale_registry_upload *u = calloc(1, sizeof(*u));
	reg_response_init(&resp);
	bale_buf_init(&body, BALE_CAP_ERROR_BODY, "error response");
	if (!u || !headers || !(u->repository = strdup(repository))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	u->reg = reg;
	u->desc = *desc;
	snprintf(u->what, sizeof(u->what), "blob %s to %s/%s", desc->digest.str, reg->http.domain,
	         repository);
	if (desc->size < 0) {
		rc = bale_error_set(err, BALE_EUSAGE, "%s: negative size", u->what);
		goto cleanup;
	}
	/* One chunk at most; a smaller blob needs no more than its size. */
	u->chunk_alloc = (uint64_t)desc->size < UPLOAD_CHUNK ? (size_t)desc->size : UPLOAD_CHUNK;
	if (!(u->chunk = malloc(u->chunk_alloc ? u->chunk_alloc : 1))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = bale_hasher_new(&u->hasher, err)) < 0 || (rc = reg_ensure_pinged(reg, err)) < 0)
		goto cleanup;
	snprintf(url, sizeof(url), "%s/v2/%s/blobs/uploads/", reg->http.base_url, repository);
	reg_request req = {
	    .method = "POST", .url = url, .repository = repository, .headers = headers};
	if ((rc = reg_perform(reg, &req, &body, &resp, err)) < 0) {
		bale_error_wrap(err, "%s", u->what);
		goto cleanup;
	}
	if (resp.status != 202) {
		rc = status_error(reg, u->what, resp.status, &body, err);
		goto cleanup;
	}
	rc = take_location(u, &resp, err);
cleanup:
	curl_slist_free_all(headers);
	bale_buf_free(&body);
	reg_response_free(&resp);
	if (rc < 0)
		bale_registry_upload_free(u);
	else
		*out = u;
	return rc;
}

/* PATCHes the buffered bytes (a full chunk, or the rest before the final PUT). */
static int send_chunk(bale_registry_upload *u, bale_error **err)
{
	int rc = 0;
	char range[80], want[80];
	bale_buf body;
	reg_response resp;
	long long first = (long long)u->sent, last = (long long)u->sent + (long long)u->fill - 1;
	snprintf(range, sizeof(range), "Content-Range: %lld-%lld", first, last);
	/* No "Expect: 100-continue" round trip before each chunk. */
	struct curl_slist *headers =
	    headers_new("Content-Type: application/octet-stream", range, "Expect:", NULL);
	reg_response_init(&resp);
	bale_buf_init(&body, BALE_CAP_ERROR_BODY, "error response");
	if (!headers) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	reg_request req = {.method = "PATCH",
	                   .url = u->location,
	                   .repository = u->repository,
	                   .headers = headers,
	                   .body = u->chunk,
	                   .body_len = u->fill};
	if ((rc = reg_perform(u->reg, &req, &body, &resp, err)) < 0) {
		bale_error_wrap(err, "%s: bytes %lld-%lld", u->what, first, last);
		goto cleanup;
	}
	if (resp.status != 202) {
		/* 416 after a retried PATCH: the registry kept the first copy and its upload
		 * state moved on without us; only a new upload can go on. */
		rc = status_error(u->reg, u->what, resp.status, &body, err);
		bale_error_wrap(err, "bytes %lld-%lld", first, last);
		goto cleanup;
	}
	snprintf(want, sizeof(want), "0-%lld", last);
	if (resp.range[0] && strcmp(resp.range, want) != 0) {
		rc = bale_error_set(err, BALE_ENETWORK,
		                    "%s: after bytes %lld-%lld the registry holds %.40s", u->what,
		                    first, last, resp.range);
		goto cleanup;
	}
	if ((rc = take_location(u, &resp, err)) < 0)
		goto cleanup;
	u->sent += (int64_t)u->fill;
	u->fill = 0;
	u->patched = true;
cleanup:
	curl_slist_free_all(headers);
	bale_buf_free(&body);
	reg_response_free(&resp);
	if (rc < 0)
		u->failed = true;
	return rc;
}

int bale_registry_upload_write(bale_registry_upload *u, const void *data, size_t len,
                               bale_error **err)
{
	const unsigned char *p = data;
	assert(!u->done);
	if (u->failed)
		return bale_error_set(err, BALE_EGENERIC, "%s: upload failed earlier", u->what);
	if (len > (uint64_t)(u->desc.size - u->written)) {
		u->failed = true;
		return bale_error_set(err, BALE_EVERIFY, "%s: more than the %lld bytes declared",
		                      u->what, (long long)u->desc.size);
	}
	bale_hasher_update(u->hasher, data, len);
	u->written += (int64_t)len;
	while (len) {
		/* A full chunk goes out only when more bytes follow: a blob that fits one
		 * chunk stays a single monolithic PUT. */
		if (u->fill == u->chunk_alloc) {
			int rc = send_chunk(u, err);
			if (rc < 0)
				return rc;
		}
		size_t n = u->chunk_alloc - u->fill < len ? u->chunk_alloc - u->fill : len;
		memcpy(u->chunk + u->fill, p, n);
		u->fill += n;
		p += n;
		len -= n;
	}
	return 0;
}

int bale_registry_upload_finish(bale_registry_upload *u, bale_error **err)
{
	int rc = 0;
	bale_digest got;
	bale_buf url, body;
	reg_response resp;
	struct curl_slist *headers =
	    headers_new("Content-Type: application/octet-stream", "Expect:", NULL);
	reg_response_init(&resp);
	bale_buf_init(&url, URL_CAP, "URL");
	bale_buf_init(&body, BALE_CAP_ERROR_BODY, "error response");
	assert(!u->done);
	if (!headers) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if (u->failed) {
		rc = bale_error_set(err, BALE_EGENERIC, "%s: upload failed earlier", u->what);
		goto cleanup;
	}
	/* Nothing is committed that is not the declared blob. */
	if (u->written != u->desc.size) {
		rc = bale_error_set(err, BALE_EVERIFY, "%s: got %lld of %lld bytes", u->what,
		                    (long long)u->written, (long long)u->desc.size);
		goto cleanup;
	}
	bale_hasher_final(u->hasher, &got);
	if (!bale_digest_equal(&got, &u->desc.digest)) {
		rc =
		    bale_error_set(err, BALE_EVERIFY, "%s: content hashes to %s", u->what, got.str);
		goto cleanup;
	}
	if (u->patched && u->fill && (rc = send_chunk(u, err)) < 0)
		goto cleanup;
	if ((rc = bale_buf_appendf(&url, err, "%s%sdigest=sha256%%3A%s", u->location,
	                           strchr(u->location, '?') ? "&" : "?",
	                           bale_digest_hex(&u->desc.digest))) < 0)
		goto cleanup;
	reg_request req = {.method = "PUT",
	                   .url = url.data,
	                   .repository = u->repository,
	                   .headers = headers,
	                   .body = u->patched ? NULL : u->chunk,
	                   .body_len = u->patched ? 0 : u->fill};
	if ((rc = reg_perform(u->reg, &req, &body, &resp, err)) < 0) {
		bale_error_wrap(err, "%s", u->what);
		goto cleanup;
	}
	if (resp.status == 404) {
		/* A retried PUT whose first answer was lost finds its upload gone: the blob
		 * is there if that first one went through. */
		bool there = false;
		bale_error *probe_err = NULL;
		if (bale_registry_blob_exists(u->reg, u->repository, &u->desc, &there,
		                              &probe_err) == 0 &&
		    there) {
			bale_error_free(probe_err);
			u->done = true;
			goto cleanup;
		}
		bale_error_free(probe_err);
	}
	if (resp.status != 201) {
		rc = refusal_error(u->reg, u->what, resp.status, &body, err);
		goto cleanup;
	}
	if ((rc = check_digest_header(&resp, &u->desc.digest, u->what, err)) < 0)
		goto cleanup;
	u->done = true;
cleanup:
	if (rc < 0)
		u->failed = true;
	curl_slist_free_all(headers);
	bale_buf_free(&url);
	bale_buf_free(&body);
	reg_response_free(&resp);
	return rc;
}

void bale_registry_upload_free(bale_registry_upload *u)
{
	if (!u)
		return;
	if (!u->done && u->location)
		cancel_upload(u->reg, u->repository, u->location);
	bale_hasher_free(u->hasher);
	free(u->chunk);
	free(u->location);
	free(u->repository);
	free(u);
}
