/* Platforms normalized the way containerd's platforms package does, so that what a user
 * types ("linux/aarch64"), what an OCI index says ("arm64" with no variant) and what the
 * node runs all compare equal. Unlike containerd, arm64 keeps an explicit "v8" (the header
 * promises it), which changes the spelling but not which platforms match. */
#include "bale/platform.h"
#include "bale/text.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* containerd's specifier grammar: [A-Za-z0-9_.-]+ */
static bool is_field_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       c == '.' || c == '-';
}

/* "<label> \"<quoted text>\": <detail>" with the given code. */
static int platform_fail(bale_error **err, int code, const char *label, const char *text,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int platform_fail(bale_error **err, int code, const char *label, const char *text,
                         const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = bale_text_vfail(err, code, label, text, fmt, ap);
	va_end(ap);
	return rc;
}

/* The longest variant a caller may give: the field less the NUL and a 'v' prefix. */
#define VARIANT_MAX (sizeof(((bale_platform *)0)->variant) - 2)

static void lowercase(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static void set_field(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	assert(n < size);
	memcpy(dst, src, n + 1);
}

#define SET(field, value) set_field((field), sizeof(field), (value))

/* In place, on fields already known to fit; idempotent, so equal() can call it on
 * platforms that are already normalized. */
static void normalize(bale_platform *p)
{
	lowercase(p->os);
	lowercase(p->arch);
	lowercase(p->variant);

	if (strcmp(p->os, "macos") == 0)
		SET(p->os, "darwin");

	/* "7" and "v7" name the same variant; the spelling with 'v' is canonical when it is
	 * one bale_platform_parse accepts (VARIANT_MAX), so that a formatted platform reads
	 * back: a number of VARIANT_MAX digits stays as it is. */
	size_t n = strlen(p->variant);
	if (is_digit(p->variant[0]) && n + 1 <= VARIANT_MAX) {
		memmove(p->variant + 1, p->variant, n + 1);
		p->variant[0] = 'v';
	}

	if (strcmp(p->arch, "i386") == 0 || strcmp(p->arch, "i686") == 0 ||
	    strcmp(p->arch, "x86") == 0) {
		SET(p->arch, "386");
		SET(p->variant, ""); /* containerd drops the variant of the i386 alias */
	} else if (strcmp(p->arch, "x86_64") == 0 || strcmp(p->arch, "x86-64") == 0 ||
	           strcmp(p->arch, "amd64") == 0) {
		SET(p->arch, "amd64");
		if (strcmp(p->variant, "v1") == 0) /* the baseline: same as no variant */
			SET(p->variant, "");
	} else if (strcmp(p->arch, "aarch64") == 0 || strcmp(p->arch, "arm64") == 0) {
		SET(p->arch, "arm64");
		if (p->variant[0] == '\0' || strcmp(p->variant, "v8.0") == 0)
			SET(p->variant, "v8");
		else if (strcmp(p->variant, "v9.0") == 0)
			SET(p->variant, "v9");
	} else if (strcmp(p->arch, "armhf") == 0) {
		SET(p->arch, "arm");
		SET(p->variant, "v7");
	} else if (strcmp(p->arch, "armel") == 0) {
		SET(p->arch, "arm");
		SET(p->variant, "v6");
	} else if (strcmp(p->arch, "arm") == 0) {
		if (p->variant[0] == '\0')
			SET(p->variant, "v7");
	}
}

/* Checks one field of n bytes at s; on failure sets *bad to the offending offset (n for
 * "empty" or "too long") and returns a reason. */
static const char *check_field(const char *s, size_t n, size_t max, size_t *bad)
{
	if (n == 0) {
		*bad = 0;
		return "empty";
	}
	for (size_t i = 0; i < n; i++) {
		if (!is_field_char(s[i])) {
			*bad = i;
			return "invalid character";
		}
	}
	if (n > max) {
		*bad = max;
		return "too long";
	}
	return NULL;
}

/* os/arch[/variant], without os.version or os.features. */
static int parse_plain(bale_platform *out, const char *text, bale_error **err)
{
	static const char *const names[] = {"os", "architecture", "variant"};
	static const size_t maxes[] = {sizeof(out->os) - 1, sizeof(out->arch) - 1, VARIANT_MAX};
	size_t start[3], len[3];
	size_t nparts = 0;
	bale_platform p;
	size_t i;

	assert(out && text);
	/* Split on '/' into at most three parts. */
	start[0] = 0;
	for (i = 0;; i++) {
		if (text[i] != '/' && text[i] != '\0')
			continue;
		len[nparts] = i - start[nparts];
		nparts++;
		if (text[i] == '\0')
			break;
		if (nparts == 3)
			return platform_fail(err, BALE_EUSAGE, "invalid platform", text,
			                     "'/' at position %zu is one too many "
			                     "(want os/arch[/variant])",
			                     i + 1);
		start[nparts] = i + 1;
	}
	if (nparts < 2)
		return platform_fail(err, BALE_EUSAGE, "invalid platform", text,
		                     "want os/arch[/variant]");

	for (size_t k = 0; k < nparts; k++) {
		size_t bad;
		const char *why = check_field(text + start[k], len[k], maxes[k], &bad);
		char c[16];
		if (!why)
			continue;
		if (strcmp(why, "empty") == 0)
			return platform_fail(err, BALE_EUSAGE, "invalid platform", text,
			                     "empty %s at position %zu (want os/arch[/variant])",
			                     names[k], start[k] + 1);
		if (strcmp(why, "too long") == 0)
			return platform_fail(err, BALE_EUSAGE, "invalid platform", text,
			                     "%s longer than %zu characters at position %zu",
			                     names[k], maxes[k], start[k] + bad + 1);
		bale_text_describe_char(c, sizeof(c), text[start[k] + bad]);
		return platform_fail(err, BALE_EUSAGE, "invalid platform", text,
		                     "invalid character %s at position %zu "
		                     "(want letters, digits, '_', '.' and '-')",
		                     c, start[k] + bad + 1);
	}

	memset(&p, 0, sizeof(p));
	memcpy(p.os, text + start[0], len[0]);
	memcpy(p.arch, text + start[1], len[1]);
	if (nparts == 3)
		memcpy(p.variant, text + start[2], len[2]);
	normalize(&p);
	*out = p;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int bale_platform_set_os_options(bale_platform *p, const char *os_version,
                                 const char *const *features, size_t n_features, bale_error **err)
{
	const char *sorted[16];
	size_t at = 0, bad;
	const char *why;
	char joined[sizeof(p->os_features)];
	assert(p && (features || n_features == 0));
	os_version = os_version ? os_version : "";
	if (os_version[0] &&
	    (why = check_field(os_version, strlen(os_version), sizeof(p->os_version) - 1, &bad)))
		return platform_fail(err, BALE_EVERIFY, "invalid os.version", os_version, "%s",
		                     why);
	if (n_features > sizeof(sorted) / sizeof(*sorted))
		return bale_error_set(err, BALE_EVERIFY,
		                      "invalid os.features: %zu features, more than the %zu bale "
		                      "keeps",
		                      n_features, sizeof(sorted) / sizeof(*sorted));
	for (size_t i = 0; i < n_features; i++) {
		if ((why = check_field(features[i], strlen(features[i]), sizeof(joined) - 1, &bad)))
			return platform_fail(err, BALE_EVERIFY, "invalid os.features item",
			                     features[i], "%s", why);
		sorted[i] = features[i];
	}
	/* containerd sorts them and drops duplicates: the same set reads the same. */
	qsort(sorted, n_features, sizeof(*sorted), by_name);
	joined[0] = '\0';
	for (size_t i = 0; i < n_features; i++) {
		if (i && strcmp(sorted[i], sorted[i - 1]) == 0)
			continue;
		int w =
		    snprintf(joined + at, sizeof(joined) - at, "%s%s", at ? "+" : "", sorted[i]);
		if (w < 0 || (size_t)w >= sizeof(joined) - at)
			return bale_error_set(err, BALE_EVERIFY,
			                      "invalid os.features: longer than %zu characters "
			                      "together",
			                      sizeof(joined) - 1);
		at += (size_t)w;
	}
	SET(p->os_version, os_version);
	SET(p->os_features, joined);
	return 0;
}

/* "10.0.17763.5576+win32k+foo" (version possibly empty) into p: the os options of a
 * platform the user typed. */
static int parse_os_options(bale_platform *p, const char *text, const char *opts, size_t len,
                            bale_error **err)
{
	char copy[256];
	const char *features[16];
	size_t n = 0;
	if (len >= sizeof(copy))
		return platform_fail(err, BALE_EUSAGE, "invalid platform", text,
		                     "os.version and os.features longer than %zu characters",
		                     sizeof(copy) - 1);
	memcpy(copy, opts, len);
	copy[len] = '\0';
	char *plus = strchr(copy, '+');
	if (plus) {
		*plus++ = '\0';
		for (char *f = plus, *next; f; f = next) {
			if ((next = strchr(f, '+')))
				*next++ = '\0';
			if (n == sizeof(features) / sizeof(*features))
				return platform_fail(err, BALE_EUSAGE, "invalid platform", text,
				                     "more than %zu os.features", n);
			if (!*f)
				return platform_fail(
				    err, BALE_EUSAGE, "invalid platform", text,
				    "empty os.features item (want "
				    "os/arch[/variant][:os.version][+feature]...)");
			features[n++] = f;
		}
	}
	bale_error *bad = NULL;
	if (bale_platform_set_os_options(p, copy, features, n, &bad) < 0) {
		int rc = platform_fail(err, BALE_EUSAGE, "invalid platform", text, "%s",
		                       bale_error_message(bad));
		bale_error_free(bad);
		return rc;
	}
	return 0;
}

int bale_platform_parse(bale_platform *out, const char *text, bale_error **err)
{
	char plain[128];
	const char *opts = NULL;
	size_t opts_len = 0;
	bale_platform p;
	int rc;
	assert(out && text);
	const char *slash = strchr(text, '/');
	const char *open = strchr(text, '(');
	if (open && (!slash || open < slash)) {
		/* containerd's spelling: os(os.version[+feature]...)/arch[/variant] */
		const char *close = strchr(open, ')');
		if (!close || !slash || close + 1 != slash)
			return platform_fail(err, BALE_EUSAGE, "invalid platform", text,
			                     "want os(os.version[+feature]...)/arch[/variant]");
		opts = open + 1;
		opts_len = (size_t)(close - opts);
		if (snprintf(plain, sizeof(plain), "%.*s%s", (int)(open - text), text, slash) >=
		    (int)sizeof(plain))
			return platform_fail(err, BALE_EUSAGE, "invalid platform", text,
			                     "too long");
	} else {
		/* bale's spelling: os/arch[/variant][:os.version][+feature]... */
		size_t cut = strcspn(text, ":+");
		if (cut >= sizeof(plain))
			return platform_fail(err, BALE_EUSAGE, "invalid platform", text,
			                     "too long");
		memcpy(plain, text, cut);
		plain[cut] = '\0';
		if (text[cut]) {
			opts = text + cut + (text[cut] == ':');
			opts_len = strlen(opts);
			if (text[cut] == ':' && (opts_len == 0 || opts[0] == '+'))
				return platform_fail(err, BALE_EUSAGE, "invalid platform", text,
				                     "empty os.version after ':' at position %zu",
				                     cut + 1);
		}
	}
	if ((rc = parse_plain(&p, plain, err)) < 0) {
		if (strcmp(plain, text) != 0) /* name what the user typed, not our cut */
			bale_error_wrap(err, "platform \"%s\"", text);
		return rc;
	}
	if (opts && (rc = parse_os_options(&p, text, opts, opts_len, err)) < 0)
		return rc;
	*out = p;
	return 0;
}

/* Fields of a descriptor come from registries, so a bad one is malformed content
 * (BALE_EVERIFY), not a usage error. */
int bale_platform_from_fields(bale_platform *out, const char *os, const char *arch,
                              const char *variant, bale_error **err)
{
	const char *values[3] = {os ? os : "", arch ? arch : "", variant ? variant : ""};
	static const char *const names[] = {"os", "architecture", "variant"};
	const size_t maxes[] = {sizeof(out->os) - 1, sizeof(out->arch) - 1, VARIANT_MAX};
	bale_platform p;

	assert(out);
	for (size_t k = 0; k < 3; k++) {
		size_t n = strlen(values[k]);
		size_t bad;
		const char *why;
		char c[16];
		if (k == 2 && n == 0) /* the variant is optional */
			break;
		if (!(why = check_field(values[k], n, maxes[k], &bad)))
			continue;
		if (strcmp(why, "empty") == 0)
			return bale_error_set(err, BALE_EVERIFY, "invalid platform: empty %s",
			                      names[k]);
		if (strcmp(why, "too long") == 0)
			return platform_fail(err, BALE_EVERIFY, "invalid platform", values[k],
			                     "%s longer than %zu characters", names[k], maxes[k]);
		bale_text_describe_char(c, sizeof(c), values[k][bad]);
		return platform_fail(err, BALE_EVERIFY, "invalid platform", values[k],
		                     "invalid character %s at position %zu of the %s", c, bad + 1,
		                     names[k]);
	}
	memset(&p, 0, sizeof(p));
	SET(p.os, values[0]);
	SET(p.arch, values[1]);
	SET(p.variant, values[2]);
	normalize(&p);
	*out = p;
	return 0;
}

void bale_platform_host(bale_platform *out)
{
	/* The architecture this binary was built for: it is what the node runs images as,
	 * whatever the kernel reports (e.g. a 32-bit userland on a 64-bit kernel). */
#if defined(__x86_64__)
	const char *arch = "amd64", *variant = "";
#elif defined(__aarch64__)
	const char *arch = "arm64", *variant = "v8";
#elif defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7
	const char *arch = "arm", *variant = "v7";
#elif defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH == 6
	const char *arch = "arm", *variant = "v6";
#elif defined(__arm__)
	const char *arch = "arm", *variant = "v5";
#elif defined(__i386__)
	const char *arch = "386", *variant = "";
#elif defined(__powerpc64__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const char *arch = "ppc64le", *variant = "";
#elif defined(__s390x__)
	const char *arch = "s390x", *variant = "";
#elif defined(__riscv) && __riscv_xlen == 64
	const char *arch = "riscv64", *variant = "";
#elif defined(__loongarch64)
	const char *arch = "loong64", *variant = "";
#else
	const char *arch = NULL, *variant = "";
#endif
	struct utsname u;

	memset(out, 0, sizeof(*out));
	SET(out->os, "linux");
	if (arch) {
		SET(out->arch, arch);
		SET(out->variant, variant);
	} else if (uname(&u) == 0 && strlen(u.machine) < sizeof(out->arch)) {
		/* An architecture we were not taught: trust the kernel's name, aliased. */
		SET(out->arch, u.machine);
	} else {
		SET(out->arch, "unknown");
	}
	normalize(out);
}

/* A hand-filled struct may lack its NULs; cut each field at its last byte. */
static void terminate(bale_platform *p)
{
	p->os[sizeof(p->os) - 1] = '\0';
	p->arch[sizeof(p->arch) - 1] = '\0';
	p->variant[sizeof(p->variant) - 1] = '\0';
	p->os_version[sizeof(p->os_version) - 1] = '\0';
	p->os_features[sizeof(p->os_features) - 1] = '\0';
}

bool bale_platform_equal(const bale_platform *a, const bale_platform *b)
{
	/* Normalize copies: a caller may have filled the public struct by hand. */
	bale_platform x = *a, y = *b;

	terminate(&x);
	terminate(&y);
	normalize(&x);
	normalize(&y);
	return strcmp(x.os, y.os) == 0 && strcmp(x.arch, y.arch) == 0 &&
	       strcmp(x.variant, y.variant) == 0 && strcmp(x.os_version, y.os_version) == 0 &&
	       strcmp(x.os_features, y.os_features) == 0;
}

/* True when every '+'-separated item of have is one of want's (both sorted). */
static bool features_within(const char *have, const char *want)
{
	for (const char *h = have; *h;) {
		size_t n = strcspn(h, "+");
		bool found = false;
		for (const char *w = want; *w && !found;) {
			size_t m = strcspn(w, "+");
			found = m == n && strncmp(w, h, n) == 0;
			w += m + (w[m] == '+');
		}
		if (!found)
			return false;
		h += n + (h[n] == '+');
	}
	return true;
}

bool bale_platform_matches(const bale_platform *want, const bale_platform *have)
{
	bale_platform x = *want, y = *have;
	terminate(&x);
	terminate(&y);
	normalize(&x);
	normalize(&y);
	if (strcmp(x.os, y.os) != 0 || strcmp(x.arch, y.arch) != 0 ||
	    strcmp(x.variant, y.variant) != 0)
		return false;
	/* A version names a build and its updates: "10.0.17763" is every 10.0.17763.N, as
	 * containerd matches Windows builds. */
	size_t n = strlen(x.os_version);
	if (n && !(strncmp(x.os_version, y.os_version, n) == 0 &&
	           (y.os_version[n] == '\0' || y.os_version[n] == '.')))
		return false;
	return !x.os_features[0] || features_within(y.os_features, x.os_features);
}

const char *bale_platform_format(const bale_platform *p, char *buf, size_t size)
{
	assert(buf && size > 0);
	snprintf(buf, size, "%s/%s%s%s%s%s%s%s", p->os, p->arch, p->variant[0] ? "/" : "",
	         p->variant, p->os_version[0] ? ":" : "", p->os_version,
	         p->os_features[0] ? "+" : "", p->os_features);
	return buf;
}

struct bale_platform_set {
	bool all;
	size_t count;
	bale_platform *items;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int bale_platform_set_parse(bale_platform_set **out, const char *text, bale_error **err)
{
	bale_platform_set *set = NULL;
	char *copy = NULL;
	size_t max_items = 1;
	int rc = 0;

	assert(out);
	*out = NULL;
	if (!(set = calloc(1, sizeof(*set)))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if (!text || text[0] == '\0') {
		if (!(set->items = calloc(1, sizeof(*set->items)))) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
		bale_platform_host(&set->items[0]);
		set->count = 1;
		goto cleanup;
	}

	/* Items are cut in place in a copy, so each can be parsed as a string. */
	for (const char *s = text; *s; s++)
		max_items += *s == ',';
	if (!(copy = strdup(text)) || !(set->items = calloc(max_items, sizeof(*set->items)))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	for (char *item = copy, *next; item; item = next) {
		char *end;
		size_t at = (size_t)(item - copy); /* where the item starts in text */
		bale_platform p;
		if ((next = strchr(item, ',')))
			*next++ = '\0';
		end = item + strlen(item);
		while (end > item && is_space(end[-1]))
			*--end = '\0';
		while (is_space(*item))
			item++;
		if (*item == '\0') {
			rc = platform_fail(err, BALE_EUSAGE, "invalid platform list", text,
			                   "empty item at position %zu", at + 1);
			goto cleanup;
		}
		at = (size_t)(item - copy); /* messages below point past the blanks */
		if (strcmp(item, "all") == 0) {
			if (max_items == 1) {
				set->all = true;
				break;
			}
			rc = platform_fail(err, BALE_EUSAGE, "invalid platform list", text,
			                   "\"all\" at position %zu cannot be combined with "
			                   "other platforms",
			                   at + 1);
			goto cleanup;
		}
		if ((rc = bale_platform_parse(&p, item, err)) < 0) {
			bale_error_wrap(err, "platform list item %zu at position %zu",
			                set->count + 1, at + 1);
			goto cleanup;
		}
		bool seen = false; /* duplicates after normalization */
		for (size_t k = 0; k < set->count && !seen; k++)
			seen = bale_platform_equal(&set->items[k], &p);
		if (!seen)
			set->items[set->count++] = p;
	}

cleanup:
	free(copy);
	if (rc < 0)
		bale_platform_set_free(set);
	else
		*out = set;
	return rc;
}

void bale_platform_set_free(bale_platform_set *set)
{
	if (!set)
		return;
	free(set->items);
	free(set);
}

bool bale_platform_set_is_all(const bale_platform_set *set)
{
	return set->all;
}

bool bale_platform_set_contains(const bale_platform_set *set, const bale_platform *p)
{
	if (set->all)
		return true;
	for (size_t i = 0; i < set->count; i++)
		if (bale_platform_matches(&set->items[i], p))
			return true;
	return false;
}

size_t bale_platform_set_count(const bale_platform_set *set)
{
	return set->count;
}

const bale_platform *bale_platform_set_at(const bale_platform_set *set, size_t i)
{
	assert(i < set->count);
	return &set->items[i];
}
