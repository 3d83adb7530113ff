/* Temporaries beside a final name, "PATH.tmp-XXXXXX", and the sweep of those that a killed
 * writer left (a killed export leaves a partial bundle as large as what it had written).
 * A live writer holds an exclusive flock(2) on its temporary from creation to rename; the
 * sweep removes only what it can lock itself, so it never takes a live writer's file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bale/fs.h"

#define TEMP_SUFFIX ".tmp-"
#define TEMP_RANDOM 6 /* mkostemp's XXXXXX */
#define CREATE_ATTEMPTS 8

int bale_fs_temp_unnamed(int *fd_out, int code, const char *what, bale_error **err)
{
	const char *dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) { /* a file system without it */
		char *path = bale_fs_join(dir, "bale-XXXXXX");
		if (!path)
			return bale_error_set(err, code, "%s: out of memory", what);
		if ((fd = mkostemp(path, O_CLOEXEC)) >= 0)
			unlink(path);
		free(path);
	}
	if (fd < 0)
		return bale_error_set_errno(err, code, errno, "%s in %s (TMPDIR)", what, dir);
	*fd_out = fd;
	return 0;
}

int bale_fs_temp_create(const char *path, mode_t mode, int code, int *fd_out, char **tmp_out,
                        bale_error **err)
{
	int rc = 0, fd = -1;
	size_t n = strlen(path) + sizeof(TEMP_SUFFIX) + TEMP_RANDOM;
	char *tmp = malloc(n);
	*fd_out = -1;
	*tmp_out = NULL;
	if (!tmp)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (int attempt = 0;; attempt++) {
		struct stat held, named;
		snprintf(tmp, n, "%s" TEMP_SUFFIX "XXXXXX", path);
		if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
			rc = bale_error_set_errno(err, code, errno, "create %s", tmp);
			goto cleanup;
		}
		if (flock(fd, LOCK_EX) < 0 || fchmod(fd, mode) < 0 || fstat(fd, &held) < 0) {
			rc = bale_error_set_errno(err, code, errno, "lock %s", tmp);
			goto cleanup;
		}
		/* A sweep may have locked and removed it between mkostemp and flock: only a
		 * name that still leads to the file we hold is ours. */
		if (stat(tmp, &named) == 0 && named.st_ino == held.st_ino &&
		    named.st_dev == held.st_dev)
			break;
		close(fd);
		fd = -1;
		if (attempt + 1 == CREATE_ATTEMPTS) {
			rc = bale_error_set(err, code,
			                    "create %s: removed by another process %d times", tmp,
			                    CREATE_ATTEMPTS);
			goto cleanup;
		}
	}
	*fd_out = fd;
	*tmp_out = tmp;
	fd = -1;
	tmp = NULL;
cleanup:
	if (fd >= 0) {
		unlink(tmp);
		close(fd);
	}
	free(tmp);
	return rc;
}

/* "BASE.tmp-XXXXXX" exactly: the length of the temporary's own name, 0 for other names. */
static size_t temp_name_length(const char *name, const char *base)
{
	size_t bl = strlen(base);
	if (strncmp(name, base, bl) != 0 || strncmp(name + bl, TEMP_SUFFIX, strlen(TEMP_SUFFIX)))
		return 0;
	size_t len = bl + strlen(TEMP_SUFFIX) + TEMP_RANDOM;
	if (strlen(name) < len || (name[len] != '\0' && name[len] != '.'))
		return 0;
	return len;
}

/* Removes dir/name when it is a regular file; counts it. */
static void remove_file(int dirfd, const char *name, size_t *files, uint64_t *bytes)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return;
	if (unlinkat(dirfd, name, 0) == 0) {
		(*files)++;
		*bytes += (uint64_t)st.st_size;
	}
}

/* Whether the temporary dir/name is held by a live writer. When it is not, the lock taken
 * to find out is kept in *fd until its files are removed, so no writer can start on it. */
static bool temp_is_live(int dirfd, const char *name, int *fd)
{
	struct stat held, named;
	*fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (*fd < 0)
		return errno != ENOENT; /* unreadable: leave it alone */
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0 || fstat(*fd, &held) < 0 || !S_ISREG(held.st_mode) ||
	    fstatat(dirfd, name, &named, AT_SYMLINK_NOFOLLOW) < 0 || named.st_ino != held.st_ino) {
		close(*fd);
		*fd = -1;
		return true;
	}
	return false;
}

int bale_fs_temp_sweep(const char *path, size_t *files_out, uint64_t *bytes_out, bale_error **err)
{
	int rc = 0;
	size_t files = 0;
	uint64_t bytes = 0;
	char *dcopy = strdup(path), *bcopy = strdup(path);
	char **names = NULL;
	size_t nnames = 0, cap = 0;
	DIR *d = NULL;
	if (!dcopy || !bcopy) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	const char *dir = dirname(dcopy), *base = basename(bcopy);
	if (!(d = opendir(dir))) {
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "open directory %s", dir);
		goto cleanup;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (!temp_name_length(e->d_name, base))
			continue;
		if (nnames == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char **grown = realloc(names, ncap * sizeof(*names));
			if (!grown) {
				rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
				goto cleanup;
			}
			names = grown;
			cap = ncap;
		}
		if (!(names[nnames] = strdup(e->d_name))) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
		nnames++;
	}
	/* Temporaries first, each with its companions; then companions left alone. */
	for (size_t i = 0; i < nnames; i++) {
		size_t len = temp_name_length(names[i], base);
		if (names[i][len] != '\0')
			continue;
		int fd;
		if (temp_is_live(dirfd(d), names[i], &fd))
			continue;
		for (size_t j = 0; j < nnames; j++)
			if (j != i && strncmp(names[j], names[i], len) == 0 && names[j][len] == '.')
				remove_file(dirfd(d), names[j], &files, &bytes);
		remove_file(dirfd(d), names[i], &files, &bytes);
		close(fd);
	}
	for (size_t i = 0; i < nnames; i++) {
		size_t len = temp_name_length(names[i], base);
		if (names[i][len] != '.')
			continue;
		char owner[NAME_MAX + 1];
		snprintf(owner, sizeof(owner), "%.*s", (int)len, names[i]);
		struct stat st;
		if (fstatat(dirfd(d), owner, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			remove_file(dirfd(d), names[i], &files, &bytes);
	}
cleanup:
	if (d)
		closedir(d);
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(dcopy);
	free(bcopy);
	if (files_out)
		*files_out = files;
	if (bytes_out)
		*bytes_out = bytes;
	return rc;
}
