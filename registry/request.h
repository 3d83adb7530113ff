/* The registry client's transport, the bottom of registry/ (the call graph is at the top
 * of registry_private.h): requests to a registry, or to its token server, with the
 * options, limits, TLS and retries every request gets. It knows no auth scheme: a sender
 * hands reg_http_perform hooks that put credentials on a request and answer a 401
 * (scheme.c has them for a registry session, token.c for its token requests). */
#ifndef BALE_REGISTRY_REQUEST_H
#define BALE_REGISTRY_REQUEST_H

#include <curl/curl.h>
#include <stdbool.h>

#include "bale/buf.h"
#include "bale/error.h"
#include "bale/registry.h"

/* One registry as the transport sees it: where it is, how to reach it, what to trust. */
typedef struct reg_http {
	char *domain;   /* as written in references; every message names it */
	char *host;     /* where the API lives: registry-1.docker.io for docker.io */
	char *base_url; /* "https://host" or "http://host", known after the ping */
	bool insecure;  /* --insecure-registry: plain HTTP and unverified TLS allowed */
	bale_registry_options opts;
	CURLSH *share;   /* connections, TLS sessions and DNS shared by every handle */
	CURL *easy;      /* reused for manifests, tokens and pings */
	char **ca_files; /* --ca-file and certs.d *.crt, added to the system CAs */
	size_t n_ca_files;
	char *client_cert, *client_key; /* certs.d client.cert / client.key (mTLS) */
	bool client_cert_requested;     /* the server asked for one we do not have */
} reg_http;

/* Names the registry, makes the shared cache and loads its TLS files (request.c). */
int reg_http_init(reg_http *http, const char *domain, const bale_registry_options *opts,
                  bale_error **err);
void reg_http_clear(reg_http *http);

/* ---- responses (response.c) ---- */

/* What we keep of a response's headers. Reset at every status line, so after
 * redirects it describes the final response. */
typedef struct reg_response {
	long status;
	char content_type[128];
	char docker_digest[80];
	char content_range[80];
	char range[80];   /* upload progress: "0-<last byte>" */
	char link[2048];  /* the next page of a listing: Link: <…>; rel="next" */
	long retry_after; /* seconds, -1 when absent */
	/* Why the header callback stopped the transfer ("a Location header larger …"). */
	const char *header_error;
	bale_buf www_authenticate;
	bale_buf location; /* after reg_http_perform: absolute, resolved against the URL */
} reg_response;

void reg_response_init(reg_response *r);
void reg_response_free(reg_response *r);
/* libcurl header callback filling a reg_response. */
size_t reg_header_cb(char *data, size_t size, size_t n, void *payload);
/* libcurl write callback appending to a bale_buf (refusing past its cap). */
size_t reg_buf_write_cb(char *data, size_t size, size_t n, void *payload);
/* "HTTP 404 (MANIFEST_UNKNOWN: manifest unknown)" from a registry error body. */
void reg_describe_status(char *out, size_t size, long status, const bale_buf *body);

/* ---- origins: where a request went, and where credentials may go (origin.c) ---- */

/* Room for "https://" + a host of up to 255 bytes + ":65535". */
#define REG_ORIGIN_MAX 288
/* The origin of an absolute http or https URL: "scheme://host:port", the host in lower
 * case, the default port spelled out; and, when hostport is not NULL, HOST[:PORT] as
 * references write it (the port only when the URL names one). -1 when url is not such
 * a URL. Never the path or query (they may hold a signature). */
int reg_url_origin(const char *url, char origin[REG_ORIGIN_MAX], char hostport[REG_ORIGIN_MAX]);
/* The registry's own origin: its base URL once pinged, else that of url (the ping). */
void reg_own_origin(const reg_http *http, const char *url, char origin[REG_ORIGIN_MAX]);
/* The origin a finished request's answer came from (CURLINFO_EFFECTIVE_URL), "" if unknown. */
void reg_answer_origin(CURL *h, char origin[REG_ORIGIN_MAX]);
/* Is HOST[:PORT] one of the hosts the user allowed plain HTTP and unverified TLS for? */
bool reg_host_insecure(const reg_http *http, const char *hostport);
/* May this value go into a request header? Visible ASCII only: no CR, LF, other control
 * bytes, spaces or bytes past 0x7e. On false, *bad is the offset of the first refused byte. */
bool reg_header_value_ok(const char *value, size_t *bad);

/* ---- TLS (tls.c) ---- */

/* Loads --ca-file and the certs.d directory of the registry. */
int reg_tls_load(reg_http *http, bale_error **err);
/* Applies the CAs and the client certificate; insecure: no verification. */
void reg_tls_setup(reg_http *http, CURL *h, bool insecure);

/* ---- retries and failures (request.c) ---- */

