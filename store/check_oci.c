/* bale check of an oci:DIR store: the names of index.json walked through blobs/sha256, and
 * the leftovers a dead run leaves (staging directories, temporary files), told from a live
 * run's by the locks the store takes (import/oci_layout.h). Repair rewrites index.json
 * under the store lock as the store does, and holds that lock while it removes anything. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bale/fs.h"
#include "bale/hasher.h"
#include "bale/json.h"
#include "store/check_private.h"
#include "store/oci_layout.h"

typedef struct oci_check {
	check_run *run;
	const char *dir;
	char *blobs; /* DIR/blobs/sha256 */
	int blobs_fd;
	check_names names;
	bale_hasher *hasher;
	char *chunk;
} oci_check;

/* ---- reading blobs ---- */

static void oci_where(void *ctx, const bale_digest *d, char *out, size_t size)
{
	const oci_check *c = ctx;
	snprintf(out, size, "%s/%s", c->blobs, bale_digest_hex(d));
}

static bool oci_has(void *ctx, const bale_digest *d)
{
	const oci_check *c = ctx;
	struct stat st;
	return fstatat(c->blobs_fd, bale_digest_hex(d), &st, 0) == 0;
}

/* Opens a blob: BALE_ENOTFOUND when absent; one that is there but cannot be opened (a
 * disk error, a directory in its place) is damage, BALE_EVERIFY. */
