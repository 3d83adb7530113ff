/* Platforms: what the user types, what an OCI index says and what the node runs must
 * compare equal after normalization, or an export silently misses the images the site
 * needs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bale/error.h"
#include "bale/platform.h"

static void assert_parses_to(const char *text, const char *want)
{
	bale_platform p;
	bale_error *err = NULL;
	char buf[96];

	if (bale_platform_parse(&p, text, &err) != 0) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", bale_error_message(err));
		bale_error_free(err);
		fail_msg("%s: %s", text, msg);
	}
	assert_null(err);
	assert_string_equal(bale_platform_format(&p, buf, sizeof(buf)), want);
}

static void assert_refused(const char *text, const char *want_message)
{
	bale_platform p;
	bale_error *err = NULL;
	char msg[512];

	assert_int_equal(bale_platform_parse(&p, text, &err), BALE_EUSAGE);
	assert_int_equal(bale_error_code(err), BALE_EUSAGE);
	snprintf(msg, sizeof(msg), "%s", bale_error_message(err));
	bale_error_free(err);
	assert_string_equal(msg, want_message);
}

static bool same(const char *a, const char *b)
{
	bale_platform x, y;

	assert_int_equal(bale_platform_parse(&x, a, NULL), 0);
	assert_int_equal(bale_platform_parse(&y, b, NULL), 0);
	return bale_platform_equal(&x, &y);
}

static void test_parse_plain(void **state)
{
	bale_platform p;

	assert_int_equal(bale_platform_parse(&p, "linux/amd64", NULL), 0);
	assert_string_equal(p.os, "linux");
	assert_string_equal(p.arch, "amd64");
	assert_string_equal(p.variant, "");
	assert_parses_to("windows/amd64", "windows/amd64");
	assert_parses_to("linux/ppc64le", "linux/ppc64le");
	assert_parses_to("linux/s390x", "linux/s390x");
	assert_parses_to("linux/riscv64", "linux/riscv64");
	assert_parses_to("linux/arm/v6", "linux/arm/v6");
	assert_parses_to("linux/amd64/v3", "linux/amd64/v3");
}

static void test_parse_aliases(void **state)
{
	assert_parses_to("linux/aarch64", "linux/arm64/v8");
	assert_parses_to("linux/arm64", "linux/arm64/v8");
	assert_parses_to("linux/arm64/8", "linux/arm64/v8");
	assert_parses_to("linux/arm64/v8.0", "linux/arm64/v8");
	assert_parses_to("linux/arm64/9.0", "linux/arm64/v9");
	assert_parses_to("linux/x86_64", "linux/amd64");
	assert_parses_to("linux/x86-64", "linux/amd64");
	assert_parses_to("linux/amd64/v1", "linux/amd64");
	assert_parses_to("linux/amd64/2", "linux/amd64/v2");
	assert_parses_to("linux/i386", "linux/386");
	assert_parses_to("linux/i686", "linux/386");
	assert_parses_to("linux/x86", "linux/386");
	assert_parses_to("linux/armhf", "linux/arm/v7");
	assert_parses_to("linux/armel", "linux/arm/v6");
	assert_parses_to("linux/arm", "linux/arm/v7");
	assert_parses_to("linux/arm/7", "linux/arm/v7");
	assert_parses_to("linux/arm/5", "linux/arm/v5");
	/* Case and the macOS spelling */
	assert_parses_to("Linux/AMD64", "linux/amd64");
	assert_parses_to("linux/ARM/V7", "linux/arm/v7");
	assert_parses_to("macos/arm64", "darwin/arm64/v8");
	assert_parses_to("Darwin/amd64", "darwin/amd64");
	/* Architectures we do not know keep what they were given. */
	assert_parses_to("linux/mips64le/r6", "linux/mips64le/r6");
}

