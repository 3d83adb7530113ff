/* A running SHA-256 through OpenSSL EVP: blob bytes are hashed as they stream past, never
 * held whole. */
#include "bale/hasher.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

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

#define READ_CHUNK ((size_t)256 << 10)

int bale_hasher_read_fd(int fd, bale_digest *out, int64_t *size, int code, const char *what,
                        bale_error **err)
{
	bale_hasher *h = NULL;
	char *buf = malloc(READ_CHUNK);
	int rc =
	    buf ? bale_hasher_new(&h, err) : bale_error_set(err, BALE_EGENERIC, "out of memory");
	*size = 0;
	while (rc == 0) {
		ssize_t got = read(fd, buf, READ_CHUNK);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			rc = bale_error_set_errno(err, code, errno, "read %s", what);
		if (got <= 0)
			break;
		bale_hasher_update(h, buf, (size_t)got);
		*size += got;
	}
	if (rc == 0)
		bale_hasher_final(h, out);
	bale_hasher_free(h);
	free(buf);
	return rc;
}