static int open_blob(const oci_check *c, const bale_digest *d, int *fd, struct stat *st,
                     bale_error **err)
{
	char path[4096];
	oci_where((void *)c, d, path, sizeof(path));
	*fd = openat(c->blobs_fd, bale_digest_hex(d), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (*fd < 0 && errno == ENOENT)
		return BALE_ENOTFOUND;
	if (*fd < 0)
		return bale_error_set_errno(err, BALE_EVERIFY, errno, "open %s", path);
	if (fstat(*fd, st) < 0 || !S_ISREG(st->st_mode)) {
		int rc = bale_error_set(err, BALE_EVERIFY, "%s is not a regular file", path);
		close(*fd);
		*fd = -1;
		return rc;
	}
	return 0;
}

/* Reads the open blob d in CHECK_CHUNK pieces, handing each to fn. */
static int each_chunk(oci_check *c, const bale_descriptor *d, int fd,
                      int (*fn)(void *payload, const void *data, size_t len, bale_error **err),
                      void *payload, bale_error **err)
{
	for (;;) {
		ssize_t n = read(fd, c->chunk, CHECK_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return bale_error_set_errno(err, BALE_EVERIFY, errno, "read %s/%s",
			                            c->blobs, bale_digest_hex(&d->digest));
		if (n == 0)
			return 0;
		int rc = fn(payload, c->chunk, (size_t)n, err);
		if (rc < 0)
			return rc;
	}
}

static int append_chunk(void *payload, const void *data, size_t len, bale_error **err)
{
	/* larger than any manifest may be: BALE_EVERIFY, reported */
	return bale_buf_append(payload, data, len, err);
}

static int oci_read(void *ctx, const bale_descriptor *d, bale_buf *out, bale_error **err)
{
	oci_check *c = ctx;
	struct stat st;
	int fd = -1;
	int rc = open_blob(c, &d->digest, &fd, &st, err);
	if (rc < 0)
		return rc;
	rc = each_chunk(c, d, fd, append_chunk, out, err);
	if (rc == 0 && !out->data)
		rc = bale_buf_append(out, "", 0, err);
	close(fd);
	return rc;
}

typedef struct hash_state {
	bale_hasher *hasher;
	int64_t total;
} hash_state;

static int hash_chunk(void *payload, const void *data, size_t len, bale_error **err)
{
	hash_state *h = payload;
	(void)err;
	bale_hasher_update(h->hasher, data, len);
	h->total += (int64_t)len;
	return 0;
}

static int oci_hash(void *ctx, const bale_descriptor *d, check_blob *out, bale_error **err)
{
	oci_check *c = ctx;
	struct stat st;
	int fd = -1;
	int rc = open_blob(c, &d->digest, &fd, &st, err);
	if (rc < 0)
		return rc;
	out->found = true;
	out->size = st.st_size;
	if (st.st_size != d->size) { /* the size says enough: no need to read it */
		close(fd);
		return 0;
	}
	bale_hasher_reset(c->hasher);
	hash_state h = {.hasher = c->hasher};
	rc = each_chunk(c, d, fd, hash_chunk, &h, err);
	close(fd);
	if (rc == 0) {
		bale_hasher_final(c->hasher, &out->digest);
		out->hashed = true;
		out->size = h.total; /* what was read, should the file change underneath */
	}
	return rc;
}

static check_source oci_source(oci_check *c)
{
	return (check_source){
	    .ctx = c, .read = oci_read, .hash = oci_hash, .has = oci_has, .where = oci_where};
}

/* ---- names ---- */

/* The root descriptor of an entry; false when it is not a usable descriptor. */
static bool entry_root(json_t *entry, bale_descriptor *root, bale_error **err)
{
	const char *mt = bale_json_str(entry, "mediaType");
	const char *digest = bale_json_str(entry, "digest");
	json_t *size = json_object_get(entry, "size");
	memset(root, 0, sizeof(*root));
	snprintf(root->media_type, sizeof(root->media_type), "%s", mt ? mt : "");
	root->size = json_is_integer(size) ? json_integer_value(size) : -1;
	if (!digest)
		return bale_error_set(err, BALE_EVERIFY, "no digest"), false;
	return bale_digest_parse(&root->digest, digest, err) == 0;
}

static int load_names(oci_check *c, bale_error **err)
{
	char *path = bale_fs_join(c->dir, "index.json");
	json_t *index = NULL, *entry;
	size_t i;
	int rc = 0;
	if (!path)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if ((rc = store_oci_read_layout_index(&index, c->dir, err)) < 0)
		goto cleanup;
	json_array_foreach(json_object_get(index, "manifests"), i, entry)
	{
		bale_descriptor root;
		bale_error *bad = NULL;
		const char *name = store_oci_entry_name(entry);
		if (!name || !check_wanted(c->run, name))
			continue;
		bool usable = entry_root(entry, &root, &bad);
		if ((rc = check_names_add(&c->names, name, &root, err)) == 0 && !usable) {
			/* Nothing to walk: the name itself is the damage. */
			c->names.items[c->names.n - 1].damaged = true;
			c->names.items[c->names.n - 1].checked = true;
			rc = check_add(c->run, NULL, err, BALE_CHECK_UNREADABLE, name, "index",
			               NULL, path, "unreadable: its index.json entry has %s",
			               bale_error_message(bad));
		}
		bale_error_free(bad);
		if (rc < 0)
			goto cleanup;
	}
	rc = check_all_found(c->run, err);
cleanup:
	json_decref(index);
	free(path);
	return rc;
}

/* ---- partials ---- */

/* Files and bytes under a staging directory, for the report. */
static void staging_usage(const char *path, size_t *files, int64_t *bytes)
{
	DIR *d = opendir(path);
	struct dirent *e;
	struct stat st;
	*files = 0;
	*bytes = 0;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, 0) < 0)
			continue;
		(*files)++;
		*bytes += st.st_size;
	}
	if (d)
		closedir(d);
}

/* Is a leftover dead? Its writer holds an flock on it while it lives. */
static bool unheld(const char *path, bool dir)
{
	int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	bool dead = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;
	if (fd >= 0)
		close(fd); /* releases our lock too */
	return dead;
}

static int partial_found(oci_check *c, const char *path, const char *object, bool is_dir,
                         bale_error **err)
{
	check_item *item = NULL;
	struct stat st;
	size_t files = 0;
	int64_t bytes = 0;
	bool repair = check_opts(c->run)->repair;
	if (is_dir)
		staging_usage(path, &files, &bytes);
	else if (stat(path, &st) == 0)
		bytes = st.st_size;
	int rc = is_dir
	             ? check_add(c->run, &item, err, BALE_CHECK_PARTIAL, NULL, object, NULL, path,
	                         "partial files of an interrupted run, no running writer "
	                         "holds them (%zu file%s, %lld bytes)",
	                         files, files == 1 ? "" : "s", (long long)bytes)
	             : check_add(c->run, &item, err, BALE_CHECK_PARTIAL, NULL, object, NULL, path,
	                         "partial file of an interrupted write, no running writer "
	                         "holds it (%lld bytes)",
	                         (long long)bytes);
	if (rc < 0 || !repair)
		return rc;
	if (is_dir)
		store_oci_remove_staging(path);
	else
		unlink(path);
	if (access(path, F_OK) < 0)
		check_set_repair(item, true, "removed");
	else
		check_set_repair(item, false, "could not remove it: %s", strerror(errno));
	return 0;
}