static void test_equal(void **state)
{
	assert_true(same("linux/arm64", "linux/arm64/v8"));
	assert_true(same("linux/aarch64", "linux/arm64/v8"));
	assert_true(same("linux/arm", "linux/arm/v7"));
	assert_true(same("linux/armhf", "linux/arm/v7"));
	assert_true(same("linux/amd64", "linux/x86_64"));
	assert_true(same("linux/amd64/v1", "linux/amd64"));
	assert_false(same("linux/arm/v6", "linux/arm/v7"));
	assert_false(same("linux/arm64", "linux/arm64/v9"));
	assert_false(same("linux/amd64", "linux/amd64/v2"));
	assert_false(same("linux/amd64", "windows/amd64"));
	assert_false(same("linux/amd64", "linux/arm64"));
}

static void test_equal_unnormalized(void **state)
{
	/* The struct is public: a hand-filled one still compares by meaning. */
	bale_platform raw = {.os = "Linux", .arch = "aarch64", .variant = ""};
	bale_platform parsed;

	assert_int_equal(bale_platform_parse(&parsed, "linux/arm64/v8", NULL), 0);
	assert_true(bale_platform_equal(&raw, &parsed));
	assert_true(bale_platform_equal(&parsed, &raw));
}

static void test_from_fields(void **state)
{
	bale_platform p;
	bale_error *err = NULL;
	char buf[64];

	/* An OCI index usually leaves the arm64 variant out. */
	assert_int_equal(bale_platform_from_fields(&p, "linux", "arm64", NULL, NULL), 0);
	assert_string_equal(bale_platform_format(&p, buf, sizeof(buf)), "linux/arm64/v8");
	assert_int_equal(bale_platform_from_fields(&p, "linux", "arm", "7", NULL), 0);
	assert_string_equal(bale_platform_format(&p, buf, sizeof(buf)), "linux/arm/v7");
	assert_int_equal(bale_platform_from_fields(&p, "linux", "amd64", "", NULL), 0);
	assert_string_equal(bale_platform_format(&p, buf, sizeof(buf)), "linux/amd64");

	/* Registry content, so malformed is BALE_EVERIFY. */
	assert_int_equal(bale_platform_from_fields(&p, "linux", "", NULL, &err), BALE_EVERIFY);
	assert_string_equal(bale_error_message(err), "invalid platform: empty architecture");
	bale_error_clear(&err);
	assert_int_equal(bale_platform_from_fields(&p, NULL, "amd64", NULL, &err), BALE_EVERIFY);
	assert_string_equal(bale_error_message(err), "invalid platform: empty os");
	bale_error_clear(&err);
	assert_int_equal(bale_platform_from_fields(&p, "linux", "amd/64", NULL, &err),
	                 BALE_EVERIFY);
	assert_string_equal(bale_error_message(err),
	                    "invalid platform \"amd/64\": invalid character '/' at position 4 of "
	                    "the architecture");
	bale_error_clear(&err);
	assert_int_equal(bale_platform_from_fields(&p, "linux", "arm", "v7-extra-long-x", &err),
	                 BALE_EVERIFY);
	assert_string_equal(
	    bale_error_message(err),
	    "invalid platform \"v7-extra-long-x\": variant longer than 14 characters");
	bale_error_clear(&err);
}

static void test_invalid(void **state)
{
	assert_refused("amd64", "invalid platform \"amd64\": want os/arch[/variant]");
	assert_refused("", "invalid platform \"\": want os/arch[/variant]");
	assert_refused("linux/", "invalid platform \"linux/\": empty architecture at position 7 "
	                         "(want os/arch[/variant])");
	assert_refused("/amd64", "invalid platform \"/amd64\": empty os at position 1 "
	                         "(want os/arch[/variant])");
	assert_refused("linux/arm/", "invalid platform \"linux/arm/\": empty variant at position "
	                             "11 (want os/arch[/variant])");
	assert_refused("linux/arm/v7/x", "invalid platform \"linux/arm/v7/x\": '/' at position 13 "
	                                 "is one too many (want os/arch[/variant])");
	assert_refused("linux/am d64",
	               "invalid platform \"linux/am d64\": invalid character ' ' at "
	               "position 9 (want letters, digits, '_', '.' and '-')");
	assert_refused("linux/amd64\n", "invalid platform \"linux/amd64\\x0a\": invalid character "
	                                "byte 0x0a at position 12 (want letters, digits, '_', '.' "
	                                "and '-')");
	assert_refused("linuxlinuxlinuxlinuxlinuxlinuxlinux/amd64",
	               "invalid platform \"linuxlinuxlinuxlinuxlinuxlinuxlinux/amd64\": os longer "
	               "than 31 characters at position 32");
}

