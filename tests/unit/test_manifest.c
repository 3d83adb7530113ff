/* Reading indexes, manifests and configs: untrusted JSON in, descriptors out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/buf.h"
#include "bale/manifest.h"

#define D(c)                                                                                       \
	"sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c  \
	    c c c c c c c c c c c c c c c c c c c c c c c c

static void test_media_types(void **state)
{
	assert_true(bale_manifest_type_is_index(BALE_MT_OCI_INDEX));
	assert_true(bale_manifest_type_is_index(BALE_MT_DOCKER_LIST));
	assert_false(bale_manifest_type_is_index(BALE_MT_OCI_MANIFEST));
	assert_true(bale_manifest_type_is_manifest(BALE_MT_DOCKER_MANIFEST));
	assert_false(
	    bale_manifest_type_is_manifest("application/vnd.docker.distribution.manifest.v1+json"));
}

static void test_index_platforms(void **state)
{
	const char *json =
	    "{\"schemaVersion\":2,\"manifests\":["
	    "{\"mediaType\":\"" BALE_MT_OCI_MANIFEST
	    "\",\"digest\":\"" D("a") "\",\"size\":10,"
	                              "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
	                              "{\"mediaType\":\"" BALE_MT_OCI_MANIFEST "\",\"digest\":\"" D(
	                                  "b") "\",\"size\":11,"
	                                       "\"platform\":{\"os\":\"linux\",\"architecture\":"
	                                       "\"arm\",\"variant\":\"v6\"}},"
	                                       "{\"mediaType\":\"" BALE_MT_OCI_MANIFEST
	                                       "\",\"digest\":\"" D("c") "\",\"size\":12}]}";
	bale_index_entry *e = NULL;
	size_t n = 0;
	char buf[64];
	assert_int_equal(bale_manifest_parse_index(&e, &n, json, strlen(json), NULL), 0);
	assert_int_equal(n, 3);
	assert_string_equal(e[0].desc.digest.str, D("a"));
	assert_int_equal(e[0].desc.size, 10);
	assert_true(e[0].has_platform);
	assert_string_equal(bale_platform_format(&e[0].platform, buf, sizeof(buf)),
	                    "linux/arm64/v8");
	assert_string_equal(bale_platform_format(&e[1].platform, buf, sizeof(buf)), "linux/arm/v6");
	assert_false(e[2].has_platform); /* e.g. an attestation manifest */
	free(e);
}

static void expect_index_error(const char *json, const char *needle)
{
	bale_index_entry *e = NULL;
	size_t n = 0;
	bale_error *err = NULL;
	assert_int_equal(bale_manifest_parse_index(&e, &n, json, strlen(json), &err), BALE_EVERIFY);
	assert_non_null(strstr(bale_error_message(err), needle));
	assert_null(e);
	bale_error_free(err);
}

static void test_index_refuses_garbage(void **state)
{
	expect_index_error("{\"manifests\":{}}", "no manifests array");
	expect_index_error("not json", "invalid JSON");
	expect_index_error("{\"manifests\":[{\"digest\":\"" D("a") "\"}]}",
	                   "without digest or size");
	expect_index_error("{\"manifests\":[{\"digest\":\"" D("a") "\",\"size\":-1}]}",
	                   "without digest or size");
	expect_index_error("{\"manifests\":[{\"digest\":\"sha256:abc\",\"size\":1}]}",
	                   "invalid digest");
	expect_index_error("{\"manifests\":[{\"digest\":\"sha512:abc\",\"size\":1}]}", "sha512");
	/* Duplicate keys could let two readers see different content. */
	expect_index_error("{\"manifests\":[],\"manifests\":[]}", "duplicate");
}

