/* bale/manifest.json read into bale_bundle_manifest: the fields as bale writes them, the
 * images as a hostile bundle gives them (typed, never refused for what they say), and
 * the shape every reader relies on (version, member lists, digests, sizes, paths),
 * refused with the one message bale verify prints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "bale/bundle.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

/* A manifest as bale writes one, with `images`, `files` and `blobs` spliced in. */
static char *manifest_with(const char *images, const char *files, const char *blobs)
{
	static const char fmt[] =
	    "{\"formatVersion\":1,\"bundleId\":\"5f0c\",\"created\":\"2026-11-25T17:50:00Z\","
	    "\"tool\":\"bale 0.1.0\",\"signer\":null,\"images\":%s,\"files\":%s,\"blobs\":%s}";
	size_t n = sizeof(fmt) + strlen(images) + strlen(files) + strlen(blobs);
	char *s = malloc(n);
	assert_non_null(s);
	snprintf(s, n, fmt, images, files, blobs);
	return s;
}

static const char good_images[] =
    "[{\"ref\":\"docker.io/library/nginx:1.25\",\"registry\":\"docker.io\","
    "\"repository\":\"library/nginx\",\"digest\":\"" D1 "\","
    "\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"size\":10234,"
    "\"platforms\":[\"linux/amd64\",\"linux/arm64/v8\"],\"platformsLeftOut\":[\"linux/s390x\"]}]";
static const char good_files[] =
    "[{\"path\":\"bale/index.db\",\"digest\":\"" D1 "\",\"size\":73728},"
    "{\"path\":\"oci-layout\",\"digest\":\"" D2 "\",\"size\":30}]";
static const char good_blobs[] =
    "[{\"digest\":\"" D1
    "\",\"size\":10234,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
    "\"kind\":\"index\"},{\"digest\":\"" D2 "\",\"size\":12}]";

static void test_as_bale_writes_it(void **state)
{
	(void)state;
	char *text = manifest_with(good_images, good_files, good_blobs);
	bale_bundle_manifest *m = NULL;
	bale_error *err = NULL;
	assert_int_equal(bale_bundle_manifest_parse(&m, text, strlen(text), &err), 0);
	assert_int_equal(m->format_version, 1);
	assert_string_equal(m->bundle_id, "5f0c");
	assert_string_equal(m->created, "2026-11-25T17:50:00Z");
	assert_string_equal(m->tool, "bale 0.1.0");
	assert_null(m->signer); /* unsigned */
	assert_int_equal(m->n_images, 1);
	const bale_bundle_image *img = &m->images[0];
	assert_string_equal(img->ref, "docker.io/library/nginx:1.25");
	assert_string_equal(img->registry, "docker.io");
	assert_string_equal(img->repository, "library/nginx");
	assert_string_equal(img->digest, D1);
	assert_string_equal(img->media_type, "application/vnd.oci.image.index.v1+json");
	assert_int_equal(img->size, 10234);
	assert_int_equal(img->n_platforms, 2);
	assert_string_equal(img->platforms[1], "linux/arm64/v8");
	assert_int_equal(img->n_platforms_left_out, 1);
	assert_string_equal(img->platforms_left_out[0], "linux/s390x");
	assert_int_equal(m->n_files, 2);
	assert_string_equal(m->files[1].path, "oci-layout");
	assert_string_equal(m->files[1].digest.str, D2);
	assert_int_equal(m->files[1].size, 30);
	assert_int_equal(m->n_blobs, 2);
	assert_string_equal(m->blobs[0].kind, "index");
	assert_int_equal(m->blobs[0].size, 10234);
	assert_string_equal(m->blobs[1].media_type, ""); /* absent */
	assert_null(m->blobs[1].kind);
	const bale_bundle_file *db = bale_bundle_manifest_file(m, BALE_BUNDLE_INDEX_DB);
	assert_non_null(db);
	assert_int_equal(db->size, 73728);
	assert_null(bale_bundle_manifest_file(m, "index.json"));
	bale_bundle_manifest_free(m);
	free(text);
}

/* Images are shown by bale ls before anyone checked them: whatever their fields hold,
 * the manifest reads, with NULL for what is not a string. */
static void test_images_as_given(void **state)
{
	(void)state;
	char *text = manifest_with("[{\"ref\":\"../../etc/passwd\",\"digest\":5,"
	                           "\"platforms\":[\"linux/amd64\",7,null]},\"not an object\"]",
	                           good_files, good_blobs);
	bale_bundle_manifest *m = NULL;
	assert_int_equal(bale_bundle_manifest_parse(&m, text, strlen(text), NULL), 0);
	assert_int_equal(m->n_images, 2);
	assert_string_equal(m->images[0].ref, "../../etc/passwd");
	assert_null(m->images[0].digest);
	assert_null(m->images[0].registry);
	assert_int_equal(m->images[0].size, -1);
	assert_int_equal(m->images[0].n_platforms, 1);
	assert_int_equal(m->images[0].n_platforms_left_out, 0);
	assert_null(m->images[1].ref);
	bale_bundle_manifest_free(m);
	free(text);
}

static void expect_refused(const char *text, const char *message)
{
	bale_bundle_manifest *m = NULL;
	bale_error *err = NULL;
	assert_int_equal(bale_bundle_manifest_parse(&m, text, strlen(text), &err), BALE_EVERIFY);
	assert_null(m);
	const char *got = bale_error_message(err);
	if (!strstr(got, message))
		fail_msg("error \"%s\", expected it to contain \"%s\"", got, message);
	bale_error_free(err);
}