static void test_host(void **state)
{
	bale_platform host;
	char buf[96];

	bale_platform_host(&host);
	assert_string_equal(host.os, "linux");
	assert_true(host.arch[0] != '\0');
	assert_true(bale_platform_equal(&host, &host));
#if defined(__x86_64__)
	assert_string_equal(bale_platform_format(&host, buf, sizeof(buf)), "linux/amd64");
#elif defined(__aarch64__)
	assert_string_equal(bale_platform_format(&host, buf, sizeof(buf)), "linux/arm64/v8");
#else
	(void)buf;
#endif
}

static void test_format_truncates(void **state)
{
	bale_platform p;
	char small[8];

	assert_int_equal(bale_platform_parse(&p, "linux/arm64", NULL), 0);
	assert_string_equal(bale_platform_format(&p, small, sizeof(small)), "linux/a");
}

static bale_platform_set *set_ok(const char *text)
{
	bale_platform_set *set = NULL;
	bale_error *err = NULL;

	if (bale_platform_set_parse(&set, text, &err) != 0) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", bale_error_message(err));
		bale_error_free(err);
		fail_msg("%s: %s", text, msg);
	}
	assert_non_null(set);
	return set;
}

static bool set_has(const bale_platform_set *set, const char *text)
{
	bale_platform p;

	assert_int_equal(bale_platform_parse(&p, text, NULL), 0);
	return bale_platform_set_contains(set, &p);
}

static void test_set_host(void **state)
{
	bale_platform host;
	bale_platform_set *set;

	bale_platform_host(&host);
	set = set_ok(NULL);
	assert_false(bale_platform_set_is_all(set));
	assert_int_equal(bale_platform_set_count(set), 1);
	assert_true(bale_platform_equal(bale_platform_set_at(set, 0), &host));
	bale_platform_set_free(set);

	set = set_ok("");
	assert_int_equal(bale_platform_set_count(set), 1);
	assert_true(bale_platform_set_contains(set, &host));
	bale_platform_set_free(set);
}

static void test_set_all(void **state)
{
	bale_platform_set *set = set_ok("all");

	assert_true(bale_platform_set_is_all(set));
	assert_int_equal(bale_platform_set_count(set), 0);
	assert_true(set_has(set, "linux/s390x"));
	assert_true(set_has(set, "windows/amd64"));
	bale_platform_set_free(set);

	set = set_ok("  all ");
	assert_true(bale_platform_set_is_all(set));
	bale_platform_set_free(set);
}

static void test_set_list(void **state)
{
	bale_platform_set *set = set_ok("linux/amd64,linux/arm64");
	char buf[64];

	assert_false(bale_platform_set_is_all(set));
	assert_int_equal(bale_platform_set_count(set), 2);
	assert_string_equal(bale_platform_format(bale_platform_set_at(set, 0), buf, sizeof(buf)),
	                    "linux/amd64");
	assert_string_equal(bale_platform_format(bale_platform_set_at(set, 1), buf, sizeof(buf)),
	                    "linux/arm64/v8");
	assert_true(set_has(set, "linux/arm64/v8"));
	assert_true(set_has(set, "linux/aarch64"));
	assert_true(set_has(set, "linux/x86_64"));
	assert_false(set_has(set, "linux/arm/v7"));
	assert_false(set_has(set, "linux/amd64/v3"));
	bale_platform_set_free(set);
}