static void test_image_layers(void **state)
{
	const char *json = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"c\",\"digest\":\"" D(
	    "c") "\",\"size\":5},"
	         "\"layers\":[{\"mediaType\":\"l\",\"digest\":\"" D(
	             "1") "\",\"size\":100},"
	                  "{\"mediaType\":\"application/"
	                  "vnd.docker.image.rootfs.foreign.diff.tar.gzip\","
	                  "\"digest\":\"" D(
	                      "2") "\",\"size\":7,\"urls\":[\"https://example.com/x\"]},"
	                           "{\"mediaType\":\"l\",\"digest\":\"" D("3") "\",\"size\":300}]}";
	bale_descriptor config, *layers = NULL;
	size_t n = 0, foreign = 0;
	assert_int_equal(
	    bale_manifest_parse_image(&config, &layers, &n, &foreign, json, strlen(json), NULL), 0);
	assert_string_equal(config.digest.str, D("c"));
	assert_int_equal(config.size, 5);
	assert_int_equal(n, 2);
	assert_int_equal(foreign, 1);
	assert_string_equal(layers[0].digest.str, D("1"));
	assert_string_equal(layers[1].digest.str, D("3"));
	assert_int_equal(layers[1].size, 300);
	free(layers);

	bale_error *err = NULL;
	const char *no_layers = "{\"config\":{\"digest\":\"" D("c") "\",\"size\":5}}";
	assert_int_equal(bale_manifest_parse_image(&config, &layers, &n, NULL, no_layers,
	                                           strlen(no_layers), &err),
	                 BALE_EVERIFY);
	assert_non_null(strstr(bale_error_message(err), "layers"));
	bale_error_free(err);
}

static void test_config(void **state)
{
	const char *json = "{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\","
	                   "\"created\":\"2024-01-02T03:04:05Z\",\"config\":{}}";
	bale_platform p;
	char created[40], buf[64];
	assert_int_equal(bale_manifest_parse_config(&p, created, json, strlen(json), NULL), 0);
	assert_string_equal(bale_platform_format(&p, buf, sizeof(buf)), "linux/arm/v7");
	assert_string_equal(created, "2024-01-02T03:04:05Z");
	const char *bare = "{}";
	assert_int_equal(bale_manifest_parse_config(&p, created, bare, 2, NULL), 0);
	assert_string_equal(p.os, "");
	assert_string_equal(created, "");
}

/* One digest must mean one thing: fields of the other kind are refused (CVE-2021-41190),
 * whether the bytes say nothing of their type or say the wrong one. */
static void test_ambiguous_refused(void **state)
{
	static const char child[] =
	    "{\"mediaType\":\"" BALE_MT_OCI_MANIFEST "\",\"digest\":\"" D("a") "\",\"size\":10}";
	static const char config[] = "{\"digest\":\"" D("c") "\",\"size\":5}";
	const char *both = "{\"schemaVersion\":2,\"manifests\":[";
	char json[1024];
	snprintf(json, sizeof(json), "%s%s],\"config\":%s,\"layers\":[]}", both, child, config);
	expect_index_error(json, "ambiguous manifest");
	snprintf(json, sizeof(json), "{\"manifests\":[%s],\"layers\":[]}", child);
	expect_index_error(json, "\"layers\"");

	bale_descriptor cfg, *layers = NULL;
	size_t n = 0;
	bale_error *err = NULL;
	snprintf(json, sizeof(json),
	         "{\"schemaVersion\":2,\"manifests\":[%s],\"config\":%s,"
	         "\"layers\":[]}",
	         child, config);
	assert_int_equal(
	    bale_manifest_parse_image(&cfg, &layers, &n, NULL, json, strlen(json), &err),
	    BALE_EVERIFY);
	assert_non_null(strstr(bale_error_message(err), "ambiguous manifest"));
	assert_non_null(strstr(bale_error_message(err), "\"manifests\""));
	assert_null(layers);
	bale_error_free(err);

	/* The check on its own, as the registry client runs it on what it is served. */
	json_t *doc = json_pack("{s:[],s:{}}", "manifests", "config");
	err = NULL;
	assert_int_equal(bale_manifest_check_fields(doc, BALE_MT_DOCKER_LIST, "x", &err),
	                 BALE_EVERIFY);
	bale_error_free(err);
	assert_int_equal(bale_manifest_check_fields(doc, BALE_MT_DOCKER_MANIFEST, "x", NULL),
	                 BALE_EVERIFY);
	json_decref(doc);
	doc = json_pack("{s:{},s:[]}", "config", "layers");
	assert_int_equal(bale_manifest_check_fields(doc, BALE_MT_OCI_MANIFEST, "x", NULL), 0);
	json_decref(doc);
}

