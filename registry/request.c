/* Requests to a registry and its token server: what every request gets on its handle
 * (user agent, connect timeout, minimum speed, redirects, TLS), the deadline and size cap
 * of one that is not a blob download, and retries with backoff that believes Retry-After
 * up to --max-retry-after. Credentials are the hooks' business (request.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bale/log.h"
#include "registry/request.h"

#define USER_AGENT "bale/" BALE_VERSION

static bool host_listed(const char *domain, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], domain) == 0)
			return true;
	return false;
}

int reg_http_init(reg_http *http, const char *domain, const bale_registry_options *opts,
                  bale_error **err)
{
	int rc = 0;
	memset(http, 0, sizeof(*http));
	http->opts = *opts;
	http->domain = strdup(domain);
	/* docker.io's API lives elsewhere; every other domain is its own API host. */
	http->host = strdup(strcmp(domain, "docker.io") == 0 ? "registry-1.docker.io" : domain);
	http->insecure = host_listed(domain, opts->insecure, opts->n_insecure);
	http->share = curl_share_init();
	http->easy = curl_easy_init();
	if (!http->domain || !http->host || !http->share || !http->easy)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	curl_share_setopt(http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	if ((rc = reg_tls_load(http, err)) < 0)
		bale_error_wrap(err, "registry %s", domain);
	return rc;
}

void reg_http_clear(reg_http *http)
{
	if (http->easy)
		curl_easy_cleanup(http->easy);
	if (http->share)
		curl_share_cleanup(http->share);
	for (size_t i = 0; i < http->n_ca_files; i++)
		free(http->ca_files[i]);
	free(http->ca_files);
	free(http->client_cert);
	free(http->client_key);
	free(http->base_url);
	free(http->host);
	free(http->domain);
	memset(http, 0, sizeof(*http));
}

/* ---- retries and failures ---- */

/* A TLS handshake answered in plain HTTP: OpenSSL reads the first bytes of "HTTP/1.1 400"
 * as a record of an unknown version. */
static bool plain_http(CURLcode code, const char *errbuf)
{
	return code == CURLE_SSL_CONNECT_ERROR && errbuf && strstr(errbuf, "wrong version number");
}

bool reg_curl_retryable(const reg_http *http, CURLcode code, const char *errbuf)
{
	if (http->client_cert_requested || plain_http(code, errbuf))
		return false; /* refused for want of a certificate, or not TLS: again is the same */
	/* Not retried either: a refused connection (nothing listens there) and a name that does
	 * not resolve. Asking again a few seconds later gives the same answer; the cause is
	 * said at once instead. */
	switch (code) {
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

long reg_backoff_ms(const reg_http *http, int attempt, long retry_after)
{
	long delay = http->opts.retry_delay_ms;
	for (int i = 1; i < attempt && delay < 30000; i++)
		delay *= 2;
	if (delay > 30000)
		delay = 30000;
	/* A registry that says when to come back is believed, up to the user's limit. */
	if (retry_after >= 0)
		delay = (retry_after > http->opts.max_retry_after ? http->opts.max_retry_after
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

void reg_limit_request(const reg_http *http, CURL *h, size_t cap)
{
	if (http->opts.request_timeout > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT, http->opts.request_timeout);
	if (cap)
		curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap);
}

void reg_curl_cause(char *out, size_t size, const reg_http *http, CURL *h, CURLcode code,
                    const char *errbuf, const reg_response *resp, long deadline)
{
	const char *why = errbuf && *errbuf ? errbuf : curl_easy_strerror(code);
	char where[REG_ORIGIN_MAX];
	curl_off_t total_us = 0;
	if (plain_http(code, errbuf)) {
		snprintf(out, size,
		         "the registry speaks plain HTTP, not HTTPS; pass --insecure-registry %s",
		         http->domain);
		return;
	}
	switch (code) {
	case CURLE_COULDNT_CONNECT:
		snprintf(out, size, "%s (is the registry running, and on this port?)", why);
		return;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(out, size, "%s (is the name right, and does this machine's DNS know it?)",
		         why);
		return;
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
			    http->opts.min_speed > 0 ? http->opts.min_speed : 1,
			    http->opts.progress_timeout);
			return;
		}
		break;
	default:
		break;
	}
	snprintf(out, size, "%s", why);
}

int reg_curl_error(bale_error **err, const reg_http *http, CURL *h, CURLcode code,
                   const char *errbuf, const reg_response *resp, long deadline)
{
	char why[CURL_ERROR_SIZE + 200];
	reg_curl_cause(why, sizeof(why), http, h, code, errbuf, resp, deadline);
	if (http->client_cert_requested)
		return bale_error_set(
		    err, BALE_EAUTH,
		    "%s: the registry requires a TLS client certificate and none is "
		    "configured (put client.cert and client.key in certs.d/%s/)",
		    http->domain, http->domain);
	switch (code) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return bale_error_set(err, BALE_ENETWORK,
		                      "%s: TLS certificate not trusted (%s); add its CA with "
		                      "--ca-file or certs.d, or allow it with --insecure-registry",
		                      http->domain, why);
	case CURLE_SSL_CERTPROBLEM:
		return bale_error_set(err, BALE_EUSAGE, "%s: client certificate refused: %s",
		                      http->domain, why);
	default:
		return bale_error_set(err, BALE_ENETWORK, "%s: %s", http->domain, why);
	}
}

/* ---- requests ---- */