static void test_set_dedupe_trim(void **state)
{
	bale_platform_set *set =
	    set_ok(" linux/arm64 ,\tlinux/arm64/v8,linux/aarch64 , linux/arm , linux/armhf,"
	           "linux/arm/v6");
	char buf[64];

	assert_int_equal(bale_platform_set_count(set), 3);
	assert_string_equal(bale_platform_format(bale_platform_set_at(set, 0), buf, sizeof(buf)),
	                    "linux/arm64/v8");
	assert_string_equal(bale_platform_format(bale_platform_set_at(set, 1), buf, sizeof(buf)),
	                    "linux/arm/v7");
	assert_string_equal(bale_platform_format(bale_platform_set_at(set, 2), buf, sizeof(buf)),
	                    "linux/arm/v6");
	bale_platform_set_free(set);
}

static void assert_set_refused(const char *text, const char *want)
{
	bale_platform_set *set = (bale_platform_set *)&set; /* must be left NULL */
	bale_error *err = NULL;
	char msg[512];

	assert_int_equal(bale_platform_set_parse(&set, text, &err), BALE_EUSAGE);
	assert_null(set);
	snprintf(msg, sizeof(msg), "%s", bale_error_message(err));
	bale_error_free(err);
	assert_string_equal(msg, want);
}

static void test_set_invalid(void **state)
{
	assert_set_refused("linux/amd64,,linux/arm64",
	                   "invalid platform list \"linux/amd64,,linux/arm64\": empty item at "
	                   "position 13");
	assert_set_refused("linux/amd64,",
	                   "invalid platform list \"linux/amd64,\": empty item at position 13");
	assert_set_refused(" ", "invalid platform list \" \": empty item at position 1");
	assert_set_refused("all,linux/amd64",
	                   "invalid platform list \"all,linux/amd64\": \"all\" at position 1 "
	                   "cannot be combined with other platforms");
	assert_set_refused("linux/amd64, amd64",
	                   "platform list item 2 at position 14: invalid platform \"amd64\": want "
	                   "os/arch[/variant]");
}

/* Windows builds: os.version and os.features, in bale's spelling and containerd's. */
static void test_os_options(void **state)
{
	bale_platform p;
	assert_parses_to("windows/amd64:10.0.17763.5576", "windows/amd64:10.0.17763.5576");
	assert_parses_to("windows(10.0.17763.5576)/amd64", "windows/amd64:10.0.17763.5576");
	assert_parses_to("windows(10.0.17763.5576+win32k)/amd64",
	                 "windows/amd64:10.0.17763.5576+win32k");
	assert_parses_to("windows(+win32k)/amd64", "windows/amd64+win32k");
	assert_parses_to("windows/amd64+win32k+alpha+win32k", "windows/amd64+alpha+win32k");
	assert_parses_to("Windows/x86_64:10.0.20348.2340", "windows/amd64:10.0.20348.2340");
	assert_parses_to("linux/arm64/v8:5.10", "linux/arm64/v8:5.10");
	assert_int_equal(bale_platform_parse(&p, "windows(10.0.17763.5576+win32k)/amd64", NULL), 0);
	assert_string_equal(p.os, "windows");
	assert_string_equal(p.arch, "amd64");
	assert_string_equal(p.os_version, "10.0.17763.5576");
	assert_string_equal(p.os_features, "win32k");
	assert_refused("windows/amd64:", "invalid platform \"windows/amd64:\": empty os.version "
	                                 "after ':' at position 14");
	assert_refused("windows(10.0/amd64", "invalid platform \"windows(10.0/amd64\": want "
	                                     "os(os.version[+feature]...)/arch[/variant]");
	assert_refused("windows/amd64:10.0++x",
	               "invalid platform \"windows/amd64:10.0++x\": empty os.features item (want "
	               "os/arch[/variant][:os.version][+feature]...)");
	bale_error *err = NULL;
	assert_int_equal(bale_platform_parse(&p, "windows/amd64:10 0", &err), BALE_EUSAGE);
	assert_non_null(strstr(bale_error_message(err), "invalid character"));
	bale_error_free(err);
	/* from an index: features in any order, each once */
	const char *features[] = {"win32k", "alpha", "win32k"};
	assert_int_equal(bale_platform_from_fields(&p, "windows", "amd64", NULL, NULL), 0);
	assert_int_equal(bale_platform_set_os_options(&p, "10.0.1", features, 3, NULL), 0);
	assert_string_equal(p.os_features, "alpha+win32k");
	const char *bad[] = {"has space"};
	err = NULL;
	assert_int_equal(bale_platform_set_os_options(&p, "10.0.1", bad, 1, &err), BALE_EVERIFY);
	bale_error_free(err);
}

