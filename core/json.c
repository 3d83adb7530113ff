#include "bale/json.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Where the string whose contents start at data[i] ends (its closing quote, or len when
 * there is none), found with memchr; *escapes is set when it holds a backslash. */
static size_t string_end(const char *data, size_t len, size_t i, bool *escapes)
{
	while (i < len) {
		const char *q = memchr(data + i, '"', len - i);
		size_t end = q ? (size_t)(q - data) : len;
		const char *bs = memchr(data + i, '\\', end - i);
		if (!bs)
			return end;
		*escapes = true;
		i = (size_t)(bs - data) + 2; /* past the escaped character, a quote included */
	}
	return len;
}

static void effective_limits(bale_json_limits *out, const bale_json_limits *in)
{
	*out = *in;
	if (!out->max_depth)
		out->max_depth = BALE_JSON_MAX_DEPTH;
	if (!out->max_values) {
		out->max_values = out->max_bytes / BALE_JSON_BYTES_PER_VALUE;
		if (out->max_values < 1024)
			out->max_values = 1024;
	}
}

int bale_json_check(const char *data, size_t len, const bale_json_limits *limits, const char *what,
                    int code, bale_error **err)
{
	bale_json_limits lim;
	size_t depth = 0, values = 1; /* the root */
	bool escapes = false;
	effective_limits(&lim, limits);
	if (!what)
		what = "JSON";
	if (len > lim.max_bytes)
		return bale_error_set(err, code, "%s: %zu bytes is over the %zu byte limit", what,
		                      len, lim.max_bytes);
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		if (c == '"') {
			i = string_end(data, len, i + 1, &escapes);
			continue;
		}
		if ((c == '{' || c == '[') && ++depth > lim.max_depth)
			return bale_error_set(err, code,
			                      "%s: nested deeper than %zu levels (at byte %zu)",
			                      what, lim.max_depth, i);
		if ((c == '}' || c == ']') && depth)
			depth--;
		/* every value but the root follows one of these; every container starts so */
		if ((c == '{' || c == '[' || c == ',' || c == ':') && ++values > lim.max_values)
			return bale_error_set(err, code,
			                      "%s: more than %zu JSON values (at byte %zu of %zu)",
			                      what, lim.max_values, i, len);
	}
	return 0;
}

int bale_json_parse_limits(json_t **out, const char *data, size_t len,
                           const bale_json_limits *limits, const char *what, bale_error **err)
{
	int rc = bale_json_check(data, len, limits, what, BALE_EVERIFY, err);
	if (rc < 0)
		return rc;
	json_error_t jerr;
	json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		return bale_error_set(err, BALE_EVERIFY,
		                      "%s: invalid JSON at line %d column %d: %s", what, jerr.line,
		                      jerr.column, jerr.text);
	*out = v;
	return 0;
}

int bale_json_parse(json_t **out, const char *data, size_t len, size_t cap, const char *what,
                    bale_error **err)
{
	const bale_json_limits limits = {.max_bytes = cap};
	return bale_json_parse_limits(out, data, len, &limits, what, err);
}

static bool json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Where the values of members keys[0..n) of the top-level object start (their first
 * character), in one pass: found[k] is 1 and at[k] set when keys[k] is there, 0 when
 * absent, -1 when it appears more than once. Keys written with escapes are not recognized;
 * nothing is validated. */
