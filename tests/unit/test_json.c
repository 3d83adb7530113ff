/* JSON with caps: size, nesting depth and the number of values are refused by a scan
 * before jansson allocates anything; jansson's own depth limit behind it; the raw lookup
 * of a top-level member (a bundle's signer, before its signature is checked). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "bale/json.h"

/* n times open, then n times close: "[[[…]]]" or "{"a":{"a":…}}". */
static char *nested(size_t n, bool objects)
{
	size_t len = objects ? n * 6 + 2 : n * 2;
	char *s = malloc(len + 1), *p = s;
	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		if (objects && i) {
			memcpy(p, "\"a\":", 4);
			p += 4;
		}
		*p++ = objects ? '{' : '[';
	}
	for (size_t i = 0; i < n; i++)
		*p++ = objects ? '}' : ']';
	*p = '\0';
	return s;
}

/* "[x,x,…]" with n elements. */
static char *repeated(const char *x, size_t n)
{
	size_t xl = strlen(x), len = n * (xl + 1) + 2;
	char *s = malloc(len + 1), *p = s;
	assert_non_null(s);
	*p++ = '[';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		memcpy(p, x, xl);
		p += xl;
	}
	*p++ = ']';
	*p = '\0';
	return s;
}

static void expect_refused(const char *text, size_t cap, const char *what, const char *message)
{
	json_t *doc = NULL;
	bale_error *err = NULL;
	assert_int_equal(bale_json_parse(&doc, text, strlen(text), cap, what, &err), BALE_EVERIFY);
	assert_null(doc);
	const char *m = bale_error_message(err);
	if (!strstr(m, message))
		fail_msg("error \"%s\", expected it to contain \"%s\"", m, message);
	assert_null(strchr(m, '\n'));
	bale_error_free(err);
}

static void expect_parsed(const char *text, size_t cap)
{
	json_t *doc = NULL;
	bale_error *err = NULL;
	if (bale_json_parse(&doc, text, strlen(text), cap, "doc", &err) != 0)
		fail_msg("refused: %s", bale_error_message(err));
	json_decref(doc);
}

static void test_depth(void **state)
{
	char *ok = nested(BALE_JSON_MAX_DEPTH, false);
	char *deep = nested(BALE_JSON_MAX_DEPTH + 1, false);
	char *objects = nested(BALE_JSON_MAX_DEPTH + 1, true);
	expect_parsed(ok, 1 << 20);
	expect_refused(deep, 1 << 20, "index.json", "index.json: nested deeper than 64 levels");
	expect_refused(objects, 1 << 20, "auth.json", "auth.json: nested deeper than 64 levels");
	/* Brackets inside strings are text, not nesting. */
	char text[600];
	snprintf(text, sizeof(text), "{\"a\":\"%s\"}", deep + BALE_JSON_MAX_DEPTH - 30);
	expect_parsed(text, 1 << 20);
	free(ok);
	free(deep);
	free(objects);
}

/* jansson has a depth limit of its own (2048), behind bale's: with bale's raised above
 * it, jansson refuses, with an error instead of a deep recursion. */
static void test_jansson_depth(void **state)
{
	char *deep = nested(2049, false), *ok = nested(2048, false);
	const bale_json_limits limits = {.max_bytes = 1 << 20, .max_depth = 5000};
	json_t *doc = NULL;
	bale_error *err = NULL;
	assert_int_equal(bale_json_parse_limits(&doc, ok, strlen(ok), &limits, "x", &err), 0);
	json_decref(doc);
	doc = NULL;
	assert_int_equal(bale_json_parse_limits(&doc, deep, strlen(deep), &limits, "x", &err),
	                 BALE_EVERIFY);
	assert_non_null(strstr(bale_error_message(err), "maximum parsing depth"));
	bale_error_free(err);
	free(deep);
	free(ok);
}

/* A few megabytes of empty objects would cost jansson hundreds of megabytes: the value
 * count (one per 16 bytes of the cap) refuses them before jansson sees them. */
static void test_values(void **state)
{
	size_t cap = 4u << 20;
	char *objects = repeated("{}", 1000000); /* 3 MB, under the 4 MiB cap */
	expect_refused(objects, cap, "manifest", "manifest: more than 262144 JSON values");
	/* Real documents are nowhere near: long strings, few values. */
	char *digests = repeated("\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef"
	                         "0123456789abcdef\"",
	                         20000);
	expect_parsed(digests, cap);
	/* Commas and colons inside strings are not values. */
	char *commas = malloc(200001);
	assert_non_null(commas);
	memcpy(commas, "[\"", 2);
	memset(commas + 2, ',', 199996);
	memcpy(commas + 199998, "\"]", 3);
	expect_parsed(commas, 1 << 20);
	/* Escaped quotes do not end a string early. */
	expect_parsed("[\"a\\\"],[,,,,\"]", 1 << 20);
	/* Explicit limits. */
	const bale_json_limits three = {.max_bytes = 1024, .max_values = 3};
	json_t *doc = NULL;
	bale_error *err = NULL;
	assert_int_equal(bale_json_parse_limits(&doc, "[1,2]", 5, &three, "x", &err), 0);
	json_decref(doc);
	doc = NULL;
	assert_int_equal(bale_json_parse_limits(&doc, "[1,2,3]", 7, &three, "x", &err),
	                 BALE_EVERIFY);
	assert_string_equal(bale_error_message(err), "x: more than 3 JSON values (at byte 4 of 7)");
	bale_error_free(err);
	free(objects);
	free(digests);
	free(commas);
}

