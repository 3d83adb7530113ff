/* The registry client: opening a registry, the /v2/ ping, synchronous requests with
 * retries and backoff, and manifests. Blob transfers live in fetch.c, auth in token.c. */
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bale/json.h"
#include "bale/manifest.h"
#include "bale/text.h"
#include "registry/registry_private.h"

#define USER_AGENT "bale/" BALE_VERSION

/* Media types bale pulls, the way containerd asks for them. */
const char reg_accept_manifests[] = "Accept: application/vnd.oci.image.index.v1+json, "
                                    "application/vnd.docker.distribution.manifest.list.v2+json, "
                                    "application/vnd.oci.image.manifest.v1+json, "
                                    "application/vnd.docker.distribution.manifest.v2+json";

void bale_registry_options_init(bale_registry_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->retries = 4;
	opts->retry_delay_ms = 500;
	opts->connect_timeout = 30;
	opts->progress_timeout = 60;
	opts->min_speed = 1024;
	opts->request_timeout = 120;
	opts->max_retry_after = 60;
}

static bool host_listed(const char *domain, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], domain) == 0)
			return true;
	return false;
}

int bale_registry_open(bale_registry **out, const char *domain, const bale_registry_options *opts,
                       bale_error **err)
{
	int rc = 0;
	bale_registry *reg = calloc(1, sizeof(*reg));
	if (!reg)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	reg->opts = *opts;
	reg->domain = strdup(domain);
	/* docker.io's API lives elsewhere; every other domain is its own API host. */
	reg->host = strdup(strcmp(domain, "docker.io") == 0 ? "registry-1.docker.io" : domain);
	reg->insecure = host_listed(domain, opts->insecure, opts->n_insecure);
	reg->share = curl_share_init();
	reg->easy = curl_easy_init();
	if (!reg->domain || !reg->host || !reg->share || !reg->easy) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	curl_share_setopt(reg->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(reg->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(reg->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	if ((rc = reg_tls_load(reg, err)) < 0)
		bale_error_wrap(err, "registry %s", domain);
cleanup:
	if (rc < 0)
		bale_registry_free(reg);
	else
		*out = reg;
	return rc;
}

void bale_registry_free(bale_registry *reg)
{
	if (!reg)
		return;
	if (reg->easy)
		curl_easy_cleanup(reg->easy);
	if (reg->share)
		curl_share_cleanup(reg->share);
	for (reg_token *t = reg->tokens, *next; t; t = next) {
		next = t->next;
		free(t->scope);
		if (t->token) {
			OPENSSL_cleanse(t->token, strlen(t->token));
			free(t->token);
		}
		free(t);
	}
	bale_challenge_clear(&reg->challenge);
	for (size_t i = 0; i < reg->n_ca_files; i++)
		free(reg->ca_files[i]);
	free(reg->ca_files);
	free(reg->client_cert);
	free(reg->client_key);
	for (reg_cred *c = reg->creds, *next; c; c = next) {
		next = c->next;
		bale_credential_free(c->cred);
		free(c->repository);
		free(c);
	}
	free(reg->base_url);
	free(reg->host);
	free(reg->domain);
	free(reg);
}

const char *bale_registry_domain(const bale_registry *reg)
{
	return reg->domain;
}

/* ---- origins ---- */

int reg_url_origin(const char *url, char origin[REG_ORIGIN_MAX], char hostport[REG_ORIGIN_MAX])
{
	int rc = -1;
	char *scheme = NULL, *host = NULL, *port = NULL, *given_port = NULL;
	CURLU *u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto cleanup;
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
		goto cleanup;
	for (char *c = scheme; *c; c++) /* ASCII only: tolower() follows the locale */
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	for (char *c = host; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	int n = snprintf(origin, REG_ORIGIN_MAX, "%s://%s:%s", scheme, host, port);
	if (n < 0 || n >= REG_ORIGIN_MAX)
		goto cleanup;
	if (hostport) {
		CURLUcode pc = curl_url_get(u, CURLUPART_PORT, &given_port, 0);
		n = snprintf(hostport, REG_ORIGIN_MAX, "%s%s%s", host, pc == CURLUE_OK ? ":" : "",
		             pc == CURLUE_OK ? given_port : "");
		if (n < 0 || n >= REG_ORIGIN_MAX)
			goto cleanup;
	}
	rc = 0;
cleanup:
	if (rc < 0) {
		origin[0] = '\0';
		if (hostport)
			hostport[0] = '\0';
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(given_port);
	curl_url_cleanup(u);
	return rc;
}

void reg_own_origin(const bale_registry *reg, const char *url, char origin[REG_ORIGIN_MAX])
{
	if (reg_url_origin(reg->base_url ? reg->base_url : url, origin, NULL) < 0)
		origin[0] = '\0';
}

void reg_answer_origin(CURL *h, char origin[REG_ORIGIN_MAX])
{
	char *effective = NULL;
	origin[0] = '\0';
	if (curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective)
		reg_url_origin(effective, origin, NULL);
}

int reg_check_401_origin(const bale_registry *reg, CURL *h, const char *url, const char *what,
                         bale_error **err)
{
	char own[REG_ORIGIN_MAX], answer[REG_ORIGIN_MAX];
	reg_own_origin(reg, url, own);
	reg_answer_origin(h, answer);
	if (own[0] && strcmp(own, answer) == 0)
		return 0;
	/* A 401 of a redirect target is not the registry asking: acting on it (a token from
	 * the realm it names, or the registry's challenge replaced by it) would hand the
	 * registry's credentials to whoever the redirect points at. */
	return bale_error_set(err, BALE_EAUTH,
	                      "%s: redirected to %s, which answered HTTP 401; bale sends "
	                      "credentials only to %s",
	                      what, answer[0] ? answer : "another server", reg->domain);
}

bool reg_host_insecure(const bale_registry *reg, const char *hostport)
{
	for (size_t i = 0; i < reg->opts.n_insecure; i++)
		if (strcasecmp(reg->opts.insecure[i], hostport) == 0)
			return true;
	return false;
}

bool reg_header_value_ok(const char *value, size_t *bad)
{
	for (size_t i = 0; value[i]; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c <= 0x20 || c >= 0x7f) {
			*bad = i;
			return false;
		}
	}
	return true;
}

/* ---- responses ---- */

void reg_response_init(reg_response *r)
{
	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	bale_buf_init(&r->www_authenticate, 8192, "WWW-Authenticate header");
	/* Upload locations carry the registry's state (distribution: an HMAC'd blob). */
	bale_buf_init(&r->location, 16384, "Location header");
}

void reg_response_free(reg_response *r)
{
	bale_buf_free(&r->www_authenticate);
	bale_buf_free(&r->location);
}

static void copy_trimmed(char *dst, size_t size, const char *src, size_t len)
{
	while (len && isspace((unsigned char)*src)) {
		src++;
		len--;
	}
	while (len && isspace((unsigned char)src[len - 1]))
		len--;
	if (len >= size)
		len = size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static bool header_is(const char *line, size_t len, const char *name, const char **value,
                      size_t *vlen)
{
	size_t n = strlen(name);
	if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
		return false;
	*value = line + n + 1;
	*vlen = len - n - 1;
	return true;
}

size_t reg_header_cb(char *data, size_t size, size_t n, void *payload)
{
	reg_response *r = payload;
	size_t len = size * n;
	const char *v;
	size_t vlen;
	char tmp[80];
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or 100-continue): start over. */
		bale_buf saved = r->www_authenticate, saved_location = r->location;
		memset(r, 0, sizeof(*r));
		r->retry_after = -1;
		r->www_authenticate = saved;
		r->location = saved_location;
		bale_buf_reset(&r->www_authenticate);
		bale_buf_reset(&r->location);
		const char *sp = memchr(data, ' ', len);
		if (sp)
			r->status = strtol(sp + 1, NULL, 10);
	} else if (header_is(data, len, "Content-Type", &v, &vlen)) {
		copy_trimmed(r->content_type, sizeof(r->content_type), v, vlen);
		char *semi = strchr(r->content_type, ';'); /* drop parameters */
		if (semi)
			copy_trimmed(r->content_type, sizeof(r->content_type), r->content_type,
			             (size_t)(semi - r->content_type));
	} else if (header_is(data, len, "Docker-Content-Digest", &v, &vlen)) {
		copy_trimmed(r->docker_digest, sizeof(r->docker_digest), v, vlen);
	} else if (header_is(data, len, "Content-Range", &v, &vlen)) {
		copy_trimmed(r->content_range, sizeof(r->content_range), v, vlen);
	} else if (header_is(data, len, "Range", &v, &vlen)) {
		copy_trimmed(r->range, sizeof(r->range), v, vlen);
	} else if (header_is(data, len, "Link", &v, &vlen)) {
		copy_trimmed(r->link, sizeof(r->link), v, vlen);
	} else if (header_is(data, len, "Location", &v, &vlen) && r->location.len == 0) {
		while (vlen && isspace((unsigned char)*v)) {
			v++;
			vlen--;
		}
		while (vlen && isspace((unsigned char)v[vlen - 1]))
			vlen--;
		if (bale_buf_append(&r->location, v, vlen, NULL) < 0) {
			r->header_error = "a Location header larger than 16 KiB";
			return 0;
		}
	} else if (header_is(data, len, "Retry-After", &v, &vlen)) {
		copy_trimmed(tmp, sizeof(tmp), v, vlen);
		char *end;
		long secs = strtol(tmp, &end, 10);
		/* Only the delay-seconds form; an HTTP date falls back to our backoff. */
		r->retry_after = (end != tmp && *end == '\0' && secs >= 0) ? secs : -1;
	} else if (header_is(data, len, "WWW-Authenticate", &v, &vlen) &&
	           r->www_authenticate.len == 0) {
		while (vlen && isspace((unsigned char)*v)) {
			v++;
			vlen--;
		}
		while (vlen && isspace((unsigned char)v[vlen - 1]))
			vlen--;
		if (bale_buf_append(&r->www_authenticate, v, vlen, NULL) < 0) {
			r->header_error = "a WWW-Authenticate header larger than 8 KiB";
			return 0;
		}
	}
	return len;
}

/* ---- retries ---- */

bool reg_curl_retryable(const bale_registry *reg, CURLcode code)
{
	if (reg->client_cert_requested)
		return false; /* refused for want of a certificate: again is the same */
	switch (code) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

bool reg_status_retryable(long status)
{
	return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

long reg_backoff_ms(const bale_registry *reg, int attempt, long retry_after)
{
	long delay = reg->opts.retry_delay_ms;
	for (int i = 1; i < attempt && delay < 30000; i++)
		delay *= 2;
	if (delay > 30000)
		delay = 30000;
	/* A registry that says when to come back is believed, up to the user's limit. */
	if (retry_after >= 0)
		delay = (retry_after > reg->opts.max_retry_after ? reg->opts.max_retry_after
		                                                 : retry_after) *
		        1000;
	return delay;
}

void reg_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0)
		;
}

void reg_limit_request(const bale_registry *reg, CURL *h, size_t cap)
{
	if (reg->opts.request_timeout > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT, reg->opts.request_timeout);
	if (cap)
		curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap);
}

void reg_curl_cause(char *out, size_t size, const bale_registry *reg, CURL *h, CURLcode code,
                    const char *errbuf, const reg_response *resp, long deadline)
{
	const char *why = errbuf && *errbuf ? errbuf : curl_easy_strerror(code);
	char where[REG_ORIGIN_MAX];
	curl_off_t total_us = 0;
	switch (code) {
	case CURLE_OUT_OF_MEMORY:
		/* libcurl's answer to a header line over CURL_MAX_HTTP_HEADER (100 KiB). */
		snprintf(out, size,
		         "the answer has a header too large to read (libcurl reads header "
		         "lines of up to 100 KiB), or memory ran out");
		return;
	case CURLE_WRITE_ERROR:
		if (resp && resp->header_error) {
			snprintf(out, size, "the answer has %s", resp->header_error);
			return;
		}
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		/* REDIR_PROTOCOLS refused where a redirect pointed: say where, not the URL. */
		if (resp && resp->location.len &&
		    reg_url_origin(resp->location.data, where, NULL) == 0) {
			snprintf(out, size,
			         "redirected to %s, which is not HTTPS: bale follows a registry to "
			         "plain HTTP only when it is an --insecure-registry",
			         where);
			return;
		}
		break;
	case CURLE_OPERATION_TIMEDOUT:
		if (h)
			curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &total_us);
		if (deadline > 0 && total_us >= (curl_off_t)deadline * 1000000 - 100000) {
			snprintf(out, size, "no complete answer within %ld s (--request-timeout)",
			         deadline);
			return;
		}
		if (strncmp(why, "Operation too slow", 18) == 0) {
			snprintf(
			    out, size,
			    "transfer slower than %ld bytes/s for %ld s (--min-speed, --timeout)",
			    reg->opts.min_speed > 0 ? reg->opts.min_speed : 1,
			    reg->opts.progress_timeout);
			return;
		}
		break;
	default:
		break;
	}
	snprintf(out, size, "%s", why);
}

int reg_curl_error(bale_error **err, const bale_registry *reg, CURL *h, CURLcode code,
                   const char *errbuf, const reg_response *resp, long deadline)
{
	char why[CURL_ERROR_SIZE + 200];
	reg_curl_cause(why, sizeof(why), reg, h, code, errbuf, resp, deadline);
	if (reg->client_cert_requested)
		return bale_error_set(
		    err, BALE_EAUTH,
		    "%s: the registry requires a TLS client certificate and none is "
		    "configured (put client.cert and client.key in certs.d/%s/)",
		    reg->domain, reg->domain);
	switch (code) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return bale_error_set(err, BALE_ENETWORK,
		                      "%s: TLS certificate not trusted (%s); add its CA with "
		                      "--ca-file or certs.d, or allow it with --insecure-registry",
		                      reg->domain, why);
	case CURLE_SSL_CERTPROBLEM:
		return bale_error_set(err, BALE_EUSAGE, "%s: client certificate refused: %s",
		                      reg->domain, why);
	default:
		return bale_error_set(err, BALE_ENETWORK, "%s: %s", reg->domain, why);
	}
}

