/* bale cache: what an export's content cache (an oci: layout, BALE_STORE_CACHE) holds,
 * and pruning it by age. A cached blob is only a copy: one pruned is fetched again by the
 * next export that needs it, and a name whose root blob is gone is dropped from
 * index.json so that the layout stays one skopeo can read. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bale/fs.h"
#include "bale/json.h"
#include "bale/store.h"
#include "store/oci_layout.h"

/* Each blob file of the layout (a 64-hex name), with its size and modification time; a
 * prune (cutoff > 0) removes those older than cutoff. */
static int walk_blobs(const char *dir, time_t cutoff, bale_store_cache_usage *u, bale_error **err)
{
	char *blobs = bale_fs_join(dir, "blobs/sha256");
	DIR *d = blobs ? opendir(blobs) : NULL;
	int rc = 0;
	if (!blobs)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (!d) {
		rc = errno == ENOENT ? 0
		                     : bale_error_set_errno(err, BALE_ESTORE, errno, "%s", blobs);
		free(blobs);
		return rc;
	}
	for (struct dirent *e; (e = readdir(d));) {
		struct stat st;
		if (strlen(e->d_name) != 64 || strspn(e->d_name, "0123456789abcdef") != 64 ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (cutoff > 0 && st.st_mtime < cutoff && unlinkat(dirfd(d), e->d_name, 0) == 0) {
			u->pruned_blobs++;
			u->pruned_bytes += st.st_size;
			continue;
		}
		u->blobs++;
		u->bytes += st.st_size;
		if (!u->oldest || st.st_mtime < u->oldest)
			u->oldest = st.st_mtime;
	}
	closedir(d);
	free(blobs);
	return rc;
}

/* index.json's names, counted; with prune, those whose root blob is gone dropped (under
 * the store's lock, as a writer replaces it). */
static int names(const char *dir, bool prune, bale_store_cache_usage *u, bale_error **err)
{
	char *path = bale_fs_join(dir, "index.json");
	json_t *index = NULL, *kept = json_array();
	bale_buf text;
	int rc = path && kept ? store_oci_load_index(&index, &text, path, err)
	                      : bale_error_set(err, BALE_EGENERIC, "out of memory");
	size_t i;
	json_t *m;
	json_array_foreach(rc == 0 ? json_object_get(index, "manifests") : NULL, i, m)
	{
		const char *digest = bale_json_str(m, "digest");
		char blob[256];
		snprintf(blob, sizeof(blob), "%s/blobs/sha256/%s", dir,
		         digest && strlen(digest) > 7 ? digest + 7 : "");
		if (!prune || access(blob, F_OK) == 0) {
			json_array_append(kept, m);
			u->names++;
		}
	}
	if (rc == 0 && prune &&
	    json_array_size(kept) != json_array_size(json_object_get(index, "manifests"))) {
		char *out = NULL;
		size_t len = 0;
		json_object_set(index, "manifests", kept);
		if ((rc = bale_json_dump(&out, &len, index, err)) == 0)
			rc = bale_fs_write_atomic(path, out, len, 0644, err);
		free(out);
	}
	json_decref(index);
	json_decref(kept);
	bale_buf_free(&text);
	free(path);
	return rc;
}

int bale_store_cache_count(const char *dir, int64_t prune_older_than, bale_store_cache_usage *out,
                           bale_error **err)
{
	memset(out, 0, sizeof(*out));
	int lock = -1, rc = 0;
	if (prune_older_than >= 0 && (lock = store_oci_lock(dir)) < 0 && errno != ENOENT)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "lock %s", dir);
	time_t cutoff = prune_older_than >= 0 ? time(NULL) - (time_t)prune_older_than : 0;
	if (prune_older_than == 0)
		cutoff = time(NULL) + 1; /* everything */
	rc = walk_blobs(dir, cutoff, out, err);
	if (rc == 0)
		rc = names(dir, prune_older_than >= 0, out, err);
	if (lock >= 0)
		close(lock);
	return rc < 0 ? bale_error_wrap(err, "cache %s", dir) : 0;
}
