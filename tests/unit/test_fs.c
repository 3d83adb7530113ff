/* Crash-safe files: a temporary is held locked from creation to rename, and the sweep of
 * what killed writers left takes stale temporaries with their companions but never a
 * live writer's, nor a name that is not a temporary of that output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bale/fs.h"
#include "testutil.h"

static void make_file(const char *dir, const char *name, size_t size)
{
	char *p = path_join(dir, name);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	for (size_t i = 0; i < size; i++)
		fputc('x', f);
	assert_int_equal(fclose(f), 0);
	free(p);
}

static bool exists(const char *dir, const char *name)
{
	char *p = path_join(dir, name);
	struct stat st;
	bool yes = lstat(p, &st) == 0;
	free(p);
	return yes;
}

static size_t count_entries(const char *dir)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static void test_temp_is_held(void **state)
{
	char *out = path_join(*state, "site.tar.zst"), *tmp = NULL;
	bale_error *err = NULL;
	int fd = -1;
	assert_int_equal(bale_fs_temp_create(out, 0640, BALE_EGENERIC, &fd, &tmp, &err), 0);
	assert_true(fd >= 0);
	assert_int_equal(strncmp(tmp, out, strlen(out)), 0);
	assert_int_equal(strlen(tmp), strlen(out) + strlen(".tmp-XXXXXX"));
	struct stat st;
	assert_int_equal(stat(tmp, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	/* another open file description cannot lock it while fd is open */
	int other = open(tmp, O_RDONLY | O_CLOEXEC);
	assert_true(other >= 0);
	assert_int_equal(flock(other, LOCK_EX | LOCK_NB), -1);
	size_t files = 9;
	uint64_t bytes = 9;
	assert_int_equal(bale_fs_temp_sweep(out, &files, &bytes, &err), 0);
	assert_int_equal(files, 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(stat(tmp, &st), 0);
	/* once its writer is gone, it is stale */
	close(fd);
	assert_int_equal(bale_fs_temp_sweep(out, &files, &bytes, &err), 0);
	assert_int_equal(files, 1);
	assert_int_equal(stat(tmp, &st), -1);
	assert_null(err);
	close(other);
	free(tmp);
	free(out);
}

static void test_sweep_takes_only_stale_temporaries(void **state)
{
	const char *dir = *state;
	make_file(dir, "site.tar.zst", 10);                            /* the output itself */
	make_file(dir, "site.tar.zst.tmp-AAAAAA", 1000);               /* stale */
	make_file(dir, "site.tar.zst.tmp-AAAAAA.index.db", 200);       /* its companion */
	make_file(dir, "site.tar.zst.tmp-BBBBBB.index.db-journal", 5); /* orphaned companion */
	make_file(dir, "site.tar.zst.tmp-CCCCCCC", 1);                 /* not mkostemp's name */
	make_file(dir, "site.tar.zst.tmp-", 1);
	make_file(dir, "site.tar.zst.tmpx-DDDDDD", 1);
	make_file(dir, "other.tar.zst.tmp-EEEEEE", 1); /* another output's */
	char *out = path_join(dir, "site.tar.zst"), *live = NULL;
	int fd = -1;
	bale_error *err = NULL;
	assert_int_equal(bale_fs_temp_create(out, 0644, BALE_ESTORE, &fd, &live, &err), 0);
	/* a directory and a symbolic link with a temporary's name are not files to remove */
	char *sub = path_join(dir, "site.tar.zst.tmp-FFFFFF"),
	     *link = path_join(dir, "site.tar.zst.tmp-GGGGGG");
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(symlink("site.tar.zst", link), 0);

	size_t files = 0;
	uint64_t bytes = 0;
	assert_int_equal(bale_fs_temp_sweep(out, &files, &bytes, &err), 0);
	assert_null(err);
	assert_int_equal(files, 3);
	assert_int_equal(bytes, 1205);
	assert_false(exists(dir, "site.tar.zst.tmp-AAAAAA"));
	assert_false(exists(dir, "site.tar.zst.tmp-AAAAAA.index.db"));
	assert_false(exists(dir, "site.tar.zst.tmp-BBBBBB.index.db-journal"));
	assert_true(exists(dir, "site.tar.zst"));
	assert_true(exists(dir, "site.tar.zst.tmp-CCCCCCC"));
	assert_true(exists(dir, "site.tar.zst.tmp-"));
	assert_true(exists(dir, "site.tar.zst.tmpx-DDDDDD"));
	assert_true(exists(dir, "other.tar.zst.tmp-EEEEEE"));
	assert_true(exists(dir, "site.tar.zst.tmp-FFFFFF"));
	assert_true(exists(dir, "site.tar.zst.tmp-GGGGGG"));
	struct stat st;
	assert_int_equal(stat(live, &st), 0);
	close(fd);
	unlink(live);
	rmdir(sub);
	free(sub);
	free(link);
	free(live);
	free(out);
}

static void test_sweep_of_a_missing_directory(void **state)
{
	char *out = path_join(*state, "missing/site.tar.zst");
	bale_error *err = NULL;
	size_t files = 7;
	assert_int_equal(bale_fs_temp_sweep(out, &files, NULL, &err), BALE_ESTORE);
	assert_int_equal(files, 0);
	assert_non_null(strstr(bale_error_message(err), "missing"));
	bale_error_free(err);
	free(out);
}

static void test_write_atomic_leaves_no_temporary(void **state)
{
	char *path = path_join(*state, "index.json");
	bale_error *err = NULL;
	assert_int_equal(bale_fs_write_atomic(path, "{}", 2, 0600, &err), 0);
	assert_int_equal(bale_fs_write_atomic(path, "{\"a\":1}", 7, 0644, &err), 0);
	assert_int_equal(count_entries(*state), 1);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 7);
	assert_int_equal(st.st_mode & 0777, 0644);
	/* a directory that cannot be written: the error names the temporary */
	char *ro = path_join(*state, "missing/index.json");
	assert_int_equal(bale_fs_write_atomic(ro, "{}", 2, 0644, &err), BALE_ESTORE);
	assert_non_null(strstr(bale_error_message(err), "missing/index.json.tmp-"));
	bale_error_free(err);
	free(ro);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_temp_is_held, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_takes_only_stale_temporaries, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_of_a_missing_directory, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_write_atomic_leaves_no_temporary, tmpdir_setup,
	                                    tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
