/* WWW-Authenticate parsing: what registries send, and what they should not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/auth.h"

/* NULL in an expectation means the field must be absent. */
static void expect_challenge(const char *header, const char *scheme, const char *realm,
                             const char *service, const char *scope, const char *error)
{
	bale_challenge c;
	bale_error *err = NULL;
	int rc = bale_auth_challenge_parse(&c, header, &err);
	if (rc != 0)
		fail_msg("parse [%s]: %s", header, bale_error_message(err));
	const char *want[] = {scheme, realm, service, scope, error};
	const char *got[] = {c.scheme, c.realm, c.service, c.scope, c.error};
	for (size_t i = 0; i < 5; i++) {
		if (!want[i] && got[i])
			fail_msg("parse [%s]: field %zu: unexpected \"%s\"", header, i, got[i]);
		if (want[i] && (!got[i] || strcmp(want[i], got[i]) != 0))
			fail_msg("parse [%s]: field %zu: want \"%s\", got \"%s\"", header, i,
			         want[i], got[i] ? got[i] : "(null)");
	}
	bale_auth_challenge_clear(&c);
	assert_null(c.scheme);
}

static void expect_malformed(const char *header)
{
	bale_challenge c;
	bale_error *err = NULL;
	int rc = bale_auth_challenge_parse(&c, header, &err);
	if (rc != BALE_EVERIFY)
		fail_msg("parse [%s]: want BALE_EVERIFY, got %d", header, rc);
	assert_null(c.scheme);
	assert_null(c.realm);
	const char *msg = bale_error_message(err);
	assert_non_null(strstr(msg, "WWW-Authenticate"));
	/* The header is quoted at most in part. */
	assert_true(strlen(msg) < 200);
	bale_error_free(err);
	bale_auth_challenge_clear(&c); /* harmless on the zeroed result */
}

static void test_bearer(void **state)
{
	expect_challenge(
	    "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
	    "scope=\"repository:library/nginx:pull\"",
	    "bearer", "https://auth.docker.io/token", "registry.docker.io",
	    "repository:library/nginx:pull", NULL);
	expect_challenge("Bearer realm=\"https://ghcr.io/token\",service=\"ghcr.io\"", "bearer",
	                 "https://ghcr.io/token", "ghcr.io", NULL, NULL);
	expect_challenge("Bearer", "bearer", NULL, NULL, NULL, NULL);
	expect_challenge("  Bearer   ", "bearer", NULL, NULL, NULL, NULL);
}

static void test_scopes(void **state)
{
	/* Several scopes, space-separated inside the quotes (distribution token spec). */
	expect_challenge("Bearer realm=\"https://a/token\",scope=\"repository:a/b:pull "
	                 "repository:c/d:pull,push\"",
	                 "bearer", "https://a/token", NULL,
	                 "repository:a/b:pull repository:c/d:pull,push", NULL);
	expect_challenge("Bearer scope=\"registry:catalog:*\"", "bearer", NULL, NULL,
	                 "registry:catalog:*", NULL);
}

static void test_error_param(void **state)
{
	expect_challenge("Bearer realm=\"https://auth.example/token\",service=\"reg\","
	                 "scope=\"repository:x/y:pull,push\",error=\"insufficient_scope\"",
	                 "bearer", "https://auth.example/token", "reg", "repository:x/y:pull,push",
	                 "insufficient_scope");
	expect_challenge("Bearer error=\"invalid_token\", error_description=\"expired\"", "bearer",
	                 NULL, NULL, NULL, "invalid_token");
}

static void test_basic(void **state)
{
	expect_challenge("Basic realm=\"Registry Realm\"", "basic", "Registry Realm", NULL, NULL,
	                 NULL);
	expect_challenge("Basic realm=\"\"", "basic", "", NULL, NULL, NULL);
	expect_challenge("Basic", "basic", NULL, NULL, NULL, NULL);
	expect_challenge("Basic realm=\"x\", charset=\"UTF-8\"", "basic", "x", NULL, NULL, NULL);
}

static void test_unquoted(void **state)
{
	expect_challenge("Bearer realm=https://auth.example/token,service=registry", "bearer",
	                 "https://auth.example/token", "registry", NULL, NULL);
	expect_challenge("Basic realm=simple", "basic", "simple", NULL, NULL, NULL);
}

