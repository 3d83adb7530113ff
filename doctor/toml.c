/* A reader of the TOML containerd's configurations are written in (doctor/toml.h). One
 * pass over the text with a cursor; every value lands in a flat list under its full key
 * path, so lookups need no tree. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor/toml.h"

typedef struct cursor {
	const char *p, *end;
	const char *name;
	int line;
	doctor_toml *out;
	/* the current table: its key parts, and whether its keys are skipped ([[array]]) */
	char **table;
	size_t n_table;
	bool skip;
} cursor;

/* A growing list of strings. */
typedef struct strings {
	char **v;
	size_t n;
} strings;

static void strings_free(strings *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int strings_push(strings *s, char *taken, bale_error **err)
{
	char **grown = taken ? realloc(s->v, (s->n + 1) * sizeof(*grown)) : NULL;
	if (!grown) {
		free(taken);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	s->v = grown;
	s->v[s->n++] = taken;
	return 0;
}

static int fail(cursor *c, bale_error **err, const char *what)
{
	return bale_error_set(err, BALE_EUSAGE, "%s:%d: %s", c->name, c->line, what);
}

static bool at_end(const cursor *c)
{
	return c->p >= c->end;
}

/* Spaces and tabs; with newlines, also newlines and comments (inside arrays). */
static void skip_space(cursor *c, bool newlines)
{
	while (!at_end(c)) {
		char ch = *c->p;
		if (ch == ' ' || ch == '\t' || ch == '\r') {
			c->p++;
		} else if (newlines && ch == '\n') {
			c->line++;
			c->p++;
		} else if (newlines && ch == '#') {
			while (!at_end(c) && *c->p != '\n')
				c->p++;
		} else {
			break;
		}
	}
}

/* The rest of a line after a key/value or a header: a comment at most. */
static int end_of_line(cursor *c, bale_error **err)
{
	skip_space(c, false);
	if (!at_end(c) && *c->p == '#')
		while (!at_end(c) && *c->p != '\n')
			c->p++;
	if (at_end(c))
		return 0;
	if (*c->p != '\n')
		return fail(c, err, "expected the end of the line");
	c->p++;
	c->line++;
	return 0;
}

static bool bare_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '-';
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* A code point as UTF-8 into buf (at least 4 bytes); its length, 0 when not a scalar. */
static size_t utf8_encode(uint32_t cp, char *buf)
{
	if (cp < 0x80) {
		buf[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		buf[0] = (char)(0xc0 | cp >> 6);
		buf[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	if (cp < 0x10000) {
		buf[0] = (char)(0xe0 | cp >> 12);
		buf[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		buf[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	buf[0] = (char)(0xf0 | cp >> 18);
	buf[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	buf[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	buf[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string at the cursor (on its opening quote): basic or literal, one line or three
 * quotes and several. *out is malloc'd, NUL-terminated; a NUL inside is refused. */
static int read_string(cursor *c, char **out, bale_error **err)
{
	char quote = *c->p;
	bool multi = c->end - c->p >= 3 && c->p[1] == quote && c->p[2] == quote;
	size_t cap = (size_t)(c->end - c->p) + 1, len = 0;
	char *s = malloc(cap);
	int rc = 0;
	*out = NULL;
	if (!s)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	c->p += multi ? 3 : 1;
	if (multi && !at_end(c) && *c->p == '\n') { /* a newline right after """ is dropped */
		c->p++;
		c->line++;
	}
	for (;;) {
		if (at_end(c)) {
			rc = fail(c, err, "a string is not closed");
			goto cleanup;
		}
		char ch = *c->p;
		if (ch == quote &&
		    (!multi || (c->end - c->p >= 3 && c->p[1] == quote && c->p[2] == quote))) {
			c->p += multi ? 3 : 1;
			break;
		}
		if (ch == '\n') {
			if (!multi) {
				rc = fail(c, err, "a string is not closed on its line");
				goto cleanup;
			}
			c->line++;
		}
		if (ch == '\0') {
			rc = fail(c, err, "a NUL byte in a string");
			goto cleanup;
		}
		c->p++;
		if (ch != '\\' || quote == '\'') {
			s[len++] = ch;
			continue;
		}
		if (at_end(c)) {
			rc = fail(c, err, "a string is not closed");
			goto cleanup;
		}
		char e = *c->p++;
		int digits = e == 'u' ? 4 : e == 'U' ? 8 : 0;
		const char *simple = strchr("btnfr\"\\", e);
		if (simple && e) {
			static const char map[] = "\b\t\n\f\r\"\\";
			s[len++] = map[simple - "btnfr\"\\"];
		} else if (digits) {
			uint32_t cp = 0;
			for (int i = 0; i < digits; i++) {
				int v = at_end(c) ? -1 : hex_value(*c->p);
				if (v < 0) {
					rc = fail(c, err, "a malformed \\u escape in a string");
					goto cleanup;
				}
				cp = cp << 4 | (uint32_t)v;
				c->p++;
			}
			size_t n = cp ? utf8_encode(cp, s + len) : 0;
			if (!n) {
				rc = fail(c, err, "an escape that is no character in a string");
				goto cleanup;
			}
			len += n;
		} else if (multi && (e == '\n' || e == ' ' || e == '\t' || e == '\r')) {
			/* a line-ending backslash trims the whitespace that follows */
			c->p--;
			skip_space(c, true);
		} else {
			rc = fail(c, err, "an unknown escape in a string");
			goto cleanup;
		}
	}
	s[len] = '\0';
	*out = s;
	s = NULL;
cleanup:
	free(s);
	return rc;
}

/* A key: parts separated by dots, each bare or quoted. */
static int read_key(cursor *c, strings *parts, bale_error **err)
{
	int rc = 0;
	for (;;) {
		skip_space(c, false);
		char *part = NULL;
		if (at_end(c))
			return fail(c, err, "expected a key");
		if (*c->p == '"' || *c->p == '\'') {
			if ((rc = read_string(c, &part, err)) < 0)
				return rc;
		} else {
			const char *start = c->p;
			while (!at_end(c) && bare_char(*c->p))
				c->p++;
			if (c->p == start)
				return fail(c, err, "expected a key");
			part = strndup(start, (size_t)(c->p - start));
		}
		if ((rc = strings_push(parts, part, err)) < 0)
			return rc;
		skip_space(c, false);
		if (at_end(c) || *c->p != '.')
			return 0;
		c->p++;
	}
}

static int add_value(cursor *c, doctor_toml_value *v, bale_error **err)
{
	if (c->out->n >= DOCTOR_TOML_MAX_ENTRIES)
		return fail(c, err, "too many keys");
	doctor_toml_value *grown = realloc(c->out->values, (c->out->n + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	c->out->values = grown;
	c->out->values[c->out->n++] = *v;
	return 0;
}

static void value_clear(doctor_toml_value *v)
{
	for (size_t i = 0; i < v->n_parts; i++)
		free(v->parts[i]);
	free(v->parts);
	for (size_t i = 0; i < v->n_items; i++)
		free(v->items[i]);
	free(v->items);
	free(v->str);
	memset(v, 0, sizeof(*v));
}

static int read_value(cursor *c, doctor_toml_value *v, int depth, bale_error **err);

/* An array: its strings go to v->items; the rest is read and dropped. */
static int read_array(cursor *c, doctor_toml_value *v, int depth, bale_error **err)
{
	strings items = {v->items, v->n_items};
	int rc = 0;
	if (depth >= DOCTOR_TOML_MAX_DEPTH)
		return fail(c, err, "arrays nested too deep");
	c->p++; /* '[' */
	for (;;) {
		skip_space(c, true);
		if (at_end(c)) {
			rc = fail(c, err, "an array is not closed");
			break;
		}
		if (*c->p == ']') {
			c->p++;
			break;
		}
		doctor_toml_value item = {0};
		if ((rc = read_value(c, &item, depth + 1, err)) < 0) {
			value_clear(&item);
			break;
		}
		if (item.kind == DOCTOR_TOML_STRING && depth == 0) {
			rc = strings_push(&items, item.str, err);
			item.str = NULL;
		}
		value_clear(&item);
		if (rc < 0)
			break;
		skip_space(c, true);
		if (!at_end(c) && *c->p == ',')
			c->p++;
		else if (at_end(c) || *c->p != ']') {
			rc = fail(c, err, "expected ',' or ']' in an array");
			break;
		}
	}
	v->items = items.v;
	v->n_items = items.n;
	return rc;
}

/* An inline table: read past, braces and strings counted, kept as nothing. */
static int skip_inline_table(cursor *c, bale_error **err)
{
	int depth = 0;
	while (!at_end(c)) {
		char ch = *c->p;
		if (ch == '"' || ch == '\'') {
			char *ignored = NULL;
			int rc = read_string(c, &ignored, err);
			free(ignored);
			if (rc < 0)
				return rc;
			continue;
		}
		if (ch == '\n')
			c->line++;
		c->p++;
		if (ch == '{' || ch == '[') {
			if (++depth > DOCTOR_TOML_MAX_DEPTH)
				return fail(c, err, "an inline table nested too deep");
		} else if ((ch == '}' || ch == ']') && --depth == 0) {
			return 0;
		}
	}
	return fail(c, err, "an inline table is not closed");
}

/* A bare value: true, false, an integer; floats, dates and times are kept as OTHER. */
static int read_bare(cursor *c, doctor_toml_value *v, bale_error **err)
{
	const char *start = c->p;
	while (!at_end(c) && (bare_char(*c->p) || *c->p == '+' || *c->p == '.' || *c->p == ':'))
		c->p++;
	size_t n = (size_t)(c->p - start);
	char digits[64];
	size_t k = 0;
	if (n == 0)
		return fail(c, err, "expected a value");
	if (n == 4 && memcmp(start, "true", 4) == 0) {
		v->kind = DOCTOR_TOML_BOOL;
		v->boolean = true;
		return 0;
	}
	if (n == 5 && memcmp(start, "false", 5) == 0) {
		v->kind = DOCTOR_TOML_BOOL;
		return 0;
	}
	v->kind = DOCTOR_TOML_OTHER;
	for (size_t i = 0; i < n && k + 1 < sizeof(digits); i++)
		if (start[i] != '_')
			digits[k++] = start[i];
	digits[k] = '\0';
	char *stop = NULL;
	int base = k > 2 && digits[0] == '0' && digits[1] == 'x' ? 16 : 10;
	long long value = strtoll(base == 16 ? digits + 2 : digits, &stop, base);
	if (k && k < sizeof(digits) - 1 && stop && *stop == '\0' && digits[0] != '.') {
		v->kind = DOCTOR_TOML_INT;
		v->integer = value;
	}
	return 0;
}

static int read_value(cursor *c, doctor_toml_value *v, int depth, bale_error **err)
{
	skip_space(c, false);
	if (at_end(c))
		return fail(c, err, "expected a value");
	char ch = *c->p;
	if (ch == '"' || ch == '\'') {
		v->kind = DOCTOR_TOML_STRING;
		return read_string(c, &v->str, err);
	}
	if (ch == '[') {
		v->kind = DOCTOR_TOML_ARRAY;
		return read_array(c, v, depth, err);
	}
	if (ch == '{') {
		v->kind = DOCTOR_TOML_OTHER;
		return skip_inline_table(c, err);
	}
	return read_bare(c, v, err);
}

/* The table's parts, then the key's, as the value's full path. */
static int full_path(cursor *c, strings *key, doctor_toml_value *v, bale_error **err)
{
	strings path = {0};
	int rc = 0;
	for (size_t i = 0; i < c->n_table && rc == 0; i++)
		rc = strings_push(&path, strdup(c->table[i]), err);
	for (size_t i = 0; i < key->n && rc == 0; i++) {
		rc = strings_push(&path, key->v[i], err);
		key->v[i] = NULL;
	}
	strings_free(key);
	v->parts = path.v;
	v->n_parts = path.n;
	return rc;
}

/* [table] or [[array of tables]] (whose keys are skipped: containerd's files have none
 * that matter here). */
static int read_header(cursor *c, bale_error **err)
{
	bool array = c->end - c->p >= 2 && c->p[1] == '[';
	strings key = {0};
	doctor_toml_value v = {.kind = DOCTOR_TOML_TABLE, .line = c->line};
	int rc = 0;
	c->p += array ? 2 : 1;
	if ((rc = read_key(c, &key, err)) < 0)
		goto cleanup;
	if (at_end(c) || *c->p != ']' || (array && (c->end - c->p < 2 || c->p[1] != ']'))) {
		rc = fail(c, err, "expected ']' after a table name");
		goto cleanup;
	}
	c->p += array ? 2 : 1;
	if ((rc = end_of_line(c, err)) < 0)
		goto cleanup;
	if (!array) { /* the table exists, even with no key under it */
		strings copy = {0};
		for (size_t i = 0; i < key.n && rc == 0; i++)
			rc = strings_push(&copy, strdup(key.v[i]), err);
		v.parts = copy.v;
		v.n_parts = copy.n;
		if (rc == 0 && (rc = add_value(c, &v, err)) == 0)
			v = (doctor_toml_value){0};
		if (rc < 0)
			goto cleanup;
	}
	for (size_t i = 0; i < c->n_table; i++)
		free(c->table[i]);
	free(c->table);
	c->table = key.v;
	c->n_table = key.n;
	c->skip = array;
	key = (strings){0};
cleanup:
	strings_free(&key);
	value_clear(&v);
	return rc;
}

static int read_key_value(cursor *c, bale_error **err)
{
	strings key = {0};
	doctor_toml_value v = {.line = c->line};
	int rc = read_key(c, &key, err);
	if (rc == 0 && (at_end(c) || *c->p != '=')) {
		rc = fail(c, err, "expected '=' after a key");
	} else if (rc == 0) {
		c->p++;
		rc = read_value(c, &v, 0, err);
	}
	if (rc == 0)
		rc = end_of_line(c, err);
	if (rc == 0 && !c->skip && (rc = full_path(c, &key, &v, err)) == 0 &&
	    (rc = add_value(c, &v, err)) == 0)
		v = (doctor_toml_value){0};
	strings_free(&key);
	value_clear(&v);
	return rc;
}

int doctor_toml_parse(doctor_toml *out, const char *name, const char *text, size_t len,
                      bale_error **err)
{
	cursor c = {.p = text, .end = text + len, .name = name, .line = 1, .out = out};
	int rc = 0;
	memset(out, 0, sizeof(*out));
	if (len > DOCTOR_TOML_CAP)
		return bale_error_set(err, BALE_EUSAGE, "%s: larger than %u bytes", name,
		                      DOCTOR_TOML_CAP);
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) /* a byte order mark */
		c.p += 3;
	while (rc == 0) {
		skip_space(&c, true);
		if (at_end(&c))
			break;
		if (*c.p == '[')
			rc = read_header(&c, err);
		else
			rc = read_key_value(&c, err);
	}
	for (size_t i = 0; i < c.n_table; i++)
		free(c.table[i]);
	free(c.table);
	if (rc < 0)
		doctor_toml_free(out);
	return rc;
}

void doctor_toml_free(doctor_toml *t)
{
	for (size_t i = 0; i < t->n; i++)
		value_clear(&t->values[i]);
	free(t->values);
	memset(t, 0, sizeof(*t));
}

const doctor_toml_value *doctor_toml_get(const doctor_toml *t, const char *const *path, size_t n)
{
	const doctor_toml_value *found = NULL;
	for (size_t i = 0; i < t->n; i++) {
		const doctor_toml_value *v = &t->values[i];
		bool same = v->n_parts == n;
		for (size_t k = 0; same && k < n; k++)
			same = strcmp(v->parts[k], path[k]) == 0;
		if (same)
			found = v;
	}
	return found;
}
