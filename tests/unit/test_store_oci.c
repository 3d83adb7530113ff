/* The oci:DIR store: blobs appear only when committed, names only at commit, two
 * processes can name images in one store without losing either. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bale/buf.h"
#include "bale/json.h"
#include "bale/store.h"
#include "testutil.h"

static void descriptor_for(bale_descriptor *d, const char *content, const char *media_type)
{
	memset(d, 0, sizeof(*d));
	bale_digest_of(&d->digest, content, strlen(content));
	d->size = (int64_t)strlen(content);
	snprintf(d->media_type, sizeof(d->media_type), "%s", media_type);
}

static size_t count_entries(const char *dir)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static size_t staging_dirs(const char *dir)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		n += strncmp(e->d_name, ".bale-staging-", 14) == 0;
	closedir(d);
	return n;
}

static json_t *read_index(const char *dir)
{
	char path[512];
	bale_buf b;
	json_t *doc = NULL;
	snprintf(path, sizeof(path), "%s/index.json", dir);
	bale_buf_init(&b, 1 << 20, "index");
	assert_int_equal(bale_buf_read_file(&b, path, NULL), 0);
	assert_int_equal(bale_json_parse(&doc, b.data, b.len, 1 << 20, "index", NULL), 0);
	bale_buf_free(&b);
	return doc;
}

static void test_layout_created(void **state)
{
	const char *dir = *state;
	bale_sink *s = NULL;
	char path[512];
	bale_error *err = NULL; /* a file where a directory should be */
	assert_int_equal(bale_store_open(&s, "oci:/etc/hostname/store", &err), BALE_ESTORE);
	assert_non_null(strstr(bale_error_message(err), "/etc/hostname"));
	bale_error_free(err);
	snprintf(path, sizeof(path), "oci:%s/store", dir);
	assert_int_equal(bale_store_open(&s, path, NULL), 0);
	bale_sink_free(s);
	snprintf(path, sizeof(path), "%s/store/oci-layout", dir);
	bale_buf b;
	bale_buf_init(&b, 1024, "oci-layout");
	assert_int_equal(bale_buf_read_file(&b, path, NULL), 0);
	assert_string_equal(b.data, "{\"imageLayoutVersion\":\"1.0.0\"}");
	bale_buf_free(&b);
	snprintf(path, sizeof(path), "%s/store", dir);
	json_t *index = read_index(path);
	assert_int_equal(json_array_size(json_object_get(index, "manifests")), 0);
	json_decref(index);
}

static void test_unknown_store_is_usage_error(void **state)
{
	bale_sink *s = NULL;
	bale_error *err = NULL;
	assert_int_equal(bale_store_open(&s, "tarball:/x", &err), BALE_EUSAGE);
	assert_non_null(strstr(bale_error_message(err), "tarball:/x"));
	bale_error_free(err);
}

static void test_blob_visible_only_after_commit(void **state)
{
	const char *dir = *state;
	char spec[512], blobs[512];
	bale_sink *s = NULL;
	bale_sink_blob *b = NULL;
	bale_descriptor d;
	bool have = true;
	(void)spec;
	snprintf(blobs, sizeof(blobs), "%s/blobs/sha256", dir);
	/* Unstaged, as the export cache is: a committed blob is in place at once. */
	assert_int_equal(bale_store_oci_open(&s, dir, 0, NULL), 0);
	descriptor_for(&d, "layer bytes", "application/vnd.oci.image.layer.v1.tar+gzip");
	assert_int_equal(bale_sink_has_blob(s, &d, &have, NULL), 0);
	assert_false(have);
	assert_int_equal(bale_sink_blob_open(s, &d, &b, NULL), 0);
	assert_int_equal(bale_sink_blob_write(s, b, "layer ", 6, NULL), 0);
	assert_int_equal(count_entries(blobs), 0);
	assert_int_equal(bale_sink_blob_write(s, b, "bytes", 5, NULL), 0);
	assert_int_equal(bale_sink_blob_commit(s, b, NULL), 0);
	assert_int_equal(count_entries(blobs), 1);
	assert_int_equal(bale_sink_has_blob(s, &d, &have, NULL), 0);
	assert_true(have);

	/* An aborted blob leaves nothing, not even a temporary file. */
	descriptor_for(&d, "other", "application/octet-stream");
	assert_int_equal(bale_sink_blob_open(s, &d, &b, NULL), 0);
	assert_int_equal(bale_sink_blob_write(s, b, "oth", 3, NULL), 0);
	bale_sink_blob_abort(s, b);
	DIR *dd = opendir(blobs);
	size_t all = 0;
	for (struct dirent *e; (e = readdir(dd));)
		all += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(dd);
	assert_int_equal(all, 1);

	/* Rewind: a restarted transfer replaces what was written. */
	assert_int_equal(bale_sink_blob_open(s, &d, &b, NULL), 0);
	assert_int_equal(bale_sink_blob_write(s, b, "garbage", 7, NULL), 0);
	assert_int_equal(bale_sink_blob_rewind(s, b, NULL), 0);
	assert_int_equal(bale_sink_blob_write(s, b, "other", 5, NULL), 0);
	assert_int_equal(bale_sink_blob_commit(s, b, NULL), 0);
	char path[700];
	snprintf(path, sizeof(path), "%s/%s", blobs, bale_digest_hex(&d.digest));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 5);
	bale_sink_free(s);
}

