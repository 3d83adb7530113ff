/* OCI distribution client: every byte bale exchanges with a registry goes through here.
 * One bale_registry per registry domain holds its TLS settings, credentials, bearer
 * tokens (cached per scope) and a connection cache shared by every transfer to it. */
#ifndef BALE_REGISTRY_H
#define BALE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "bale/auth.h"
#include "bale/buf.h"
#include "bale/digest.h"
#include "bale/error.h"
#include "bale/log.h"
#include "bale/sink.h"

typedef struct bale_registry_options {
	const bale_auth_options *auth;
	const char *ca_file; /* extra CA bundle, added to the system CAs */
	const char
	    *certs_dir; /* certs.d root; NULL: /etc/docker/certs.d + /etc/containers/certs.d */
	const char *const *insecure; /* HOST[:PORT] allowed over plain HTTP or unverified TLS */
	size_t n_insecure;
	int retries;           /* further attempts after a network error, 5xx or 429 */
	long retry_delay_ms;   /* first backoff delay, doubled each attempt */
	long connect_timeout;  /* seconds */
	long progress_timeout; /* seconds below min_speed before a transfer is abandoned */
	long min_speed;        /* bytes a second a transfer must keep up over progress_timeout */
	long request_timeout;  /* seconds a request other than a blob download may take in all */
	long max_retry_after;  /* seconds: the longest Retry-After waited out */
	const bale_log *log;
	bool push;          /* ask for push rights too (tokens scoped "pull,push") */
	bool delete_access; /* ask for delete rights too ("…,delete"): bale check --repair */
} bale_registry_options;

/* Defaults: 4 retries from 500 ms, 30 s connect, at least 1024 bytes/s over any 60 s,
 * 120 s for a whole manifest, token or upload request, Retry-After up to 60 s. */
void bale_registry_options_init(bale_registry_options *opts);

typedef struct bale_registry bale_registry;

/* domain as written in references ("docker.io", "host:5000"). Does not touch the network. */
int bale_registry_open(bale_registry **out, const char *domain, const bale_registry_options *opts,
                       bale_error **err);
void bale_registry_free(bale_registry *reg);
const char *bale_registry_domain(const bale_registry *reg);
/* Moves the tokens and looked-up credentials of from (a client of the same domain, used
 * by another thread) into reg where reg has none for that scope or repository, so the
 * work of several clients leaves one client that asks for nothing twice. */
void bale_registry_adopt(bale_registry *reg, bale_registry *from);

/* GET /v2/: picks https or (insecure registries only) http, learns the auth scheme. */
int bale_registry_ping(bale_registry *reg, bale_error **err);

/* Fetches a manifest by tag or digest. The bytes are verified: against `reference` when
 * it is a digest, and against the registry's Docker-Content-Digest header when sent.
 * media_type comes from the manifest's own mediaType field, else Content-Type. */
int bale_registry_get_manifest(bale_registry *reg, const char *repository, const char *reference,
                               bale_buf *out, char media_type[128], bale_digest *digest,
                               bale_error **err);

/* Several blob downloads at once over reused connections (libcurl multi). Each blob is
 * streamed into its sink with a running SHA-256 and size check, resumed with a Range
 * request after a dropped connection, and committed only when its digest matches. */
typedef struct bale_registry_fetch bale_registry_fetch;

int bale_registry_fetch_new(bale_registry_fetch **out, int max_parallel, const bale_log *log,
                            bale_error **err);
/* Queues one blob; the registry and sink must outlive bale_registry_fetch_run. */
int bale_registry_fetch_add(bale_registry_fetch *fetch, bale_registry *reg, const char *repository,
                            const bale_descriptor *desc, bale_sink *sink, bale_error **err);
/* Runs every queued transfer; on the first failure the others are aborted. */
int bale_registry_fetch_run(bale_registry_fetch *fetch, bale_error **err);
void bale_registry_fetch_free(bale_registry_fetch *fetch);

/* ---- foreign layers: blobs at the URLs a manifest names ---- */

/* Fetches a foreign (non-distributable) layer, one a manifest names with "urls", from the
 * first of urls that serves it whole: streamed into sink with a running SHA-256 and size
 * check, committed only when its digest matches. A URL is another origin than any
 * registry: no credential goes to it. It gets what a registry request gets: TLS (with
 * --ca-file, the certs.d directory of its host, and --insecure-registry when it names
 * its host), proxy, connect timeout, retries and minimum speed. An URL that is not http
 * or https is refused (BALE_EFORMAT); the error names the layer and the URL. */
