/* Internals shared by the registry client's files (connection setup, auth, fetch). */
#ifndef BALE_REGISTRY_PRIVATE_H
#define BALE_REGISTRY_PRIVATE_H

#include <curl/curl.h>
#include <stdbool.h>
#include <time.h>

#include "bale/auth.h"
#include "bale/buf.h"
#include "bale/registry.h"

enum reg_auth_scheme { REG_AUTH_NONE, REG_AUTH_BASIC, REG_AUTH_BEARER };

typedef struct reg_cred {
	char *repository;
	bale_credential *cred; /* NULL: anonymous */
	struct reg_cred *next;
} reg_cred;

typedef struct reg_token {
	char *scope;
	char *token;
	time_t expires;
	struct reg_token *next;
} reg_token;

struct bale_registry {
	char *domain;   /* as written in references */
	char *host;     /* where the API lives: registry-1.docker.io for docker.io */
	char *base_url; /* "https://host" or "http://host", known after the ping */
	bool insecure;
	bale_registry_options opts;
	CURLSH *share; /* connections, TLS sessions and DNS shared by every handle */
	CURL *easy;    /* reused for manifests, tokens and pings */
	enum reg_auth_scheme scheme;
	bale_challenge challenge; /* from the ping: realm and service for bearer tokens */
	reg_token *tokens;        /* cached per scope */
	char **ca_files;          /* --ca-file and certs.d *.crt, added to the system CAs */
	size_t n_ca_files;
	char *client_cert, *client_key; /* certs.d client.cert / client.key (mTLS) */
	reg_cred *creds;                /* looked up once per repository */
	bale_credential *cred;          /* the current repository's (owned by creds) */
	bool client_cert_requested;     /* the server asked for one we do not have */
};

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
	bale_buf location; /* after reg_perform: absolute, resolved against the request URL */
} reg_response;

void reg_response_init(reg_response *r);
void reg_response_free(reg_response *r);
size_t reg_header_cb(char *data, size_t size, size_t n, void *payload);

/* Applies TLS, timeouts, the shared cache and, for a repository, the authorization
 * header to a handle. repository NULL: no authorization (ping, token server). */
int reg_setup_handle(bale_registry *reg, CURL *h, const char *repository, bale_error **err);
/* The same for a cross-repository mount: the token must also allow pulling from `from`
 * (NULL: an ordinary request, as reg_setup_handle). */
int reg_setup_handle_from(bale_registry *reg, CURL *h, const char *repository, const char *from,
                          bale_error **err);
/* Reacts to a 401: fetches a bearer token for the repository (or loads basic
 * credentials). Returns BALE_EAUTH when there is nothing more to try. */
int reg_authorize(bale_registry *reg, const char *repository, const char *www_authenticate,
                  bale_error **err);
int reg_authorize_from(bale_registry *reg, const char *repository, const char *from,
                       const char *www_authenticate, bale_error **err);
/* Sets the Authorization a request to the repository (and mount source) needs. */
int reg_apply_auth(bale_registry *reg, CURL *h, const char *repository, const char *from,
                   bale_error **err);
/* Names the credential in use for messages: "credentials from X" or "no credentials". */
const char *reg_auth_source(const bale_registry *reg);
/* libcurl write callback appending to a bale_buf (refusing past its cap). */
size_t reg_buf_write_cb(char *data, size_t size, size_t n, void *payload);
/* Reads a token server's answer (untrusted JSON): the token ("token", else
 * "access_token") into *token, a copy the caller wipes and frees, and in *expires when
 * to stop sending it, from expires_in and now. BALE_EAUTH when there is no token. */
int reg_token_parse(char **token, time_t *expires, const char *body, size_t len, time_t now,
                    bale_error **err);
/* The media type of a manifest body: its own mediaType, else the response's Content-Type
 * (ctype, "" when absent); Docker schema 1 and types bale does not carry are refused. */
int reg_manifest_media_type(char media_type[128], const bale_buf *body, const char *ctype,
                            const char *what, bale_error **err);
/* Drops the cached token of a repository (after the registry refused it). */
void reg_forget_token(bale_registry *reg, const char *repository);
void reg_forget_token_from(bale_registry *reg, const char *repository, const char *from);
/* Loads --ca-file and the certs.d directory of the registry (tls.c). */
int reg_tls_load(bale_registry *reg, bale_error **err);
/* Applies CAs, client certificate and (insecure registries) no verification. */
void reg_tls_setup(bale_registry *reg, CURL *h);
int reg_ensure_pinged(bale_registry *reg, bale_error **err);