void reg_describe_status(char *out, size_t size, long status, const bale_buf *body)
{
	json_t *doc = NULL;
	const char *code = NULL, *message = NULL;
	if (body && body->len &&
	    bale_json_parse(&doc, body->data, body->len, BALE_CAP_ERROR_BODY, "error", NULL) == 0) {
		json_t *first = json_array_get(json_object_get(doc, "errors"), 0);
		code = bale_json_str(first, "code");
		message = bale_json_str(first, "message");
	}
	if (code)
		snprintf(out, size, "HTTP %ld (%.40s: %.120s)", status, code,
		         message ? message : "");
	else
		snprintf(out, size, "HTTP %ld", status);
	json_decref(doc);
}

/* ---- requests ---- */

int reg_setup_handle(bale_registry *reg, CURL *h, const char *repository, bale_error **err)
{
	return reg_setup_handle_from(reg, h, repository, NULL, err);
}

int reg_setup_handle_from(bale_registry *reg, CURL *h, const char *repository, const char *from,
                          bale_error **err)
{
	curl_easy_setopt(h, CURLOPT_SHARE, reg->share);
	curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, reg->opts.connect_timeout);
	/* The kubelet's progress deadline, with a floor on speed: a transfer that stalls, or
	 * that a server drips out a few bytes a second, is abandoned (and retried). */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT,
	                 reg->opts.min_speed > 0 ? reg->opts.min_speed : 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, reg->opts.progress_timeout);
	/* Blob storage often lives behind a redirect. libcurl drops our credentials when
	 * the redirect leaves the host (or port, or scheme): CURLOPT_UNRESTRICTED_AUTH off. */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, reg->insecure ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* manifests and errors may be gzipped */
	reg_tls_setup(reg, h);
	curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_NONE);
	if (!repository || reg->scheme == REG_AUTH_NONE)
		return 0;
	return reg_apply_auth(reg, h, repository, from, err);
}

