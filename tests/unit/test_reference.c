/* Image references: normalization must match docker/containerd byte for byte (the kubelet
 * looks images up by that string), and every refusal must point at the character. Each
 * table row is its own cmocka test, named by its input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bale/error.h"
#include "bale/ref.h"

#define HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define DIG "sha256:" HEX

struct valid_case {
	const char *input;
	const char *string; /* normalized */
	const char *domain;
	const char *path;
	const char *tag;    /* NULL: none */
	const char *digest; /* NULL: none */
};

struct invalid_case {
	const char *input;
	const char *detail; /* must appear in the message */
};

static void assert_opt_string(const char *got, const char *want)
{
	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
}

static void check_valid(const struct valid_case *c)
{
	bale_ref *ref = NULL;
	bale_error *err = NULL;
	char name[512];

	int rc = bale_ref_parse(&ref, c->input, &err);
	if (rc != 0) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", bale_error_message(err));
		bale_error_free(err); /* fail_msg does not return */
		fail_msg("%s", msg);
	}
	assert_null(err);
	assert_non_null(ref);
	snprintf(name, sizeof(name), "%s/%s", c->domain, c->path);
	assert_string_equal(bale_ref_string(ref), c->string);
	assert_string_equal(bale_ref_domain(ref), c->domain);
	assert_string_equal(bale_ref_path(ref), c->path);
	assert_string_equal(bale_ref_name(ref), name);
	assert_opt_string(bale_ref_tag(ref), c->tag);
	assert_opt_string(bale_ref_digest(ref), c->digest);
	/* A manifest GET asks for the tag when there is one. */
	assert_string_equal(bale_ref_lookup(ref), c->digest ? c->digest : c->tag);
	bale_ref_free(ref);
}

static void check_invalid(const char *input, const char *detail)
{
	bale_ref *ref = (bale_ref *)&ref; /* must be reset to NULL */
	bale_error *err = NULL;

	int rc = bale_ref_parse(&ref, input, &err);
	assert_int_equal(rc, BALE_EUSAGE);
	assert_null(ref);
	assert_non_null(err);
	assert_int_equal(bale_error_code(err), BALE_EUSAGE);
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", bale_error_message(err));
	bale_error_free(err); /* before any assert, which does not return */
	if (strncmp(msg, "invalid reference \"", 19) != 0 || !strstr(msg, detail))
		fail_msg("message \"%s\" lacks \"%s\"", msg, detail);
	assert_null(strchr(msg, '\n')); /* one line, even for hostile input */
}

static void test_valid(void **state)
{
	check_valid(*state);
}

static void test_invalid(void **state)
{
	const struct invalid_case *c = *state;
	check_invalid(c->input, c->detail);
}

#define VALID(in, str, dom, pth, tg, dg)                                                           \
	{                                                                                          \
		"ok " in, test_valid, NULL, NULL, &(struct valid_case){in, str, dom, pth, tg, dg}, \
	}
#define INVALID(in, det)                                                                           \
	{                                                                                          \
		"bad " in, test_invalid, NULL, NULL, &(struct invalid_case){in, det},              \
	}

/* The message in full, for the example docs/design.md and the CLI docs show. */
static void test_message_exact(void **state)
{
	bale_ref *ref = NULL;
	bale_error *err = NULL;

	assert_int_equal(bale_ref_parse(&ref, "Nginx:1", &err), BALE_EUSAGE);
	assert_string_equal(bale_error_message(err),
	                    "invalid reference \"Nginx:1\": uppercase letter 'N' at position 1 "
	                    "(repository names must be lowercase)");
	bale_error_clear(&err);

	assert_int_equal(bale_ref_parse(&ref, "a//b", &err), BALE_EUSAGE);
	assert_string_equal(bale_error_message(err),
	                    "invalid reference \"a//b\": unexpected '/' at position 3 "
	                    "(empty path component)");
	bale_error_clear(&err);

	/* Control bytes are escaped so the message stays on one line. */
	assert_int_equal(bale_ref_parse(&ref, "nginx\n", &err), BALE_EUSAGE);
	assert_string_equal(bale_error_message(err),
	                    "invalid reference \"nginx\\x0a\": invalid character byte 0x0a at "
	                    "position 6 (repository names allow a-z, 0-9, '.', '_', '-' and '/')");
	bale_error_clear(&err);
}

