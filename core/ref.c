/* Image references, scanned by hand rather than with a regex library so that every
 * refusal can point at the exact character. The accepted language and the normalization
 * follow distribution/reference ParseNormalizedNamed + TagNameOnly, because the kubelet
 * looks images up by the normalized name: a name we spell differently is an image the
 * node "does not have". Only sha256 digests are accepted (the bundle format stores
 * nothing else). */
#include "bale/ref.h"
#include "bale/text.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/digest.h"

#define NAME_MAX_LEN 255 /* distribution/reference NameTotalLengthMax */
#define TAG_MAX_LEN 128

#define DOCKER_DOMAIN "docker.io"
#define DOCKER_LEGACY_DOMAIN "index.docker.io"
#define DOCKER_API_HOST "registry-1.docker.io" /* docker.io itself serves no registry API */
#define OFFICIAL_PREFIX "library/"

struct bale_ref {
	char domain[NAME_MAX_LEN + 1];
	char path[NAME_MAX_LEN + 1];
	char name[NAME_MAX_LEN + 1];
	char tag[TAG_MAX_LEN + 1];            /* "" when absent */
	char digest[BALE_DIGEST_STR_LEN + 1]; /* "" when absent */
	char string[NAME_MAX_LEN + 1 + TAG_MAX_LEN + 1 + BALE_DIGEST_STR_LEN + 1];
};