/* Makes resp->location absolute: registries may send a path ("/v2/…/uploads/<id>"). */
static int resolve_location(const bale_registry *reg, reg_response *resp, const char *url,
                            bale_error **err)
{
	int rc = 0;
	char *resolved = NULL;
	CURLU *u = curl_url();
	if (!u)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	/* curl resolves a relative URL against the one the handle holds (RFC 3986). */
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_URL, resp->location.data, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &resolved, 0) != CURLUE_OK) {
		rc = bale_error_set(err, BALE_ENETWORK,
		                    "%s: unusable Location header in an HTTP %ld answer",
		                    reg->domain, resp->status);
		goto cleanup;
	}
	bale_buf_reset(&resp->location);
	rc = bale_buf_append(&resp->location, resolved, strlen(resolved), err);
cleanup:
	curl_free(resolved);
	curl_url_cleanup(u);
	return rc;
}

/* Sets the method and, for POST, PUT and PATCH, the body of one attempt. */
static void set_method(CURL *h, const reg_request *req)
{
	const char *m = req->method ? req->method : "GET";
	if (strcmp(m, "GET") == 0)
		return;
	if (strcmp(m, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		return;
	}
	/* Uploads answer with a Location to act on, never a redirect to follow; and
	 * following one would turn a POST into a GET. */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	if (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0) {
		/* libcurl only reads the buffer, so every attempt sends the same bytes. */
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
	}
	if (strcmp(m, "POST") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
}

int reg_perform(bale_registry *reg, const reg_request *req, bale_buf *body, reg_response *resp,
                bale_error **err)
{
	char errbuf[CURL_ERROR_SIZE];
	bool reauthorized = false;
	int rc = 0, retries = req->once ? 0 : reg->opts.retries;
	for (int attempt = 0;; attempt++) {
		CURL *h = reg->easy;
		curl_easy_reset(h);
		if ((rc = reg_setup_handle_from(reg, h, req->repository, req->mount_from, err)) < 0)
			return rc;
		bale_buf_reset(body);
		errbuf[0] = '\0';
		curl_easy_setopt(h, CURLOPT_URL, req->url);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, req->headers);
		set_method(h, req);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, reg_header_cb);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, reg_buf_write_cb);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		/* HEAD: Content-Length is the size of what is not sent. */
		reg_limit_request(reg, h,
		                  req->method && strcmp(req->method, "HEAD") == 0 ? 0 : body->cap);
		CURLcode cc = curl_easy_perform(h);
		if ((cc == CURLE_WRITE_ERROR && !resp->header_error && body->len == body->cap) ||
		    cc == CURLE_FILESIZE_EXCEEDED)
			return bale_error_set(err, BALE_EVERIFY, "%s: %s is larger than %zu bytes",
			                      reg->domain, body->what, body->cap);
		if (cc == CURLE_OK) /* a server that asks for a certificate but does not need one */
			reg->client_cert_requested = false;
		bool again = cc != CURLE_OK ? reg_curl_retryable(reg, cc)
		                            : reg_status_retryable(resp->status);
		if (cc == CURLE_OK && resp->status == 401) {
			/* Named by method and path: no origin twice, no query. */
			char what[600];
			const char *path = strstr(req->url, "://");
			path = path ? path + 3 + strcspn(path + 3, "/") : req->url;
			snprintf(what, sizeof(what), "%s: %s %.*s", reg->domain,
			         req->method ? req->method : "GET", (int)strcspn(path, "?"), path);
			if ((rc = reg_check_401_origin(reg, h, req->url, what, err)) < 0)
				return rc;
		}
		if (cc == CURLE_OK && resp->status == 401 && req->repository && !reauthorized &&
		    !req->once) {
			reauthorized = true;
			reg_forget_token_from(reg, req->repository, req->mount_from);
			if ((rc = reg_authorize_from(reg, req->repository, req->mount_from,
			                             resp->www_authenticate.data, err)) < 0)
				return rc;
			attempt--; /* authorizing is not a retry */
			continue;
		}
		if (!again) {
			if (cc != CURLE_OK)
				return reg_curl_error(err, reg, h, cc, errbuf, resp,
				                      reg->opts.request_timeout);
			return resp->location.len ? resolve_location(reg, resp, req->url, err) : 0;
		}
		if (attempt >= retries) {
			char what[CURL_ERROR_SIZE + 200];
			if (cc != CURLE_OK)
				reg_curl_cause(what, sizeof(what), reg, h, cc, errbuf, resp,
				               reg->opts.request_timeout);
			else
				reg_describe_status(what, sizeof(what), resp->status, body);
			return bale_error_set(err, BALE_ENETWORK,
			                      "%s: %s (gave up after %d attempts)", reg->domain,
			                      what, attempt + 1);
		}
		long retry_after = cc == CURLE_OK ? resp->retry_after : -1;
		long delay = reg_backoff_ms(reg, attempt + 1, retry_after);
		char told[80] = "";
		if (retry_after > reg->opts.max_retry_after)
			snprintf(told, sizeof(told), " (it asked for %ld s; --max-retry-after %ld)",
			         retry_after, reg->opts.max_retry_after);
		bale_log_printf(reg->opts.log, BALE_LOG_INFO, "%s: %s, retrying in %ld ms%s",
		                reg->domain,
		                cc != CURLE_OK ? curl_easy_strerror(cc)
		                               : (resp->status == 429 ? "HTTP 429" : "HTTP 5xx"),
		                delay, told);
		reg_sleep_ms(delay);
	}
}

