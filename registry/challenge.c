/* WWW-Authenticate challenges (RFC 7235 §2.1, RFC 7230 §3.2.6 for tokens and quoted
 * strings):
 *   challenge  = auth-scheme [ 1*SP #auth-param ]
 *   auth-param = token BWS "=" BWS ( token / quoted-string )
 * Only the first challenge of a header is read; a comma followed by a token that is not
 * a parameter name starts the next one. */
#include "bale/auth.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SNIPPET_MAX 64

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static size_t token_len(const char *p)
{
	size_t n = 0;
	while (is_tchar((unsigned char)p[n]))
		n++;
	return n;
}

/* Unquoted values are read more loosely than `token`: some registries send
 * realm=https://host/token unquoted, and ':' and '/' are not tchars. */
static size_t bare_value_len(const char *p)
{
	size_t n = 0;
	for (unsigned char c; (c = (unsigned char)p[n]) > 0x20 && c < 0x7f && c != ',' && c != '"';)
		n++;
	return n;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static bool is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* *pp is at the opening quote; on success it moves past the closing one. */
static int parse_quoted(char **out, const char **pp, const char **why)
{
	const char *p = *pp + 1;
	char *value = malloc(strlen(p) + 1);
	size_t n = 0;
	if (!value)
		return BALE_EGENERIC;
	for (; *p != '"'; p++) {
		if (*p == '\\')
			p++;
		if (*p == '\0') {
			*why = "unterminated quoted string";
			free(value);
			return BALE_EVERIFY;
		}
		if (is_ctl((unsigned char)*p)) {
			*why = "control character in a quoted string";
			free(value);
			return BALE_EVERIFY;
		}
		value[n++] = *p;
	}
	value[n] = '\0';
	*out = value;
	*pp = p + 1;
	return 0;
}

/* The field for a parameter name (case-insensitive), or NULL for one we do not use. */
static char **param_slot(bale_challenge *c, const char *name, size_t len)
{
	static const struct {
		const char *name;
		size_t offset;
	} known[] = {
	    {"realm", offsetof(bale_challenge, realm)},
	    {"service", offsetof(bale_challenge, service)},
	    {"scope", offsetof(bale_challenge, scope)},
	    {"error", offsetof(bale_challenge, error)},
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (len == strlen(known[i].name) && strncasecmp(name, known[i].name, len) == 0)
			return (char **)((char *)c + known[i].offset);
	return NULL;
}

void bale_auth_challenge_clear(bale_challenge *c)
{
	if (!c)
		return;
	free(c->scheme);
	free(c->realm);
	free(c->service);
	free(c->scope);
	free(c->error);
	memset(c, 0, sizeof(*c));
}

int bale_auth_challenge_parse(bale_challenge *out, const char *header_value, bale_error **err)
{
	int rc = 0;
	bale_challenge c = {0};
	char *value = NULL;
	const char *why = NULL;
	const char *p = skip_ws(header_value);
	size_t n = token_len(p);

	memset(out, 0, sizeof(*out));
	if (n == 0) {
		why = "no auth scheme";
		goto cleanup;
	}
	if (!(c.scheme = strndup(p, n))) {
		rc = BALE_EGENERIC;
		goto cleanup;
	}
	for (char *s = c.scheme; *s; s++) /* ASCII only: tolower() follows the locale */
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	p += n;
	if (*p != '\0' && *p != ' ' && *p != '\t' && *p != ',') {
		why = "unexpected character after the auth scheme";
		goto cleanup;
	}
	for (bool after_comma = *p == ',';;) {
		p = skip_ws(p);
		if (*p == ',') { /* #rule lists may have empty elements */
			after_comma = true;
			p++;
			continue;
		}
		if (*p == '\0')
			break;
		const char *name = p;
		size_t name_len = token_len(p);
		if (name_len == 0) {
			why = "expected a parameter name";
			goto cleanup;
		}
		p = skip_ws(p + name_len);
		if (*p != '=') {
			if (after_comma)
				break; /* the next challenge's scheme */
			why = "expected '=' after a parameter name";
			goto cleanup;
		}
		p = skip_ws(p + 1);
		if (*p == '"') {
			if ((rc = parse_quoted(&value, &p, &why)) < 0)
				goto cleanup;
		} else {
			size_t vlen = bare_value_len(p);
			if (vlen == 0) {
				why = "expected a parameter value";
				goto cleanup;
			}
			if (!(value = strndup(p, vlen))) {
				rc = BALE_EGENERIC;
				goto cleanup;
			}
			p += vlen;
		}
		char **slot = param_slot(&c, name, name_len);
		if (slot && *slot) {
			/* RFC 7235: each parameter at most once. Picking one of two realms would
			 * leave the choice to whoever controls the header. */
			why = "duplicate parameter";
			goto cleanup;
		}
		if (slot) {
			*slot = value;
			value = NULL;
		}
		free(value);
		value = NULL;
		p = skip_ws(p);
		if (*p != ',' && *p != '\0') {
			why = "expected ',' between parameters";
			goto cleanup;
		}
		after_comma = false;
	}
	*out = c;
	memset(&c, 0, sizeof(c));
cleanup:
	free(value);
	bale_auth_challenge_clear(&c);
	if (rc == BALE_EGENERIC)
		return bale_error_set(err, rc, "out of memory");
	if (why) {
		/* Quote only the beginning of the header, sanitized: it came from the network. */
		char snippet[SNIPPET_MAX + 1];
		size_t len = strlen(header_value), i;
		for (i = 0; i < len && i < SNIPPET_MAX; i++) {
			unsigned char ch = (unsigned char)header_value[i];
			snippet[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
		}
		snippet[i] = '\0';
		return bale_error_set(
		    err, BALE_EVERIFY,
		    "malformed WWW-Authenticate header: %s at offset %zu (\"%s%s\")", why,
		    (size_t)(p - header_value), snippet, len > SNIPPET_MAX ? "..." : "");
	}
	return rc;
}
