/* --creds values: "USER:PASS" or "HOST=USER:PASS", which registry a HOST names, and the
 * credential a value makes.
 * A value is mostly a password: no message here quotes any part of it. */
#include <stdbool.h>
#include <string.h>

#include "bale/auth.h"
#include "registry/auth_private.h"

static bool is_port(const char *p, size_t len)
{
	if (len == 0 || len > 5)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* A registry domain as references write it: NAME[:PORT] or [IPV6][:PORT]. */
static bool is_host(const char *p, size_t len)
{
	size_t n = 0;
	if (len && p[0] == '[') {
		const char *close = memchr(p, ']', len);
		if (!close || close == p + 1)
			return false;
		for (const char *c = p + 1; c < close; c++)
			if (!strchr("0123456789abcdefABCDEF:.", *c))
				return false;
		n = (size_t)(close - p) + 1;
	} else {
		for (; n < len && p[n] != ':'; n++) {
			char c = p[n];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
				return false;
		}
		if (n == 0 || p[0] == '.' || p[0] == '-')
			return false;
	}
	if (n == len)
		return true;
	return p[n] == ':' && is_port(p + n + 1, len - n - 1);
}

int bale_auth_creds_split(const char *value, const char *what, size_t *host_len, bale_error **err)
{
	const char *eq = strchr(value, '=');
	*host_len = 0;
	if (eq && is_host(value, (size_t)(eq - value)))
		*host_len = (size_t)(eq - value);
	const char *cred = *host_len ? eq + 1 : value;
	const char *colon = strchr(cred, ':');
	if (!colon)
		return bale_error_set(err, BALE_EUSAGE, "%s: want USER:PASS or HOST=USER:PASS",
		                      what);
	if (colon == cred)
		return bale_error_set(err, BALE_EUSAGE,
		                      "%s: empty user name (want USER:PASS or HOST=USER:PASS)",
		                      what);
	return 0;
}

bool bale_auth_creds_host_match(const char *host, const char *domain)
{
	/* A plain key without a path is a whole registry to reg_auth_key_match. */
	return !strchr(host, '/') && reg_auth_key_match(host, domain, NULL) >= 0;
}

/* USER:PASS from the option `source` names. */
int reg_auth_flag_credential(bale_credential **out, const char *creds, const char *source,
                             bale_error **err)
{
	int rc = 0;
	char *username = NULL;
	/* The value is never echoed: it is mostly a password. */
	const char *colon = strchr(creds, ':');
	if (!colon)
		return bale_error_set(err, BALE_EUSAGE, "%s: want USER:PASS", source);
	if (colon == creds)
		return bale_error_set(err, BALE_EUSAGE, "%s: empty user name (want USER:PASS)",
		                      source);
	if (!(username = strndup(creds, (size_t)(colon - creds)))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	rc = reg_auth_credential_new(out, username, colon + 1, NULL, source, err);
cleanup:
	reg_auth_cleanse_free(username);
	return rc;
}
