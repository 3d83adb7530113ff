/* bale doctor: the TOML reader, the values of the configurations, the configurations
 * read with their defaults, and every check fed facts directly (no store, no files but
 * what a test names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/buf.h"
#include "bale/doctor.h"
#include "doctor/toml.h"

/* ---- TOML ---- */

static const char *toml_at(const doctor_toml *t, const char *a, const char *b, const char *c,
                           const char *d)
{
	const char *path[] = {a, b, c, d};
	size_t n = d ? 4 : c ? 3 : b ? 2 : 1;
	const doctor_toml_value *v = doctor_toml_get(t, path, n);
	return v && v->kind == DOCTOR_TOML_STRING ? v->str : NULL;
}

static void test_toml(void **state)
{
	static const char text[] = "# a comment\n"
	                           "version = 2\n"
	                           "root = \"/var/lib/containerd\"  # trailing\n"
	                           "disabled_plugins = [\n  \"a\", # one\n  'b',\n]\n"
	                           "inline = { a = 1, b = [1, {c = \"}\"}] }\n"
	                           "float = 1.5\n"
	                           "date = 1979-05-27T07:32:00Z\n"
	                           "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
	                           "  snapshotter = 'zfs'\n"
	                           "  discard_unpacked_layers = true\n"
	                           "  dotted.key = \"x\\u00e9\\n\"\n"
	                           "[plugins.'io.containerd.cri.v1.images'.registry]\n"
	                           "config_path = \"\"\"\n/etc/containerd/certs.d\"\"\"\n"
	                           "[[plugins.arrays]]\n"
	                           "skipped = \"yes\"\n"
	                           "[host.\"http://a:5000\"]\n";
	doctor_toml t;
	assert_int_equal(doctor_toml_parse(&t, "t.toml", text, strlen(text), NULL), 0);
	static const char *const version[] = {"version"};
	const doctor_toml_value *v = doctor_toml_get(&t, version, 1);
	assert_non_null(v);
	assert_int_equal(v->kind, DOCTOR_TOML_INT);
	assert_int_equal(v->integer, 2);
	assert_string_equal(toml_at(&t, "root", NULL, NULL, NULL), "/var/lib/containerd");
	static const char *const disabled[] = {"disabled_plugins"};
	v = doctor_toml_get(&t, disabled, 1);
	assert_int_equal(v->kind, DOCTOR_TOML_ARRAY);
	assert_int_equal(v->n_items, 2);
	assert_string_equal(v->items[1], "b");
	assert_string_equal(
	    toml_at(&t, "plugins", "io.containerd.grpc.v1.cri", "containerd", "snapshotter"),
	    "zfs");
	static const char *const discard[] = {"plugins", "io.containerd.grpc.v1.cri", "containerd",
	                                      "discard_unpacked_layers"};
	v = doctor_toml_get(&t, discard, 4);
	assert_int_equal(v->kind, DOCTOR_TOML_BOOL);
	assert_true(v->boolean);
	static const char *const dotted[] = {"plugins", "io.containerd.grpc.v1.cri", "containerd",
	                                     "dotted", "key"};
	v = doctor_toml_get(&t, dotted, 5);
	assert_string_equal(v->str, "x\xc3\xa9\n");
	assert_string_equal(
	    toml_at(&t, "plugins", "io.containerd.cri.v1.images", "registry", "config_path"),
	    "/etc/containerd/certs.d");
	assert_null(toml_at(&t, "plugins", "arrays", "skipped", NULL));
	static const char *const host[] = {"host", "http://a:5000"};
	v = doctor_toml_get(&t, host, 2);
	assert_non_null(v);
	assert_int_equal(v->kind, DOCTOR_TOML_TABLE);
	doctor_toml_free(&t);
}