static void top_members(const char *data, size_t len, const char *const *keys, size_t n, int *found,
                        size_t *at)
{
	size_t depth = 0, matched = n, wanted = n;
	/* the next string at depth 1 is a key */
	bool expect_key = false, object_root = false;
	for (size_t k = 0; k < n; k++)
		found[k] = 0;
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		if (json_space(c))
			continue;
		if (wanted < n) { /* the first character of the value */
			at[wanted] = i;
			found[wanted] = 1;
			wanted = n;
		}
		if (c == '"') {
			bool escapes = false;
			size_t start = i + 1;
			i = string_end(data, len, start, &escapes);
			if (depth == 1 && expect_key) {
				matched = n;
				for (size_t k = 0; !escapes && k < n; k++)
					if (i - start == strlen(keys[k]) &&
					    memcmp(data + start, keys[k], i - start) == 0)
						matched = k;
				expect_key = false;
			}
			continue;
		}
		/* not an object, or past its end: nothing more to find */
		if (depth == 0 && (c != '{' || object_root))
			break;
		switch (c) {
		case '{':
		case '[':
			if (depth == 0)
				object_root = expect_key = c == '{';
			else
				expect_key = false;
			depth++;
			break;
		case '}':
		case ']':
			if (depth)
				depth--;
			break;
		case ',':
			if (depth == 1)
				expect_key = object_root;
			break;
		case ':':
			if (depth == 1 && matched < n) {
				if (found[matched])
					found[matched] = -1;
				else
					wanted = matched;
				matched = n;
			}
			break;
		default:
			break;
		}
	}
}

int bale_json_top_string(const char *data, size_t len, const char *key, const char **value,
                         size_t *value_len)
{
	size_t at = 0;
	int found;
	top_members(data, len, &key, 1, &found, &at);
	*value = NULL;
	*value_len = 0;
	if (found <= 0 || data[at] != '"')
		return found;
	for (size_t i = at + 1; i < len && data[i] != '\\'; i++)
		if (data[i] == '"') {
			*value = data + at + 1;
			*value_len = i - at - 1;
			break;
		}
	return 1;
}

/* Elements of the array starting at data[at] ('['), counted without building them. */
static size_t array_size(const char *data, size_t len, size_t at)
{
	size_t depth = 0, commas = 0;
	bool content = false, escapes = false;
	for (size_t i = at + 1; i < len; i++) {
		char c = data[i];
		if (json_space(c))
			continue;
		if (c == ']' && depth == 0)
			break;
		content = true;
		if (c == '"')
			i = string_end(data, len, i + 1, &escapes);
		else if (c == '{' || c == '[')
			depth++;
		else if ((c == '}' || c == ']') && depth)
			depth--;
		else if (c == ',' && depth == 0)
			commas++;
	}
	return content ? commas + 1 : 0;
}

void bale_json_top_array_sizes(const char *data, size_t len, const char *const *keys, size_t n,
                               size_t *sizes)
{
	int found[8];
	size_t at[8];
	assert(n <= 8);
	top_members(data, len, keys, n, found, at);
	for (size_t k = 0; k < n; k++)
		sizes[k] = found[k] > 0 && data[at[k]] == '[' ? array_size(data, len, at[k]) : 0;
}

/* Where the value starting at data[at] ends: one past its last character (a scalar ends
 * at the first space, comma or bracket after it). */
static size_t value_end(const char *data, size_t len, size_t at)
{
	size_t depth = 0;
	bool escapes = false;
	for (size_t i = at; i < len; i++) {
		char c = data[i];
		if (c == '"') {
			i = string_end(data, len, i + 1, &escapes);
			if (depth == 0)
				return i < len ? i + 1 : len;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return i; /* a scalar, ended by its parent's bracket */
			if (--depth == 0)
				return i + 1; /* the container's own closing bracket */
		} else if (depth == 0 && (c == ',' || json_space(c))) {
			return i;
		}
	}
	return len;
}

int bale_json_top_value(const char *data, size_t len, const char *key, const char **value,
                        size_t *value_len)
{
	size_t at = 0;
	int found;
	top_members(data, len, &key, 1, &found, &at);
	*value = NULL;
	*value_len = 0;
	if (found <= 0)
		return found;
	*value = data + at;
	*value_len = value_end(data, len, at) - at;
	return 1;
}

const char *bale_json_str(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int bale_json_dump(char **out, size_t *len, const json_t *value, bale_error **err)
{
	char *s = json_dumps(value, JSON_COMPACT);
	if (!s)
		return bale_error_set(err, BALE_EGENERIC, "out of memory serializing JSON");
	*out = s;
	if (len)
		*len = strlen(s);
	return 0;
}
