/* File helpers for crash-safe writes: temporary name, fsync, rename, fsync directory. */
#ifndef BALE_FS_H
#define BALE_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "bale/error.h"

int bale_fs_mkdir_p(const char *path, mode_t mode, bale_error **err);
/* Writes data to path atomically: readers see the old file or the whole new one. */
int bale_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         bale_error **err);
int bale_fs_fsync_dir(const char *dir, bale_error **err);
/* write(2) all of data, retrying on EINTR and short writes; errno is kept on failure. */
int bale_fs_write_all(int fd, const void *data, size_t len);
/* malloc'd "a/b". */
char *bale_fs_join(const char *a, const char *b);

#endif
