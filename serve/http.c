/* bale serve's answers: the pull half of the OCI distribution API (GET and HEAD; HEAD and
 * keep-alive are libmicrohttpd's), from the catalog a request holds. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve_private.h"

/* ---- responses ---- */

static enum MHD_Result queue(serve_request *rq, struct MHD_Connection *c, unsigned status,
                             struct MHD_Response *r, const char *type, uint64_t size)
{
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Docker-Distribution-Api-Version", "registry/2.0");
	if (type && *type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	rq->status = status;
	rq->size = size;
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result text(serve_request *rq, struct MHD_Connection *c, unsigned status,
                            const char *body, const char *type)
{
	size_t len = strlen(body);
	return queue(rq, c, status,
	             MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY),
	             type, len);
}

/* The spec's error body: {"errors": [{"code", "message"}]}. */
static enum MHD_Result error(serve_request *rq, struct MHD_Connection *c, unsigned status,
                             const char *code, const char *message)
{
	char body[256];
	snprintf(body, sizeof(body), "{\"errors\":[{\"code\":\"%s\",\"message\":\"%s\"}]}\n", code,
	         message);
	return text(rq, c, status, body, "application/json");
}

/* A JSON document the catalog made (made == 0) or could not. */
static enum MHD_Result document(serve_request *rq, struct MHD_Connection *c, int made,
                                const bale_buf *out, const char *type, bool filtered)
{
	if (made < 0)
		return error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "UNKNOWN",
		             "the bundle's index cannot be read");
	size_t len = out->len;
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, out->data ? out->data : "", MHD_RESPMEM_MUST_COPY);
	if (r && filtered) /* the referrers API says which filter it applied */
		MHD_add_response_header(r, "OCI-Filters-Applied", "artifactType");
	return queue(rq, c, MHD_HTTP_OK, r, type, len);
}

/* ---- blobs, whole or a range ---- */

typedef enum { RANGE_NONE, RANGE_OK, RANGE_UNSATISFIABLE } range_kind;

/* Decimal digits at *p (at most 18) into *out, *p past them; false when there are none
 * or more. */
static bool digits(const char **p, int64_t *out)
{
	int64_t v = 0;
	int n = 0;
	for (; **p >= '0' && **p <= '9' && n < 18; (*p)++, n++)
		v = v * 10 + (**p - '0');
	*out = v;
	return n > 0 && !(**p >= '0' && **p <= '9');
}

/* "Range: bytes=A-B", "bytes=A-" or "bytes=-N" of a blob of size bytes. Anything else
 * (several ranges, other units, malformed) is RANGE_NONE: RFC 9110 lets a server ignore a
 * Range and send the whole. */
static range_kind parse_range(const char *h, int64_t size, int64_t *first, int64_t *last)
{
	int64_t a = 0, b = INT64_MAX;
	if (!h || strncmp(h, "bytes=", 6) != 0)
		return RANGE_NONE;
	h += 6;
	if (*h == '-') { /* the last b bytes */
		h++;
		if (!digits(&h, &b) || *h)
			return RANGE_NONE;
		if (b == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return RANGE_OK;
	}
	if (!digits(&h, &a) || *h++ != '-' || (*h && (!digits(&h, &b) || *h || b < a)))
		return RANGE_NONE;
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return RANGE_OK;
}

static enum MHD_Result blob(serve_request *rq, struct MHD_Connection *c, const serve_blob *b)
{
	int64_t first = 0, last = b->size - 1;
	char value[96];
	range_kind range =
	    parse_range(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE),
	                b->size, &first, &last);
	if (range == RANGE_UNSATISFIABLE) {
		const char *body = "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\",\"message\":\"range "
		                   "not satisfiable\"}]}\n";
		struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
		                                                         MHD_RESPMEM_PERSISTENT);
		snprintf(value, sizeof(value), "bytes */%" PRId64, b->size);
		if (r)
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, value);
		return queue(rq, c, MHD_HTTP_RANGE_NOT_SATISFIABLE, r, "application/json",
		             strlen(body));
	}
	struct MHD_Response *r = serve_stream_blob(rq->catalog, b, first, last);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Docker-Content-Digest", b->digest.str);
	MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	if (range == RANGE_OK) {
		snprintf(value, sizeof(value), "bytes %" PRId64 "-%" PRId64 "/%" PRId64, first,
		         last, b->size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, value);
	}
	return queue(rq, c, range == RANGE_OK ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, r,
	             "application/octet-stream", (uint64_t)(last - first + 1));
}

/* ---- manifests, whole ---- */

static int to_buf(void *payload, const void *data, size_t len, bale_error **err)
{
	return bale_buf_append(payload, data, len, err);
}