/* ---- origins: where a request went, and where credentials may go ---- */

/* Room for "https://" + a host of up to 255 bytes + ":65535". */
#define REG_ORIGIN_MAX 288
/* The origin of an absolute http or https URL: "scheme://host:port", the host in lower
 * case, the default port spelled out; and, when hostport is not NULL, HOST[:PORT] as
 * references write it (the port only when the URL names one). -1 when url is not such
 * a URL. Never the path or query (they may hold a signature). */
int reg_url_origin(const char *url, char origin[REG_ORIGIN_MAX], char hostport[REG_ORIGIN_MAX]);
/* The registry's own origin: its base URL once pinged, else that of url (the ping). */
void reg_own_origin(const bale_registry *reg, const char *url, char origin[REG_ORIGIN_MAX]);
/* The origin a finished request's answer came from (CURLINFO_EFFECTIVE_URL), "" if unknown. */
void reg_answer_origin(CURL *h, char origin[REG_ORIGIN_MAX]);
/* Refuses to act on a 401 that a redirect target sent: BALE_EAUTH naming `what`, the
 * target's origin and the registry, 0 when the answer came from the registry's origin. */
int reg_check_401_origin(const bale_registry *reg, CURL *h, const char *url, const char *what,
                         bale_error **err);
/* Is HOST[:PORT] one of the hosts the user allowed plain HTTP and unverified TLS for? */
bool reg_host_insecure(const bale_registry *reg, const char *hostport);
/* May this value go into a request header? Visible ASCII only: no CR, LF, other control
 * bytes, spaces or bytes past 0x7e. On false, *bad is the offset of the first refused byte. */
bool reg_header_value_ok(const char *value, size_t *bad);

/* Is this curl result worth another attempt? */
bool reg_curl_retryable(const bale_registry *reg, CURLcode code);
bool reg_status_retryable(long status);
/* Backoff before attempt number `attempt` (1-based), honouring Retry-After up to
 * opts.max_retry_after. */
long reg_backoff_ms(const bale_registry *reg, int attempt, long retry_after);
void reg_sleep_ms(long ms);
/* Sets the overall deadline (opts.request_timeout) and a body cap on a handle for one
 * request that is not a blob download: an answer announcing more than cap bytes is
 * refused before its body arrives (0: no cap, for HEAD). */
void reg_limit_request(const bale_registry *reg, CURL *h, size_t cap);
/* Why a transfer failed, in words, safe to show (no URL path or query, no secret): a
 * refused redirect, a deadline or the minimum speed with the option that sets it, a
 * header too large. resp may be NULL; deadline is the overall limit the handle had in
 * seconds (0: none, a blob download). */
void reg_curl_cause(char *out, size_t size, const bale_registry *reg, CURL *h, CURLcode code,
                    const char *errbuf, const reg_response *resp, long deadline);
/* One-line error for a curl failure, with reg_curl_cause's words and the exit status
 * the failure calls for. */
int reg_curl_error(bale_error **err, const bale_registry *reg, CURL *h, CURLcode code,
                   const char *errbuf, const reg_response *resp, long deadline);
/* "HTTP 404 (MANIFEST_UNKNOWN: manifest unknown)" from a registry error body. */
void reg_describe_status(char *out, size_t size, long status, const bale_buf *body);

/* The Accept header for manifests: the media types bale carries. */
extern const char reg_accept_manifests[];

/* One synchronous request on reg->easy. Bodies are memory buffers (at most one upload
 * chunk), sent again as they are on every attempt. */
typedef struct reg_request {
	const char *method; /* NULL: GET; also HEAD, POST, PUT, PATCH, DELETE */
	const char *url;
	const char *repository; /* authorize for it; NULL: anonymous (ping) */
	const char *mount_from; /* cross-repository mount: pull access to it as well */
	struct curl_slist *headers;
	const void *body; /* POST, PUT, PATCH: NULL with body_len 0 sends an empty body */
	size_t body_len;
	/* One attempt, and no new token after a 401: for probes, and for best-effort
	 * cleanup the token may not cover (distribution wants "delete" to cancel). */
	bool once;
} reg_request;

/* Performs the request with retries on network errors, 5xx and 429, and one round of
 * authorization on a 401. Returns 0 with resp->status set for any final HTTP answer;
 * the caller judges the status. The response body goes to `body` (its cap applies). */
int reg_perform(bale_registry *reg, const reg_request *req, bale_buf *body, reg_response *resp,
                bale_error **err);

#endif
