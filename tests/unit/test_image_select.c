/* Which manifests of an image's tree are carried: runnable images by platform, in child
 * indexes as in the root; artifacts with their subject; never refused for lacking a
 * platform they never had. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "bale/image.h"
#include "bale/platform.h"

typedef struct tree {
	bale_image img;
	bale_image_manifest man[8];
	bale_image_index idx[4];
} tree;

static void digest_of(bale_digest *d, const char *seed)
{
	bale_digest_of(d, seed, strlen(seed));
}

static void start(tree *t)
{
	memset(t, 0, sizeof(*t));
	t->img.ref = "example.com/app:1";
	digest_of(&t->img.root.digest, "root");
	t->img.manifests = t->man;
	t->img.indexes = t->idx;
}

/* A manifest entry of index parent ("root" or a child's seed); platform NULL for none. */
static bale_image_manifest *entry(tree *t, const char *seed, const char *parent,
                                  const char *platform, bool artifact)
{
	bale_image_manifest *m = &t->man[t->img.n_manifests++];
	digest_of(&m->desc.digest, seed);
	digest_of(&m->parent, parent);
	if (platform) {
		assert_int_equal(bale_platform_parse(&m->platform, platform, NULL), 0);
		m->has_platform = true;
	}
	m->artifact = artifact;
	return m;
}

static void child(tree *t, const char *seed, const char *parent, size_t depth)
{
	bale_image_index *x = &t->idx[t->img.n_indexes++];
	digest_of(&x->desc.digest, seed);
	digest_of(&x->parent, parent);
	x->depth = depth;
}

static bale_platform_set *want(const char *text)
{
	bale_platform_set *set = NULL;
	assert_int_equal(bale_platform_set_parse(&set, text, NULL), 0);
	return set;
}

static void select_ok(tree *t, const char *platforms)
{
	bale_platform_set *set = want(platforms);
	bale_error *err = NULL;
	if (bale_image_select(&t->img, set, &err) < 0)
		fail_msg("%s", bale_error_message(err));
	bale_image_select_loaded(&t->img, set);
	bale_platform_set_free(set);
}

static void select_fails(tree *t, const char *platforms, const char *message)
{
	bale_platform_set *set = want(platforms);
	bale_error *err = NULL;
	assert_int_equal(bale_image_select(&t->img, set, &err), BALE_ENOTFOUND);
	assert_string_equal(bale_error_message(err), message);
	bale_error_free(err);
	bale_platform_set_free(set);
}

/* root -> [s390x, child -> [amd64, arm64]]: --platform linux/amd64 finds amd64 in the child,
 * and the child index is carried with it. */
static void test_nested(void **state)
{
	tree t;
	start(&t);
	entry(&t, "s390x", "root", "linux/s390x", false);
	child(&t, "child", "root", 1);
	entry(&t, "amd64", "child", "linux/amd64", false);
	entry(&t, "arm64", "child", "linux/arm64", false);
	select_ok(&t, "linux/amd64");
	assert_false(t.man[0].selected);
	assert_true(t.man[1].selected);
	assert_false(t.man[2].selected);
	assert_true(t.idx[0].selected);

	start(&t);
	entry(&t, "s390x", "root", "linux/s390x", false);
	child(&t, "child", "root", 1);
	child(&t, "grandchild", "child", 2);
	entry(&t, "amd64", "grandchild", "linux/amd64", false);
	select_ok(&t, "linux/s390x");
	assert_true(t.man[0].selected);
	assert_false(t.man[1].selected);
	assert_false(t.idx[0].selected); /* nothing under it is carried */
	assert_false(t.idx[1].selected);
	select_ok(&t, "linux/amd64");
	assert_true(t.idx[0].selected);
	assert_true(t.idx[1].selected);
}

/* A referrers index whose only entry is a platform-less artifact: carried, whatever the
 * platform asked for. */
