/* SHA-256 content digests ("sha256:<64 lowercase hex>") through OpenSSL EVP. */
#ifndef BALE_DIGEST_H
#define BALE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "bale/error.h"

#define BALE_DIGEST_HEX_LEN 64
#define BALE_DIGEST_STR_LEN (7 + BALE_DIGEST_HEX_LEN) /* "sha256:" + hex */

typedef struct bale_digest {
	char str[BALE_DIGEST_STR_LEN + 1];
} bale_digest;

/* Validates "sha256:<64 lowercase hex>". Other algorithms are refused with BALE_EVERIFY
 * naming the algorithm; malformed text with BALE_EUSAGE. */
int bale_digest_parse(bale_digest *out, const char *text, bale_error **err);
/* The 64 hex characters. */
const char *bale_digest_hex(const bale_digest *d);
bool bale_digest_equal(const bale_digest *a, const bale_digest *b);
/* From the 32 raw bytes of a SHA-256. */
void bale_digest_from_raw(bale_digest *out, const unsigned char raw[32]);
/* Digest of a buffer in one call. */
void bale_digest_of(bale_digest *out, const void *data, size_t len);

/* A running SHA-256, fed chunk by chunk as bytes stream past. */
typedef struct bale_hasher bale_hasher;

int bale_hasher_new(bale_hasher **out, bale_error **err);
void bale_hasher_update(bale_hasher *h, const void *data, size_t len);
/* Finishes into out and resets the hasher for reuse. */
void bale_hasher_final(bale_hasher *h, bale_digest *out);
/* The same as the 32 raw bytes of the digest (for binary formats). */
void bale_hasher_final_raw(bale_hasher *h, unsigned char out[32]);
void bale_hasher_reset(bale_hasher *h);
void bale_hasher_free(bale_hasher *h);

#endif