static void test_toml_malformed(void **state)
{
	static const char *const bad[] = {
	    "[plugins\n",
	    "a = \n",
	    "a = \"open\n",
	    "a = [1, 2\n",
	    "a = 1 b = 2\n",
	    "= 1\n",
	    "a = \"\\q\"\n",
	    "a = \"\\u12\"\n",
	    "a = {\n",
	    "[[a]\n",
	    "a = '''x\n",
	    "a = \"\\ud800\"\n",
	    "a = "
	    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		doctor_toml t;
		bale_error *err = NULL;
		assert_true(doctor_toml_parse(&t, "bad.toml", bad[i], strlen(bad[i]), &err) < 0);
		assert_int_equal(bale_error_code(err), BALE_EUSAGE);
		assert_non_null(strstr(bale_error_message(err), "bad.toml:"));
		bale_error_free(err);
	}
	/* a NUL in the middle, and an empty file */
	doctor_toml t;
	bale_error *err = NULL;
	assert_true(doctor_toml_parse(&t, "nul", "a = \"x\0y\"\n", 10, &err) < 0);
	bale_error_free(err);
	assert_int_equal(doctor_toml_parse(&t, "empty", "", 0, NULL), 0);
	assert_int_equal(t.n, 0);
	doctor_toml_free(&t);
}

/* Every seed of the fuzz corpus is well-formed TOML that the reader takes. */
static void test_toml_seeds(void **state)
{
	static const char *const seeds[] = {"containerd-v2", "containerd-v3", "hosts-ca",
	                                    "strings-arrays"};
	const char *dir = getenv("BALE_TEST_DATA");
	assert_non_null(dir);
	for (size_t i = 0; i < sizeof(seeds) / sizeof(*seeds); i++) {
		char path[4096];
		bale_buf b;
		doctor_toml t;
		bale_error *err = NULL;
		snprintf(path, sizeof(path), "%s/toml/%s", dir, seeds[i]);
		bale_buf_init(&b, DOCTOR_TOML_CAP, path);
		assert_int_equal(bale_buf_read_file(&b, path, NULL), 0);
		if (doctor_toml_parse(&t, path, b.data, b.len, &err) < 0)
			fail_msg("%s", bale_error_message(err));
		assert_true(t.n > 0);
		doctor_toml_free(&t);
		bale_buf_free(&b);
	}
}

/* ---- values ---- */

static void test_values(void **state)
{
	double s = 0;
	bale_doctor_threshold t;
	assert_int_equal(bale_doctor_parse_duration("2m", &s, NULL), 0);
	assert_true(s == 120);
	assert_int_equal(bale_doctor_parse_duration("1m30s", &s, NULL), 0);
	assert_true(s == 90);
	assert_int_equal(bale_doctor_parse_duration("1h0m0.5s", &s, NULL), 0);
	assert_true(s == 3600.5);
	assert_int_equal(bale_doctor_parse_duration("500ms", &s, NULL), 0);
	assert_true(s == 0.5);
	assert_int_equal(bale_doctor_parse_duration("0", &s, NULL), 0);
	assert_true(s == 0);
	bale_error *err = NULL;
	assert_int_equal(bale_doctor_parse_duration("2 minutes", &s, &err), BALE_EUSAGE);
	bale_error_clear(&err);
	assert_int_equal(bale_doctor_parse_duration("", &s, &err), BALE_EUSAGE);
	bale_error_clear(&err);
	assert_int_equal(bale_doctor_parse_duration("-1s", &s, &err), BALE_EUSAGE);
	bale_error_clear(&err);

	assert_int_equal(bale_doctor_parse_threshold("15%", &t, NULL), 0);
	assert_true(t.set && t.bytes == -1 && t.percent == 15);
	assert_int_equal(bale_doctor_parse_threshold("10Gi", &t, NULL), 0);
	assert_true(t.bytes == 10737418240LL);
	assert_int_equal(bale_doctor_parse_threshold("500M", &t, NULL), 0);
	assert_true(t.bytes == 500000000);
	assert_int_equal(bale_doctor_parse_threshold("1e9", &t, NULL), 0);
	assert_true(t.bytes == 1000000000);
	assert_int_equal(bale_doctor_parse_threshold("101%", &t, &err), BALE_EUSAGE);
	bale_error_clear(&err);
	assert_int_equal(bale_doctor_parse_threshold("10Gb", &t, &err), BALE_EUSAGE);
	bale_error_clear(&err);

	assert_int_equal(bale_doctor_parse_rate("100Mbit", &s, NULL), 0);
	assert_true(s == 12.5e6);
	assert_int_equal(bale_doctor_parse_rate("1Gbit/s", &s, NULL), 0);
	assert_true(s == 125e6);
	assert_int_equal(bale_doctor_parse_rate("50MB/s", &s, NULL), 0);
	assert_true(s == 50e6);
	assert_int_equal(bale_doctor_parse_rate("10MiB/s", &s, NULL), 0);
	assert_true(s == 10485760);
	assert_int_equal(bale_doctor_parse_rate("100", &s, &err), BALE_EUSAGE);
	bale_error_clear(&err);
	assert_int_equal(bale_doctor_parse_rate("0Mbit", &s, &err), BALE_EUSAGE);
	bale_error_clear(&err);
}