static bool matches(const char *want, const char *have)
{
	bale_platform w, h;
	assert_int_equal(bale_platform_parse(&w, want, NULL), 0);
	assert_int_equal(bale_platform_parse(&h, have, NULL), 0);
	return bale_platform_matches(&w, &h);
}

/* A version names a build and its updates; no version asks for any; features asked for
 * bound what a manifest may need; equality is exact. */
static void test_matches(void **state)
{
	assert_true(matches("windows/amd64", "windows/amd64:10.0.17763.5576"));
	assert_true(matches("windows/amd64:10.0.17763.5576", "windows/amd64:10.0.17763.5576"));
	assert_true(matches("windows/amd64:10.0.17763", "windows/amd64:10.0.17763.5576"));
	assert_true(matches("windows(10.0.17763)/amd64", "windows/amd64:10.0.17763.5576"));
	assert_false(matches("windows/amd64:10.0.17763.5576", "windows/amd64:10.0.20348.2340"));
	assert_false(matches("windows/amd64:10.0.1776", "windows/amd64:10.0.17763.5576"));
	assert_false(matches("windows/amd64:10.0.17763.5576", "windows/amd64"));
	assert_false(matches("windows/arm64:10.0.17763.5576", "windows/amd64:10.0.17763.5576"));
	assert_true(matches("windows/amd64", "windows/amd64+win32k"));
	assert_true(matches("windows/amd64+win32k+alpha", "windows/amd64+win32k"));
	assert_false(matches("windows/amd64+alpha", "windows/amd64+win32k"));
	assert_true(matches("linux/arm64", "linux/aarch64/v8"));
	assert_false(same("windows/amd64", "windows/amd64:10.0.17763.5576"));
	assert_true(same("windows(10.0.1+b+a)/amd64", "windows/amd64:10.0.1+a+b"));
	/* a set picks one Windows build of two, and keeps both spellings of one once */
	bale_platform_set *set =
	    set_ok("windows/amd64:10.0.17763.5576,windows(10.0.17763.5576)/amd64");
	assert_int_equal(bale_platform_set_count(set), 1);
	assert_true(set_has(set, "windows/amd64:10.0.17763.5576"));
	assert_false(set_has(set, "windows/amd64:10.0.20348.2340"));
	bale_platform_set_free(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_plain), cmocka_unit_test(test_parse_aliases),
	    cmocka_unit_test(test_equal),       cmocka_unit_test(test_equal_unnormalized),
	    cmocka_unit_test(test_from_fields), cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_host),        cmocka_unit_test(test_format_truncates),
	    cmocka_unit_test(test_set_host),    cmocka_unit_test(test_set_all),
	    cmocka_unit_test(test_set_list),    cmocka_unit_test(test_set_dedupe_trim),
	    cmocka_unit_test(test_set_invalid), cmocka_unit_test(test_os_options),
	    cmocka_unit_test(test_matches),
	};
	return cmocka_run_group_tests_name("platform", tests, NULL, NULL);
}