int bale_registry_fetch_url(const bale_registry_options *opts, const char *const *urls, size_t n,
                            const bale_descriptor *desc, bale_sink *sink, bale_error **err);
/* Is url one bale_registry_fetch_url fetches (an absolute http or https URL)? */
bool bale_registry_url_fetchable(const char *url);

/* ---- pushing (a site registry as a store) ---- */

/* Is the blob in the repository? (HEAD /v2/<repo>/blobs/<digest>) */
int bale_registry_blob_exists(bale_registry *reg, const char *repository,
                              const bale_descriptor *desc, bool *out, bale_error **err);
/* Is the manifest in the repository? (HEAD /v2/<repo>/manifests/<digest>) */
int bale_registry_manifest_exists(bale_registry *reg, const char *repository,
                                  const bale_digest *digest, bool *out, bale_error **err);
/* Cross-repository mount of a blob the registry holds in `from`. *mounted is false when
 * the registry declined (the caller then uploads); any upload it opened is cancelled. */
int bale_registry_blob_mount(bale_registry *reg, const char *repository, const char *from,
                             const bale_descriptor *desc, bool *mounted, bale_error **err);
/* Puts a manifest or index under a digest or a tag, with its media type; checks the
 * Docker-Content-Digest the registry answers with. */
int bale_registry_put_manifest(bale_registry *reg, const char *repository, const char *reference,
                               const char *media_type, const void *bytes, size_t len,
                               bale_error **err);

/* One blob upload: monolithic (one PUT) when the blob fits one chunk, else chunked
 * (PATCH per chunk, then PUT with the digest). Memory: one chunk. */
typedef struct bale_registry_upload bale_registry_upload;

int bale_registry_upload_begin(bale_registry_upload **out, bale_registry *reg,
                               const char *repository, const bale_descriptor *desc,
                               bale_error **err);
int bale_registry_upload_write(bale_registry_upload *u, const void *data, size_t len,
                               bale_error **err);
/* Completes the upload; the registry must answer 201 with the blob's digest. */
int bale_registry_upload_finish(bale_registry_upload *u, bale_error **err);
/* Frees; an unfinished upload is cancelled (DELETE), best effort. */
void bale_registry_upload_free(bale_registry_upload *u);

/* ---- reading listings, and deleting (bale check of a registry store) ---- */

/* The repositories the registry lists (GET /v2/_catalog, every page, following Link
 * headers). A registry that does not list them answers BALE_EAUTH or BALE_ENOTFOUND. */
int bale_registry_catalog(bale_registry *reg, char ***repos, size_t *n, bale_error **err);
/* The tags of a repository (GET /v2/<repo>/tags/list, every page). BALE_ENOTFOUND when
 * the registry does not know the repository. */
int bale_registry_tags(bale_registry *reg, const char *repository, char ***tags, size_t *n,
                       bale_error **err);
void bale_registry_list_free(char **list, size_t n);

/* GET /v2/<repo>/referrers/<subject>: the image index of the manifests that name subject,
 * into index (the first page). *supported is false, and index empty, when the registry
 * lacks the API (404, or 400, 405, 501 from one that predates it): read the referrers
 * tag schema (sha256-<hex>) instead. */
int bale_registry_referrers(bale_registry *reg, const char *repository, const bale_digest *subject,
                            bale_buf *index, bool *supported, bale_error **err);

/* What HEAD says of a manifest or a blob. */
typedef struct bale_registry_head {
	bool found;
	bool has_digest;      /* the registry sent Docker-Content-Digest */
	bale_digest digest;   /* (a manifest looked up by tag: the digest it resolves to) */
	int64_t size;         /* Content-Length; -1 when not sent */
	char media_type[128]; /* Content-Type, without parameters */
} bale_registry_head;

/* HEAD /v2/<repo>/manifests/<reference> (a tag or a digest). */
int bale_registry_head_manifest(bale_registry *reg, const char *repository, const char *reference,
                                bale_registry_head *out, bale_error **err);
/* HEAD /v2/<repo>/blobs/<digest>. */
int bale_registry_head_blob(bale_registry *reg, const char *repository, const bale_digest *digest,
                            bale_registry_head *out, bale_error **err);
/* DELETE /v2/<repo>/manifests/<reference>. Registries often refuse it (distribution
 * unless storage.delete.enabled: HTTP 405): BALE_ESTORE naming the answer; BALE_EAUTH
 * when the credentials do not allow it; BALE_ENOTFOUND when it is gone already. A
 * client deleting needs delete_access in its options. */
int bale_registry_delete_manifest(bale_registry *reg, const char *repository, const char *reference,
                                  bale_error **err);

#endif