/* ---- configurations ---- */

static void test_kubelet(void **state)
{
	static const char text[] = "kind: KubeletConfiguration\n"
	                           "imageGCHighThresholdPercent: 90\n"
	                           "runtimeRequestTimeout: 10m\n"
	                           "evictionSoft:\n  imagefs.available: 20%\n"
	                           "evictionHard:\n  nodefs.available: 1Gi\n";
	bale_doctor_kubelet k = {0};
	assert_int_equal(bale_doctor_kubelet_parse(&k, "k.yaml", text, strlen(text), NULL), 0);
	assert_null(k.problem);
	assert_int_equal(k.gc_high, 90);
	assert_int_equal(k.gc_low, 80); /* the default */
	assert_true(k.runtime_request_timeout == 600);
	assert_true(k.soft_imagefs.set && k.soft_imagefs.percent == 20);
	/* evictionHard given: the signals it does not name are 0, not the defaults */
	assert_false(k.hard_imagefs.set);
	assert_true(k.hard_nodefs.set && k.hard_nodefs.bytes == 1073741824);
	bale_doctor_kubelet_free(&k);

	static const char bad[] = "kind: KubeletConfiguration\nimageGCHighThresholdPercent: lots\n";
	assert_int_equal(bale_doctor_kubelet_parse(&k, "k.yaml", bad, strlen(bad), NULL), 0);
	assert_non_null(k.problem);
	assert_non_null(strstr(k.problem, "imageGCHighThresholdPercent"));
	bale_doctor_kubelet_free(&k);

	/* a file that does not exist: the defaults, no problem */
	assert_int_equal(bale_doctor_kubelet_read(&k, "/nonexistent/kubelet.yaml", NULL), 0);
	assert_false(k.found);
	assert_null(k.problem);
	assert_int_equal(k.gc_high, 85);
	assert_true(k.hard_imagefs.set && k.hard_imagefs.percent == 15);
	assert_true(k.hard_nodefs.set && k.hard_nodefs.percent == 10);
	assert_true(k.runtime_request_timeout == 120);
	bale_doctor_kubelet_free(&k);
}

