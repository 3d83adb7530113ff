#include "bale/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *bale_fs_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);
	if (!p)
		return NULL;
	memcpy(p, a, la);
	size_t at = la;
	if (la && a[la - 1] != '/')
		p[at++] = '/';
	memcpy(p + at, b, lb + 1);
	return p;
}

int bale_fs_mkdir_p(const char *path, mode_t mode, bale_error **err)
{
	int rc = 0;
	char *copy = strdup(path);
	if (!copy)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (char *p = copy + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST) {
			rc = bale_error_set_errno(err, BALE_ESTORE, errno, "mkdir %s", copy);
			goto cleanup;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
cleanup:
	free(copy);
	return rc;
}

int bale_fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int bale_fs_fsync_dir(const char *dir, bale_error **err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "open directory %s", dir);
	int rc = 0;
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "fsync %s", dir);
	close(fd);
	return rc;
}

int bale_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         bale_error **err)
{
	int rc = 0, fd = -1;
	char *tmp = NULL, *dircopy = strdup(path);
	if (!dircopy) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = bale_fs_temp_create(path, mode, BALE_ESTORE, &fd, &tmp, err)) < 0)
		goto cleanup;
	if (bale_fs_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "write %s", tmp);
		goto cleanup;
	}
	/* renamed while still open and locked: a sweep never sees it unlocked */
	if (rename(tmp, path) < 0) {
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "rename to %s", path);
		goto cleanup;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "close %s", path);
		goto cleanup;
	}
	fd = -1;
	rc = bale_fs_fsync_dir(dirname(dircopy), err);
cleanup:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp)
		unlink(tmp);
	free(tmp);
	free(dircopy);
	return rc;
}
