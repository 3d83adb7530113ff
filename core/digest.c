#include "bale/digest.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int bale_digest_parse(bale_digest *out, const char *text, bale_error **err)
{
	const char *colon = strchr(text, ':');
	if (!colon || colon == text)
		return bale_error_set(err, BALE_EUSAGE, "invalid digest \"%.80s\": no algorithm",
		                      text);
	size_t alg_len = (size_t)(colon - text);
	if (alg_len != 6 || memcmp(text, "sha256", 6) != 0)
		return bale_error_set(err, BALE_EVERIFY, "unsupported digest algorithm \"%.*s\"",
		                      (int)(alg_len > 32 ? 32 : alg_len), text);
	const char *hex = colon + 1;
	if (strlen(hex) != BALE_DIGEST_HEX_LEN || !is_lower_hex(hex, BALE_DIGEST_HEX_LEN))
		return bale_error_set(
		    err, BALE_EUSAGE,
		    "invalid digest \"%.80s\": want sha256 and 64 lowercase hex digits", text);
	memcpy(out->str, text, BALE_DIGEST_STR_LEN);
	out->str[BALE_DIGEST_STR_LEN] = '\0';
	return 0;
}

const char *bale_digest_hex(const bale_digest *d)
{
	return d->str + 7;
}

bool bale_digest_equal(const bale_digest *a, const bale_digest *b)
{
	return memcmp(a->str, b->str, BALE_DIGEST_STR_LEN) == 0;
}

static void format_digest(bale_digest *out, const unsigned char *md)
{
	static const char hexchars[] = "0123456789abcdef";
	memcpy(out->str, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		out->str[7 + 2 * i] = hexchars[md[i] >> 4];
		out->str[8 + 2 * i] = hexchars[md[i] & 15];
	}
	out->str[BALE_DIGEST_STR_LEN] = '\0';
}

void bale_digest_from_raw(bale_digest *out, const unsigned char raw[32])
{
	format_digest(out, raw);
}

void bale_digest_of(bale_digest *out, const void *data, size_t len)
{
	unsigned char md[32];
	unsigned int n = 0;
	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	format_digest(out, md);
}
