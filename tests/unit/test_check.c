/* bale check of an oci: store: the walk from each name's root (index, manifests, config,
 * layers), what it reports for missing, truncated, altered and unparsable blobs, the
 * partial files of dead writers (and not those of live ones), --image, and repair; and the
 * read side alone (bale_check_read_store). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bale/check.h"
#include "bale/json.h"
#include "bale/manifest.h"
#include "bale/store.h"
#include "testutil.h"

#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"

/* The fixture: app:1 an index (amd64: M1 = C1 + L1 + L2; arm64: M2 = C2 + L1), and tool:1
 * a manifest (M3 = C3 + L1 + L3). L1 is shared by both names. */
typedef struct fixture {
	char dir[512];
	bale_descriptor l1, l2, l3, c1, c2, c3, m1, m2, m3, index;
} fixture;

typedef struct seen {
	bale_check_finding f[32];
	char text[32][4][600]; /* ref, digest, detail, path */
	size_t n;
} seen;

static int record(void *payload, const bale_check_finding *f, bale_error **err)
{
	seen *s = payload;
	if (s->n >= 32)
		return bale_error_set(err, BALE_EGENERIC, "too many findings");
	s->f[s->n] = *f;
	const char *fields[4] = {f->ref, f->digest, f->detail, f->path};
	for (int i = 0; i < 4; i++) /* the finding's strings live only during the call */
		snprintf(s->text[s->n][i], sizeof(s->text[s->n][i]), "%s",
		         fields[i] ? fields[i] : "");
	s->f[s->n].ref = f->ref ? s->text[s->n][0] : NULL;
	s->f[s->n].digest = f->digest ? s->text[s->n][1] : NULL;
	s->f[s->n].detail = s->text[s->n][2];
	s->f[s->n].path = f->path ? s->text[s->n][3] : NULL;
	s->f[s->n].object = NULL; /* not kept */
	s->f[s->n].repair = NULL;
	s->n++;
	return 0;
}

static void put(bale_sink *s, bale_descriptor *d, const char *bytes, const char *media_type)
{
	memset(d, 0, sizeof(*d));
	bale_digest_of(&d->digest, bytes, strlen(bytes));
	d->size = (int64_t)strlen(bytes);
	snprintf(d->media_type, sizeof(d->media_type), "%s", media_type);
	assert_int_equal(bale_sink_put_bytes(s, d, bytes, strlen(bytes), NULL), 0);
}

static void put_manifest(bale_sink *s, bale_descriptor *m, const bale_descriptor *config,
                         const bale_descriptor *const *layers, size_t n)
{
	char text[4096];
	int at =
	    snprintf(text, sizeof(text),
	             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
	             "\"%s\",\"digest\":\"%s\",\"size\":%lld},\"layers\":[",
	             BALE_MT_OCI_MANIFEST, MT_CONFIG, config->digest.str, (long long)config->size);
	for (size_t i = 0; i < n; i++)
		at += snprintf(text + at, sizeof(text) - (size_t)at,
		               "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld}",
		               i ? "," : "", MT_LAYER, layers[i]->digest.str,
		               (long long)layers[i]->size);
	snprintf(text + at, sizeof(text) - (size_t)at, "]}");
	put(s, m, text, BALE_MT_OCI_MANIFEST);
}

