/* bale serve's HTTP side: the pull half of the OCI distribution API on libmicrohttpd (in
 * Debian, a thread per connection, bounded connections and timeouts, HEAD and keep-alive
 * handled by it). Blobs stream from the bundle through a pipe, fed by a thread that checks
 * them as it reads: a blob whose bytes fail stops short of its Content-Length, and the
 * client sees the transfer fail. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bale/fs.h"
#include "serve/serve_private.h"

#define BLOCK (256u << 10)

struct bale_serve {
	serve_catalog *catalog;
	struct MHD_Daemon *daemon;
	int port;
	const bale_log *log;
};

/* ---- responses ---- */

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r,
                             const char *type)
{
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Docker-Distribution-Api-Version", "registry/2.0");
	if (type && *type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *body,
                            const char *type)
{
	return queue(
	    c, status,
	    MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY),
	    type);
}

/* The spec's error body: {"errors": [{"code", "message"}]}. */
static enum MHD_Result error(struct MHD_Connection *c, unsigned status, const char *code,
                             const char *message)
{
	char body[256];
	snprintf(body, sizeof(body), "{\"errors\":[{\"code\":\"%s\",\"message\":\"%s\"}]}\n", code,
	         message);
	return text(c, status, body, "application/json");
}

/* ---- blobs, streamed ---- */

typedef struct stream {
	serve_catalog *catalog;
	const serve_blob *blob;
	int fds[2];
	pthread_t thread;
	bool started;
} stream;

static int to_pipe(void *payload, const void *data, size_t len, bale_error **err)
{
	stream *s = payload;
	if (bale_fs_write_all(s->fds[1], data, len) < 0) /* the client went: stop */
		return bale_error_set_errno(err, BALE_EGENERIC, errno, "client gone");
	return 0;
}

static void *feed(void *arg)
{
	stream *s = arg;
	bale_error *e = NULL;
	serve_catalog_read(s->catalog, s->blob, to_pipe, s, &e);
	bale_error_free(e);
	close(s->fds[1]); /* short of its size when the check failed */
	s->fds[1] = -1;
	return NULL;
}