void reg_http_setup(reg_http *http, CURL *h, enum reg_peer peer)
{
	bool insecure = peer == REG_PEER_REGISTRY ? http->insecure : peer == REG_PEER_INSECURE;
	curl_easy_setopt(h, CURLOPT_SHARE, http->share);
	curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, http->opts.connect_timeout);
	/* The kubelet's progress deadline, with a floor on speed: a transfer that stalls, or
	 * that a server drips out a few bytes a second, is abandoned (and retried). */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT,
	                 http->opts.min_speed > 0 ? http->opts.min_speed : 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, http->opts.progress_timeout);
	/* Blob storage often lives behind a redirect. libcurl drops our credentials when
	 * the redirect leaves the host (or port, or scheme): CURLOPT_UNRESTRICTED_AUTH off. */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* The registry's --insecure-registry is not a token realm's: another host is
	 * verified, and followed only to https, unless it is listed itself. */
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, insecure ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* manifests and errors may be gzipped */
	reg_tls_setup(http, h, insecure);
	curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_NONE);
}

/* Makes resp->location absolute: registries may send a path ("/v2/…/uploads/<id>"). */
static int resolve_location(const reg_http *http, reg_response *resp, const char *url,
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
		                    http->domain, resp->status);
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

int reg_http_perform(reg_http *http, const reg_request *req, const reg_auth_hooks *auth,
                     void *payload, bale_buf *body, reg_response *resp, bale_error **err)
{
	char errbuf[CURL_ERROR_SIZE];
	bool reauthorized = false;
	int rc = 0, retries = req->once ? 0 : http->opts.retries;
	for (int attempt = 0;; attempt++) {
		CURL *h = http->easy;
		/* First, while nothing is set on the handle: a token request uses it too. */
		if (auth && auth->prepare && (rc = auth->prepare(payload, req, err)) < 0)
			return rc;
		if (req->restart && (rc = req->restart(req->stream, err)) < 0)
			return rc;
		curl_easy_reset(h);
		reg_http_setup(http, h, req->peer);
		if (auth && auth->apply)
			auth->apply(payload, h, req);
		bale_buf_reset(body);
		errbuf[0] = '\0';
		curl_easy_setopt(h, CURLOPT_URL, req->url);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, req->headers);
		set_method(h, req);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, reg_header_cb);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION,
		                 req->write ? req->write : reg_buf_write_cb);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, req->write ? req->stream : (void *)body);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		if (req->write) {
			/* hashed as served; no deadline but the minimum speed */
			curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, NULL);
			curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
			curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
			                 (curl_off_t)(req->max_size > (int64_t)body->cap
			                                  ? req->max_size
			                                  : (int64_t)body->cap));
		} else {
			/* HEAD: Content-Length is the size of what is not sent. */
			reg_limit_request(
			    http, h,
			    req->method && strcmp(req->method, "HEAD") == 0 ? 0 : body->cap);
		}
		CURLcode cc = curl_easy_perform(h);
		if (req->write && cc == CURLE_FILESIZE_EXCEEDED)
			return bale_error_set(err, BALE_EVERIFY,
			                      "%s: the answer announces more than the %lld bytes "
			                      "expected",
			                      http->domain, (long long)req->max_size);
		if (!req->write &&
		    ((cc == CURLE_WRITE_ERROR && !resp->header_error && body->len == body->cap) ||
		     cc == CURLE_FILESIZE_EXCEEDED))
			return bale_error_set(err, BALE_EVERIFY, "%s: %s is larger than %zu bytes",
			                      http->domain, body->what, body->cap);
		if (cc == CURLE_OK) /* a server that asks for a certificate but does not need one */
			http->client_cert_requested = false;
		bool again = cc != CURLE_OK ? reg_curl_retryable(http, cc, errbuf)
		                            : reg_status_retryable(resp->status);
		if (cc == CURLE_OK && resp->status == 401 && auth && auth->challenge) {
			rc = auth->challenge(payload, h, req, resp, !reauthorized && !req->once,
			                     err);
			if (rc < 0)
				return rc;
			if (rc > 0) {
				reauthorized = true;
				attempt--; /* authorizing is not a retry */
				continue;
			}
		}
		if (!again) {
			if (cc != CURLE_OK)
				return reg_curl_error(err, http, h, cc, errbuf, resp,
				                      req->write ? 0 : http->opts.request_timeout);
			return resp->location.len ? resolve_location(http, resp, req->url, err) : 0;
		}
		if (attempt >= retries) {
			char what[CURL_ERROR_SIZE + 200];
			if (cc != CURLE_OK)
				reg_curl_cause(what, sizeof(what), http, h, cc, errbuf, resp,
				               req->write ? 0 : http->opts.request_timeout);
			else
				reg_describe_status(what, sizeof(what), resp->status, body);
			return bale_error_set(err, BALE_ENETWORK,
			                      "%s: %s (gave up after %d attempts)", http->domain,
			                      what, attempt + 1);
		}
		long retry_after = cc == CURLE_OK ? resp->retry_after : -1;
		long delay = reg_backoff_ms(http, attempt + 1, retry_after);
		char told[80] = "";
		if (retry_after > http->opts.max_retry_after)
			snprintf(told, sizeof(told), " (it asked for %ld s; --max-retry-after %ld)",
			         retry_after, http->opts.max_retry_after);
		bale_log_printf(http->opts.log, BALE_LOG_INFO, "%s: %s, retrying in %ld ms%s",
		                http->domain,
		                cc != CURLE_OK ? curl_easy_strerror(cc)
		                               : (resp->status == 429 ? "HTTP 429" : "HTTP 5xx"),
		                delay, told);
		reg_sleep_ms(delay);
	}
}
