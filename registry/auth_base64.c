/* Standard base64, as docker config "auth" entries and Secret data hold it. The output is
 * usually "user:password": a buffer that fails halfway is wiped too. */
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>

#include "registry/auth_private.h"

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int reg_auth_base64_decode(char **out, size_t *out_len, const char *in, size_t in_len,
                           bale_error **err)
{
	int rc = 0;
	char *buf = malloc(in_len / 4 * 3 + 4);
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0, symbols = 0, pad = 0;
	if (!buf)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; i < in_len; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
			continue; /* YAML block scalars and kubectl wrap long values */
		if (ch == '=') {
			pad++;
			continue;
		}
		int v = b64_value(ch);
		if (v < 0 || pad) {
			rc = bale_error_set(err, BALE_EUSAGE, "invalid base64");
			goto cleanup;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		symbols++;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (char)((acc >> bits) & 0xff);
			acc &= (1u << bits) - 1;
		}
	}
	if (symbols % 4 == 1 || pad > 2 || (pad && (symbols + pad) % 4 != 0)) {
		rc = bale_error_set(err, BALE_EUSAGE, "invalid base64 length");
		goto cleanup;
	}
	buf[n] = '\0';
	*out = buf;
	if (out_len)
		*out_len = n;
	buf = NULL;
cleanup:
	if (buf) {
		OPENSSL_cleanse(buf, in_len / 4 * 3 + 4);
		free(buf);
	}
	return rc;
}