/* A declared size beyond any real blob is refused when the manifest is read. */
static void test_size_bound(void **state)
{
	char json[512];
	bale_descriptor cfg, *layers = NULL;
	size_t n = 0;
	bale_error *err = NULL;
	snprintf(json, sizeof(json),
	         "{\"config\":{\"digest\":\"" D("c") "\",\"size\":5},\"layers\":"
	                                             "[{\"digest\":\"" D("1") "\",\"size\":%llu}]}",
	         (unsigned long long)BALE_CAP_BLOB);
	assert_int_equal(
	    bale_manifest_parse_image(&cfg, &layers, &n, NULL, json, strlen(json), NULL), 0);
	assert_int_equal(layers[0].size, (int64_t)BALE_CAP_BLOB);
	free(layers);
	layers = NULL;
	snprintf(json, sizeof(json),
	         "{\"config\":{\"digest\":\"" D("c") "\",\"size\":5},\"layers\":"
	                                             "[{\"digest\":\"" D(
	                                                 "1") "\",\"size\":1000000000000000}]}");
	assert_int_equal(
	    bale_manifest_parse_image(&cfg, &layers, &n, NULL, json, strlen(json), &err),
	    BALE_EVERIFY);
	assert_non_null(strstr(bale_error_message(err), "1000000000000000 bytes, over the limit"));
	bale_error_free(err);
	expect_index_error("{\"manifests\":[{\"digest\":\"" D("a") "\",\"size\":1099511627777}]}",
	                   "over the limit");
}

/* Positions keep the foreign layers' places; artifactType and subject are read. */
static void test_read_image(void **state)
{
	const char *json =
	    "{\"schemaVersion\":2,\"artifactType\":\"application/spdx+json\","
	    "\"config\":{\"mediaType\":\"application/"
	    "vnd.oci.empty.v1+json\",\"digest\":\"" D(
	        "c") "\",\"size\":2},"
	             "\"layers\":[{\"mediaType\":\"f\",\"digest\":\"" D(
	                 "1") "\",\"size\":7,\"urls\":[\"https://example.com/x\"]},"
	                      "{\"mediaType\":\"l\",\"digest\":\"" D(
	                          "2") "\",\"size\":100},{\"mediaType\":\"l\",\"digest\":"
	                               "\"" D("3") "\","
	                                           "\"size\":300}],"
	                                           "\"subject\":{"
	                                           "\"mediaType\":"
	                                           "\"m\","
	                                           "\"digest\":\"" D("4") "\","
	                                                                  "\"size\":9}}";
	bale_manifest_image m;
	assert_int_equal(bale_manifest_read_image(&m, json, strlen(json), NULL), 0);
	assert_int_equal(m.n_layers, 2);
	assert_int_equal(m.positions[0], 1);
	assert_int_equal(m.positions[1], 2);
	assert_int_equal(m.n_foreign, 1);
	assert_int_equal(m.foreign_positions[0], 0);
	assert_string_equal(m.foreign[0].digest.str, D("1"));
	assert_string_equal(m.artifact_type, "application/spdx+json");
	assert_true(m.has_subject);
	assert_string_equal(m.subject.str, D("4"));
	assert_true(bale_manifest_image_is_artifact(&m));
	bale_manifest_image_free(&m);
}

