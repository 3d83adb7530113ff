/* Semantic versions and their ranges (include/bale/semver.h). A range is held as its
 * alternatives, each a list of bounds. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bale/semver.h"

/* Alternatives and comparators a range may hold: more is not a range anyone writes. */
#define MAX_ALTERNATIVES 16
#define MAX_BOUNDS 8

typedef enum op { OP_EQ, OP_LT, OP_LE, OP_GT, OP_GE } op;

typedef struct bound {
	op op;
	bale_semver v;
} bound;

struct bale_semver_range {
	bound alts[MAX_ALTERNATIVES][MAX_BOUNDS];
	int n_bounds[MAX_ALTERNATIVES];
	int n_alts;
};

/* A decimal number without a leading zero (semver's rule), at *p, moving past it. */
static bool number(const char **p, long *out)
{
	const char *s = *p;
	if (!isdigit((unsigned char)*s) || (s[0] == '0' && isdigit((unsigned char)s[1])))
		return false;
	errno = 0;
	char *end;
	*out = strtol(s, &end, 10);
	if (errno || end - s > 9)
		return false;
	*p = end;
	return true;
}

bool bale_semver_parse(bale_semver *out, const char *tag)
{
	const char *p = tag;
	memset(out, 0, sizeof(*out));
	if (*p == 'v')
		p++;
	if (!number(&p, &out->major) || *p++ != '.' || !number(&p, &out->minor) || *p++ != '.' ||
	    !number(&p, &out->patch))
		return false;
	if (*p == '-') {
		size_t len = strcspn(p + 1, "+");
		if (len == 0 || len >= sizeof(out->pre))
			return false;
		for (size_t i = 0; i < len; i++)
			if (!isalnum((unsigned char)p[1 + i]) && p[1 + i] != '.' && p[1 + i] != '-')
				return false;
		memcpy(out->pre, p + 1, len);
		out->prerelease = true;
		p += 1 + len;
	}
	if (*p == '+') /* build metadata: ignored for precedence */
		p += strlen(p);
	return *p == '\0';
}

/* Prerelease precedence: dot-separated identifiers, numeric ones compared as numbers and
 * before alphanumeric ones, a shorter list first when all else is equal. */
static int compare_pre(const char *a, const char *b)
{
	while (*a && *b) {
		size_t la = strcspn(a, "."), lb = strcspn(b, ".");
		bool na = strspn(a, "0123456789") == la, nb = strspn(b, "0123456789") == lb;
		int c;
		if (na && nb)
			c = la != lb ? (la < lb ? -1 : 1) : strncmp(a, b, la);
		else if (na || nb)
			c = na ? -1 : 1;
		else {
			c = strncmp(a, b, la < lb ? la : lb);
			if (c == 0 && la != lb)
				c = la < lb ? -1 : 1;
		}
		if (c)
			return c < 0 ? -1 : 1;
		a += la + (a[la] == '.');
		b += lb + (b[lb] == '.');
	}
	return *a ? 1 : *b ? -1 : 0;
}

int bale_semver_compare(const bale_semver *a, const bale_semver *b)
{
	if (a->major != b->major)
		return a->major < b->major ? -1 : 1;
	if (a->minor != b->minor)
		return a->minor < b->minor ? -1 : 1;
	if (a->patch != b->patch)
		return a->patch < b->patch ? -1 : 1;
	if (a->prerelease != b->prerelease)
		return a->prerelease ? -1 : 1;
	return a->prerelease ? compare_pre(a->pre, b->pre) : 0;
}

static bool holds(const bound *b, const bale_semver *v)
{
	int c = bale_semver_compare(v, &b->v);
	switch (b->op) {
	case OP_EQ:
		return c == 0;
	case OP_LT:
		return c < 0;
	case OP_LE:
		return c <= 0;
	case OP_GT:
		return c > 0;
	case OP_GE:
		return c >= 0;
	}
	return false;
}

bool bale_semver_range_contains(const bale_semver_range *r, const bale_semver *v)
{
	if (v->prerelease)
		return false;
	for (int a = 0; a < r->n_alts; a++) {
		bool all = true;
		for (int i = 0; i < r->n_bounds[a] && all; i++)
			all = holds(&r->alts[a][i], v);
		if (all)
			return true;
	}
	return false;
}

void bale_semver_range_free(bale_semver_range *r)
{
	free(r);
}

/* A partial version of an x-range, tilde or caret: "1", "1.27", "1.27.x", "1.27.3". The
 * parts given (1 to 3) in *given. */