static void build(fixture *fx, const char *dir)
{
	bale_sink *s = NULL;
	char text[4096];
	snprintf(fx->dir, sizeof(fx->dir), "%s/store", dir);
	assert_int_equal(bale_store_oci_open(&s, fx->dir, BALE_STORE_STAGED, NULL), 0);
	put(s, &fx->l1, "layer one", MT_LAYER);
	put(s, &fx->l2, "layer two", MT_LAYER);
	put(s, &fx->l3, "layer three", MT_LAYER);
	put(s, &fx->c1, "{\"architecture\":\"amd64\",\"os\":\"linux\"}", MT_CONFIG);
	put(s, &fx->c2, "{\"architecture\":\"arm64\",\"os\":\"linux\"}", MT_CONFIG);
	put(s, &fx->c3, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"x\":3}", MT_CONFIG);
	put_manifest(s, &fx->m1, &fx->c1, (const bale_descriptor *[]){&fx->l1, &fx->l2}, 2);
	put_manifest(s, &fx->m2, &fx->c2, (const bale_descriptor *[]){&fx->l1}, 1);
	put_manifest(s, &fx->m3, &fx->c3, (const bale_descriptor *[]){&fx->l1, &fx->l3}, 2);
	snprintf(text, sizeof(text),
	         "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
	         "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld,\"platform\":{"
	         "\"architecture\":\"amd64\",\"os\":\"linux\"}},"
	         "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld,\"platform\":{"
	         "\"architecture\":\"arm64\",\"os\":\"linux\"}}]}",
	         BALE_MT_OCI_INDEX, BALE_MT_OCI_MANIFEST, fx->m1.digest.str, (long long)fx->m1.size,
	         BALE_MT_OCI_MANIFEST, fx->m2.digest.str, (long long)fx->m2.size);
	put(s, &fx->index, text, BALE_MT_OCI_INDEX);
	assert_int_equal(bale_sink_set_name(s, "example.com/app:1", &fx->index, NULL), 0);
	assert_int_equal(bale_sink_set_name(s, "example.com/tool:1", &fx->m3, NULL), 0);
	assert_int_equal(bale_sink_commit(s, NULL), 0);
	bale_sink_free(s);
}

static void blob_file(char *out, size_t size, const fixture *fx, const bale_descriptor *d)
{
	snprintf(out, size, "%s/blobs/sha256/%s", fx->dir, bale_digest_hex(&d->digest));
}

static void remove_blob(const fixture *fx, const bale_descriptor *d)
{
	char path[700];
	blob_file(path, sizeof(path), fx, d);
	assert_int_equal(unlink(path), 0);
}

/* One bit of the first byte changed: same size, another digest. */
static void flip(const fixture *fx, const bale_descriptor *d)
{
	char path[700];
	unsigned char c;
	blob_file(path, sizeof(path), fx, d);
	chmod(path, 0644);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, 0), 1);
	c ^= 1;
	assert_int_equal(pwrite(fd, &c, 1, 0), 1);
	close(fd);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Runs the check; returns its result, the findings in *s. */
static int run(const fixture *fx, seen *s, bool repair, const char *const *images, size_t n,
               bale_check_summary *sum)
{
	char spec[600];
	bale_error *err = NULL;
	bale_check_options o = {
	    .images = images, .n_images = n, .repair = repair, .report = record, .payload = s};
	memset(s, 0, sizeof(*s));
	snprintf(spec, sizeof(spec), "oci:%s", fx->dir);
	int rc = bale_check_store(spec, &o, sum, &err);
	if (rc < 0)
		print_message("check: %s\n", bale_error_message(err));
	bale_error_free(err);
	return rc;
}

/* The finding about digest for ref, or NULL. */
static const bale_check_finding *finding(const seen *s, const char *ref, const bale_descriptor *d)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->f[i].ref && strcmp(s->f[i].ref, ref) == 0 && s->f[i].digest &&
		    strcmp(s->f[i].digest, d->digest.str) == 0)
			return &s->f[i];
	return NULL;
}

