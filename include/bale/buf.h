/* A growable byte buffer with a hard size cap, for untrusted input (manifests, JSON,
 * YAML, headers): like curl's dynbuf, appending past the cap is an error, not growth. */
#ifndef BALE_BUF_H
#define BALE_BUF_H

#include <stddef.h>

#include "bale/error.h"

typedef struct bale_buf {
	char *data; /* always NUL-terminated when not NULL */
	size_t len;
	size_t alloc;
	size_t cap;       /* maximum len */
	const char *what; /* names the content in the "too large" error */
} bale_buf;

void bale_buf_init(bale_buf *b, size_t cap, const char *what);
int bale_buf_append(bale_buf *b, const void *data, size_t len, bale_error **err);
int bale_buf_appendf(bale_buf *b, bale_error **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void bale_buf_reset(bale_buf *b);
/* Hands the bytes to the caller (who frees them) and resets the buffer. */
char *bale_buf_detach(bale_buf *b, size_t *len);
/* Frees the bytes, first wiping them (the buffer may have held a secret). */
void bale_buf_free(bale_buf *b);

/* Reads a whole small file, refusing one over cap bytes. */
int bale_buf_read_file(bale_buf *b, const char *path, bale_error **err);

/* Caps for untrusted input. */
#define BALE_CAP_MANIFEST (4u << 20) /* OCI distribution's recommended manifest limit */
#define BALE_CAP_CONFIG (16u << 20)  /* image configs can carry long histories */
#define BALE_CAP_AUTHFILE (1u << 20)
#define BALE_CAP_TOKEN_RESPONSE (1u << 20)
#define BALE_CAP_ERROR_BODY (64u << 10)
/* The largest blob (a layer) a descriptor may declare: 1 TiB, beyond any layer seen in
 * practice, model weights included. Larger sizes are refused when the manifest is read,
 * before anything is downloaded; the free space of the destination is checked too. */
#define BALE_CAP_BLOB (1ull << 40)

#endif