size_t reg_buf_write_cb(char *data, size_t size, size_t n, void *payload)
{
	bale_buf *b = payload;
	if (bale_buf_append(b, data, size * n, NULL) < 0) {
		b->len = b->cap; /* tells reg_perform the cap was hit */
		return 0;
	}
	return size * n;
}

static int ping_url(bale_registry *reg, const char *scheme, bool once, bale_error **err)
{
	int rc = 0;
	char url[512];
	reg_response resp;
	bale_buf body;
	reg_response_init(&resp);
	bale_buf_init(&body, BALE_CAP_ERROR_BODY, "ping response");
	snprintf(url, sizeof(url), "%s://%s/v2/", scheme, reg->host);
	reg_request req = {.url = url, .once = once};
	if ((rc = reg_perform(reg, &req, &body, &resp, err)) < 0)
		goto cleanup;
	if (resp.status == 401 && resp.www_authenticate.len) {
		bale_challenge ch;
		if ((rc = bale_challenge_parse(&ch, resp.www_authenticate.data, err)) < 0) {
			bale_error_wrap(err, "%s", reg->domain);
			goto cleanup;
		}
		bale_challenge_clear(&reg->challenge);
		reg->challenge = ch;
		reg->scheme = strcmp(ch.scheme, "bearer") == 0 ? REG_AUTH_BEARER : REG_AUTH_BASIC;
	} else if (resp.status == 200) {
		reg->scheme = REG_AUTH_NONE;
	} else {
		char what[200];
		reg_describe_status(what, sizeof(what), resp.status, &body);
		rc = bale_error_set(err, BALE_ENETWORK,
		                    "%s does not answer as an OCI registry (GET /v2/: %s)",
		                    reg->domain, what);
		goto cleanup;
	}
	size_t n = strlen(scheme) + strlen(reg->host) + 4;
	reg->base_url = malloc(n);
	if (!reg->base_url) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	snprintf(reg->base_url, n, "%s://%s", scheme, reg->host);
cleanup:
	bale_buf_free(&body);
	reg_response_free(&resp);
	return rc;
}