static enum MHD_Result manifest(serve_request *rq, const bale_log *log, struct MHD_Connection *c,
                                const serve_blob *b)
{
	char type[128];
	bool is_manifest = false;
	serve_catalog_describe(rq->catalog, b, type, &is_manifest);
	if (!is_manifest)
		return error(rq, c, MHD_HTTP_NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown");
	bale_buf bytes;
	bale_error *e = NULL;
	bale_buf_init(&bytes, BALE_CAP_MANIFEST, "manifest");
	if (serve_catalog_read(rq->catalog, b, to_buf, &bytes, &e) < 0) {
		bale_log_printf(log, BALE_LOG_ERROR, "%s", bale_error_message(e));
		bale_error_free(e);
		bale_buf_free(&bytes);
		return error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "UNKNOWN",
		             "the bundle's copy does not match its digest");
	}
	size_t len = bytes.len;
	struct MHD_Response *r = MHD_create_response_from_buffer(len, bytes.data ? bytes.data : "",
	                                                         MHD_RESPMEM_MUST_COPY);
	bale_buf_free(&bytes);
	if (r)
		MHD_add_response_header(r, "Docker-Content-Digest", b->digest.str);
	return queue(rq, c, MHD_HTTP_OK, r, type, len);
}

/* ---- routing ---- */

/* The last "/manifests/" (or "/blobs/", "/referrers/") in path: a repository may have a
 * component of that name, a tag or digest never has a slash. */
static const char *last_of(const char *path, const char *what)
{
	const char *found = NULL;
	for (const char *p = strstr(path, what); p; p = strstr(p + 1, what))
		found = p;
	return found;
}

/* A repository name as the spec allows it: lowercase path components. */
static bool name_ok(const char *name, size_t len)
{
	if (!len || len > 255 || name[0] == '/' || name[len - 1] == '/')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789._-/", name[i]))
			return false;
	return !memmem(name, len, "//", 2) && !memmem(name, len, "..", 2);
}

enum MHD_Result serve_http_answer(serve_request *rq, const bale_log *log, struct MHD_Connection *c,
                                  const char *url, const char *method)
{
	serve_catalog *cat = rq->catalog;
	bale_buf out;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return error(rq, c, MHD_HTTP_METHOD_NOT_ALLOWED, "UNSUPPORTED",
		             "this registry serves bundles: it is read-only");
	if (strcmp(url, "/v2/") == 0 || strcmp(url, "/v2") == 0)
		return text(rq, c, MHD_HTTP_OK, "{}\n", "application/json");
	if (strcmp(url, "/v2/_catalog") == 0) {
		bale_buf_init(&out, 64u << 20, "catalog");
		enum MHD_Result ret = document(rq, c, serve_catalog_repositories(cat, &out, NULL),
		                               &out, "application/json", false);
		bale_buf_free(&out);
		return ret;
	}
	if (strncmp(url, "/v2/", 4) != 0)
		return error(rq, c, MHD_HTTP_NOT_FOUND, "NAME_UNKNOWN", "not a registry path");
	const char *path = url + 4, *at = NULL, *ref = NULL;
	enum { MANIFESTS, BLOBS, REFERRERS, TAGS } kind = TAGS;
	if ((at = last_of(path, "/manifests/"))) {
		kind = MANIFESTS;
		ref = at + 11;
	} else if ((at = last_of(path, "/blobs/"))) {
		kind = BLOBS;
		ref = at + 7;
	} else if ((at = last_of(path, "/referrers/"))) {
		kind = REFERRERS;
		ref = at + 11;
	} else if (!(at = strstr(path, "/tags/list")) || at[10]) {
		return error(rq, c, MHD_HTTP_NOT_FOUND, "NAME_UNKNOWN", "not a registry path");
	}
	char name[256];
	size_t len = (size_t)(at - path);
	if (!name_ok(path, len))
		return error(rq, c, MHD_HTTP_NOT_FOUND, "NAME_INVALID", "invalid repository name");
	memcpy(name, path, len);
	name[len] = '\0';
	/* containerd names the registry a mirror stands in for: only its images answer */
	const char *ns = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ns");
	if (!serve_catalog_has_repository(cat, name, ns))
		return error(rq, c, MHD_HTTP_NOT_FOUND, "NAME_UNKNOWN",
		             "repository name not known");
	if (kind == TAGS || kind == REFERRERS) {
		bool tags = kind == TAGS;
		if (!tags && strncmp(ref, "sha256:", 7) != 0)
			return error(rq, c, MHD_HTTP_BAD_REQUEST, "DIGEST_INVALID", "not a digest");
		const char *type =
		    tags ? NULL
		         : MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "artifactType");
		bale_buf_init(&out, 16u << 20, tags ? "tags" : "referrers");
		int made = tags ? serve_catalog_tags(cat, name, &out, NULL)
		                : serve_catalog_referrers(cat, ref, type, &out, NULL);
		enum MHD_Result ret =
		    document(rq, c, made, &out,
		             tags ? "application/json" : "application/vnd.oci.image.index.v1+json",
		             type != NULL);
		bale_buf_free(&out);
		return ret;
	}
	const serve_blob *b = strncmp(ref, "sha256:", 7) == 0 ? serve_catalog_blob(cat, ref)
	                      : kind == MANIFESTS ? serve_catalog_tag(cat, name, ref, ns)
	                                          : NULL;
	if (kind == BLOBS)
		return b ? blob(rq, c, b)
		         : error(rq, c, MHD_HTTP_NOT_FOUND, "BLOB_UNKNOWN", "blob unknown");
	return b ? manifest(rq, log, c, b)
	         : error(rq, c, MHD_HTTP_NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown");
}
