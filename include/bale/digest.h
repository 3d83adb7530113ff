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

#endif