static void test_containerd(void **state)
{
	static const char v2[] =
	    "version = 2\nroot = \"/data/containerd\"\n"
	    "[plugins.\"io.containerd.grpc.v1.cri\"]\n  image_pull_progress_timeout = \"1m\"\n"
	    "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"zfs\"\n"
	    "  discard_unpacked_layers = true\n"
	    "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = "
	    "\"/etc/c/certs.d\"\n";
	bale_doctor_containerd c = {0};
	assert_int_equal(bale_doctor_containerd_parse(&c, "c.toml", v2, strlen(v2), NULL), 0);
	assert_null(c.problem);
	assert_int_equal(c.version, 2);
	assert_string_equal(c.root, "/data/containerd");
	assert_string_equal(c.snapshotter, "zfs");
	assert_string_equal(c.config_path, "/etc/c/certs.d");
	assert_true(c.discard_unpacked_layers);
	assert_true(c.pull_progress_timeout == 60);
	bale_doctor_containerd_free(&c);

	static const char v3[] = "version = 3\n"
	                         "[plugins.'io.containerd.cri.v1.images']\n"
	                         "  snapshotter = \"native\"\n"
	                         "[plugins.'io.containerd.cri.v1.images'.registry]\n"
	                         "  config_path = '/etc/containerd/certs.d'\n";
	assert_int_equal(bale_doctor_containerd_parse(&c, "c.toml", v3, strlen(v3), NULL), 0);
	assert_int_equal(c.version, 3);
	assert_string_equal(c.snapshotter, "native");
	assert_string_equal(c.config_path, "/etc/containerd/certs.d");
	assert_string_equal(c.root, "/var/lib/containerd");
	assert_false(c.discard_unpacked_layers);
	assert_true(c.pull_progress_timeout == 300);
	bale_doctor_containerd_free(&c);

	assert_int_equal(bale_doctor_containerd_parse(&c, "c.toml", "[x\n", 3, NULL), 0);
	assert_non_null(c.problem);
	bale_doctor_containerd_free(&c);
}

/* ---- the checks, fed facts ---- */

static bale_k8s_container never_c = {"app", "registry.site/app:1", "Never", "containers", 9};
static bale_k8s_container pull_c = {"api", "registry.site/api:2", "IfNotPresent", "containers", 19};
static bale_k8s_workload workloads[] = {
    {.kind = "Pod",
     .name = "a",
     .file = "a.yaml",
     .line = 1,
     .containers = &never_c,
     .n_containers = 1},
    {.kind = "Pod",
     .name = "b",
     .file = "b.yaml",
     .line = 1,
     .containers = &pull_c,
     .n_containers = 1},
};
static bale_k8s_set set = {.workloads = workloads, .n_workloads = 2};

typedef struct fixture {
	bale_doctor_kubelet kubelet;
	bale_doctor_containerd containerd;
	bale_doctor_fs fs;
	bale_doctor_facts facts;
} fixture;

/* Facts with nothing to find: defaults, config_path set, a roomy disk. */
static void clean_facts(fixture *x)
{
	memset(x, 0, sizeof(*x));
	x->kubelet = (bale_doctor_kubelet){.file = "k.yaml",
	                                   .found = true,
	                                   .gc_high = 85,
	                                   .gc_low = 80,
	                                   .runtime_request_timeout = 120};
	x->kubelet.hard_imagefs = (bale_doctor_threshold){true, 15, -1};
	x->kubelet.hard_nodefs = (bale_doctor_threshold){true, 10, -1};
	x->containerd = (bale_doctor_containerd){.file = "c.toml",
	                                         .found = true,
	                                         .version = 2,
	                                         .root = "/var/lib/containerd",
	                                         .config_path = "/etc/containerd/certs.d",
	                                         .pull_progress_timeout = 300};
	x->fs = (bale_doctor_fs){
	    .known = true, .dir = "/imagefs", .size = 100000000000ull, .avail = 60000000000ull};
	x->facts = (bale_doctor_facts){.set = &set,
	                               .kubelet = &x->kubelet,
	                               .containerd = &x->containerd,
	                               .pinned_bytes = -1,
	                               .imagefs = &x->fs,
	                               .link_speed = 12.5e6};
}

static const bale_doctor_finding *find(const bale_doctor_report *r, const char *check)
{
	for (size_t i = 0; i < r->n_findings; i++)
		if (strcmp(r->findings[i].check, check) == 0)
			return &r->findings[i];
	return NULL;
}

static void test_clean(void **state)
{
	fixture x;
	bale_doctor_report r;
	clean_facts(&x);
	assert_int_equal(bale_doctor_check(&r, &x.facts, NULL), 0);
	assert_int_equal(r.n_findings, 0);
	bale_doctor_report_free(&r);
}