/* Node stores are staged: blobs of a run show only when it commits; a run that never
 * commits, or died, leaves nothing behind. */
static void test_staged_run(void **state)
{
	const char *dir = *state;
	char spec[512], blobs[512];
	bale_sink *s = NULL;
	bale_descriptor d, e;
	bool have = false;
	snprintf(spec, sizeof(spec), "oci:%s", dir);
	snprintf(blobs, sizeof(blobs), "%s/blobs/sha256", dir);
	descriptor_for(&d, "staged layer", "application/vnd.oci.image.layer.v1.tar+gzip");
	descriptor_for(&e, "{\"m\":1}", "application/vnd.oci.image.manifest.v1+json");

	/* A run that fails before commit: nothing stays, not even its staging directory. */
	assert_int_equal(bale_store_open(&s, spec, NULL), 0);
	assert_int_equal(bale_sink_put_bytes(s, &d, "staged layer", 12, NULL), 0);
	assert_int_equal(bale_sink_has_blob(s, &d, &have, NULL), 0);
	assert_true(have); /* the run itself sees it */
	assert_int_equal(count_entries(blobs), 0);
	bale_sink_free(s);
	assert_int_equal(count_entries(blobs), 0);
	assert_int_equal(staging_dirs(dir), 0);

	/* A run that commits: its blobs appear with its names. */
	assert_int_equal(bale_store_open(&s, spec, NULL), 0);
	assert_int_equal(bale_sink_put_bytes(s, &d, "staged layer", 12, NULL), 0);
	assert_int_equal(bale_sink_put_bytes(s, &e, "{\"m\":1}", 7, NULL), 0);
	assert_int_equal(bale_sink_set_name(s, "example.com/a:1", &e, NULL), 0);
	assert_int_equal(count_entries(blobs), 0);
	assert_int_equal(staging_dirs(dir), 1);
	assert_int_equal(bale_sink_commit(s, NULL), 0);
	assert_int_equal(count_entries(blobs), 2);
	bale_sink_free(s);
	assert_int_equal(staging_dirs(dir), 0);
	json_t *index = read_index(dir);
	assert_int_equal(json_array_size(json_object_get(index, "manifests")), 1);
	json_decref(index);

	/* A run killed with its staging directory in place: the next open removes it. */
	char stale[600], file[700];
	snprintf(stale, sizeof(stale), "%s/.bale-staging-dead01", dir);
	assert_int_equal(mkdir(stale, 0700), 0);
	snprintf(file, sizeof(file), "%s/%s", stale, bale_digest_hex(&d.digest));
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(bale_store_open(&s, spec, NULL), 0);
	bale_sink_free(s);
	struct stat st;
	assert_int_equal(stat(stale, &st), -1);
}

static void test_names_replace_and_annotate(void **state)
{
	const char *dir = *state;
	char spec[512];
	bale_sink *s = NULL;
	bale_descriptor a, b;
	snprintf(spec, sizeof(spec), "oci:%s", dir);
	descriptor_for(&a, "{\"a\":1}", "application/vnd.oci.image.index.v1+json");
	descriptor_for(&b, "{\"b\":2}", "application/vnd.docker.distribution.manifest.v2+json");
	assert_int_equal(bale_store_open(&s, spec, NULL), 0);
	assert_int_equal(bale_sink_put_bytes(s, &a, "{\"a\":1}", 7, NULL), 0);
	assert_int_equal(bale_sink_put_bytes(s, &b, "{\"b\":2}", 7, NULL), 0);
	assert_int_equal(bale_sink_set_name(s, "docker.io/library/x:1", &a, NULL), 0);
	json_t *index = read_index(dir);
	assert_int_equal(json_array_size(json_object_get(index, "manifests")), 0); /* not yet */
	json_decref(index);
	assert_int_equal(bale_sink_commit(s, NULL), 0);
	/* Re-pointing a name replaces its entry instead of adding a second one. */
	assert_int_equal(bale_sink_set_name(s, "docker.io/library/x:1", &b, NULL), 0);
	assert_int_equal(
	    bale_sink_set_name(s,
	                       "host:5000/y@sha256:"
	                       "0000000000000000000000000000000000000000000000000000000000000000",
	                       &a, NULL),
	    0);
	assert_int_equal(bale_sink_commit(s, NULL), 0);
	bale_sink_free(s);

	index = read_index(dir);
	json_t *list = json_object_get(index, "manifests");
	assert_int_equal(json_array_size(list), 2);
	json_t *first = json_array_get(list, 0);
	assert_string_equal(bale_json_str(first, "digest"), b.digest.str);
	assert_string_equal(bale_json_str(first, "mediaType"), b.media_type);
	assert_int_equal(json_integer_value(json_object_get(first, "size")), 7);
	json_t *ann = json_object_get(first, "annotations");
	assert_string_equal(bale_json_str(ann, "org.opencontainers.image.ref.name"),
	                    "docker.io/library/x:1");
	assert_string_equal(bale_json_str(ann, "io.containerd.image.name"),
	                    "docker.io/library/x:1");
	json_decref(index);
}