static bool partial(const char *text, bale_semver *v, int *given)
{
	const char *p = text;
	long *parts[] = {&v->major, &v->minor, &v->patch};
	memset(v, 0, sizeof(*v));
	*given = 0;
	if (*p == 'v')
		p++;
	for (int i = 0; i < 3; i++) {
		if (*p == 'x' || *p == 'X' || *p == '*') {
			p++;
			break;
		}
		if (!number(&p, parts[i]))
			return false;
		(*given)++;
		if (*p != '.')
			break;
		p++;
	}
	return *p == '\0' && (*given > 0 || p > text);
}

/* One comparator into alternative a (two bounds for x-ranges, tildes and carets). */
static int comparator(bale_semver_range *r, int a, const char *text, bale_error **err)
{
	static const struct {
		const char *s;
		op op;
	} ops[] = {{">=", OP_GE}, {"<=", OP_LE}, {">", OP_GT}, {"<", OP_LT}, {"=", OP_EQ}};
	bale_semver v, upper;
	int given = 0;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strncmp(text, ops[i].s, strlen(ops[i].s)) == 0) {
			if (!bale_semver_parse(&v, text + strlen(ops[i].s)) || v.prerelease)
				break;
			if (r->n_bounds[a] == MAX_BOUNDS)
				return bale_error_set(err, BALE_EUSAGE,
				                      "semver range: too many comparators");
			r->alts[a][r->n_bounds[a]++] = (bound){ops[i].op, v};
			return 0;
		}
	char tilde = text[0] == '~' || text[0] == '^' ? text[0] : 0;
	if (!partial(text + (tilde != 0), &v, &given))
		return bale_error_set(err, BALE_EUSAGE,
		                      "semver range: \"%.64s\" is not a version or a comparator",
		                      text);
	if (r->n_bounds[a] + 2 > MAX_BOUNDS)
		return bale_error_set(err, BALE_EUSAGE, "semver range: too many comparators");
	if (given == 0 && !tilde) { /* "*": any release */
		r->alts[a][r->n_bounds[a]++] = (bound){OP_GE, v};
		return 0;
	}
	if (given == 3 && !tilde) { /* a bare version: that one */
		r->alts[a][r->n_bounds[a]++] = (bound){OP_EQ, v};
		return 0;
	}
	/* the first part not given, or (~) the minor, or (^) the first non-zero, goes up */
	if (tilde == '^' && v.major == 0 && given > 1)
		upper = (bale_semver){.major = 0, .minor = v.minor + 1};
	else if (tilde == '^' || given == 1)
		upper = (bale_semver){.major = v.major + 1};
	else
		upper = (bale_semver){.major = v.major, .minor = v.minor + 1};
	r->alts[a][r->n_bounds[a]++] = (bound){OP_GE, v};
	r->alts[a][r->n_bounds[a]++] = (bound){OP_LT, upper};
	return 0;
}

int bale_semver_range_parse(bale_semver_range **out, const char *text, bale_error **err)
{
	bale_semver_range *r = calloc(1, sizeof(*r));
	char *copy = strdup(text);
	int rc = 0;
	*out = NULL;
	if (!r || !copy) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	/* "||" between alternatives; a lone "|" is no range */
	for (char *alt = copy, *next; alt && rc == 0; alt = next) {
		char *save = NULL;
		if ((next = strstr(alt, "||"))) {
			*next = '\0';
			next += 2;
		}
		if (strchr(alt, '|')) {
			rc = bale_error_set(err, BALE_EUSAGE, "semver range \"%.64s\": a lone |",
			                    text);
			break;
		}
		if (r->n_alts == MAX_ALTERNATIVES) {
			rc =
			    bale_error_set(err, BALE_EUSAGE, "semver range: too many alternatives");
			break;
		}
		int a = r->n_alts++;
		for (char *c = strtok_r(alt, " \t", &save); c && rc == 0;
		     c = strtok_r(NULL, " \t", &save))
			rc = comparator(r, a, c, err);
		if (rc == 0 && r->n_bounds[a] == 0)
			rc = bale_error_set(err, BALE_EUSAGE,
			                    "semver range \"%.64s\": an empty alternative", text);
	}
	if (rc == 0 && r->n_alts == 0)
		rc = bale_error_set(err, BALE_EUSAGE, "semver range: empty");
	if (rc == 0) {
		*out = r;
		r = NULL;
	}
cleanup:
	free(copy);
	free(r);
	return rc;
}