static void test_disk(void **state)
{
	fixture x;
	bale_doctor_report r;
	clean_facts(&x);
	/* 82 GB pinned of 100: above the low threshold (80%), under the high (85%) */
	x.facts.pinned_bytes = 82000000000ll;
	assert_int_equal(bale_doctor_check(&r, &x.facts, NULL), 0);
	const bale_doctor_finding *f = find(&r, "image-gc");
	assert_non_null(f);
	assert_int_equal(f->severity, BALE_DOCTOR_WARNING);
	assert_non_null(strstr(f->cause, "82.0 GB"));
	assert_non_null(strstr(f->cause, "imageGCLowThresholdPercent 80%"));
	bale_doctor_report_free(&r);
	/* above the high threshold: an error */
	x.facts.pinned_bytes = 90000000000ll;
	assert_int_equal(bale_doctor_check(&r, &x.facts, NULL), 0);
	assert_int_equal(find(&r, "image-gc")->severity, BALE_DOCTOR_ERROR);
	bale_doctor_report_free(&r);
	/* image GC off */
	x.kubelet.gc_high = 100;
	assert_int_equal(bale_doctor_check(&r, &x.facts, NULL), 0);
	assert_null(find(&r, "image-gc"));
	bale_doctor_report_free(&r);

	/* 8% free: under the default imagefs 15% and nodefs 10% on one filesystem */
	clean_facts(&x);
	x.fs.avail = 8000000000ull;
	assert_int_equal(bale_doctor_check(&r, &x.facts, NULL), 0);
	assert_int_equal(r.n_errors, 2);
	assert_non_null(strstr(r.findings[0].cause, "imagefs.available<15%"));
	assert_non_null(strstr(r.findings[1].cause, "nodefs.available<10%"));
	bale_doctor_report_free(&r);
	/* on a filesystem of its own, nodefs is not the images' */
	x.fs.separate = true;
	assert_int_equal(bale_doctor_check(&r, &x.facts, NULL), 0);
	assert_int_equal(r.n_errors, 1);
	bale_doctor_report_free(&r);
	/* a soft threshold in bytes: a warning */
	x.fs.avail = 60000000000ull;
	x.kubelet.soft_imagefs = (bale_doctor_threshold){true, 0, 70000000000ll};
	assert_int_equal(bale_doctor_check(&r, &x.facts, NULL), 0);
	assert_int_equal(r.n_warnings, 1);
	assert_non_null(
	    strstr(find(&r, "eviction")->cause, "evictionSoft imagefs.available<70.0 GB"));
	bale_doctor_report_free(&r);
}

static void test_node(void **state)
{
	fixture x;
	bale_doctor_report r;
	bale_preflight_check checks[] = {
	    {&workloads[0], &never_c, "registry.site/app:1", BALE_PREFLIGHT_OK, NULL}};
	bale_preflight pf = {checks, 1, 0};
	bale_node_name names[] = {{"registry.site/app:1", "sha256:ab", false}};
	bale_node node = {
	    .kind = "containerd", .version = "1.6.20~ds1", .names = names, .n_names = 1};
	clean_facts(&x);
	x.facts.store = "containerd";
	x.facts.preflight = &pf;
	x.facts.node = &node;
	assert_int_equal(bale_doctor_check(&r, &x.facts, NULL), 0);
	assert_int_equal(r.n_findings, 2);
	const bale_doctor_finding *pin = find(&r, "pin");
	assert_non_null(pin);
	assert_ptr_equal(pin->container, &never_c);
	assert_non_null(strstr(pin->fix, "bale import BUNDLE --store containerd --pin"));
	const bale_doctor_finding *version = find(&r, "containerd-version");
	assert_non_null(version);
	assert_non_null(strstr(version->cause, "1.6.20~ds1"));
	assert_non_null(strstr(version->fix, "imageGCHighThresholdPercent: 100"));
	bale_doctor_report_free(&r);
	/* pinned, and a containerd that reports it */
	names[0].pinned = true;
	node.version = "v1.7.3";
	assert_int_equal(bale_doctor_check(&r, &x.facts, NULL), 0);
	assert_int_equal(r.n_findings, 0);
	bale_doctor_report_free(&r);
	/* an oci: store pins nothing: no pin finding */
	names[0].pinned = false;
	node.kind = "oci";
	node.version = NULL;
	assert_int_equal(bale_doctor_check(&r, &x.facts, NULL), 0);
	assert_int_equal(r.n_findings, 0);
	bale_doctor_report_free(&r);
	/* the image absent: the preflight's finding, an error */
	checks[0].status = BALE_PREFLIGHT_WRONG_PLATFORM;
	assert_int_equal(bale_doctor_check(&r, &x.facts, NULL), 0);
	assert_int_equal(r.n_errors, 1);
	assert_non_null(strstr(find(&r, "never-image")->cause, "wrong-platform"));
	bale_doctor_report_free(&r);
}

