/* Shared by the cmocka unit tests: run a test in a fresh temporary directory of its own.
 *
 *	cmocka_unit_test_setup_teardown(test_x, tmpdir_setup, tmpdir_teardown)
 *
 * gives test_x the directory's path in *state. Every function here is static (each test
 * is its own executable) and marked unused, so a test can take only what it needs.
 * Include after <cmocka.h>. */
#ifndef BALE_TESTS_UNIT_TESTUTIL_H
#define BALE_TESTS_UNIT_TESTUTIL_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* "dir/name" in fresh memory (caller frees). */
__attribute__((unused)) static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* cmocka setup: makes $TMPDIR/bale-test-XXXXXX (or under /tmp) and puts its malloc'd
 * path in *state. */
__attribute__((unused)) static int tmpdir_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	char *dir = path_join(tmp, "bale-test-XXXXXX");
	if (!mkdtemp(dir)) {
		int e = errno;
		free(dir);
		fail_msg("mkdtemp in %s: %s", tmp, strerror(e));
	}
	*state = dir;
	return 0;
}

__attribute__((unused)) static int tmpdir_remove_entry(const char *path, const struct stat *st,
                                                       int flag, struct FTW *ftw)
{
	return remove(path);
}

/* cmocka teardown: removes the directory in *state and everything under it (symlinks
 * themselves, never what they point to), then frees the path. Fails if anything stays. */
__attribute__((unused)) static int tmpdir_teardown(void **state)
{
	char *dir = *state;
	int rc = nftw(dir, tmpdir_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (rc != 0)
		print_error("remove %s: %s\n", dir, strerror(errno));
	free(dir);
	*state = NULL;
	return rc == 0 ? 0 : -1;
}

#endif
