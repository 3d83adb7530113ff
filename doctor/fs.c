/* The image filesystem as the kubelet measures it (statvfs of containerd's root), and
 * whether it is apart from the kubelet's own (nodefs): then only imagefs signals hold
 * for images; on one filesystem the nodefs signals do too. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "bale/doctor.h"

void bale_doctor_fs_read(bale_doctor_fs *out, const char *dir, const char *kubelet_root)
{
	struct statvfs vfs;
	struct stat image, node;
	memset(out, 0, sizeof(*out));
	out->dir = strdup(dir);
	if (!out->dir || statvfs(dir, &vfs) != 0 || stat(dir, &image) != 0)
		return;
	out->known = true;
	out->size = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	/* what an unprivileged writer may still use, as the kubelet's cadvisor reports it */
	out->avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	out->separate =
	    kubelet_root && stat(kubelet_root, &node) == 0 && node.st_dev != image.st_dev;
}

void bale_doctor_fs_free(bale_doctor_fs *fs)
{
	free(fs->dir);
	memset(fs, 0, sizeof(*fs));
}