/* index.json takes only normalized references: not a path, not a control character,
 * whoever hands the name over (an import from a signed bundle included). */
static void test_names_refused(void **state)
{
	const char *dir = *state;
	bale_sink *s = NULL;
	bale_descriptor a;
	static const char *const bad[] = {
	    "../../../etc/passwd",
	    "docker.io/library/x:1\nother",
	    "\x1b]0;owned\x07",
	    "nginx", /* a reference, but not as bale writes names */
	    "",
	};
	descriptor_for(&a, "{\"a\":1}", "application/vnd.oci.image.index.v1+json");
	assert_int_equal(bale_store_oci_open(&s, dir, BALE_STORE_STAGED, NULL), 0);
	assert_int_equal(bale_sink_put_bytes(s, &a, "{\"a\":1}", 7, NULL), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bale_error *err = NULL;
		assert_int_equal(bale_sink_set_name(s, bad[i], &a, &err), BALE_EVERIFY);
		assert_non_null(strstr(bale_error_message(err), "image name"));
		assert_null(strchr(bale_error_message(err), '\x1b'));
		assert_null(strchr(bale_error_message(err), '\n'));
		bale_error_free(err);
	}
	assert_int_equal(bale_sink_commit(s, NULL), 0);
	bale_sink_free(s);
	json_t *index = read_index(dir);
	assert_int_equal(json_array_size(json_object_get(index, "manifests")), 0);
	json_decref(index);
}

/* The store says how much it can still take: the free space where its blobs go. */
static void test_space(void **state)
{
	const char *dir = *state;
	bale_sink *s = NULL;
	bale_error *err = NULL;
	assert_int_equal(bale_store_oci_open(&s, dir, 0, NULL), 0);
	assert_true(bale_sink_tells_space(s));
	uint64_t avail = 0;
	const char *where = NULL;
	assert_int_equal(bale_sink_space(s, &avail, &where, NULL), 0);
	assert_true(avail > 0);
	assert_string_equal(where, dir);
	assert_int_equal(bale_sink_check_space(s, avail / 2, "half", NULL), 0);
	assert_int_equal(bale_sink_check_space(s, avail + (1ull << 40), "too much", &err),
	                 BALE_ESTORE);
	assert_non_null(strstr(bale_error_message(err), "too much need"));
	assert_non_null(strstr(bale_error_message(err), "refused before a byte is written"));
	bale_error_free(err);
	bale_sink_free(s);
}

/* Two processes naming 20 images each in one store: all 40 names survive. */
static void test_concurrent_writers(void **state)
{
	const char *dir = *state;
	char spec[512];
	snprintf(spec, sizeof(spec), "oci:%s", dir);
	pid_t kids[2];
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			bale_sink *s = NULL;
			if (bale_store_open(&s, spec, NULL) < 0)
				_exit(1);
			for (int i = 0; i < 20; i++) {
				char ref[64], content[64];
				bale_descriptor d;
				snprintf(ref, sizeof(ref), "example.com/w%d/img:%d", k, i);
				snprintf(content, sizeof(content), "{\"w\":%d,\"i\":%d}", k, i);
				descriptor_for(&d, content,
				               "application/vnd.oci.image.manifest.v1+json");
				if (bale_sink_put_bytes(s, &d, content, strlen(content), NULL) <
				        0 ||
				    bale_sink_set_name(s, ref, &d, NULL) < 0 ||
				    bale_sink_commit(s, NULL) < 0)
					_exit(2);
			}
			bale_sink_free(s);
			_exit(0);
		}
	}
	for (int k = 0; k < 2; k++) {
		int status = 0;
		assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	json_t *index = read_index(dir);
	assert_int_equal(json_array_size(json_object_get(index, "manifests")), 40);
	json_decref(index);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_layout_created, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test(test_unknown_store_is_usage_error),
	    cmocka_unit_test_setup_teardown(test_blob_visible_only_after_commit, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_staged_run, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_names_replace_and_annotate, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_writers, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_names_refused, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_space, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
