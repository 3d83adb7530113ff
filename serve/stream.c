/* Blobs streamed from a bundle: a thread reads the member through the seek table and checks
 * it against its digest, writing the bytes asked for into a pipe that libmicrohttpd reads.
 * The last bytes asked for wait until the whole blob has matched its digest: a blob that
 * fails ends the response short of its Content-Length, and the client sees the transfer
 * fail instead of taking wrong bytes for right ones. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bale/fs.h"
#include "serve/serve_private.h"

#define BLOCK (256u << 10)

typedef struct stream {
	serve_catalog *catalog; /* a reference of its own */
	const serve_blob *blob;
	uint64_t first, end; /* the bytes [first, end) of the blob are sent */
	uint64_t at;         /* of the blob, read so far */
	char *held;          /* the range's last bytes, until the digest matched */
	size_t held_len;
	int fds[2];
	pthread_t thread;
	bool started;
} stream;

static int to_pipe(void *payload, const void *data, size_t len, bale_error **err)
{
	stream *s = payload;
	uint64_t from = s->at, to = s->at + len;
	s->at = to;
	uint64_t a = from > s->first ? from : s->first, b = to < s->end ? to : s->end;
	if (a >= b)
		return 0;
	const char *bytes = (const char *)data + (a - from);
	size_t n = (size_t)(b - a);
	if (b == s->end) { /* the last of the range: sent once the blob has matched */
		if (!(s->held = malloc(n)))
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		memcpy(s->held, bytes, n);
		s->held_len = n;
		return 0;
	}
	if (bale_fs_write_all(s->fds[1], bytes, n) < 0) /* the client went: stop */
		return bale_error_set_errno(err, BALE_EGENERIC, errno, "client gone");
	return 0;
}

static void *feed(void *arg)
{
	stream *s = arg;
	bale_error *e = NULL;
	if (serve_catalog_read(s->catalog, s->blob, to_pipe, s, &e) == 0 && s->held)
		bale_fs_write_all(s->fds[1], s->held, s->held_len);
	bale_error_free(e);
	close(s->fds[1]); /* short of the range when the check failed */
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
		/* the feed ended: at the range's end, or short of it (the client must know) */
		return n == 0 && pos >= s->end - s->first ? MHD_CONTENT_READER_END_OF_STREAM
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
	serve_catalog_unref(s->catalog);
	free(s->held);
	free(s);
}

struct MHD_Response *serve_stream_blob(serve_catalog *c, const serve_blob *b, int64_t first,
                                       int64_t last)
{
	stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	serve_catalog_ref(c);
	*s = (stream){.catalog = c,
	              .blob = b,
	              .first = (uint64_t)first,
	              .end = (uint64_t)last + 1,
	              .fds = {-1, -1}};
	struct MHD_Response *r =
	    MHD_create_response_from_callback(s->end - s->first, BLOCK, read_blob, s, free_stream);
	if (!r) {
		serve_catalog_unref(c);
		free(s);
	}
	return r;
}