/* Where each part sits in the input, as found by the scanner. */
struct ref_parts {
	size_t domain_len; /* explicit domain: text[0, domain_len) */
	size_t path_start, path_len;
	size_t tag_start, tag_len;       /* tag_len 0: no tag */
	size_t digest_start, digest_len; /* digest_len 0: no digest */
	const char *domain;              /* normalized domain when it is not the input's */
	bool official;                   /* "library/" goes in front of the path */
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_alnum(char c)
{
	return is_digit(c) || is_lower(c) || is_upper(c);
}

/* Path components are lowercase only. */
static bool is_path_alnum(char c)
{
	return is_digit(c) || is_lower(c);
}

static bool is_path_separator(char c)
{
	return c == '.' || c == '_' || c == '-';
}

/* \w in the tag grammar [\w][\w.-]{0,127} */
static bool is_word(char c)
{
	return is_alnum(c) || c == '_';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_lower_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f');
}

static int ref_fail(const char *text, bale_error **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ref_fail(const char *text, bale_error **err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = bale_text_vfail(err, BALE_EUSAGE, "invalid reference", text, fmt, ap);
	va_end(ap);
	return rc;
}

/* "<what> 'c' at position N (<why>)": the user sees which character to fix. */
static int fail_at(const char *text, bale_error **err, size_t i, const char *what, const char *why)
{
	char c[16];

	bale_text_describe_char(c, sizeof(c), text[i]);
	return ref_fail(text, err, "%s %s at position %zu (%s)", what, c, i + 1, why);
}

/* A byte that may not appear where it does in a path; uppercase gets its own message
 * because it is by far the most common mistake. */
static int fail_path_char(const char *text, bale_error **err, size_t i)
{
	if (is_upper(text[i]))
		return fail_at(text, err, i, "uppercase letter",
		               "repository names must be lowercase");
	return fail_at(text, err, i, "invalid character",
	               "repository names allow a-z, 0-9, '.', '_', '-' and '/'");
}

/* docker refuses a bare 64-hex name: it would be mistaken for an image ID. */
static bool is_identifier(const char *text)
{
	for (size_t i = 0; i < BALE_DIGEST_HEX_LEN; i++)
		if (!is_lower_hex(text[i]))
			return false;
	return text[BALE_DIGEST_HEX_LEN] == '\0';
}

/* distribution/reference splitDockerDomain: the first component is a registry only when
 * it could not be a Docker Hub namespace (those are lowercase, without '.' or ':'). */
static bool looks_like_domain(const char *text, size_t n)
{
	if (n == strlen("localhost") && memcmp(text, "localhost", n) == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (text[i] == '.' || text[i] == ':' || is_upper(text[i]))
			return true;
	return false;
}

/* host [':' port] in text[0, end); text[end] is the '/' that ends the domain. */
static int scan_domain(const char *text, size_t end, bale_error **err)
{
	size_t i = 0;

	if (text[0] == '[') {
		/* IPv6 literal, taken as loosely as distribution/reference does:
		 * hex digits and colons between brackets, no zone identifier. */
		for (i = 1; i < end && (is_hex(text[i]) || text[i] == ':'); i++)
			;
		if (i == 1 || i == end || text[i] != ']')
			return fail_at(text, err, i, "unexpected",
			               "an IPv6 address is hex digits and ':' between '[' and ']'");
		i++;
	} else {
		for (;;) {
			if (!is_alnum(text[i]))
				return fail_at(text, err, i, "unexpected",
				               "domain components start with a letter or digit");
			while (i < end && (is_alnum(text[i]) || text[i] == '-'))
				i++;
			if (text[i - 1] == '-')
				return fail_at(text, err, i - 1, "unexpected",
				               "domain components end with a letter or digit");
			if (i == end || text[i] != '.')
				break;
			i++;
		}
	}
	if (i < end && text[i] == ':') {
		i++;
		if (i == end)
			return fail_at(text, err, i - 1, "unexpected",
			               "a port number must follow ':'");
		while (i < end && is_digit(text[i]))
			i++;
		if (i < end)
			return fail_at(text, err, i, "invalid character", "a port is digits only");
	}
	if (i < end)
		return fail_at(text, err, i, "invalid character",
		               "a registry domain allows letters, digits, '-', '.' and ':port'");
	return 0;
}

/* path-component ['/' path-component]*, where
 * path-component := [a-z0-9]+ (separator [a-z0-9]+)* and separator := [._] | __ | -+.
 * Stops at ':', '@' or the end of the input. */
static int scan_path(const char *text, size_t *pos, bale_error **err)
{
	size_t start = *pos;
	size_t i = start;

	for (;;) {
		char c = text[i];
		if (!is_path_alnum(c)) {
			if (c == '/')
				return fail_at(text, err, i, "unexpected", "empty path component");
			if (c == '\0' && i > 0) /* the input ends with '/' */
				return fail_at(text, err, i - 1, "unexpected",
				               "empty path component");
			if ((c == '\0' || c == ':' || c == '@') && i == start)
				return fail_at(text, err, i, "missing repository name before",
				               "a reference starts with a name");
			if (c == ':' || c == '@')
				return fail_at(text, err, i - 1, "unexpected",
				               "empty path component");
			if (is_path_separator(c))
				return fail_at(
				    text, err, i, "unexpected",
				    "path components start with a lowercase letter or digit");
			return fail_path_char(text, err, i);
		}
		while (is_path_alnum(text[i]))
			i++;
		while (is_path_separator(text[i])) {
			size_t sep = i;
			if (text[i] == '.')
				i++;
			else if (text[i] == '_')
				i += text[i + 1] == '_' ? 2 : 1;
			else
				while (text[i] == '-')
					i++;
			if (is_path_alnum(text[i])) {
				while (is_path_alnum(text[i]))
					i++;
				continue;
			}
			if (is_path_separator(text[i]))
				return fail_at(text, err, i, "unexpected",
				               "separators are '.', '_', '__' or dashes, between "
				               "letters or digits");
			if (text[i] == '\0' || text[i] == '/' || text[i] == ':' || text[i] == '@')
				return fail_at(
				    text, err, sep, "separator",
				    "path components end with a lowercase letter or digit");
			return fail_path_char(text, err, i);
		}
		if (text[i] != '/')
			break;
		i++;
	}
	if (text[i] != '\0' && text[i] != ':' && text[i] != '@')
		return fail_path_char(text, err, i);
	*pos = i;
	return 0;
}

/* [\w][\w.-]{0,127} after the ':' at text[*pos - 1]. */
static int scan_tag(const char *text, size_t *pos, size_t *len, bale_error **err)
{
	size_t start = *pos;
	size_t i = start;

	if (text[i] == '\0' || text[i] == '@')
		return ref_fail(text, err, "missing tag after ':' at position %zu", start);
	if (!is_word(text[i]))
		return fail_at(text, err, i, "invalid character",
		               "tags start with a letter, digit or '_'");
	while (is_word(text[i]) || text[i] == '.' || text[i] == '-')
		i++;
	if (i - start > TAG_MAX_LEN)
		return fail_at(text, err, start + TAG_MAX_LEN,
		               "tag too long:", "tags are at most 128 characters");
	if (text[i] != '\0' && text[i] != '@')
		return fail_at(text, err, i, "invalid character",
		               "tags allow letters, digits, '_', '.' and '-'");
	*len = i - start;
	*pos = i;
	return 0;
}

/* sha256:<64 lowercase hex> after the '@' at text[*pos - 1], up to the end of the input. */
static int scan_digest(const char *text, size_t *pos, size_t *len, bale_error **err)
{
	static const char alg[] = "sha256";
	size_t start = *pos;
	size_t i = start;
	size_t hex;

	if (text[i] == '\0')
		return ref_fail(text, err, "missing digest after '@' at position %zu", start);
	/* The algorithm, with the characters the digest grammar allows there. */
	while (is_alnum(text[i]) || text[i] == '+' || text[i] == '.' || text[i] == '_' ||
	       text[i] == '-')
		i++;
	if (text[i] != ':') {
		if (text[i] == '\0')
			return ref_fail(text, err,
			                "digest at position %zu has no algorithm "
			                "(want sha256:<64 lowercase hex digits>)",
			                start + 1);
		return fail_at(text, err, i, "invalid character", "in the digest algorithm");
	}
	if (i == start)
		return fail_at(text, err, i, "missing digest algorithm before",
		               "want sha256:<64 lowercase hex digits>");
	if (i - start != strlen(alg) || memcmp(text + start, alg, strlen(alg)) != 0)
		return ref_fail(text, err,
		                "unsupported digest algorithm \"%.*s\" at position %zu "
		                "(only sha256 is accepted)",
		                (int)(i - start > 32 ? 32 : i - start), text + start, start + 1);
	i++;
	for (hex = 0; text[i] != '\0'; hex++, i++) {
		if (hex == BALE_DIGEST_HEX_LEN)
			return fail_at(text, err, i, "unexpected",
			               "a sha256 digest has exactly 64 hex digits");
		if (is_lower_hex(text[i]))
			continue;
		if (is_hex(text[i]))
			return fail_at(text, err, i, "uppercase hex digit",
			               "digests are written in lowercase");
		return fail_at(text, err, i, "invalid character",
		               "a sha256 digest is 64 lowercase hex digits");
	}
	if (hex < BALE_DIGEST_HEX_LEN)
		return ref_fail(text, err,
		                "digest ends at position %zu after %zu hex digits "
		                "(a sha256 digest has 64)",
		                i, hex);
	*len = i - start;
	*pos = i;
	return 0;
}

/* Validates text and finds its parts; nothing is allocated. */
static int scan_reference(struct ref_parts *p, const char *text, bale_error **err)
{
	const char *slash, *dom;
	size_t dom_len, prefix_len, name_len;
	size_t i = 0;
	int rc;

	memset(p, 0, sizeof(*p));
	if (text[0] == '\0')
		return ref_fail(text, err, "empty reference");
	if (is_identifier(text))
		return ref_fail(text, err,
		                "cannot specify 64-byte hexadecimal strings "
		                "(an image ID is not a reference)");

	slash = strchr(text, '/');
	if (slash && looks_like_domain(text, (size_t)(slash - text))) {
		p->domain_len = (size_t)(slash - text);
		if ((rc = scan_domain(text, p->domain_len, err)) < 0)
			return rc;
		if (p->domain_len == strlen(DOCKER_LEGACY_DOMAIN) &&
		    memcmp(text, DOCKER_LEGACY_DOMAIN, p->domain_len) == 0)
			p->domain = DOCKER_DOMAIN;
		i = p->domain_len + 1;
	} else {
		p->domain = DOCKER_DOMAIN;
	}

	p->path_start = i;
	if ((rc = scan_path(text, &i, err)) < 0)
		return rc;
	p->path_len = i - p->path_start;

	dom = p->domain ? p->domain : text;
	dom_len = p->domain ? strlen(p->domain) : p->domain_len;
	/* Docker Hub's one-component names are its official images. */
	p->official = dom_len == strlen(DOCKER_DOMAIN) &&
	              memcmp(dom, DOCKER_DOMAIN, dom_len) == 0 &&
	              !memchr(text + p->path_start, '/', p->path_len);
	prefix_len = dom_len + 1 + (p->official ? strlen(OFFICIAL_PREFIX) : 0);
	name_len = prefix_len + p->path_len;
	if (name_len > NAME_MAX_LEN) {
		/* The first input character that lands past the limit once normalized; a
		 * prefix longer than the limit can only be an explicit domain, copied as is. */
		size_t over = prefix_len <= NAME_MAX_LEN
		                  ? p->path_start + (NAME_MAX_LEN - prefix_len)
		                  : NAME_MAX_LEN;
		char why[96];
		snprintf(why, sizeof(why), "the name is %zu characters once normalized, at most %d",
		         name_len, NAME_MAX_LEN);
		return fail_at(text, err, over, "name too long:", why);
	}

	if (text[i] == ':') {
		p->tag_start = ++i;
		if ((rc = scan_tag(text, &i, &p->tag_len, err)) < 0)
			return rc;
	}
	if (text[i] == '@') {
		p->digest_start = ++i;
		if ((rc = scan_digest(text, &i, &p->digest_len, err)) < 0)
			return rc;
	}
	assert(text[i] == '\0');
	return 0;
}

/* Appends n bytes at *len; sizes were checked by the scanner. */
static void put(char *dst, size_t size, size_t *len, const char *src, size_t n)
{
	assert(*len + n < size);
	memcpy(dst + *len, src, n);
	*len += n;
	dst[*len] = '\0';
}

int bale_ref_parse(bale_ref **out, const char *text, bale_error **err)
{
	struct ref_parts p;
	bale_ref *ref;
	size_t n;
	int rc;

	assert(out && text);
	*out = NULL;
	if ((rc = scan_reference(&p, text, err)) < 0)
		return rc;
	if (!(ref = calloc(1, sizeof(*ref))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");

	n = 0;
	if (p.domain)
		put(ref->domain, sizeof(ref->domain), &n, p.domain, strlen(p.domain));
	else
		put(ref->domain, sizeof(ref->domain), &n, text, p.domain_len);
	n = 0;
	if (p.official)
		put(ref->path, sizeof(ref->path), &n, OFFICIAL_PREFIX, strlen(OFFICIAL_PREFIX));
	put(ref->path, sizeof(ref->path), &n, text + p.path_start, p.path_len);
	n = 0;
	put(ref->name, sizeof(ref->name), &n, ref->domain, strlen(ref->domain));
	put(ref->name, sizeof(ref->name), &n, "/", 1);
	put(ref->name, sizeof(ref->name), &n, ref->path, strlen(ref->path));
	n = 0;
	if (p.tag_len)
		put(ref->tag, sizeof(ref->tag), &n, text + p.tag_start, p.tag_len);
	else if (!p.digest_len) /* TagNameOnly: a bare name means :latest */
		put(ref->tag, sizeof(ref->tag), &n, "latest", 6);
	n = 0;
	if (p.digest_len)
		put(ref->digest, sizeof(ref->digest), &n, text + p.digest_start, p.digest_len);

	n = 0;
	put(ref->string, sizeof(ref->string), &n, ref->name, strlen(ref->name));
	if (ref->tag[0]) {
		put(ref->string, sizeof(ref->string), &n, ":", 1);
		put(ref->string, sizeof(ref->string), &n, ref->tag, strlen(ref->tag));
	}
	if (ref->digest[0]) {
		put(ref->string, sizeof(ref->string), &n, "@", 1);
		put(ref->string, sizeof(ref->string), &n, ref->digest, strlen(ref->digest));
	}
	*out = ref;
	return 0;
}

void bale_ref_free(bale_ref *ref)
{
	free(ref);
}

const char *bale_ref_domain(const bale_ref *ref)
{
	return ref->domain;
}

const char *bale_ref_path(const bale_ref *ref)
{
	return ref->path;
}

const char *bale_ref_name(const bale_ref *ref)
{
	return ref->name;
}

const char *bale_ref_tag(const bale_ref *ref)
{
	return ref->tag[0] ? ref->tag : NULL;
}

const char *bale_ref_digest(const bale_ref *ref)
{
	return ref->digest[0] ? ref->digest : NULL;
}

const char *bale_ref_string(const bale_ref *ref)
{
	return ref->string;
}

const char *bale_ref_api_host(const bale_ref *ref)
{
	return strcmp(ref->domain, DOCKER_DOMAIN) == 0 ? DOCKER_API_HOST : ref->domain;
}

const char *bale_ref_lookup(const bale_ref *ref)
{
	return ref->digest[0] ? ref->digest : ref->tag;
}

int bale_ref_check_name(const char *name, bale_error **err)
{
	char quoted[BALE_TEXT_QUOTE_SIZE];
	bale_error *why = NULL;
	bale_ref *ref = NULL;
	int rc = 0;
	bale_text_quote(quoted, sizeof(quoted), name ? name : "");
	if (!name || !*name)
		return bale_error_set(err, BALE_EVERIFY, "image name \"\": empty");
	if (bale_ref_parse(&ref, name, &why) < 0)
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "image name \"%s\": not an image reference (%s)", quoted,
		                    bale_error_message(why));
	else if (strcmp(bale_ref_string(ref), name) != 0)
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "image name \"%s\": not in its normalized form (bale writes "
		                    "names as %s)",
		                    quoted, bale_ref_string(ref));
	bale_error_free(why);
	bale_ref_free(ref);
	return rc;
}

const char *bale_ref_path_tail(const char *path, int depth)
{
	int parts = 1;
	for (const char *c = path; *c; c++)
		parts += *c == '/';
	for (; depth > 0 && parts > depth; parts--)
		path = strchr(path, '/') + 1;
	return path;
}