static void test_runtime(void **state)
{
	fixture x;
	bale_doctor_report r;
	bale_doctor_image images[] = {{"registry.site/api:2", 3000000000ll, "sha256:big"}};
	bale_doctor_host hosts[] = {{.host = "registry.site", .insecure = true}};
	clean_facts(&x);
	/* 3 GB at 12.5 MB/s: 240 s, over 2m, under 5m */
	x.facts.images = images;
	x.facts.n_images = 1;
	x.facts.hosts = hosts;
	x.facts.n_hosts = 1;
	x.containerd.discard_unpacked_layers = true;
	x.containerd.snapshotter = "stargz";
	assert_int_equal(bale_doctor_check(&r, &x.facts, NULL), 0);
	const bale_doctor_finding *f = find(&r, "pull-deadline");
	assert_non_null(f);
	assert_ptr_equal(f->container, &pull_c);
	assert_non_null(strstr(f->cause, "takes 240 s at 12.5 MB/s"));
	assert_int_equal(f->severity, BALE_DOCTOR_INFO);
	assert_non_null(strstr(f->cause, "runtimeRequestTimeout (120 s)"));
	assert_non_null(
	    strstr(f->cause, "receives nothing for image_pull_progress_timeout (300 s)"));
	assert_non_null(find(&r, "discard-unpacked-layers"));
	assert_non_null(strstr(find(&r, "snapshotter")->fix, "CONTAINERD_SNAPSHOTTER=stargz"));
	f = find(&r, "registry-trust");
	assert_int_equal(f->severity, BALE_DOCTOR_ERROR);
	assert_non_null(strstr(f->cause, "no hosts.toml"));
	assert_non_null(strstr(f->fix, "/etc/containerd/certs.d/registry.site/hosts.toml"));
	bale_doctor_report_free(&r);
	/* configured for HTTP; no config_path at all is a finding of its own */
	hosts[0].http = true;
	hosts[0].hosts_toml = "/etc/containerd/certs.d/registry.site/hosts.toml";
	x.containerd.config_path = NULL;
	x.containerd.discard_unpacked_layers = false;
	x.containerd.snapshotter = NULL;
	x.kubelet.runtime_request_timeout = 900;
	assert_int_equal(bale_doctor_check(&r, &x.facts, NULL), 0);
	assert_int_equal(r.n_findings, 1);
	assert_non_null(strstr(r.findings[0].cause, "config_path is not set"));
	assert_int_equal(r.findings[0].severity, BALE_DOCTOR_ERROR); /* an insecure registry */
	bale_doctor_report_free(&r);
	/* the files missing: an info each */
	x.kubelet.found = false;
	x.containerd.found = false;
	x.facts.n_hosts = 0;
	assert_int_equal(bale_doctor_check(&r, &x.facts, NULL), 0);
	assert_int_equal(r.n_infos, 2);
	assert_int_equal(r.n_findings, 2);
	bale_doctor_report_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_toml),       cmocka_unit_test(test_toml_malformed),
	    cmocka_unit_test(test_toml_seeds), cmocka_unit_test(test_values),
	    cmocka_unit_test(test_kubelet),    cmocka_unit_test(test_containerd),
	    cmocka_unit_test(test_clean),      cmocka_unit_test(test_disk),
	    cmocka_unit_test(test_node),       cmocka_unit_test(test_runtime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
