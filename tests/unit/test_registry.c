/* The registry client's pure parts: origins (where a request went, where credentials
 * may go), header values bale may send, the Retry-After cap, insecure hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "bale/manifest.h"
#include "bale/registry.h"
#include "registry/registry_private.h"

static void expect_origin(const char *url, const char *origin, const char *hostport)
{
	char o[REG_ORIGIN_MAX], h[REG_ORIGIN_MAX];
	if (reg_url_origin(url, o, h) != 0)
		fail_msg("%s: no origin", url);
	assert_string_equal(o, origin);
	assert_string_equal(h, hostport);
}

static void test_origin(void **state)
{
	expect_origin("https://Registry.Example/v2/", "https://registry.example:443",
	              "registry.example");
	expect_origin("http://127.0.0.1:5000/token?service=x", "http://127.0.0.1:5000",
	              "127.0.0.1:5000");
	expect_origin("HTTP://host:80/x", "http://host:80", "host:80");
	expect_origin("https://[::1]:5000/v2/", "https://[::1]:5000", "[::1]:5000");
	/* user info, path and query never show */
	expect_origin("https://u:secret@s3.example/bucket/blob?X-Amz-Signature=abc",
	              "https://s3.example:443", "s3.example");
	char o[REG_ORIGIN_MAX];
	assert_int_equal(reg_url_origin("ftp://host/x", o, NULL), -1);
	assert_string_equal(o, "");
	assert_int_equal(reg_url_origin("/v2/relative", o, NULL), -1);
	assert_int_equal(reg_url_origin("not a url", o, NULL), -1);
	/* same origin: scheme, host and port all count */
	char a[REG_ORIGIN_MAX], b[REG_ORIGIN_MAX];
	reg_url_origin("https://host/v2/", a, NULL);
	reg_url_origin("https://HOST:443/token", b, NULL);
	assert_string_equal(a, b);
	reg_url_origin("http://host/token", b, NULL);
	assert_string_not_equal(a, b);
	reg_url_origin("https://host:8443/token", b, NULL);
	assert_string_not_equal(a, b);
}

static void test_header_value(void **state)
{
	size_t bad = 99;
	assert_true(reg_header_value_ok("eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ.c2ln-_~+/=", &bad));
	assert_false(reg_header_value_ok("token\r\nX-Injected: yes", &bad));
	assert_int_equal(bad, 5);
	assert_false(reg_header_value_ok("tok en", &bad));
	assert_int_equal(bad, 3);
	assert_false(reg_header_value_ok("\x7f", &bad));
	assert_int_equal(bad, 0);
	assert_false(reg_header_value_ok("t\xc3\xa9", &bad));
	assert_int_equal(bad, 1);
	assert_false(reg_header_value_ok("a\tb", &bad));
}

static void test_retry_after_cap(void **state)
{
	bale_registry_options opts;
	bale_registry_options_init(&opts);
	assert_int_equal(opts.max_retry_after, 60);
	assert_int_equal(opts.request_timeout, 120);
	assert_int_equal(opts.min_speed, 1024);
	const char *const insecure[] = {"127.0.0.1:5000", "Mirror.local"};
	opts.insecure = insecure;
	opts.n_insecure = 2;
	opts.certs_dir = "/nonexistent";
	bale_registry *reg = NULL;
	bale_error *err = NULL;
	if (bale_registry_open(&reg, "127.0.0.1:5000", &opts, &err) < 0)
		fail_msg("%s", bale_error_message(err));
	assert_int_equal(reg_backoff_ms(&reg->http, 1, 300), 60000);
	assert_int_equal(reg_backoff_ms(&reg->http, 1, 7), 7000);
	assert_int_equal(reg_backoff_ms(&reg->http, 1, 0), 0);
	assert_int_equal(reg_backoff_ms(&reg->http, 1, -1), 500);
	assert_int_equal(reg_backoff_ms(&reg->http, 3, -1), 2000);
	assert_true(reg_host_insecure(&reg->http, "127.0.0.1:5000"));
	assert_true(reg_host_insecure(&reg->http, "mirror.local"));
	assert_false(reg_host_insecure(&reg->http, "127.0.0.1:5001"));
	assert_false(reg_host_insecure(&reg->http, "127.0.0.1"));
	bale_registry_free(reg);
	opts.max_retry_after = 0;
	assert_int_equal(bale_registry_open(&reg, "ghcr.io", &opts, &err), 0);
	assert_int_equal(reg_backoff_ms(&reg->http, 1, 300), 0);
	bale_registry_free(reg);
}

/* Schema 1 is told apart before any digest check, by its Content-Type or by its body,
 * and refused with its own code, never as tampering. */
static void test_schema1(void **state)
{
	static const char signed_v1[] = "{\"schemaVersion\": 1, \"name\": \"old/app\", \"tag\": "
	                                "\"1\", \"fsLayers\": [], \"signatures\": []}";
	static const char v2[] = "{\"schemaVersion\": 2, \"mediaType\": "
	                         "\"application/vnd.oci.image.manifest.v1+json\", \"config\": {}, "
	                         "\"layers\": []}";
	bale_buf body;
	bale_buf_init(&body, 1 << 16, "manifest");
	assert_int_equal(bale_buf_append(&body, signed_v1, strlen(signed_v1), NULL), 0);
	assert_true(reg_manifest_is_schema1(&body, ""));
	assert_true(reg_manifest_is_schema1(&body, "application/json"));
	char mt[128];
	bale_error *err = NULL;
	assert_int_equal(reg_manifest_media_type(mt, &body, "", "h/old/app:1", &err), BALE_EFORMAT);
	assert_non_null(strstr(bale_error_message(err), "h/old/app:1: a Docker schema 1 manifest"));
	assert_non_null(strstr(bale_error_message(err), "re-push it with a current client"));
	bale_error_free(err);
	bale_buf_reset(&body);
	assert_int_equal(bale_buf_append(&body, v2, strlen(v2), NULL), 0);
	assert_false(reg_manifest_is_schema1(&body, BALE_MT_OCI_MANIFEST));
	/* the header alone says so (a prettyjws body is JSON all the same) */
	assert_true(reg_manifest_is_schema1(
	    &body, "application/vnd.docker.distribution.manifest.v1+prettyjws"));
	bale_buf_reset(&body);
	assert_int_equal(bale_buf_append(&body, "not json", 8, NULL), 0);
	assert_false(reg_manifest_is_schema1(&body, ""));
	bale_buf_free(&body);
}

/* Foreign layers are fetched over http and https only. */
static void test_url_fetchable(void **state)
{
	(void)state;
	assert_true(bale_registry_url_fetchable("https://mcr.microsoft.com/v2/x/blobs/sha256:1"));
	assert_true(bale_registry_url_fetchable("http://127.0.0.1:8080/sha256/ab"));
	assert_false(bale_registry_url_fetchable("ftp://example.com/layer"));
	assert_false(bale_registry_url_fetchable("file:///etc/passwd"));
	assert_false(bale_registry_url_fetchable("/relative/path"));
	assert_false(bale_registry_url_fetchable(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_origin),          cmocka_unit_test(test_header_value),
	    cmocka_unit_test(test_retry_after_cap), cmocka_unit_test(test_schema1),
	    cmocka_unit_test(test_url_fetchable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