/* A foreign layer's urls in their order; too many, or one that is not a string, refused. */
static void test_layer_urls(void **state)
{
	(void)state;
	static const char json[] = "{\"layers\":[{\"digest\":\"" D(
	    "1") "\",\"urls\":[\"ftp://a/x\",\"https://b/y\"]},{\"digest\":\"" D("2") "\"}]}";
	char **urls = NULL;
	size_t n = 9;
	assert_int_equal(bale_manifest_layer_urls(&urls, &n, json, strlen(json), 0, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(urls[0], "ftp://a/x");
	assert_string_equal(urls[1], "https://b/y");
	bale_manifest_urls_free(urls, n);
	assert_int_equal(bale_manifest_layer_urls(&urls, &n, json, strlen(json), 1, NULL), 0);
	assert_int_equal(n, 0);
	assert_null(urls);
	static const char bad[] = "{\"layers\":[{\"urls\":[\"https://a/x\",7]}]}";
	assert_int_equal(bale_manifest_layer_urls(&urls, &n, bad, strlen(bad), 0, NULL),
	                 BALE_EVERIFY);
	char many[2048] = "{\"layers\":[{\"urls\":[";
	for (int i = 0; i <= BALE_MANIFEST_MAX_URLS; i++)
		strncat(many, i ? ",\"https://a/x\"" : "\"https://a/x\"",
		        sizeof(many) - strlen(many) - 1);
	strncat(many, "]}]}", sizeof(many) - strlen(many) - 1);
	assert_int_equal(bale_manifest_layer_urls(&urls, &n, many, strlen(many), 0, NULL),
	                 BALE_EVERIFY);
}

/* Index entries: os.version and os.features, child indexes, attestations and artifacts. */
static void test_index_entries(void **state)
{
	const char *json =
	    "{\"schemaVersion\":2,\"manifests\":["
	    "{\"mediaType\":\"" BALE_MT_OCI_MANIFEST "\",\"digest\":\"" D(
	        "1") "\",\"size\":1,"
	             "\"platform\":{\"os\":\"windows\",\"architecture\":\"amd64\","
	             "\"os.version\":\"10.0.17763.5576\",\"os.features\":[\"win32k\"]}},"
	             "{\"mediaType\":\"" BALE_MT_OCI_INDEX "\",\"digest\":\"" D(
	                 "2") "\",\"size\":2},"
	                      "{\"mediaType\":\"" BALE_MT_OCI_MANIFEST "\",\"digest\":\"" D(
	                          "3") "\",\"size\":3,"
	                               "\"platform\":{\"os\":\"unknown\",\"architecture\":"
	                               "\"unknown\"},"
	                               "\"annotations\":{\"vnd.docker.reference.type\":"
	                               "\"attestation-manifest\","
	                               "\"vnd.docker.reference.digest\":\"" D(
	                                   "1") "\"}},"
	                                        "{\"mediaType\":\"" BALE_MT_OCI_MANIFEST
	                                        "\",\"digest\":\"" D(
	                                            "4") "\",\"size\":4,"
	                                                 "\"artifactType\":\"application/"
	                                                 "vnd.dev.sigstore.bundle+json\","
	                                                 "\"platform\":{\"os\":\"linux\","
	                                                 "\"architecture\":\"amd64\"}}]}";
	bale_index_entry *e = NULL;
	size_t n = 0;
	char buf[BALE_PLATFORM_TEXT];
	assert_int_equal(bale_manifest_parse_index(&e, &n, json, strlen(json), NULL), 0);
	assert_int_equal(n, 4);
	assert_string_equal(bale_platform_format(&e[0].platform, buf, sizeof(buf)),
	                    "windows/amd64:10.0.17763.5576+win32k");
	assert_false(e[0].artifact);
	assert_false(e[1].has_platform);
	assert_true(bale_manifest_type_is_index(e[1].desc.media_type));
	assert_true(e[2].artifact);
	assert_true(e[2].has_subject);
	assert_string_equal(e[2].subject.str, D("1"));
	assert_true(e[3].artifact);
	assert_true(e[3].has_platform);
	free(e);
	bale_error *err = NULL;
	const char *bad = "{\"manifests\":[{\"digest\":\"" D(
	    "1") "\",\"size\":1,\"platform\":{"
	         "\"os\":\"windows\",\"architecture\":\"amd64\",\"os.features\":[7]}}]}";
	assert_int_equal(bale_manifest_parse_index(&e, &n, bad, strlen(bad), &err), BALE_EVERIFY);
	assert_non_null(strstr(bale_error_message(err), "os.features item 1 is not a string"));
	bale_error_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ambiguous_refused),
	    cmocka_unit_test(test_size_bound),
	    cmocka_unit_test(test_media_types),
	    cmocka_unit_test(test_index_platforms),
	    cmocka_unit_test(test_index_refuses_garbage),
	    cmocka_unit_test(test_image_layers),
	    cmocka_unit_test(test_config),
	    cmocka_unit_test(test_read_image),
	    cmocka_unit_test(test_layer_urls),
	    cmocka_unit_test(test_index_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
