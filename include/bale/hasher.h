/* A running SHA-256, fed chunk by chunk as bytes stream past. */
#ifndef BALE_HASHER_H
#define BALE_HASHER_H

#include <stddef.h>
#include <stdint.h>

#include "bale/digest.h"
#include "bale/error.h"

typedef struct bale_hasher bale_hasher;

int bale_hasher_new(bale_hasher **out, bale_error **err);
void bale_hasher_update(bale_hasher *h, const void *data, size_t len);
/* Finishes into out and resets the hasher for reuse. */
void bale_hasher_final(bale_hasher *h, bale_digest *out);
/* The same as the 32 raw bytes of the digest (for binary formats). */
void bale_hasher_final_raw(bale_hasher *h, unsigned char out[32]);
void bale_hasher_reset(bale_hasher *h);
void bale_hasher_free(bale_hasher *h);

/* Reads fd to its end (a file, a pipe) into a fresh SHA-256, a chunk at a time: *out gets
 * the digest and *size the bytes read. what names fd in errors (BALE_EGENERIC unless code
 * says otherwise). */
int bale_hasher_read_fd(int fd, bale_digest *out, int64_t *size, int code, const char *what,
                        bale_error **err);

#endif
