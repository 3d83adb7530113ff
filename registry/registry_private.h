/* The registry session: one bale_registry is a transport (request.h) and the auth state
 * that rides on it (scheme.h). fetch.c, push.c, browse.c and manifest.c send their
 * requests through reg_perform, which hands the session's auth hooks to the transport.
 *
 * registry/ calls one way: a file calls only into the rows below its own.
 *
 *   fetch.c  push.c  browse.c      blobs, uploads, listings
 *   manifest.c                     manifests (push.c and browse.c use its Accept list)
 *   registry.c                     the session: open, ping, reg_perform, reg_setup_handle
 *   scheme.c                       which scheme, whose credential; the transport's hooks
 *   token.c                        bearer: tokens, fetched through reg_http_perform
 *   basic.c                        Basic: user name and password on each request
 *   request.c                      handle setup, deadlines, caps, retries and backoff
 *   response.c  origin.c  tls.c    answers' headers and error bodies; origins; CAs
 *
 * fetch.c drives its blob transfers on a multi handle itself, so it also calls scheme.c
 * (a 401) and request.c (backoff, failures) directly. Credentials come from
 * bale_auth_lookup, which scheme.c asks; its sources call one way too (auth_private.h).
 * challenge.c parses WWW-Authenticate for scheme.c and token.c. */
#ifndef BALE_REGISTRY_PRIVATE_H
#define BALE_REGISTRY_PRIVATE_H

#include <curl/curl.h>

#include "bale/buf.h"
#include "bale/registry.h"
#include "registry/request.h"
#include "registry/scheme.h"

struct bale_registry {
	reg_http http; /* where it is, how to reach it, what to trust */
	reg_auth auth; /* what it asks for, and the credentials and tokens that answer */
	/* It answered a referrers request as a registry without the API does: the next
	 * are answered here, without a request (one round trip less an image). */
	bool no_referrers_api;
};

/* Performs a request with the session's auth: reg_http_perform with the credentials of
 * req->repository (and req->mount_from) and one round of authorization on a 401. */
int reg_perform(bale_registry *reg, const reg_request *req, bale_buf *body, reg_response *resp,
                bale_error **err);
/* Sets a handle for a request of the session that does not go through reg_perform (a
 * blob download): what every request gets, and the repository's credentials. */
int reg_setup_handle(bale_registry *reg, CURL *h, const char *repository, bale_error **err);
/* Pings /v2/ once per session: the base URL, and the scheme the registry asks for. */
int reg_ensure_pinged(bale_registry *reg, bale_error **err);

/* ---- manifests (manifest.c) ---- */

/* The Accept header for manifests: the media types bale carries. */
extern const char reg_accept_manifests[];
/* True when a reply is a Docker schema 1 manifest (its Content-Type, or "schemaVersion": 1
 * in its body): asked before any digest check, which schema 1 always fails. */
bool reg_manifest_is_schema1(const bale_buf *body, const char *ctype);
/* The media type of a manifest body: its own mediaType, else the response's Content-Type
 * (ctype, "" when absent); Docker schema 1 (BALE_EFORMAT) and types bale does not carry
 * are refused. */
int reg_manifest_media_type(char media_type[128], const bale_buf *body, const char *ctype,
                            const char *what, bale_error **err);

#endif