static void test_null_err(void **state)
{
	bale_ref *ref = NULL;

	/* Callers that only want the verdict pass no error slot. */
	assert_int_equal(bale_ref_parse(&ref, "", NULL), BALE_EUSAGE);
	assert_null(ref);
	assert_int_equal(bale_ref_parse(&ref, "nginx", NULL), 0);
	bale_ref_free(ref);
	bale_ref_free(NULL);
}

static void test_api_host(void **state)
{
	static const struct {
		const char *input, *host;
	} cases[] = {
	    {"nginx", "registry-1.docker.io"},
	    {"index.docker.io/x/y", "registry-1.docker.io"},
	    {"docker.io/x/y", "registry-1.docker.io"},
	    {"ghcr.io/o/r", "ghcr.io"},
	    {"localhost:5000/x", "localhost:5000"},
	    {"[::1]:5000/x", "[::1]:5000"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bale_ref *ref = NULL;
		assert_int_equal(bale_ref_parse(&ref, cases[i].input, NULL), 0);
		assert_string_equal(bale_ref_api_host(ref), cases[i].host);
		bale_ref_free(ref);
	}
}

static char *repeat(const char *prefix, char c, size_t n, const char *suffix)
{
	size_t p = strlen(prefix), s = strlen(suffix);
	char *out = malloc(p + n + s + 1);

	assert_non_null(out);
	memcpy(out, prefix, p);
	memset(out + p, c, n);
	memcpy(out + p + n, suffix, s + 1);
	return out;
}

static void test_tag_length(void **state)
{
	char *ok = repeat("nginx:", 'a', 128, "");
	char *tag = repeat("", 'a', 128, "");
	char *too_long = repeat("nginx:", 'a', 129, "");
	char *str = repeat("docker.io/library/nginx:", 'a', 128, "");

	check_valid(&(struct valid_case){ok, str, "docker.io", "library/nginx", tag, NULL});
	/* The 129th tag character sits at 6 + 129. */
	check_invalid(too_long, "tag too long: 'a' at position 135");
	free(ok);
	free(tag);
	free(too_long);
	free(str);
}

static void test_name_length(void **state)
{
	/* docker.io/library/ is 18 characters, so 237 more make 255. */
	char *ok = repeat("", 'a', 237, "");
	char *ok_path = repeat("library/", 'a', 237, "");
	char *ok_str = repeat("docker.io/library/", 'a', 237, ":latest");
	char *too_long = repeat("", 'a', 238, "");
	/* An explicit domain counts as typed. */
	char *host_ok = repeat("example.com/", 'b', 243, "");
	char *host_path = repeat("", 'b', 243, "");
	char *host_str = repeat("example.com/", 'b', 243, ":latest");
	char *host_long = repeat("example.com/", 'b', 244, ":t");

	check_valid(&(struct valid_case){ok, ok_str, "docker.io", ok_path, "latest", NULL});
	check_invalid(too_long, "name too long: 'a' at position 238 (the name is 256 characters");
	check_valid(
	    &(struct valid_case){host_ok, host_str, "example.com", host_path, "latest", NULL});
	check_invalid(host_long, "name too long: 'b' at position 256");
	check_invalid(host_long, "\"example.com/bbbb"); /* quoted, but cut */
	check_invalid(host_long, "bbbb...\": ");
	free(ok);
	free(ok_path);
	free(ok_str);
	free(too_long);
	free(host_ok);
	free(host_path);
	free(host_str);
	free(host_long);
}

static void test_long_domain(void **state)
{
	/* A domain alone past the limit: the 256th character is in the domain. */
	char *in = repeat("", 'h', 260, ".com/x");

	check_invalid(in, "name too long: 'h' at position 256");
	free(in);
}

/* Names bundles and stores carry: only the normalized form of a reference. */
static void test_check_name(void **state)
{
	static const char *const good[] = {
	    "docker.io/library/nginx:1.25",
	    "127.0.0.1:5000/demo/multi:1",
	    "ghcr.io/o/r@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	};
	static const char *const bad[] = {
	    "../../../etc/passwd",
	    "nginx",
	    "docker.io/library/nginx",
	    "a\nb",
	    "\x1b]0;x\x07",
	    "docker.io/library/nginx:1.25 ",
	    "",
	    NULL,
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(bale_ref_check_name(good[i], NULL), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bale_error *err = NULL;
		assert_int_equal(bale_ref_check_name(bad[i], &err), BALE_EVERIFY);
		assert_non_null(strstr(bale_error_message(err), "image name \""));
		assert_null(strchr(bale_error_message(err), '\n'));
		assert_null(strchr(bale_error_message(err), '\x1b'));
		bale_error_free(err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_name),
	    /* Docker Hub normalization */
	    VALID("nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest",
	          NULL),
	    VALID("nginx:1.25", "docker.io/library/nginx:1.25", "docker.io", "library/nginx",
	          "1.25", NULL),
	    VALID("a", "docker.io/library/a:latest", "docker.io", "library/a", "latest", NULL),
	    VALID("library/nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx",
	          "latest", NULL),
	    VALID("docker.io/nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx",
	          "latest", NULL),
	    VALID("docker.io/library/nginx:1.25", "docker.io/library/nginx:1.25", "docker.io",
	          "library/nginx", "1.25", NULL),
	    VALID("docker.io/a/b", "docker.io/a/b:latest", "docker.io", "a/b", "latest", NULL),
	    VALID("index.docker.io/nginx", "docker.io/library/nginx:latest", "docker.io",
	          "library/nginx", "latest", NULL),
	    VALID("index.docker.io/x/y", "docker.io/x/y:latest", "docker.io", "x/y", "latest",
	          NULL),
	    VALID("index.docker.io/library/nginx@" DIG, "docker.io/library/nginx@" DIG, "docker.io",
	          "library/nginx", NULL, DIG),
	    VALID("bitnami/redis:7", "docker.io/bitnami/redis:7", "docker.io", "bitnami/redis", "7",
	          NULL),
	    VALID("0/1", "docker.io/0/1:latest", "docker.io", "0/1", "latest", NULL),
	    /* Digests and tags */
	    VALID("nginx@" DIG, "docker.io/library/nginx@" DIG, "docker.io", "library/nginx", NULL,
	          DIG),
	    VALID("nginx:1.25@" DIG, "docker.io/library/nginx:1.25@" DIG, "docker.io",
	          "library/nginx", "1.25", DIG),
	    VALID("ghcr.io/o/r@" DIG, "ghcr.io/o/r@" DIG, "ghcr.io", "o/r", NULL, DIG),
	    VALID("x:_tag", "docker.io/library/x:_tag", "docker.io", "library/x", "_tag", NULL),
	    VALID("x:V1.2-rc_3", "docker.io/library/x:V1.2-rc_3", "docker.io", "library/x",
	          "V1.2-rc_3", NULL),
	    /* A 64-hex name is refused only on its own; with a tag it is a name. */
	    VALID(HEX ":t", "docker.io/library/" HEX ":t", "docker.io", "library/" HEX, "t", NULL),
	    /* Registries */
	    VALID("host:5000/r:t", "host:5000/r:t", "host:5000", "r", "t", NULL),
	    VALID("localhost/x", "localhost/x:latest", "localhost", "x", "latest", NULL),
	    VALID("localhost:5000/x", "localhost:5000/x:latest", "localhost:5000", "x", "latest",
	          NULL),
	    VALID("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000", "x", "latest", NULL),
	    VALID("[2001:DB8::1]/team/app:v1", "[2001:DB8::1]/team/app:v1", "[2001:DB8::1]",
	          "team/app", "v1", NULL),
	    VALID("127.0.0.1:5000/a/b@" DIG, "127.0.0.1:5000/a/b@" DIG, "127.0.0.1:5000", "a/b",
	          NULL, DIG),
	    VALID("registry.example.com:443/a/b:t@" DIG, "registry.example.com:443/a/b:t@" DIG,
	          "registry.example.com:443", "a/b", "t", DIG),
	    VALID("reg.example.com/a/b/c/d/e/f:deep", "reg.example.com/a/b/c/d/e/f:deep",
	          "reg.example.com", "a/b/c/d/e/f", "deep", NULL),
	    VALID("sub.my-reg.example.com/x", "sub.my-reg.example.com/x:latest",
	          "sub.my-reg.example.com", "x", "latest", NULL),
	    VALID("xn--n3h.com/myimage", "xn--n3h.com/myimage:latest", "xn--n3h.com", "myimage",
	          "latest", NULL),
	    VALID("192.168.0.1:8/debian", "192.168.0.1:8/debian:latest", "192.168.0.1:8", "debian",
	          "latest", NULL),
	    VALID("EXAMPLE.com/x", "EXAMPLE.com/x:latest", "EXAMPLE.com", "x", "latest", NULL),
	    /* docker: a first component that is not lowercase can only be a registry. */
	    VALID("Docker/docker", "Docker/docker:latest", "Docker", "docker", "latest", NULL),
	    /* docker: without a '/', "host:port" is a name and a tag. */
	    VALID("localhost:5000", "docker.io/library/localhost:5000", "docker.io",
	          "library/localhost", "5000", NULL),
	    /* Separators: '.', '_', '__', any run of '-' */
	    VALID("a__b/c_d/e.f/g-h/i---j:1", "docker.io/a__b/c_d/e.f/g-h/i---j:1", "docker.io",
	          "a__b/c_d/e.f/g-h/i---j", "1", NULL),
	    VALID("quay.io/a.b_c-d/x0.9", "quay.io/a.b_c-d/x0.9:latest", "quay.io", "a.b_c-d/x0.9",
	          "latest", NULL),

	    /* Empty and missing parts */
	    INVALID("", "empty reference"),
	    INVALID(":tag", "missing repository name before ':' at position 1"),
	    INVALID("@" DIG, "missing repository name before '@' at position 1"),
	    INVALID("ghcr.io/:tag", "missing repository name before ':' at position 9"),
	    INVALID("nginx:", "missing tag after ':' at position 6"),
	    INVALID("nginx:@" DIG, "missing tag after ':' at position 6"),
	    INVALID("nginx@", "missing digest after '@' at position 6"),
	    INVALID("a//b", "unexpected '/' at position 3 (empty path component)"),
	    INVALID("a/", "unexpected '/' at position 2 (empty path component)"),
	    INVALID("/a", "unexpected '/' at position 1 (empty path component)"),
	    INVALID("ghcr.io/", "unexpected '/' at position 8 (empty path component)"),
	    INVALID("ghcr.io/a/:t", "unexpected '/' at position 10 (empty path component)"),
	    /* Case */
	    INVALID("Nginx:1", "uppercase letter 'N' at position 1"),
	    INVALID("library/Nginx", "uppercase letter 'N' at position 9"),
	    INVALID("localhost:5000/Foo", "uppercase letter 'F' at position 16"),
	    INVALID("a-B", "uppercase letter 'B' at position 3"),
	    /* Path characters and separators */
	    INVALID("nginx latest", "invalid character ' ' at position 6"),
	    INVALID(" nginx", "invalid character ' ' at position 1"),
	    INVALID("ngin\"x", "invalid character '\"' at position 5"),
	    INVALID("ngin\"x", "\"ngin\\\"x\""),
	    INVALID("caf\xc3\xa9", "invalid character byte 0xc3 at position 4"),
	    INVALID("-docker", "unexpected '-' at position 1 (path components start"),
	    INVALID("a/.b", "unexpected '.' at position 3"),
	    INVALID("a-", "separator '-' at position 2"),
	    INVALID("a--/b", "separator '-' at position 2"),
	    INVALID("a_:t", "separator '_' at position 2"),
	    INVALID("a..b", "unexpected '.' at position 3"),
	    INVALID("a___b", "unexpected '_' at position 4"),
	    INVALID("a._b", "unexpected '_' at position 3"),
	    INVALID(HEX, "cannot specify 64-byte hexadecimal strings"),
	    /* Domains */
	    INVALID("host:abc/x", "invalid character 'a' at position 6 (a port is digits only)"),
	    INVALID("host:/x", "unexpected ':' at position 5"),
	    INVALID("nginx:1.0/x", "invalid character '.' at position 8"),
	    INVALID("-host.com/x", "unexpected '-' at position 1 (domain components start"),
	    INVALID("host-.com/x", "unexpected '-' at position 5 (domain components end"),
	    INVALID("a..com/x", "unexpected '.' at position 3"),
	    INVALID("my_reg.com/x", "invalid character '_' at position 3"),
	    INVALID("[::1/x", "unexpected '/' at position 5"),
	    INVALID("[]:5000/x", "unexpected ']' at position 2"),
	    /* Without '.', ':' or uppercase the first component is a Hub namespace. */
	    INVALID("[]/x", "invalid character '[' at position 1"),
	    INVALID("[::g]/x", "unexpected 'g' at position 4"),
	    INVALID("[::1]x/y", "invalid character 'x' at position 6"),
	    INVALID("::1/x", "unexpected ':' at position 1"),
	    /* Tags */
	    INVALID("nginx:1.0!", "invalid character '!' at position 10"),
	    INVALID("nginx:.hidden", "invalid character '.' at position 7"),
	    INVALID("nginx:-x", "invalid character '-' at position 7"),
	    INVALID("nginx:1:2", "invalid character ':' at position 8"),
	    INVALID("nginx:a b", "invalid character ' ' at position 8"),
	    /* docker splits at the first '/', wherever it is: "nginx:a" is a host here. */
	    INVALID("nginx:a/b", "invalid character 'a' at position 7 (a port is digits only)"),
	    /* Digests */
	    INVALID("nginx@latest", "digest at position 7 has no algorithm"),
	    INVALID("nginx@:" HEX, "missing digest algorithm before ':' at position 7"),
	    INVALID("nginx@sha512:" HEX HEX,
	            "unsupported digest algorithm \"sha512\" at position 7"),
	    INVALID("nginx@SHA256:" HEX, "unsupported digest algorithm \"SHA256\""),
	    INVALID("nginx@sha256:abc", "digest ends at position 16 after 3 hex digits"),
	    INVALID("nginx@sha256:", "digest ends at position 13 after 0 hex digits"),
	    INVALID("nginx@sha256:" HEX "0", "unexpected '0' at position 78"),
	    INVALID("nginx@" DIG "@" DIG, "unexpected '@' at position 78"),
	    INVALID("nginx@sha256:E3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	            "uppercase hex digit 'E' at position 14"),
	    INVALID("nginx@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
	            "invalid character 'g' at position 77"),
	    INVALID("nginx@sha256:" HEX ":", "unexpected ':' at position 78"),

	    cmocka_unit_test(test_message_exact),
	    cmocka_unit_test(test_null_err),
	    cmocka_unit_test(test_api_host),
	    cmocka_unit_test(test_tag_length),
	    cmocka_unit_test(test_name_length),
	    cmocka_unit_test(test_long_domain),
	};
	return cmocka_run_group_tests_name("reference", tests, NULL, NULL);
}