/* The leftovers of DIR (staging directories, index.json and oci-layout temporary files)
 * or of blobs/sha256 (temporary blob files). The caller holds the store lock: a live
 * writer's leftovers are locked by it then. */
static int scan_partials_in(oci_check *c, const char *dir, bool blobs, bale_error **err)
{
	char path[4096];
	int rc = 0;
	DIR *d = opendir(dir);
	if (!d)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "open %s", dir);
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		const char *n = e->d_name, *object = NULL;
		bool is_dir = false;
		if (blobs && n[0] == '.' && strstr(n, STORE_OCI_PARTIAL_MARK)) {
			object = "temporary blob file";
		} else if (!blobs && strncmp(n, STORE_OCI_STAGING_PREFIX,
		                             strlen(STORE_OCI_STAGING_PREFIX)) == 0) {
			object = "staging directory";
			is_dir = true;
		} else if (!blobs && (strncmp(n, "index.json.tmp-", 15) == 0 ||
		                      strncmp(n, "oci-layout.tmp-", 15) == 0)) {
			object = "temporary file";
		}
		if (!object)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, n);
		if (!unheld(path, is_dir)) {
			bale_log_printf(check_log(c->run), BALE_LOG_DEBUG,
			                "%s: held by a running writer, left alone", path);
			continue;
		}
		rc = partial_found(c, path, object, is_dir, err);
	}
	closedir(d);
	return rc;
}

static int scan_partials(oci_check *c, bale_error **err)
{
	int lock_fd = store_oci_lock(c->dir);
	if (lock_fd < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "lock %s", c->dir);
	int rc = scan_partials_in(c, c->dir, false, err);
	if (rc == 0)
		rc = scan_partials_in(c, c->blobs, true, err);
	close(lock_fd);
	return rc;
}

/* ---- repair ---- */

static const check_name *dropped_name(const oci_check *c, json_t *entry)
{
	const char *name = store_oci_entry_name(entry), *digest = bale_json_str(entry, "digest");
	for (size_t i = 0; name && i < c->names.n; i++) {
		const check_name *n = &c->names.items[i];
		if (n->damaged && strcmp(n->ref, name) == 0 &&
		    strcmp(n->root.digest.str, digest && n->root.digest.str[0] ? digest : "") == 0)
			return n;
	}
	return NULL;
}

int check_oci_drop_entries(const char *dir, check_drop_fn drop, void *payload,
                           const check_source *src, check_digests *kept, size_t *dropped,
                           bale_error **err)
{
	char *path = bale_fs_join(dir, "index.json"), *text = NULL;
	json_t *index = NULL;
	size_t len = 0;
	bale_buf old;
	int rc = 0;
	bale_buf_init(&old, STORE_OCI_INDEX_CAP, "index.json");
	if (!path)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if ((rc = store_oci_load_index(&index, &old, path, err)) < 0)
		goto cleanup;
	json_t *manifests = json_object_get(index, "manifests");
	for (size_t j = json_array_size(manifests); j-- > 0;) {
		json_t *entry = json_array_get(manifests, j);
		bale_descriptor root;
		if (drop(payload, entry)) {
			json_array_remove(manifests, j);
			(*dropped)++;
		} else if (entry_root(entry, &root, NULL) &&
		           (rc = check_collect(src, &root, kept, err)) < 0) {
			goto cleanup;
		}
	}
	if ((rc = bale_json_dump(&text, &len, index, err)) < 0)
		goto cleanup;
	if ((len != old.len || memcmp(text, old.data, len) != 0) &&
	    (rc = bale_fs_write_atomic(path, text, len, 0644, err)) < 0)
		goto cleanup;
cleanup:
	json_decref(index);
	bale_buf_free(&old);
	free(text);
	free(path);
	return rc;
}

static bool drop_damaged(void *payload, json_t *entry)
{
	return dropped_name(payload, entry) != NULL;
}

/* index.json without the damaged names. The caller holds the store lock; *kept gets what
 * the remaining names need. */