int reg_ensure_pinged(bale_registry *reg, bale_error **err)
{
	if (reg->base_url)
		return 0;
	if (!reg->insecure)
		return ping_url(reg, "https", false, err);
	/* Insecure registries: TLS without verification if it answers, else plain HTTP
	 * (docker's order). A refused TLS handshake is not worth retrying. */
	bale_error *tls_err = NULL;
	if (ping_url(reg, "https", true, &tls_err) == 0)
		return 0;
	bale_log_printf(reg->opts.log, BALE_LOG_DEBUG, "%s: no TLS (%s), trying plain HTTP",
	                reg->domain, bale_error_message(tls_err));
	bale_error_free(tls_err);
	return ping_url(reg, "http", false, err);
}

int bale_registry_ping(bale_registry *reg, bale_error **err)
{
	return reg_ensure_pinged(reg, err);
}

static bool is_schema1(const char *media_type)
{
	return strncmp(media_type, "application/vnd.docker.distribution.manifest.v1", 48) == 0;
}

static bool is_known_manifest(const char *t)
{
	return strcmp(t, "application/vnd.oci.image.index.v1+json") == 0 ||
	       strcmp(t, "application/vnd.docker.distribution.manifest.list.v2+json") == 0 ||
	       strcmp(t, "application/vnd.oci.image.manifest.v1+json") == 0 ||
	       strcmp(t, "application/vnd.docker.distribution.manifest.v2+json") == 0;
}

