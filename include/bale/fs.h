/* File helpers for crash-safe writes: temporary name, fsync, rename, fsync directory. */
#ifndef BALE_FS_H
#define BALE_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bale/error.h"

int bale_fs_mkdir_p(const char *path, mode_t mode, bale_error **err);
/* Writes data to path atomically: readers see the old file or the whole new one. */
int bale_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         bale_error **err);
int bale_fs_fsync_dir(const char *dir, bale_error **err);
/* write(2) all of data, retrying on EINTR and short writes; errno is kept on failure. */
int bale_fs_write_all(int fd, const void *data, size_t len);
/* Creates "PATH.tmp-XXXXXX" beside path (mode mode) and holds it under an exclusive
 * flock(2) for as long as *fd_out stays open, so bale_fs_temp_sweep never takes a
 * temporary that a live writer holds. *tmp_out (malloc'd) is its name. Failures carry
 * code: BALE_ESTORE for a store's files, BALE_EGENERIC for a file the user named. */
int bale_fs_temp_create(const char *path, mode_t mode, int code, int *fd_out, char **tmp_out,
                        bale_error **err);
/* Removes what killed writers of path left beside it: every "PATH.tmp-XXXXXX" that no live
 * process holds, with its companions "PATH.tmp-XXXXXX.*", and companions whose temporary
 * is gone. Counts the files and bytes removed into *files and *bytes (may be NULL). */
int bale_fs_temp_sweep(const char *path, size_t *files, uint64_t *bytes, bale_error **err);
/* An unnamed file under $TMPDIR (else /tmp), gone once *fd_out is closed. Failures carry
 * code and name it as what ("temporary file for ctr output"). */
int bale_fs_temp_unnamed(int *fd_out, int code, const char *what, bale_error **err);
/* malloc'd "a/b". */
char *bale_fs_join(const char *a, const char *b);

#endif
