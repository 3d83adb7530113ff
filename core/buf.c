#include "bale/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void bale_buf_init(bale_buf *b, size_t cap, const char *what)
{
	memset(b, 0, sizeof(*b));
	b->cap = cap;
	b->what = what ? what : "data";
}

int bale_buf_append(bale_buf *b, const void *data, size_t len, bale_error **err)
{
	if (len > b->cap - b->len)
		return bale_error_set(err, BALE_EVERIFY, "%s is larger than the %zu byte limit",
		                      b->what, b->cap);
	if (b->len + len + 1 > b->alloc) {
		size_t want = b->alloc ? b->alloc : 256;
		while (want < b->len + len + 1)
			want *= 2;
		char *p = malloc(want);
		if (!p)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		if (b->data) {
			memcpy(p, b->data, b->len);
			OPENSSL_cleanse(b->data, b->alloc);
			free(b->data);
		}
		b->data = p;
		b->alloc = want;
	}
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int bale_buf_appendf(bale_buf *b, bale_error **err, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return bale_error_set(err, BALE_EGENERIC, "formatting failed");
	if ((size_t)n < sizeof(small))
		return bale_buf_append(b, small, (size_t)n, err);
	char *big = malloc((size_t)n + 1);
	if (!big)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int rc = bale_buf_append(b, big, (size_t)n, err);
	free(big);
	return rc;
}

void bale_buf_reset(bale_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *bale_buf_detach(bale_buf *b, size_t *len)
{
	char *p = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->alloc = 0;
	return p;
}

void bale_buf_free(bale_buf *b)
{
	if (b->data) {
		OPENSSL_cleanse(b->data, b->alloc);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->alloc = 0;
}

/* Room for want more bytes at once (a file of known size), within the cap: spares the
 * doublings, and the copies they make, of appending chunk by chunk. */
static void reserve(bale_buf *b, size_t want)
{
	if (want > b->cap - b->len || b->len + want + 1 <= b->alloc)
		return;
	char *p = malloc(b->len + want + 1);
	if (!p)
		return; /* appending will grow it, or say so */
	if (b->data) {
		memcpy(p, b->data, b->len + 1);
		OPENSSL_cleanse(b->data, b->alloc);
		free(b->data);
	}
	b->data = p;
	b->alloc = b->len + want + 1;
}

int bale_buf_read_file(bale_buf *b, const char *path, bale_error **err)
{
	int rc = 0;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bale_error_set_errno(err, errno == ENOENT ? BALE_ENOTFOUND : BALE_EGENERIC,
		                            errno, "open %s", path);
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		reserve(b, (size_t)st.st_size);
	char chunk[8192];
	for (;;) {
		/* straight into the buffer while it has room; the chunk past that (the file grew,
		 * or its end must be seen) */
		size_t room = b->data ? b->alloc - b->len - 1 : 0;
		if (room > b->cap - b->len)
			room = b->cap - b->len; /* never past the cap: the chunk path says so */
		if (room) {
			ssize_t n = read(fd, b->data + b->len, room);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "read %s",
				                          path);
				goto cleanup;
			}
			if (n == 0)
				break;
			b->len += (size_t)n;
			b->data[b->len] = '\0';
			continue;
		}
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "read %s", path);
			goto cleanup;
		}
		if (n == 0)
			break;
		if ((rc = bale_buf_append(b, chunk, (size_t)n, err)) < 0) {
			bale_error_wrap(err, "%s", path);
			goto cleanup;
		}
	}
	if (!b->data) /* empty file: still hand back a NUL-terminated string */
		rc = bale_buf_append(b, "", 0, err);
cleanup:
	OPENSSL_cleanse(chunk, sizeof(chunk));
	close(fd);
	return rc;
}