static int drop_names(oci_check *c, check_digests *kept, bale_error **err)
{
	check_source src = oci_source(c);
	size_t dropped = 0;
	int rc = check_oci_drop_entries(c->dir, drop_damaged, c, &src, kept, &dropped, err);
	check_summary(c->run)->names_dropped += dropped;
	for (size_t i = 0; rc == 0 && i < c->names.n; i++)
		c->names.items[i].dropped = c->names.items[i].damaged;
	return rc;
}

static const char BLOB_REMOVED[] = "damaged blob removed";

/* Removes a damaged blob no remaining name needs, once it is seen to be still damaged:
 * an import may have put a whole copy in its place meanwhile. */
static const char *remove_blob(oci_check *c, const bale_digest *d, const check_digests *kept)
{
	check_blob now = {0};
	bale_descriptor desc = {.digest = *d, .size = -1};
	struct stat st;
	bale_error *e = NULL;
	if (check_digests_has(kept, d))
		return "blob kept: a remaining name needs it";
	if (fstatat(c->blobs_fd, bale_digest_hex(d), &st, 0) < 0)
		return "blob already gone";
	desc.size = st.st_size; /* hash it whatever its size */
	int rc = oci_hash(c, &desc, &now, &e);
	bale_error_free(e);
	if (rc == 0 && now.hashed && bale_digest_equal(&now.digest, d))
		return "blob kept: whole again (rewritten meanwhile)";
	if (unlinkat(c->blobs_fd, bale_digest_hex(d), 0) < 0)
		return "blob kept: it cannot be removed";
	check_summary(c->run)->blobs_removed++;
	return BLOB_REMOVED;
}

static int repair(oci_check *c, bale_error **err)
{
	check_digests kept = {0}, removed = {0};
	bool any = false;
	for (size_t i = 0; i < c->names.n; i++)
		any |= c->names.items[i].damaged;
	if (!any)
		return 0;
	int lock_fd = store_oci_lock(c->dir);
	if (lock_fd < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "lock %s", c->dir);
	/* index.json first: a name never points at a blob removed before it went. */
	int rc = drop_names(c, &kept, err);
	for (size_t i = 0; rc == 0 && i < check_count(c->run); i++) {
		check_item *it = check_at(c->run, i);
		bale_digest d;
		const char *blob = NULL;
		if (check_item_finding(it)->problem == BALE_CHECK_PARTIAL)
			continue;
		if (check_item_damaged_blob(it, &d)) {
			if (check_digests_has(&removed, &d)) {
				blob = BLOB_REMOVED;
			} else if ((blob = remove_blob(c, &d, &kept)) == BLOB_REMOVED) {
				rc = check_digests_add(&removed, &d, err);
			}
		}
		check_set_repair(it, true, "name dropped%s%s", blob ? ", " : "", blob ? blob : "");
	}
	close(lock_fd);
	check_digests_free(&kept);
	check_digests_free(&removed);
	return rc;
}

/* ---- the check ---- */

int check_oci(check_run *run, const char *dir, bale_error **err)
{
	oci_check c = {.run = run, .dir = dir, .blobs_fd = -1};
	check_source src = oci_source(&c);
	struct stat st;
	int rc = 0;
	if (stat(dir, &st) < 0) {
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "open %s", dir);
		goto cleanup;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = bale_error_set(err, BALE_ESTORE, "%s is not a directory", dir);
		goto cleanup;
	}
	if (!(c.blobs = bale_fs_join(dir, "blobs/sha256")) || !(c.chunk = malloc(CHECK_CHUNK))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((c.blobs_fd = open(c.blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "%s is not an OCI image layout",
		                          dir);
		goto cleanup;
	}
	if ((rc = bale_hasher_new(&c.hasher, err)) < 0 || (rc = load_names(&c, err)) < 0)
		goto cleanup;
	if ((rc = check_names_walk(run, &src, &c.names, err)) < 0 || check_reading(run))
		goto cleanup;
	if (rc == 0 && !check_opts(run)->n_images) /* --image: those images, nothing else */
		rc = scan_partials(&c, err);
	if (rc == 0 && check_opts(run)->repair)
		rc = repair(&c, err);
cleanup:
	if (rc < 0)
		bale_error_wrap(err, "store oci:%s", dir);
	check_names_free(&c.names);
	bale_hasher_free(c.hasher);
	if (c.blobs_fd >= 0)
		close(c.blobs_fd);
	free(c.blobs);
	free(c.chunk);
	return rc;
}