static void test_size(void **state)
{
	expect_refused("[1,2,3,4,5,6,7,8,9,10]", 10, "token response",
	               "token response: 22 bytes is over the 10 byte limit");
	/* bale_json_check alone: the caller's error code, never the input in the message. */
	bale_error *err = NULL;
	const bale_json_limits limits = {.max_bytes = 64, .max_depth = 2};
	assert_int_equal(
	    bale_json_check("{\"p\":[[\"hunter2\"]]}", 19, &limits, NULL, BALE_EUSAGE, &err),
	    BALE_EUSAGE);
	assert_string_equal(bale_error_message(err),
	                    "JSON: nested deeper than 2 levels (at byte 6)");
	bale_error_free(err);
}

static void expect_top(const char *text, int want, const char *value)
{
	const char *v = NULL;
	size_t n = 0;
	assert_int_equal(bale_json_top_string(text, strlen(text), "signer", &v, &n), want);
	if (!value) {
		assert_null(v);
		return;
	}
	assert_non_null(v);
	assert_int_equal(n, strlen(value));
	assert_memory_equal(v, value, n);
}

static void test_top_string(void **state)
{
	expect_top("{\"formatVersion\":1,\"signer\":\"9a3e\",\"images\":[]}", 1, "9a3e");
	expect_top("{ \"signer\" : \"ab\" }", 1, "ab");
	expect_top("{\"signer\":null}", 1, NULL);
	expect_top("{\"signer\":{\"signer\":\"x\"}}", 1, NULL);
	expect_top("{\"tool\":\"x\"}", 0, NULL);
	/* Only the top level: nested keys, keys inside strings and array items are not it. */
	expect_top(
	    "{\"a\":{\"signer\":\"x\"},\"b\":[\"signer\",\"y\"],\"c\":\"\\\"signer\\\":\\\"z\"}", 0,
	    NULL);
	expect_top("[\"signer\",\"x\"]", 0, NULL);
	/* Twice is ambiguous; a key with escapes is not recognized (jansson would refuse the
	 * duplicate later anyway); a value with escapes is no plain string. */
	expect_top("{\"signer\":\"a\",\"signer\":\"b\"}", -1, NULL);
	expect_top("{\"sign\\u0065r\":\"a\"}", 0, NULL);
	expect_top("{\"signer\":\"a\\u0062\"}", 1, NULL);
	expect_top("{\"images\":[{\"x\":1}],\"signer\":\"after\"}", 1, "after");
}

static void test_top_array_sizes(void **state)
{
	static const char *const keys[] = {"files", "blobs", "images"};
	size_t n[3];
	const char *doc = "{\"images\": [{\"p\": [1, 2, 3]}, {}], \"x\": {\"blobs\": [1]},"
	                  " \"files\": [ ], \"blobs\": [\"a,b\", [1, 2], {\"c\": \"]\"}, 4]}";
	bale_json_top_array_sizes(doc, strlen(doc), keys, 3, n);
	assert_int_equal(n[0], 0); /* empty */
	assert_int_equal(n[1], 4); /* commas in strings and nested lists do not count */
	assert_int_equal(n[2], 2);
	/* Absent, not an array, repeated: 0. */
	const char *odd = "{\"files\": {\"a\": [1, 2]}, \"blobs\": [1], \"blobs\": [1, 2]}";
	bale_json_top_array_sizes(odd, strlen(odd), keys, 3, n);
	assert_int_equal(n[0] + n[1] + n[2], 0);
	/* A million entries counted without building one. */
	char *many = repeated("{\"digest\":\"sha256:0\",\"size\":1}", 1000000);
	size_t len = strlen(many) + 12;
	char *wrapped = malloc(len);
	assert_non_null(wrapped);
	snprintf(wrapped, len, "{\"blobs\":%s}", many);
	bale_json_top_array_sizes(wrapped, strlen(wrapped), keys, 3, n);
	assert_int_equal(n[1], 1000000);
	free(many);
	free(wrapped);
}

static void expect_top_value(const char *text, const char *key, int want, const char *value)
{
	const char *v = NULL;
	size_t n = 0;
	assert_int_equal(bale_json_top_value(text, strlen(text), key, &v, &n), want);
	if (!value) {
		assert_null(v);
		return;
	}
	assert_non_null(v);
	assert_int_equal(n, strlen(value));
	assert_memory_equal(v, value, n);
}

static void test_top_value(void **state)
{
	/* Containers from bracket to bracket, whatever they hold; scalars to their end. */
	const char *doc = "{\"formatVersion\": 1, \"files\": [{\"path\": \"a]\\\"}\"},"
	                  " [1, {}]], \"s\":\"x,y\" ,\"o\":{\"k\":{}},\"n\":-12.5e3}";
	expect_top_value(doc, "formatVersion", 1, "1");
	expect_top_value(doc, "files", 1, "[{\"path\": \"a]\\\"}\"}, [1, {}]]");
	expect_top_value(doc, "s", 1, "\"x,y\"");
	expect_top_value(doc, "o", 1, "{\"k\":{}}");
	expect_top_value(doc, "n", 1, "-12.5e3");
	expect_top_value("{\"n\":true}", "n", 1, "true");
	expect_top_value(doc, "path", 0, NULL);
	expect_top_value("{\"files\":[],\"files\":[1]}", "files", -1, NULL);
	/* Cut short: up to the end of what there is. */
	expect_top_value("{\"files\":[1, 2", "files", 1, "[1, 2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_depth),      cmocka_unit_test(test_jansson_depth),
	    cmocka_unit_test(test_values),     cmocka_unit_test(test_size),
	    cmocka_unit_test(test_top_string), cmocka_unit_test(test_top_array_sizes),
	    cmocka_unit_test(test_top_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