static void test_escapes(void **state)
{
	expect_challenge("Basic realm=\"say \\\"hi\\\" \\\\ there\"", "basic",
	                 "say \"hi\" \\ there", NULL, NULL, NULL);
	expect_challenge("Basic realm=\"a,b=c\"", "basic", "a,b=c", NULL, NULL, NULL);
	expect_challenge("Basic realm=\"\\a\\b\"", "basic", "ab", NULL, NULL, NULL);
	expect_challenge("Basic realm=\"tab\there\"", "basic", "tab\there", NULL, NULL, NULL);
}

static void test_case_and_whitespace(void **state)
{
	expect_challenge("BEARER Realm=\"https://r/token\" , SERVICE = \"svc\" ,ScOpE=\"s\"",
	                 "bearer", "https://r/token", "svc", "s", NULL);
	expect_challenge("bAsIc\trealm = \"x\"", "basic", "x", NULL, NULL, NULL);
	/* Empty list elements are allowed by RFC 7230's #rule. */
	expect_challenge("Bearer ,, realm=\"r\",,service=\"s\",", "bearer", "r", "s", NULL, NULL);
}

static void test_unknown_params(void **state)
{
	expect_challenge("Bearer foo=\"bar\",realm=\"r\",x-extra=1,service=\"s\"", "bearer", "r",
	                 "s", NULL, NULL);
}

static void test_first_challenge_only(void **state)
{
	expect_challenge("Bearer realm=\"r1\",service=\"s1\", Basic realm=\"r2\"", "bearer", "r1",
	                 "s1", NULL, NULL);
	expect_challenge("Basic realm=\"r2\", Bearer realm=\"r1\"", "basic", "r2", NULL, NULL,
	                 NULL);
	expect_challenge("Negotiate, Basic realm=\"x\"", "negotiate", NULL, NULL, NULL, NULL);
	expect_challenge("Basic realm=\"x\", Newauth", "basic", "x", NULL, NULL, NULL);
}

static void test_garbage(void **state)
{
	expect_malformed("");
	expect_malformed("   ");
	expect_malformed("=realm");
	expect_malformed("\"Bearer\" realm=\"x\"");
	expect_malformed("Bearer/1 realm=\"x\"");
	expect_malformed("Bearer realm");
	expect_malformed("Bearer realm=");
	expect_malformed("Bearer realm=,service=x");
	expect_malformed("Bearer realm=\"unterminated");
	expect_malformed("Bearer realm=\"ends in backslash\\");
	expect_malformed("Bearer realm=\"x\"service=\"y\"");
	expect_malformed("Bearer realm=\"x\" service=\"y\"");
	expect_malformed("Bearer realm=\"a\nb\"");
	expect_malformed("Bearer realm=\"x\", realm=\"y\"");
	expect_malformed("Bearer REALM=\"x\", realm=\"y\"");
	expect_malformed("Bearer realm=\"x\", =y");
	expect_malformed("Bearer realm=x\"y\"");
}

static void test_error_message_bounded(void **state)
{
	char header[4096];
	memset(header, 'A', sizeof(header) - 1);
	header[sizeof(header) - 1] = '\0';
	memcpy(header, "Bearer realm=\"", 14); /* unterminated, 4 KiB long */
	bale_challenge c;
	bale_error *err = NULL;
	assert_int_equal(bale_auth_challenge_parse(&c, header, &err), BALE_EVERIFY);
	const char *msg = bale_error_message(err);
	assert_true(strlen(msg) < 200);
	assert_non_null(strstr(msg, "unterminated"));
	assert_non_null(strstr(msg, "..."));
	bale_error_free(err);

	/* Control characters from the network are not copied into the message. */
	err = NULL;
	assert_int_equal(bale_auth_challenge_parse(&c, "Bearer \x1b[31mrealm", &err), BALE_EVERIFY);
	assert_null(strchr(bale_error_message(err), '\x1b'));
	bale_error_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bearer),
	    cmocka_unit_test(test_scopes),
	    cmocka_unit_test(test_error_param),
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_unquoted),
	    cmocka_unit_test(test_escapes),
	    cmocka_unit_test(test_case_and_whitespace),
	    cmocka_unit_test(test_unknown_params),
	    cmocka_unit_test(test_first_challenge_only),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_error_message_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