/* Format 2 lists "files" only: its blobs and images are bale/index.db's. */
static void test_format_2(void **state)
{
	(void)state;
	char text[1024];
	snprintf(text, sizeof(text),
	         "{\"formatVersion\":2,\"bundleId\":\"5f0c\",\"created\":\"2026-12-06T05:00:00Z\","
	         "\"tool\":\"bale 0.1.0\",\"signer\":null,\"files\":%s}",
	         good_files);
	bale_bundle_manifest *m = NULL;
	bale_error *err = NULL;
	assert_int_equal(bale_bundle_manifest_parse(&m, text, strlen(text), &err), 0);
	assert_int_equal(m->format_version, BALE_BUNDLE_FORMAT_PLAIN);
	assert_int_equal(m->n_images, 0);
	assert_int_equal(m->n_blobs, 0);
	assert_int_equal(m->expected_blobs, 0);
	assert_non_null(bale_bundle_manifest_file(m, "bale/index.db"));
	bale_bundle_manifest_free(m);
}

/* Format 3, a delta: format 2 and what it leaves for the site to have. */
static void test_format_3(void **state)
{
	(void)state;
	char text[1024];
	snprintf(text, sizeof(text),
	         "{\"formatVersion\":3,\"bundleId\":\"5f0c\",\"created\":\"2026-12-06T05:00:00Z\","
	         "\"tool\":\"bale 0.1.0\",\"signer\":null,\"files\":%s,"
	         "\"delta\":{\"expectedBlobs\":3,\"expectedBytes\":4096}}",
	         good_files);
	bale_bundle_manifest *m = NULL;
	bale_error *err = NULL;
	assert_int_equal(bale_bundle_manifest_parse(&m, text, strlen(text), &err), 0);
	assert_int_equal(m->format_version, BALE_BUNDLE_FORMAT_DELTA);
	assert_int_equal(m->expected_blobs, 3);
	assert_int_equal(m->expected_bytes, 4096);
	bale_bundle_manifest_free(m);
}

static void test_shape_refused(void **state)
{
	(void)state;
	static const struct {
		const char *files, *blobs, *message;
	} cases[] = {
	    {"{}", "[]", "bale/manifest.json: no files or blobs list"},
	    {"[{\"path\":\"oci-layout\",\"digest\":\"" D1 "\"}]", "[]",
	     "bale/manifest.json: an entry without path, digest or size"},
	    {"[{\"digest\":\"" D1 "\",\"size\":1}]", "[]", "an entry without path, digest or size"},
	    {"[]", "[{\"digest\":\"" D1 "\",\"size\":-1}]",
	     "an entry without path, digest or size"},
	    {"[{\"path\":\"oci-layout\",\"digest\":\"md5:00\",\"size\":1}]", "[]",
	     "bale/manifest.json: bad digest for oci-layout"},
	    {"[]", "[{\"digest\":\"sha256:XYZ\",\"size\":1}]", "bad digest for blobs/sha256/XYZ"},
	    {"[{\"path\":\"a/../../x\",\"digest\":\"" D1 "\",\"size\":1}]", "[]",
	     "bale/manifest.json: unsafe path a/../../x"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = manifest_with("[]", cases[i].files, cases[i].blobs);
		expect_refused(text, cases[i].message);
		free(text);
	}
	expect_refused("{\"formatVersion\":5,\"files\":{}}",
	               "bale/manifest.json: format version 5, this bale reads 1 to 4");
	/* format 3 is a delta, and only format 3 says so */
	expect_refused("{\"formatVersion\":3,\"files\":[]}",
	               "format version 3 without its \"delta\"");
	expect_refused("{\"formatVersion\":2,\"files\":[],\"delta\":{\"expectedBlobs\":1,"
	               "\"expectedBytes\":1}}",
	               "format version 2 with a \"delta\", which only formats 3 and 4 have");
	expect_refused("{\"formatVersion\":3,\"files\":[],\"delta\":{\"expectedBlobs\":0,"
	               "\"expectedBytes\":1}}",
	               "format version 3 with a malformed \"delta\"");
	expect_refused("{\"formatVersion\":1,\"files\":{}}", "no files or blobs list");
	expect_refused("{\"formatVersion\":2,\"blobs\":[]}", "format version 2 lists blobs");
	expect_refused("{\"formatVersion\":2,\"files\":[],\"images\":[]}",
	               "format version 2 lists images");
	expect_refused("{\"formatVersion\":2}", "no files or blobs list");
	expect_refused("[1,2]", "format version 0");
	expect_refused("{\"formatVersion\":1,", "bale/manifest.json");
}

static void test_path_is_safe(void **state)
{
	(void)state;
	assert_true(bale_bundle_path_is_safe("blobs/sha256/abc"));
	assert_true(bale_bundle_path_is_safe("bale/index.db"));
	static const char *const unsafe[] = {"",    "/etc/passwd", "a/../b", "..",
	                                     "./a", "a//b",        "a/",     "a/."};
	for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++)
		if (bale_bundle_path_is_safe(unsafe[i]))
			fail_msg("\"%s\" passed as safe", unsafe[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_as_bale_writes_it), cmocka_unit_test(test_images_as_given),
	    cmocka_unit_test(test_shape_refused),     cmocka_unit_test(test_format_2),
	    cmocka_unit_test(test_format_3),          cmocka_unit_test(test_path_is_safe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