/* Is this curl result worth another attempt? errbuf: curl's message for it. */
bool reg_curl_retryable(const reg_http *http, CURLcode code, const char *errbuf);
bool reg_status_retryable(long status);
/* Backoff before attempt number `attempt` (1-based), honouring Retry-After up to
 * opts.max_retry_after. */
long reg_backoff_ms(const reg_http *http, int attempt, long retry_after);
void reg_sleep_ms(long ms);
/* Sets the overall deadline (opts.request_timeout) and a body cap on a handle for one
 * request that is not a blob download: an answer announcing more than cap bytes is
 * refused before its body arrives (0: no cap, for HEAD). */
void reg_limit_request(const reg_http *http, CURL *h, size_t cap);
/* Why a transfer failed, in words, safe to show (no URL path or query, no secret): a
 * refused redirect, a deadline or the minimum speed with the option that sets it, a
 * header too large. resp may be NULL; deadline is the overall limit the handle had in
 * seconds (0: none, a blob download). */
void reg_curl_cause(char *out, size_t size, const reg_http *http, CURL *h, CURLcode code,
                    const char *errbuf, const reg_response *resp, long deadline);
/* One-line error for a curl failure, with reg_curl_cause's words and the exit status
 * the failure calls for. */
int reg_curl_error(bale_error **err, const reg_http *http, CURL *h, CURLcode code,
                   const char *errbuf, const reg_response *resp, long deadline);

/* ---- requests (request.c) ---- */

/* Who answers a request, for TLS and redirects. */
enum reg_peer {
	REG_PEER_REGISTRY, /* the registry: its --insecure-registry applies */
	REG_PEER_VERIFIED, /* another host (a token realm): verified TLS, redirects to https */
	REG_PEER_INSECURE, /* another host the user named --insecure-registry itself */
};

/* Sets what every request to the peer gets on a handle: the shared cache, user agent,
 * connect timeout, minimum speed, redirects and TLS. No credentials. */
void reg_http_setup(reg_http *http, CURL *h, enum reg_peer peer);

/* One synchronous request on http->easy. Bodies are memory buffers (at most one upload
 * chunk), sent again as they are on every attempt. */
typedef struct reg_request {
	const char *method; /* NULL: GET; also HEAD, POST, PUT, PATCH, DELETE */
	const char *url;
	/* What the request is for, read by the auth hooks only: the repository (NULL: none,
	 * as for the ping) and, for a cross-repository mount, its source. */
	const char *repository;
	const char *mount_from;
	struct curl_slist *headers;
	const void *body; /* POST, PUT, PATCH: NULL with body_len 0 sends an empty body */
	size_t body_len;
	/* One attempt, and no new credentials after a 401: for probes, and for best-effort
	 * cleanup the token may not cover (distribution wants "delete" to cancel). */
	bool once;
	enum reg_peer peer;
	/* A download streamed past memory (a foreign layer): each attempt's body goes to
	 * write, called with stream, and `body` keeps only what write puts there (an error
	 * answer); restart runs before each attempt, so that a retry starts over. Like a
	 * blob download it has no overall deadline, only the minimum speed, and an answer
	 * announcing more than max_size bytes is refused before its body comes. */
	curl_write_callback write;
	int (*restart)(void *stream, bale_error **err);
	void *stream;
	int64_t max_size;
} reg_request;

/* How an auth scheme plugs into a request. Every hook may be NULL; payload is the
 * sender's. */
typedef struct reg_auth_hooks {
	/* Before each attempt, before the handle is set: gets what the credentials need,
	 * which may take requests of its own (a bearer token), on http->easy as well. */
	int (*prepare)(void *payload, const reg_request *req, bale_error **err);
	/* Puts the credentials on the handle, once it is set for the attempt. */
	void (*apply)(void *payload, CURL *h, const reg_request *req);
	/* The answer was HTTP 401 (h still holds it). Returns 1 to send the request again
	 * with new credentials, 0 to hand the 401 to the sender. may_retry is false after
	 * one such round, and for a request sent once. */
	int (*challenge)(void *payload, CURL *h, const reg_request *req, const reg_response *resp,
	                 bool may_retry, bale_error **err);
} reg_auth_hooks;

/* Performs the request with retries on network errors, 5xx and 429, and the hooks'
 * round of authorization on a 401 (auth NULL: no credentials, a 401 is an answer).
 * Returns 0 with resp->status set for any final HTTP answer; the caller judges the
 * status. The response body goes to `body`: past its cap the request fails, naming the
 * answer by body->what. */
int reg_http_perform(reg_http *http, const reg_request *req, const reg_auth_hooks *auth,
                     void *payload, bale_buf *body, reg_response *resp, bale_error **err);

#endif
