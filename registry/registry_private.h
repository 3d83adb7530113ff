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
	long retry_after; /* seconds, -1 when absent */
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
/* Drops the cached token of a repository (after the registry refused it). */
void reg_forget_token(bale_registry *reg, const char *repository);
void reg_forget_token_from(bale_registry *reg, const char *repository, const char *from);
/* Loads --ca-file and the certs.d directory of the registry (tls.c). */
int reg_tls_load(bale_registry *reg, bale_error **err);
/* Applies CAs, client certificate and (insecure registries) no verification. */
void reg_tls_setup(bale_registry *reg, CURL *h);
int reg_ensure_pinged(bale_registry *reg, bale_error **err);

/* Is this curl result worth another attempt? */
bool reg_curl_retryable(const bale_registry *reg, CURLcode code);
bool reg_status_retryable(long status);
/* Backoff before attempt number `attempt` (1-based), honouring Retry-After. */
long reg_backoff_ms(const bale_registry *reg, int attempt, long retry_after);
void reg_sleep_ms(long ms);
/* One-line description of a curl failure, safe to show (no URL query, no secrets). */
int reg_curl_error(bale_error **err, const bale_registry *reg, CURLcode code, const char *errbuf);
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
