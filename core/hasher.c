/* A running SHA-256 through OpenSSL EVP: blob bytes are hashed as they stream past, never
 * held whole. */
#include "bale/hasher.h"

#include <openssl/evp.h>
#include <stdlib.h>

struct bale_hasher {
	EVP_MD_CTX *ctx;
};

int bale_hasher_new(bale_hasher **out, bale_error **err)
{
	bale_hasher *h = calloc(1, sizeof(*h));
	if (!h || !(h->ctx = EVP_MD_CTX_new())) {
		free(h);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	bale_hasher_reset(h);
	*out = h;
	return 0;
}

void bale_hasher_update(bale_hasher *h, const void *data, size_t len)
{
	EVP_DigestUpdate(h->ctx, data, len);
}

void bale_hasher_final(bale_hasher *h, bale_digest *out)
{
	unsigned char md[32];
	unsigned int n = 0;
	EVP_DigestFinal_ex(h->ctx, md, &n);
	bale_digest_from_raw(out, md);
	bale_hasher_reset(h);
}

void bale_hasher_final_raw(bale_hasher *h, unsigned char out[32])
{
	unsigned int n = 0;
	EVP_DigestFinal_ex(h->ctx, out, &n);
	bale_hasher_reset(h);
}

void bale_hasher_reset(bale_hasher *h)
{
	EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void bale_hasher_free(bale_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}
