/* Versions in tags and the ranges image sets choose them by (include/bale/semver.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bale/semver.h"

static void test_parse(void **state)
{
	(void)state;
	bale_semver v;
	assert_true(bale_semver_parse(&v, "1.27.3"));
	assert_int_equal(v.major, 1);
	assert_int_equal(v.minor, 27);
	assert_int_equal(v.patch, 3);
	assert_false(v.prerelease);
	assert_true(bale_semver_parse(&v, "v2.0.10+build.7"));
	assert_int_equal(v.patch, 10);
	assert_true(bale_semver_parse(&v, "1.28.0-rc.1"));
	assert_true(v.prerelease);
	assert_string_equal(v.pre, "rc.1");
	static const char *const not_versions[] = {
	    "latest",    "1.27", "1", "01.2.3", "1.2.3.4",       "1.2.3-",
	    "1.2.3-a_b", "",     "v", "1..3",   "sha256-abc.sig"};
	for (size_t i = 0; i < sizeof(not_versions) / sizeof(*not_versions); i++)
		if (bale_semver_parse(&v, not_versions[i]))
			fail_msg("\"%s\" read as a version", not_versions[i]);
}

static int cmp(const char *a, const char *b)
{
	bale_semver x, y;
	assert_true(bale_semver_parse(&x, a));
	assert_true(bale_semver_parse(&y, b));
	return bale_semver_compare(&x, &y);
}

static void test_order(void **state)
{
	(void)state;
	/* semver.org's own example, in order */
	static const char *const chain[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
	                                    "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
	                                    "1.0.0-rc.1",  "1.0.0",         "1.0.1",
	                                    "1.2.0",       "1.10.0",        "2.0.0"};
	for (size_t i = 0; i + 1 < sizeof(chain) / sizeof(*chain); i++)
		if (cmp(chain[i], chain[i + 1]) >= 0 || cmp(chain[i + 1], chain[i]) <= 0)
			fail_msg("%s should come before %s", chain[i], chain[i + 1]);
	assert_int_equal(cmp("1.2.3+a", "v1.2.3+b"), 0);
}

static bool in(const char *range, const char *version)
{
	bale_semver_range *r = NULL;
	bale_semver v;
	assert_int_equal(bale_semver_range_parse(&r, range, NULL), 0);
	assert_true(bale_semver_parse(&v, version));
	bool yes = bale_semver_range_contains(r, &v);
	bale_semver_range_free(r);
	return yes;
}

static void test_ranges(void **state)
{
	(void)state;
	static const struct {
		const char *range, *yes, *no;
	} cases[] = {
	    {">=1.27.0 <1.28.0", "1.27.9", "1.28.0"},
	    {">=1.27.0 <1.28.0", "1.27.0", "1.26.9"},
	    {"1.27.x", "1.27.4", "1.28.0"},
	    {"1.27", "1.27.0", "1.26.0"},
	    {"1.x", "1.99.0", "2.0.0"},
	    {"~1.27.3", "1.27.5", "1.27.2"},
	    {"~1.27.3", "1.27.3", "1.28.0"},
	    {"^1.27.3", "1.99.0", "2.0.0"},
	    {"^0.2.3", "0.2.9", "0.3.0"},
	    {"=1.2.3", "1.2.3", "1.2.4"},
	    {"1.2.3", "1.2.3", "1.2.2"},
	    {"<1.0.0 || >=2.0.0", "2.1.0", "1.5.0"},
	    {"<1.0.0 || >=2.0.0", "0.9.0", "1.0.0"},
	    {">1.2.3 <=1.2.5", "1.2.5", "1.2.3"},
	    {"*", "7.0.0", "1.0.0-rc.1"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		if (!in(cases[i].range, cases[i].yes))
			fail_msg("%s should hold %s", cases[i].range, cases[i].yes);
		if (in(cases[i].range, cases[i].no))
			fail_msg("%s should not hold %s", cases[i].range, cases[i].no);
	}
	/* a release candidate is never in a range */
	assert_false(in(">=1.0.0", "1.1.0-rc.1"));
}

static void test_bad_ranges(void **state)
{
	(void)state;
	static const char *const bad[] = {"",      "  ",       ">=", "1.2.3 |",     "latest",
	                                  ">=1.2", "1.2.3 ||", "~",  ">=1.2.3-rc.1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		bale_semver_range *r = NULL;
		bale_error *err = NULL;
		if (bale_semver_range_parse(&r, bad[i], &err) != BALE_EUSAGE)
			fail_msg("\"%s\" read as a range", bad[i]);
		assert_non_null(strstr(bale_error_message(err), "semver range"));
		bale_error_free(err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_order),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_bad_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