static void test_whole_store(void **state)
{
	fixture fx;
	seen s;
	bale_check_summary sum;
	build(&fx, *state);
	assert_int_equal(run(&fx, &s, false, NULL, 0, &sum), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(sum.images, 2);
	assert_int_equal(sum.damaged_images, 0);
	assert_int_equal(sum.blobs, 10); /* every blob once, L1 although three manifests need it */
	assert_int_equal(sum.bytes, fx.l1.size + fx.l2.size + fx.l3.size + fx.c1.size + fx.c2.size +
	                                fx.c3.size + fx.m1.size + fx.m2.size + fx.m3.size +
	                                fx.index.size);
	assert_false(sum.partials_unlisted);
}

static void test_missing_truncated_altered(void **state)
{
	fixture fx;
	seen s;
	bale_check_summary sum;
	char path[700];
	build(&fx, *state);
	remove_blob(&fx, &fx.l2);
	flip(&fx, &fx.c3);
	blob_file(path, sizeof(path), &fx, &fx.l3);
	assert_int_equal(truncate(path, 4), 0);
	assert_int_equal(run(&fx, &s, false, NULL, 0, &sum), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(sum.damaged_images, 2);
	const bale_check_finding *f = finding(&s, "example.com/app:1", &fx.l2);
	assert_non_null(f);
	assert_int_equal(f->problem, BALE_CHECK_MISSING);
	assert_string_equal(f->detail, "missing");
	blob_file(path, sizeof(path), &fx, &fx.l2);
	assert_string_equal(f->path, path);
	f = finding(&s, "example.com/tool:1", &fx.c3);
	assert_non_null(f);
	assert_int_equal(f->problem, BALE_CHECK_DIGEST);
	assert_non_null(strstr(f->detail, "digest mismatch: has sha256:"));
	assert_non_null(strstr(f->detail, fx.c3.digest.str));
	f = finding(&s, "example.com/tool:1", &fx.l3);
	assert_non_null(f);
	assert_int_equal(f->problem, BALE_CHECK_SIZE);
	assert_string_equal(f->detail, "size 4 want 11");
}

/* A node store keeps the platforms that were imported: an absent child of an index is not
 * damage; an index none of whose children is there is. */
static void test_platform_subset(void **state)
{
	fixture fx;
	seen s;
	bale_check_summary sum;
	build(&fx, *state);
	remove_blob(&fx, &fx.m2);
	assert_int_equal(run(&fx, &s, false, NULL, 0, &sum), 0);
	assert_int_equal(s.n, 0);
	remove_blob(&fx, &fx.m1);
	assert_int_equal(run(&fx, &s, false, NULL, 0, &sum), 0);
	assert_int_equal(s.n, 1);
	const bale_check_finding *f = finding(&s, "example.com/app:1", &fx.index);
	assert_non_null(f);
	assert_int_equal(f->problem, BALE_CHECK_MISSING);
}

/* A manifest whose bytes match their digest but do not parse: its children are unknown. */
static void test_unparsable_manifest(void **state)
{
	fixture fx;
	seen s;
	bale_check_summary sum;
	bale_sink *store = NULL;
	bale_descriptor bad;
	build(&fx, *state);
	assert_int_equal(bale_store_oci_open(&store, fx.dir, BALE_STORE_STAGED, NULL), 0);
	put(store, &bad, "{\"schemaVersion\":2,\"layers\":\"nope\"}", BALE_MT_OCI_MANIFEST);
	assert_int_equal(bale_sink_set_name(store, "example.com/bad:1", &bad, NULL), 0);
	assert_int_equal(bale_sink_commit(store, NULL), 0);
	bale_sink_free(store);
	assert_int_equal(run(&fx, &s, false, NULL, 0, &sum), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.f[0].problem, BALE_CHECK_UNREADABLE);
	assert_non_null(strstr(s.f[0].detail, "does not parse"));
	assert_non_null(strstr(s.f[0].detail, "cannot be checked"));
}

/* Leftovers of dead writers are partial files; what a live writer holds (its flock, taken
 * here on a descriptor of our own) is not. */
static void test_partials(void **state)
{
	fixture fx;
	seen s;
	bale_check_summary sum;
	char dead[700], live[700], tmp[700], part[800];
	build(&fx, *state);
	snprintf(dead, sizeof(dead), "%s/.bale-staging-dead01", fx.dir);
	snprintf(live, sizeof(live), "%s/.bale-staging-live01", fx.dir);
	snprintf(tmp, sizeof(tmp), "%s/index.json.tmp-abc123", fx.dir);
	snprintf(part, sizeof(part), "%s/blobs/sha256/.%s.partial-abc123", fx.dir,
	         bale_digest_hex(&fx.l2.digest));
	assert_int_equal(mkdir(dead, 0700), 0);
	assert_int_equal(mkdir(live, 0700), 0);
	write_file(tmp, "{");
	write_file(part, "lay");
	int held = open(live, O_RDONLY | O_DIRECTORY);
	assert_true(held >= 0);
	assert_int_equal(flock(held, LOCK_EX), 0);
	assert_int_equal(run(&fx, &s, false, NULL, 0, &sum), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(sum.partials, 3);
	for (size_t i = 0; i < s.n; i++) {
		assert_int_equal(s.f[i].problem, BALE_CHECK_PARTIAL);
		assert_null(s.f[i].ref);
		assert_true(strcmp(s.f[i].path, dead) == 0 || strcmp(s.f[i].path, tmp) == 0 ||
		            strcmp(s.f[i].path, part) == 0);
	}
	/* --image: those images only, no partial files. */
	const char *app[] = {"example.com/app:1"};
	assert_int_equal(run(&fx, &s, false, app, 1, &sum), 0);
	assert_int_equal(s.n, 0);
	/* Repair removes the dead ones and leaves the live one alone. */
	assert_int_equal(run(&fx, &s, true, NULL, 0, &sum), 0);
	assert_int_equal(sum.repaired, 3);
	struct stat st;
	assert_int_equal(stat(dead, &st), -1);
	assert_int_equal(stat(tmp, &st), -1);
	assert_int_equal(stat(part, &st), -1);
	assert_int_equal(stat(live, &st), 0);
	close(held);
	rmdir(live);
}

static void test_repair(void **state)
{
	fixture fx;
	seen s;
	bale_check_summary sum;
	char path[700];
	build(&fx, *state);
	/* L1 damaged, but only tool:1 checked: tool:1 goes, L1 stays for app:1. */
	flip(&fx, &fx.l1);
	const char *tool[] = {"example.com/tool:1"};
	assert_int_equal(run(&fx, &s, true, tool, 1, &sum), 0);
	assert_int_equal(s.n, 1);
	assert_true(s.f[0].repaired);
	assert_int_equal(sum.names_dropped, 1);
	assert_int_equal(sum.blobs_removed, 0);
	blob_file(path, sizeof(path), &fx, &fx.l1);
	assert_int_equal(access(path, F_OK), 0);
	/* Now app:1 as well: nothing needs L1 any more, and it goes. */
	assert_int_equal(run(&fx, &s, true, NULL, 0, &sum), 0);
	assert_int_equal(sum.names_dropped, 1);
	assert_int_equal(sum.blobs_removed, 1);
	assert_int_equal(sum.repaired, sum.findings);
	assert_int_equal(access(path, F_OK), -1);
	bale_buf b;
	json_t *index = NULL;
	snprintf(path, sizeof(path), "%s/index.json", fx.dir);
	bale_buf_init(&b, 1 << 20, "index");
	assert_int_equal(bale_buf_read_file(&b, path, NULL), 0);
	assert_int_equal(bale_json_parse(&index, b.data, b.len, 1 << 20, "index", NULL), 0);
	assert_int_equal(json_array_size(json_object_get(index, "manifests")), 0);
	json_decref(index);
	bale_buf_free(&b);
	assert_int_equal(run(&fx, &s, false, NULL, 0, &sum), 0);
	assert_int_equal(sum.findings, 0);
	/* Blobs no name needs are not the check's business: the intact ones are still there. */
	blob_file(path, sizeof(path), &fx, &fx.l2);
	assert_int_equal(access(path, F_OK), 0);
}

static void test_errors(void **state)
{
	fixture fx;
	seen s;
	bale_check_summary sum;
	bale_error *err = NULL;
	char spec[600];
	bale_check_options o = {.report = record, .payload = &s};
	memset(&s, 0, sizeof(s));
	build(&fx, *state);
	const char *absent[] = {"example.com/absent:1"};
	assert_int_equal(run(&fx, &s, false, absent, 1, &sum), BALE_ENOTFOUND);
	const char *bad[] = {"Not A Reference"};
	assert_int_equal(run(&fx, &s, false, bad, 1, &sum), BALE_EUSAGE);
	snprintf(spec, sizeof(spec), "oci:%s/nowhere", (const char *)*state);
	assert_int_equal(bale_check_store(spec, &o, &sum, &err), BALE_ESTORE);
	bale_error_clear(&err);
	snprintf(spec, sizeof(spec), "oci:%s", (const char *)*state); /* no blobs/sha256 */
	assert_int_equal(bale_check_store(spec, &o, &sum, &err), BALE_ESTORE);
	bale_error_clear(&err);
	assert_int_equal(bale_check_store("tarball:/x", &o, &sum, &err), BALE_EUSAGE);
	bale_error_clear(&err);
	/* A report that fails stops the check with its error. */
	seen full = {.n = 32};
	o.payload = &full;
	remove_blob(&fx, &fx.l3);
	snprintf(spec, sizeof(spec), "oci:%s", fx.dir);
	assert_int_equal(bale_check_store(spec, &o, &sum, &err), BALE_EGENERIC);
	assert_string_equal(bale_error_message(err), "too many findings");
	bale_error_free(err);
	assert_string_equal(bale_check_problem_name(BALE_CHECK_DIGEST), "digest-mismatch");
}

/* The read side without a check: the names, their roots, a manifest's bytes, presence. */
typedef struct view_seen {
	const fixture *fx;
	size_t names;
	bool app, tool;
	int rc; /* what the callback returns */
} view_seen;

static int look(void *payload, bale_check_view *v, bale_error **err)
{
	view_seen *s = payload;
	bale_buf bytes;
	s->names = bale_check_view_count(v);
	for (size_t i = 0; i < s->names; i++) {
		const char *name = bale_check_view_name(v, i);
		const bale_descriptor *root = bale_check_view_root(v, i);
		if (strcmp(name, "example.com/app:1") == 0)
			s->app = bale_digest_equal(&root->digest, &s->fx->index.digest) &&
			         strcmp(root->media_type, BALE_MT_OCI_INDEX) == 0;
		if (strcmp(name, "example.com/tool:1") == 0)
			s->tool = bale_digest_equal(&root->digest, &s->fx->m3.digest);
	}
	assert_int_equal(bale_check_view_read(v, &s->fx->m3, &bytes, err), 0);
	assert_int_equal(bytes.len, (size_t)s->fx->m3.size);
	bale_buf_free(&bytes);
	assert_true(bale_check_view_has(v, &s->fx->l1.digest));
	assert_false(bale_check_view_has(v, &s->fx->l3.digest)); /* removed below */
	bale_error *e = NULL;
	assert_int_equal(bale_check_view_read(v, &s->fx->l3, &bytes, &e), BALE_ENOTFOUND);
	assert_non_null(strstr(bale_error_message(e), s->fx->l3.digest.str));
	bale_error_free(e);
	bale_buf_free(&bytes);
	return s->rc < 0 ? bale_error_set(err, s->rc, "stopped") : 0;
}

static void test_read_store(void **state)
{
	fixture fx;
	char spec[600];
	bale_error *err = NULL;
	build(&fx, *state);
	remove_blob(&fx, &fx.l3);
	snprintf(spec, sizeof(spec), "oci:%s", fx.dir);
	view_seen s = {.fx = &fx};
	assert_int_equal(bale_check_read_store(spec, NULL, look, &s, &err), 0);
	assert_int_equal(s.names, 2);
	assert_true(s.app);
	assert_true(s.tool);
	/* The callback's result is the result, its error unwrapped. */
	s.rc = BALE_EVERIFY;
	assert_int_equal(bale_check_read_store(spec, NULL, look, &s, &err), BALE_EVERIFY);
	assert_string_equal(bale_error_message(err), "stopped");
	bale_error_clear(&err);
	snprintf(spec, sizeof(spec), "oci:%s/nowhere", (const char *)*state);
	assert_int_equal(bale_check_read_store(spec, NULL, look, &s, &err), BALE_ESTORE);
	bale_error_free(err);
	/* A registry is read too (tests/integration/test_delta.sh, against a real one). */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_whole_store, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_missing_truncated_altered, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_platform_subset, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_unparsable_manifest, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_partials, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_repair, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_errors, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_read_store, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