/* Decides the media type from the manifest itself, falling back to Content-Type, and
 * refuses what bale does not carry. */
int reg_manifest_media_type(char media_type[128], const bale_buf *body, const char *ctype,
                            const char *what, bale_error **err)
{
	json_t *doc = NULL;
	int rc = bale_json_parse(&doc, body->data, body->len, BALE_CAP_MANIFEST, what, err);
	if (rc < 0)
		return rc;
	const char *declared = bale_json_str(doc, "mediaType");
	json_t *version = json_object_get(doc, "schemaVersion");
	const char *t = declared ? declared : ctype;
	char quoted[BALE_TEXT_QUOTE_SIZE];
	bale_text_quote(quoted, sizeof(quoted), t);
	if (json_integer_value(version) == 1 || is_schema1(t)) {
		rc = bale_error_set(err, BALE_EGENERIC,
		                    "%s: Docker schema 1 manifests are not supported (deprecated "
		                    "format; push the image again with a current client)",
		                    what);
	} else if (!is_known_manifest(t)) {
		rc = bale_error_set(err, BALE_EVERIFY, "%s: unsupported manifest media type \"%s\"",
		                    what, quoted);
	} else if (!declared && json_object_get(doc, "manifests") &&
	           (json_object_get(doc, "layers") || json_object_get(doc, "config"))) {
		/* Only the unsigned Content-Type header would say what these bytes are. */
		rc =
		    bale_error_set(err, BALE_EVERIFY,
		                   "%s: ambiguous manifest: no mediaType, and both \"manifests\" "
		                   "and \"%s\", so the same digest would be an index or an image "
		                   "depending on the Content-Type header; refused (OCI image spec, "
		                   "CVE-2021-41190)",
		                   what, json_object_get(doc, "layers") ? "layers" : "config");
	} else if (declared && is_known_manifest(ctype) &&
	           bale_media_type_is_index(ctype) != bale_media_type_is_index(declared)) {
		rc = bale_error_set(
		    err, BALE_EVERIFY,
		    "%s: ambiguous manifest: it says it is %s \"%s\" but the "
		    "registry serves it as %s; refused (CVE-2021-41190)",
		    what, bale_media_type_is_index(declared) ? "an index" : "an image", quoted,
		    bale_media_type_is_index(ctype) ? "an index" : "an image");
	} else if ((rc = bale_manifest_check_fields(doc, t, what, err)) == 0) {
		snprintf(media_type, 128, "%s", t);
	}
	json_decref(doc);
	return rc;
}

