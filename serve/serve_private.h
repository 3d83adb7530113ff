/* serve/: the server (server.c) answers each request (http.c) from a catalog of the bundles
 * it serves (catalog.c), streaming blobs checked as they go (stream.c). */
#ifndef SERVE_PRIVATE_H
#define SERVE_PRIVATE_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/buf.h"
#include "bale/bundle.h"
#include "bale/log.h"
#include "bale/serve.h"

typedef struct serve_catalog serve_catalog;

/* A blob of a bundle: where its member starts in the archive, and what it must be. */
typedef struct serve_blob {
	bale_digest digest;
	int64_t size;
	uint64_t offset; /* decompressed offset of its tar header */
	size_t bundle;
} serve_blob;

/* Opens the bundles (signatures checked), saying how far it is to log's progress (phase
 * "opening bundles"); the catalog starts with one reference. */
int serve_catalog_open(serve_catalog **out, const char *const *bundles, size_t n,
                       const bale_trust *trust, const bale_log *log, bale_error **err);
/* References: each request holds one while it reads, so a reload can swap in a new
 * catalog and the old one goes when its last request ends. */
void serve_catalog_ref(serve_catalog *c);
void serve_catalog_unref(serve_catalog *c);
size_t serve_catalog_images(const serve_catalog *c);

/* Does a repository of that name exist (an image path, as images.repository says), of
 * registry ns when ns is not NULL (containerd's "?ns=HOST")? */
bool serve_catalog_has_repository(serve_catalog *c, const char *name, const char *ns);
/* The blob of digest text, NULL when no bundle carries it. */
const serve_blob *serve_catalog_blob(serve_catalog *c, const char *digest);
/* The root of name:tag (of registry ns, when not NULL) in the latest bundle that has it:
 * its blob, or NULL. */
const serve_blob *serve_catalog_tag(serve_catalog *c, const char *name, const char *tag,
                                    const char *ns);
/* The media type index.db records for a blob ("" when none) and whether it is an index or
 * manifest. */
void serve_catalog_describe(serve_catalog *c, const serve_blob *b, char media_type[128],
                            bool *manifest);
/* JSON lists for tags/list and _catalog. */
int serve_catalog_tags(serve_catalog *c, const char *name, bale_buf *out, bale_error **err);
int serve_catalog_repositories(serve_catalog *c, bale_buf *out, bale_error **err);
/* The referrers of a manifest (the manifests whose "subject" is digest, of artifactType
 * type when not NULL) as an OCI image index, for GET /v2/NAME/referrers/DIGEST. */
int serve_catalog_referrers(serve_catalog *c, const char *digest, const char *type, bale_buf *out,
                            bale_error **err);
/* Streams the blob's bytes to copy, checked against its digest as they go (a mismatch is
 * BALE_EVERIFY after the bytes up to it). */
int serve_catalog_read(serve_catalog *c, const serve_blob *b, bale_member_copy_fn copy,
                       void *payload, bale_error **err);

/* A response that streams bytes [first, last] of blob b: the whole blob is read and
 * checked, and the range's last bytes are held back until the digest has matched, so a
 * blob that fails ends the response short. Holds a reference on c while it lives. */
struct MHD_Response *serve_stream_blob(serve_catalog *c, const serve_blob *b, int64_t first,
                                       int64_t last);

/* One request, from its first call to its end: the catalog it reads, and what the access
 * log says of it. */
typedef struct serve_request {
	serve_catalog *catalog;
	unsigned status;
	uint64_t size;
	char line[512]; /* "GET /v2/team/app/manifests/1.0 HTTP/1.1" */
} serve_request;

/* Answers one request from rq->catalog (records its status and size in rq). */
enum MHD_Result serve_http_answer(serve_request *rq, const bale_log *log, struct MHD_Connection *c,
                                  const char *url, const char *method);

#endif