static ssize_t read_blob(void *cls, uint64_t pos, char *buf, size_t max)
{
	stream *s = cls;
	if (!s->started) { /* first read: a HEAD never gets here */
		if (pipe2(s->fds, O_CLOEXEC) < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (pthread_create(&s->thread, NULL, feed, s) != 0) {
			close(s->fds[0]);
			close(s->fds[1]);
			s->fds[0] = s->fds[1] = -1;
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		s->started = true;
	}
	for (;;) {
		ssize_t n = read(s->fds[0], buf, max);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0)
			return n;
		/* the feed ended: at the blob's end, or short of it (then the client must know) */
		return n == 0 && pos >= (uint64_t)s->blob->size ? MHD_CONTENT_READER_END_OF_STREAM
		                                                : MHD_CONTENT_READER_END_WITH_ERROR;
	}
}

static void free_stream(void *cls)
{
	stream *s = cls;
	if (s->started) {
		close(s->fds[0]); /* a feed still writing gets EPIPE and ends */
		pthread_join(s->thread, NULL);
	}
	free(s);
}

static enum MHD_Result blob(bale_serve *srv, struct MHD_Connection *c, const serve_blob *b)
{
	stream *s = calloc(1, sizeof(*s));
	if (!s)
		return MHD_NO;
	s->catalog = srv->catalog;
	s->blob = b;
	s->fds[0] = s->fds[1] = -1;
	struct MHD_Response *r =
	    MHD_create_response_from_callback((uint64_t)b->size, BLOCK, read_blob, s, free_stream);
	if (!r) {
		free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Docker-Content-Digest", b->digest.str);
	return queue(c, MHD_HTTP_OK, r, "application/octet-stream");
}

/* ---- manifests, whole ---- */

static int to_buf(void *payload, const void *data, size_t len, bale_error **err)
{
	return bale_buf_append(payload, data, len, err);
}

static enum MHD_Result manifest(bale_serve *srv, struct MHD_Connection *c, const serve_blob *b)
{
	char type[128];
	bool is_manifest = false;
	serve_catalog_describe(srv->catalog, b, type, &is_manifest);
	if (!is_manifest)
		return error(c, MHD_HTTP_NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown");
	bale_buf bytes;
	bale_error *e = NULL;
	bale_buf_init(&bytes, BALE_CAP_MANIFEST, "manifest");
	if (serve_catalog_read(srv->catalog, b, to_buf, &bytes, &e) < 0) {
		bale_log_printf(srv->log, BALE_LOG_ERROR, "%s", bale_error_message(e));
		bale_error_free(e);
		bale_buf_free(&bytes);
		return error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "UNKNOWN",
		             "the bundle's copy does not match its digest");
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    bytes.len, bytes.data ? bytes.data : "", MHD_RESPMEM_MUST_COPY);
	bale_buf_free(&bytes);
	if (r)
		MHD_add_response_header(r, "Docker-Content-Digest", b->digest.str);
	return queue(c, MHD_HTTP_OK, r, type);
}

/* ---- routing ---- */

/* The last "/manifests/" (or "/blobs/") in path: a repository may have a component of
 * that name, a tag or digest never has a slash. */
static const char *last(const char *path, const char *what)
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

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
	bale_serve *srv = cls;
	(void)version;
	(void)upload;
	(void)upload_size;
	(void)state;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "UNSUPPORTED",
		             "this registry serves bundles: it is read-only");
	if (strcmp(url, "/v2/") == 0 || strcmp(url, "/v2") == 0)
		return text(c, MHD_HTTP_OK, "{}\n", "application/json");
	if (strcmp(url, "/v2/_catalog") == 0) {
		bale_buf out;
		bale_buf_init(&out, 64u << 20, "catalog");
		enum MHD_Result ret =
		    serve_catalog_repositories(srv->catalog, &out, NULL) == 0
		        ? text(c, MHD_HTTP_OK, out.data, "application/json")
		        : error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "UNKNOWN", "index");
		bale_buf_free(&out);
		return ret;
	}
	if (strncmp(url, "/v2/", 4) != 0)
		return error(c, MHD_HTTP_NOT_FOUND, "NAME_UNKNOWN", "not a registry path");
	const char *path = url + 4, *at = NULL, *ref = NULL;
	enum { MANIFESTS, BLOBS, TAGS } kind = TAGS;
	if ((at = last(path, "/manifests/"))) {
		kind = MANIFESTS;
		ref = at + 11;
	} else if ((at = last(path, "/blobs/"))) {
		kind = BLOBS;
		ref = at + 7;
	} else if ((at = strstr(path, "/tags/list")) && !at[10]) {
		kind = TAGS;
	} else {
		return error(c, MHD_HTTP_NOT_FOUND, "NAME_UNKNOWN", "not a registry path");
	}
	char name[256];
	size_t len = (size_t)(at - path);
	if (!name_ok(path, len))
		return error(c, MHD_HTTP_NOT_FOUND, "NAME_INVALID", "invalid repository name");
	memcpy(name, path, len);
	name[len] = '\0';
	if (!serve_catalog_has_repository(srv->catalog, name))
		return error(c, MHD_HTTP_NOT_FOUND, "NAME_UNKNOWN", "repository name not known");
	if (kind == TAGS) {
		bale_buf out;
		bale_buf_init(&out, 16u << 20, "tags");
		enum MHD_Result ret =
		    serve_catalog_tags(srv->catalog, name, &out, NULL) == 0
		        ? text(c, MHD_HTTP_OK, out.data, "application/json")
		        : error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "UNKNOWN", "index");
		bale_buf_free(&out);
		return ret;
	}
	const serve_blob *b = strncmp(ref, "sha256:", 7) == 0
	                          ? serve_catalog_blob(srv->catalog, ref)
	                      : kind == MANIFESTS ? serve_catalog_tag(srv->catalog, name, ref)
	                                          : NULL;
	if (kind == BLOBS)
		return b ? blob(srv, c, b)
		         : error(c, MHD_HTTP_NOT_FOUND, "BLOB_UNKNOWN", "blob unknown");
	return b ? manifest(srv, c, b)
	         : error(c, MHD_HTTP_NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown");
}

/* ---- the server ---- */

int bale_serve_start(bale_serve **out, const char *const *bundles, size_t n,
                     const bale_serve_options *opts, bale_error **err)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	char host[64];
	unsigned port = 0;
	const char *colon = opts->listen ? strrchr(opts->listen, ':') : NULL;
	if (!colon || (size_t)(colon - opts->listen) >= sizeof(host) ||
	    sscanf(colon + 1, "%u", &port) != 1 || port > 65535)
		return bale_error_set(err, BALE_EUSAGE, "--listen: want ADDR:PORT, got \"%s\"",
		                      opts->listen ? opts->listen : "");
	snprintf(host, sizeof(host), "%.*s", (int)(colon - opts->listen), opts->listen);
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
		return bale_error_set(err, BALE_EUSAGE, "--listen: \"%s\" is not an IPv4 address",
		                      host);
	addr.sin_port = htons((uint16_t)port);
	bale_serve *s = calloc(1, sizeof(*s));
	if (!s)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	s->log = opts->log;
	int rc = serve_catalog_open(&s->catalog, bundles, n, opts->trust, err);
	if (rc == 0) {
		s->daemon = MHD_start_daemon(
		    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, (uint16_t)port,
		    NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		    MHD_OPTION_CONNECTION_LIMIT,
		    opts->max_connections ? opts->max_connections : 64u,
		    MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
		if (!s->daemon)
			rc = bale_error_set(err, BALE_EUSAGE, "cannot listen on %s", opts->listen);
	}
	if (rc == 0) {
		const union MHD_DaemonInfo *info =
		    MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
		s->port = info ? info->port : (int)port;
		*out = s;
		return 0;
	}
	bale_serve_stop(s);
	return rc;
}

int bale_serve_port(const bale_serve *s)
{
	return s->port;
}

size_t bale_serve_image_count(const bale_serve *s)
{
	return serve_catalog_images(s->catalog);
}

void bale_serve_stop(bale_serve *s)
{
	if (!s)
		return;
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	serve_catalog_free(s->catalog);
	free(s);
}