int bale_registry_get_manifest(bale_registry *reg, const char *repository, const char *reference,
                               bale_buf *out, char media_type[128], bale_digest *digest,
                               bale_error **err)
{
	int rc = 0;
	char url[2048], what[600];
	reg_response resp;
	struct curl_slist *headers = curl_slist_append(NULL, reg_accept_manifests);
	reg_response_init(&resp);
	snprintf(what, sizeof(what), "%s/%s%s%s", reg->domain, repository,
	         strchr(reference, ':') ? "@" : ":", reference);
	if (!headers) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = reg_ensure_pinged(reg, err)) < 0)
		goto cleanup;
	snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", reg->base_url, repository, reference);
	if (out->cap > BALE_CAP_MANIFEST)
		out->cap = BALE_CAP_MANIFEST;
	out->what = "manifest";
	reg_request req = {.url = url, .repository = repository, .headers = headers};
	if ((rc = reg_perform(reg, &req, out, &resp, err)) < 0)
		goto cleanup;
	if (resp.status != 200) {
		char status[200];
		reg_describe_status(status, sizeof(status), resp.status, out);
		if (resp.status == 404)
			rc =
			    bale_error_set(err, BALE_ENOTFOUND, "%s: not found (%s)", what, status);
		else if (resp.status == 401 || resp.status == 403)
			rc = bale_error_set(err, BALE_EAUTH, "%s: access refused by %s (%s, %s)",
			                    what, reg->domain, status, reg_auth_source(reg));
		else
			rc = bale_error_set(err, BALE_ENETWORK, "%s: %s", what, status);
		goto cleanup;
	}
	bale_digest_of(digest, out->data, out->len);
	bale_digest want;
	if (strchr(reference, ':') && bale_digest_parse(&want, reference, NULL) == 0 &&
	    !bale_digest_equal(&want, digest)) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "%s: manifest digest mismatch (content hashes to %s)", what,
		                    digest->str);
		goto cleanup;
	}
	if (resp.docker_digest[0] && strncmp(resp.docker_digest, "sha256:", 7) == 0 &&
	    strcmp(resp.docker_digest, digest->str) != 0) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "%s: registry says the manifest is %.80s but it hashes to %s",
		                    what, resp.docker_digest, digest->str);
		goto cleanup;
	}
	rc = reg_manifest_media_type(media_type, out, resp.content_type, what, err);
cleanup:
	curl_slist_free_all(headers);
	reg_response_free(&resp);
	return rc;
}