static void test_artifacts_only(void **state)
{
	tree t;
	start(&t);
	entry(&t, "sbom", "root", NULL, true);
	select_ok(&t, "linux/amd64");
	assert_true(t.man[0].selected);
	start(&t);
	entry(&t, "sig", "root", "unknown/unknown", true);
	entry(&t, "sbom", "root", NULL, true);
	select_ok(&t, NULL);
	assert_true(t.man[0].selected && t.man[1].selected);
}

/* Attestations go with their image, are left out with it, and never count as a platform
 * the image lacks; an image truly lacking the platform is named with what it has. */
static void test_attestations_follow_subject(void **state)
{
	tree t;
	start(&t);
	bale_image_manifest *amd = entry(&t, "amd64", "root", "linux/amd64", false);
	bale_image_manifest *arm = entry(&t, "arm64", "root", "linux/arm64", false);
	bale_image_manifest *a1 = entry(&t, "att-amd64", "root", "unknown/unknown", true);
	bale_image_manifest *a2 = entry(&t, "att-arm64", "root", "unknown/unknown", true);
	a1->has_subject = a2->has_subject = true;
	a1->subject = amd->desc.digest;
	a2->subject = arm->desc.digest;
	select_ok(&t, "linux/amd64");
	assert_true(amd->selected && a1->selected);
	assert_false(arm->selected || a2->selected);
	/* a subject only the artifact's own manifest names, read after the first pass */
	start(&t);
	amd = entry(&t, "amd64", "root", "linux/amd64", false);
	arm = entry(&t, "arm64", "root", "linux/arm64", false);
	a1 = entry(&t, "sig-arm64", "root", NULL, true);
	bale_platform_set *set = want("linux/amd64");
	assert_int_equal(bale_image_select(&t.img, set, NULL), 0);
	assert_true(a1->selected); /* nothing says whose it is yet */
	a1->has_subject = true;
	a1->subject = arm->desc.digest;
	bale_image_select_loaded(&t.img, set);
	assert_false(a1->selected);
	bale_platform_set_free(set);
	/* "all" carries everything */
	select_ok(&t, "all");
	assert_true(amd->selected && arm->selected && a1->selected);

	start(&t);
	entry(&t, "s390x", "root", "linux/s390x", false);
	entry(&t, "ppc", "root", "linux/ppc64le", false);
	entry(&t, "s390x-again", "root", "linux/s390x", false);
	entry(&t, "att", "root", "unknown/unknown", true);
	select_fails(&t, "linux/amd64",
	             "example.com/app:1: no manifest for linux/amd64 (the image has linux/s390x, "
	             "linux/ppc64le and one without a platform); name one of those with "
	             "--platform");
	entry(&t, "att2", "root", NULL, true);
	select_fails(&t, "linux/amd64,linux/arm64",
	             "example.com/app:1: no manifest for linux/amd64, linux/arm64/v8 (the image "
	             "has linux/s390x, linux/ppc64le and 2 without a platform); name one of "
	             "those with --platform");
}

/* Two Windows builds told apart by os.version, chosen by either spelling. */
static void test_windows_builds(void **state)
{
	tree t;
	start(&t);
	entry(&t, "ltsc2019", "root", "windows/amd64:10.0.17763.5576", false);
	entry(&t, "ltsc2022", "root", "windows/amd64:10.0.20348.2340", false);
	select_ok(&t, "windows/amd64:10.0.17763.5576");
	assert_true(t.man[0].selected);
	assert_false(t.man[1].selected);
	select_ok(&t, "windows(10.0.20348)/amd64");
	assert_false(t.man[0].selected);
	assert_true(t.man[1].selected);
	select_ok(&t, "windows/amd64");
	assert_true(t.man[0].selected && t.man[1].selected);
	select_fails(&t, "windows/amd64:10.0.26100",
	             "example.com/app:1: no manifest for windows/amd64:10.0.26100 (the image has "
	             "windows/amd64:10.0.17763.5576, windows/amd64:10.0.20348.2340); name one of "
	             "those with --platform");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nested),
	    cmocka_unit_test(test_artifacts_only),
	    cmocka_unit_test(test_attestations_follow_subject),
	    cmocka_unit_test(test_windows_builds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
