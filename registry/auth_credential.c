/* A bale_credential, and the JSON its secrets are read from: made one way by every
 * source, wiped before it is freed. */
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "bale/buf.h"
#include "bale/json.h"
#include "registry/auth_private.h"

void reg_auth_cleanse_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void bale_auth_credential_free(bale_credential *cred)
{
	if (!cred)
		return;
	reg_auth_cleanse_free(cred->username);
	reg_auth_cleanse_free(cred->password);
	reg_auth_cleanse_free(cred->identity_token);
	free(cred->source);
	free(cred);
}

int reg_auth_credential_new(bale_credential **out, const char *username, const char *password,
                            const char *identity_token, const char *source, bale_error **err)
{
	int rc = 0;
	bale_credential *c = calloc(1, sizeof(*c));
	if (!c)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (username && !*username)
		username = NULL;
	if (identity_token && !*identity_token)
		identity_token = NULL;
	if (username && !password)
		password = "";
	if ((username && !(c->username = strdup(username))) ||
	    (password && !(c->password = strdup(password))) ||
	    (identity_token && !(c->identity_token = strdup(identity_token))) ||
	    !(c->source = strdup(source))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	*out = c;
	c = NULL;
cleanup:
	bale_auth_credential_free(c);
	return rc;
}

void reg_auth_printable(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t n = 0;
	for (; n < len && n + 1 < dstlen; n++) {
		unsigned char ch = (unsigned char)s[n];
		dst[n] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	dst[n] = '\0';
}

int reg_auth_json_load(json_t **out, const char *data, size_t len, int code, bale_error **err)
{
	/* Bounded first: depth and the number of values (bale/json.h). */
	const bale_json_limits limits = {.max_bytes = BALE_CAP_AUTHFILE};
	int rc = bale_json_check(data, len, &limits, NULL, code, err);
	if (rc < 0)
		return rc;
	json_error_t jerr;
	json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	int line = jerr.line, column = jerr.column;
	OPENSSL_cleanse(&jerr, sizeof(jerr));
	if (!v)
		return bale_error_set(err, code, "invalid JSON at line %d column %d", line, column);
	*out = v;
	return 0;
}

/* jansson frees strings without wiping them; wipe the secrets first. */
static void json_wipe(json_t *v)
{
	if (json_is_string(v)) {
		OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
	} else if (json_is_object(v)) {
		for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it))
			json_wipe(json_object_iter_value(it));
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++)
			json_wipe(json_array_get(v, i));
	}
}

void reg_auth_json_wipe_decref(json_t *v)
{
	if (v) {
		json_wipe(v);
		json_decref(v);
	}
}
