/* The OCI image layout store (oci:DIR): content-addressed blobs plus index.json. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bale/buf.h"
#include "bale/fs.h"
#include "bale/hasher.h"
#include "bale/json.h"
#include "bale/ref.h"
#include "bale/slots.h"
#include "bale/store.h"
#include "bale/sys/sink.h"
#include "store/oci_layout.h"

#define ANNOTATION_REF_NAME STORE_OCI_REF_NAME
#define ANNOTATION_CONTAINERD_NAME STORE_OCI_CONTAINERD_NAME
#define INDEX_CAP STORE_OCI_INDEX_CAP

/* A name to set at commit: its root without a bale_descriptor's 128-byte media type
 * buffer (a store may be given a name for each of thousands of images). */
typedef struct pending_name {
	char *ref;
	bale_digest digest;
	int64_t size;
	const char *media_type; /* one of the store's types */
} pending_name;

typedef struct oci_store {
	bale_sink base;
	char *dir;
	char *blobs; /* DIR/blobs/sha256 */
	int blobs_fd;
	pending_name *names;
	size_t n_names, names_alloc;
	char **types; /* the media types of the names' roots, each kept once (media_type) */
	size_t n_types, types_alloc;
	bool blobs_dirty; /* blobs renamed in since the last directory fsync */
	/* Staged stores (node stores) keep new blobs aside until commit: a failed import
	 * or pull leaves the store as it was. The staging directory is flocked while in
	 * use, so a later open can tell a dead run's leftovers from a live one's. */
	bool staged;
	/* A content cache: blobs are not fsynced. Every read of a cache re-verifies the
	 * digest, so a blob a crash tore is found, dropped and fetched again. */
	bool cache;
	/* A scratch store (bale_store_scratch_open) owns its directory and removes it. */
	bool scratch;
	char *staging;
	int staging_fd;
	bale_digest *staged_blobs;
	size_t n_staged, staged_alloc;
} oci_store;

struct bale_sink_blob {
	oci_store *store;
	bale_descriptor desc;
	int fd;
	char *tmp_path; /* NULL when the file has no name yet (O_TMPFILE) */
};

static int blob_path(char *out, size_t size, const oci_store *s, const bale_digest *d)
{
	return snprintf(out, size, "%s/%s", s->blobs, bale_digest_hex(d)) < (int)size ? 0 : -1;
}

static int oci_has_blob(bale_sink *sink, const bale_descriptor *desc, bool *out, bale_error **err)
{
	oci_store *s = (oci_store *)sink;
	char path[4096];
	struct stat st;
	blob_path(path, sizeof(path), s, &desc->digest);
	/* Blobs are named only after verification, so the right name and size is the blob. */
	*out = stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == desc->size;
	for (size_t i = 0; !*out && i < s->n_staged; i++)
		*out = bale_digest_equal(&s->staged_blobs[i], &desc->digest);
	return 0;
}

/* A blob's file re-read and hashed: the name alone is what a writer made, not what the
 * disk holds now. */
static int oci_blob_check(bale_sink *sink, const bale_descriptor *desc, bool *whole,
                          bale_error **err)
{
	oci_store *s = (oci_store *)sink;
	char path[4096];
	bale_digest got;
	int64_t size = 0;
	blob_path(path, sizeof(path), s, &desc->digest);
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	*whole = false;
	if (fd < 0)
		return errno == ENOENT
		           ? 0
		           : bale_error_set_errno(err, BALE_ESTORE, errno, "open %s", path);
	if ((rc = bale_hasher_read_fd(fd, &got, &size, BALE_ESTORE, path, err)) == 0)
		*whole = size == desc->size && bale_digest_equal(&got, &desc->digest);
	close(fd);
	return rc;
}

static int oci_blob_open(bale_sink *sink, const bale_descriptor *desc, bale_sink_blob **out,
                         bale_error **err)
{
	oci_store *s = (oci_store *)sink;
	bale_sink_blob *b = calloc(1, sizeof(*b));
	if (!b)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	b->store = s;
	b->desc = *desc;
	/* An unnamed file leaves nothing behind if we are killed; it gets its name at commit,
	 * by its descriptor (root) or through /proc (a chroot may have no /proc). */
	b->fd = geteuid() == 0 || access("/proc/self/fd", X_OK) == 0
	            ? openat(s->blobs_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644)
	            : -1;
	if (b->fd < 0) { /* file systems without O_TMPFILE */
		size_t n = strlen(s->blobs) + 100;
		/* Made and flocked under the store lock, as staging directories are, so bale
		 * check can tell a dead writer's file from a live one's. */
		int lock_fd = store_oci_lock(s->dir);
		if (lock_fd >= 0 && (b->tmp_path = malloc(n))) {
			snprintf(b->tmp_path, n, "%s/.%s" STORE_OCI_PARTIAL_MARK "XXXXXX", s->blobs,
			         bale_digest_hex(&desc->digest));
			b->fd = mkostemp(b->tmp_path, O_CLOEXEC);
			if (b->fd >= 0 && flock(b->fd, LOCK_EX) < 0) {
				unlink(b->tmp_path);
				close(b->fd);
				b->fd = -1;
			}
		}
		if (lock_fd >= 0)
			close(lock_fd);
	}
	if (b->fd < 0) {
		int rc =
		    bale_error_set_errno(err, BALE_ESTORE, errno, "create blob in %s", s->blobs);
		free(b->tmp_path);
		free(b);
		return rc;
	}
	*out = b;
	return 0;
}

static int oci_blob_write(bale_sink_blob *b, const void *data, size_t len, bale_error **err)
{
	if (bale_fs_write_all(b->fd, data, len) < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "write blob %s",
		                            b->desc.digest.str);
	return 0;
}

static int oci_blob_rewind(bale_sink_blob *b, bale_error **err)
{
	if (ftruncate(b->fd, 0) < 0 || lseek(b->fd, 0, SEEK_SET) < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "rewind blob %s",
		                            b->desc.digest.str);
	return 0;
}

static void blob_close(bale_sink_blob *b)
{
	if (b->fd >= 0)
		close(b->fd);
	if (b->tmp_path) {
		unlink(b->tmp_path);
		free(b->tmp_path);
	}
	free(b);
}

static void oci_blob_abort(bale_sink_blob *b)
{
	blob_close(b);
}

int store_oci_lock(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		fd = -1;
	}
	return fd;
}

/* The staging directory of this run, made on first use. It is made and locked under
 * the store lock: otherwise a concurrent open could find it unlocked in between and
 * remove it as a dead run's leftover. */
static int staging_dir(oci_store *s, bale_error **err)
{
	int rc = 0, lock_fd;
	if (s->staging)
		return 0;
	size_t n = strlen(s->dir) + 32;
	if (!(s->staging = malloc(n)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	snprintf(s->staging, n, "%s/.bale-staging-XXXXXX", s->dir);
	if ((lock_fd = store_oci_lock(s->dir)) < 0) {
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "lock %s", s->dir);
	} else if (!mkdtemp(s->staging)) {
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "create %s", s->staging);
	} else {
		s->staging_fd = open(s->staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (s->staging_fd < 0 || flock(s->staging_fd, LOCK_EX) < 0)
			rc = bale_error_set_errno(err, BALE_ESTORE, errno, "lock %s", s->staging);
	}
	if (lock_fd >= 0)
		close(lock_fd);
	if (rc < 0 && s->staging_fd < 0) {
		free(s->staging);
		s->staging = NULL;
	}
	return rc;
}

static int oci_blob_commit(bale_sink_blob *b, bale_error **err)
{
	int rc = 0;
	char path[4096], proc[64];
	oci_store *s = b->store;
	if (s->staged) {
		if (s->n_staged == s->staged_alloc) {
			size_t want = s->staged_alloc ? s->staged_alloc * 2 : 64;
			bale_digest *grown = realloc(s->staged_blobs, want * sizeof(*grown));
			if (!grown) {
				rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
				goto cleanup;
			}
			s->staged_blobs = grown;
			s->staged_alloc = want;
		}
		if ((rc = staging_dir(s, err)) < 0)
			goto cleanup;
		snprintf(path, sizeof(path), "%s/%s", s->staging, bale_digest_hex(&b->desc.digest));
	} else {
		blob_path(path, sizeof(path), s, &b->desc.digest);
	}
	if (!s->cache && fsync(b->fd) < 0) {
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "fsync blob %s",
		                          b->desc.digest.str);
		goto cleanup;
	}
	if (b->tmp_path) {
		if (rename(b->tmp_path, path) < 0)
			rc = bale_error_set_errno(err, BALE_ESTORE, errno, "rename to %s", path);
		else {
			free(b->tmp_path);
			b->tmp_path = NULL;
		}
	} else {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", b->fd);
		/* EEXIST: another writer committed the same verified content first. By the
		 * descriptor needs CAP_DAC_READ_SEARCH; through /proc needs a /proc. */
		if (linkat(b->fd, "", AT_FDCWD, path, AT_EMPTY_PATH) < 0 && errno != EEXIST &&
		    linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0 &&
		    errno != EEXIST)
			rc = bale_error_set_errno(err, BALE_ESTORE, errno, "link %s", path);
	}
	if (rc == 0 && s->staged)
		s->staged_blobs[s->n_staged++] = b->desc.digest;
	s->blobs_dirty = true;
cleanup:
	blob_close(b);
	return rc;
}

/* The store's copy of a media type. Roots have a handful: the last few kept are compared,
 * so that the look-up stays a few steps however many names are set. */
static const char *media_type(oci_store *s, const char *mt)
{
	for (size_t i = s->n_types, seen = 0; i-- > 0 && seen < 8; seen++)
		if (strcmp(s->types[i], mt) == 0)
			return s->types[i];
	if (s->n_types == s->types_alloc) {
		size_t want = s->types_alloc ? s->types_alloc * 2 : 8;
		char **grown = realloc(s->types, want * sizeof(*grown));
		if (!grown)
			return NULL;
		s->types = grown;
		s->types_alloc = want;
	}
	if (!(s->types[s->n_types] = strdup(mt)))
		return NULL;
	return s->types[s->n_types++];
}

static int oci_set_name(bale_sink *sink, const char *ref, const bale_descriptor *root,
                        bale_error **err)
{
	oci_store *s = (oci_store *)sink;
	/* index.json gets the name as it is: only a normalized reference is one. */
	if (bale_ref_check_name(ref, err) < 0)
		return bale_error_wrap(err, "store oci:%s", s->dir);
	if (s->n_names == s->names_alloc) {
		size_t want = s->names_alloc ? s->names_alloc * 2 : 64;
		pending_name *grown = realloc(s->names, want * sizeof(*grown));
		if (!grown)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		s->names = grown;
		s->names_alloc = want;
	}
	pending_name *n = &s->names[s->n_names];
	*n = (pending_name){.digest = root->digest, .size = root->size};
	if (!(n->media_type = media_type(s, root->media_type)) || !(n->ref = strdup(ref)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	s->n_names++;
	return 0;
}

static json_t *descriptor_json(const pending_name *p)
{
	json_t *d = json_object();
	json_object_set_new(d, "mediaType", json_string(p->media_type));
	json_object_set_new(d, "digest", json_string(p->digest.str));
	json_object_set_new(d, "size", json_integer(p->size));
	json_t *ann = json_object();
	json_object_set_new(ann, ANNOTATION_CONTAINERD_NAME, json_string(p->ref));
	json_object_set_new(ann, ANNOTATION_REF_NAME, json_string(p->ref));
	json_object_set_new(d, "annotations", ann);
	return d;
}

const char *store_oci_entry_name(json_t *entry)
{
	json_t *ann = json_object_get(entry, "annotations");
	const char *name = bale_json_str(ann, STORE_OCI_REF_NAME);
	if (!name)
		name = bale_json_str(ann, STORE_OCI_CONTAINERD_NAME);
	return name ? name : bale_json_str(entry, "digest");
}

int store_oci_load_index(json_t **out, bale_buf *text, const char *path, bale_error **err)
{
	bale_buf_init(text, INDEX_CAP, "index.json");
	int rc = bale_buf_read_file(text, path, err);
	if (rc == BALE_ENOTFOUND) {
		bale_error_clear(err);
		*out = json_pack("{s:i,s:[]}", "schemaVersion", 2, "manifests");
		rc = 0;
	} else if (rc == 0) {
		rc = bale_json_parse(out, text->data, text->len, INDEX_CAP, path, err);
		if (rc == 0 && !json_is_array(json_object_get(*out, "manifests"))) {
			json_decref(*out);
			rc = bale_error_set(err, BALE_ESTORE, "%s: no manifests array", path);
		}
	}
	return rc < 0 ? (rc == BALE_EVERIFY ? BALE_ESTORE : rc) : 0;
}

int store_oci_read_layout_index(json_t **out, const char *dir, bale_error **err)
{
	char *path = bale_fs_join(dir, "index.json");
	bale_buf text;
	int rc;
	if (!path)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (access(path, F_OK) < 0) { /* a store bale wrote has one from its first import */
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "%s is not an OCI image layout",
		                          dir);
	} else {
		rc = store_oci_load_index(out, &text, path, err);
		bale_buf_free(&text);
	}
	free(path);
	return rc;
}

static const char *pending_ref(const void *items, size_t pos)
{
	return ((const pending_name *)items)[pos].ref;
}

/* The names set, by ref: the last set for each. */
static int names_by_ref(bale_slots **out, const oci_store *s, bale_error **err)
{
	int rc = bale_slots_new(out, pending_ref, err);
	for (size_t i = 0; rc == 0 && i < s->n_names; i++) /* a later name for the same ref wins */
		rc = bale_slots_put(*out, s->names, i, err);
	return rc;
}
/* index.json as it is printed: a small buffer at a time, compared with the file there and
 * written to a temporary file from the first byte that differs. When nothing differs,
 * nothing is written: re-importing what is there leaves the store as it was. */
typedef struct index_out {
	bale_buf chunk;
	const bale_buf *old; /* the text there */
	const char *path;
	size_t at; /* bytes printed before chunk */
	int fd;    /* the temporary file, -1 while the text is the same as old's */
	char *tmp;
} index_out;

#define INDEX_CHUNK (64u << 10)

/* The text differs from the file there: the temporary file, with what was the same. */
static int out_diverge(index_out *o, bale_error **err)
{
	int rc = bale_fs_temp_create(o->path, 0644, BALE_ESTORE, &o->fd, &o->tmp, err);
	if (rc == 0 && o->at && bale_fs_write_all(o->fd, o->old->data, o->at) < 0)
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "write %s", o->tmp);
	return rc;
}

static int out_flush(index_out *o, bale_error **err)
{
	const char *data = o->chunk.data;
	size_t len = o->chunk.len;
	if (o->fd < 0 && o->at + len <= o->old->len &&
	    (len == 0 || memcmp(o->old->data + o->at, data, len) == 0)) {
		o->at += len;
		bale_buf_reset(&o->chunk);
		return 0;
	}
	int rc = 0;
	if (o->fd < 0 && (rc = out_diverge(o, err)) < 0)
		return rc;
	if (len && bale_fs_write_all(o->fd, data, len) < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "write %s", o->tmp);
	o->at += len;
	bale_buf_reset(&o->chunk);
	return 0;
}

static int out_append(index_out *o, const char *data, size_t len, bale_error **err)
{
	int rc = bale_buf_append(&o->chunk, data, len, err);
	return rc < 0 || o->chunk.len < INDEX_CHUNK ? rc : out_flush(o, err);
}

/* The end of the text: it replaces the file there as bale_fs_write_atomic would, when it
 * differs. */
static int out_finish(index_out *o, const char *dir, bale_error **err)
{
	int rc = out_flush(o, err);
	if (rc == 0 && o->fd < 0 && o->at != o->old->len) /* the start of the text there */
		rc = out_diverge(o, err);
	if (rc < 0 || o->fd < 0)
		return rc;
	if (fsync(o->fd) < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "write %s", o->tmp);
	/* renamed while still open and locked: a sweep never sees it unlocked */
	if (rename(o->tmp, o->path) < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "rename to %s", o->path);
	free(o->tmp);
	o->tmp = NULL;
	int fd = o->fd;
	o->fd = -1;
	if (close(fd) < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "close %s", o->path);
	return bale_fs_fsync_dir(dir, err);
}

static void out_free(index_out *o)
{
	if (o->fd >= 0)
		close(o->fd);
	if (o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	bale_buf_free(&o->chunk);
}

/* Appends value as json_dumps prints it inside a JSON_COMPACT document. */
static int append_json(index_out *out, const json_t *value, bale_error **err)
{
	char *text = value ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	if (!text)
		return bale_error_set(err, BALE_EGENERIC, "out of memory serializing JSON");
	int rc = out_append(out, text, strlen(text), err);
	free(text);
	return rc;
}

/* The manifests array merged: the descriptors there that carry none of the names set, in
 * their order, then a new one for each name (the last set for it), in the order set. */
static int print_manifests(index_out *out, const json_t *old, const oci_store *s,
                           const bale_slots *by_ref, bale_error **err)
{
	int rc = out_append(out, "[", 1, err);
	bool first = true;
	for (size_t j = 0; rc == 0 && j < json_array_size(old); j++) {
		const json_t *d = json_array_get(old, j);
		const char *name =
		    bale_json_str(json_object_get(d, "annotations"), ANNOTATION_REF_NAME);
		if (name && bale_slots_find(by_ref, s->names, name) != SIZE_MAX)
			continue; /* replaced */
		if ((first || (rc = out_append(out, ",", 1, err)) == 0))
			rc = append_json(out, d, err);
		first = false;
	}
	for (size_t i = 0; rc == 0 && i < s->n_names; i++) {
		if (bale_slots_find(by_ref, s->names, s->names[i].ref) != i)
			continue; /* set again later */
		json_t *d = descriptor_json(&s->names[i]);
		if ((first || (rc = out_append(out, ",", 1, err)) == 0))
			rc = append_json(out, d, err);
		json_decref(d);
		first = false;
	}
	return rc < 0 ? rc : out_append(out, "]", 1, err);
}

/* index.json with the names set, printed entry by entry as json_dumps prints the whole
 * merged document (JSON_COMPACT, keys in the order they came): the merged tree is never
 * built, its descriptors would take several times the size of their text. */
static int print_index(index_out *out, const json_t *index, const oci_store *s, bale_error **err)
{
	bale_slots *by_ref = NULL;
	int rc = out_append(out, "{", 1, err);
	if (rc == 0)
		rc = names_by_ref(&by_ref, s, err);
	for (void *it = json_object_iter((json_t *)index); rc == 0 && it;
	     it = json_object_iter_next((json_t *)index, it)) {
		const char *key = json_object_iter_key(it);
		const json_t *value = json_object_iter_value(it);
		json_t *name = json_stringn(key, json_object_iter_key_len(it));
		if (it != json_object_iter((json_t *)index))
			rc = out_append(out, ",", 1, err);
		if (rc == 0)
			rc = append_json(out, name, err);
		if (rc == 0)
			rc = out_append(out, ":", 1, err);
		if (rc == 0)
			rc = strcmp(key, "manifests") == 0
			         ? print_manifests(out, value, s, by_ref, err)
			         : append_json(out, value, err);
		json_decref(name);
	}
	bale_slots_free(by_ref);
	return rc < 0 ? rc : out_append(out, "}", 1, err);
}

void store_oci_remove_staging(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	rmdir(dir);
}

/* Staged blobs into blobs/sha256: they are verified, and a name already there holds
 * the same content, so rename over it is fine. */
static int publish_staged(oci_store *s, bale_error **err)
{
	char from[4096], to[4096];
	for (size_t i = 0; i < s->n_staged; i++) {
		snprintf(from, sizeof(from), "%s/%s", s->staging,
		         bale_digest_hex(&s->staged_blobs[i]));
		blob_path(to, sizeof(to), s, &s->staged_blobs[i]);
		if (rename(from, to) < 0)
			return bale_error_set_errno(err, BALE_ESTORE, errno, "rename to %s", to);
	}
	s->n_staged = 0;
	return 0;
}

static int oci_commit(bale_sink *sink, bale_error **err)
{
	oci_store *s = (oci_store *)sink;
	int rc = 0, lock_fd = -1;
	json_t *index = NULL;
	char *path = NULL;
	bale_buf old;
	bale_buf_init(&old, INDEX_CAP, "index.json");
	index_out text = {.old = &old, .fd = -1};
	bale_buf_init(&text.chunk, SIZE_MAX, "index.json");
	if (s->n_staged && (rc = publish_staged(s, err)) < 0)
		goto cleanup;
	/* Blob names must be durable before index.json points at them. */
	if (s->blobs_dirty && !s->cache && (rc = bale_fs_fsync_dir(s->blobs, err)) < 0)
		goto cleanup;
	s->blobs_dirty = false;
	if (!s->n_names)
		goto cleanup;
	if (!(path = bale_fs_join(s->dir, "index.json"))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((lock_fd = store_oci_lock(s->dir)) < 0) {
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "lock %s", s->dir);
		goto cleanup;
	}
	if ((rc = store_oci_load_index(&index, &old, path, err)) < 0)
		goto cleanup;
	text.path = path;
	if ((rc = print_index(&text, index, s, err)) < 0 ||
	    (rc = out_finish(&text, s->dir, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < s->n_names; i++)
		free(s->names[i].ref);
	s->n_names = 0;
cleanup:
	if (lock_fd >= 0)
		close(lock_fd); /* releases the lock */
	json_decref(index);
	out_free(&text);
	bale_buf_free(&old);
	free(path);
	if (rc < 0)
		bale_error_wrap(err, "store oci:%s", s->dir);
	return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void oci_free(bale_sink *sink)
{
	oci_store *s = (oci_store *)sink;
	if (s->staging) { /* never committed: what was staged goes */
		store_oci_remove_staging(s->staging);
		close(s->staging_fd);
		free(s->staging);
	}
	free(s->staged_blobs);
	for (size_t i = 0; i < s->n_names; i++)
		free(s->names[i].ref);
	free(s->names);
	for (size_t i = 0; i < s->n_types; i++)
		free(s->types[i]);
	free(s->types);
	if (s->blobs_fd >= 0)
		close(s->blobs_fd);
	if (s->scratch) /* nothing in it is worth keeping */
		nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(s->blobs);
	free(s->dir);
	free(s);
}

/* A blob read back is checked again: a store on disk can rot. */
static int oci_blob_read(bale_sink *sink, const bale_descriptor *desc, bale_buf *out,
                         bale_error **err)
{
	oci_store *s = (oci_store *)sink;
	char path[4096];
	bale_digest got;
	blob_path(path, sizeof(path), s, &desc->digest);
	if (access(path, F_OK) < 0)
		return BALE_ENOTFOUND;
	bale_buf_reset(out);
	int rc = bale_buf_read_file(out, path, err);
	if (rc < 0)
		return rc;
	bale_digest_of(&got, out->data, out->len);
	if ((int64_t)out->len != desc->size || !bale_digest_equal(&got, &desc->digest))
		return bale_error_set(
		    err, BALE_EVERIFY,
		    "%s: content does not match its name (hashes to %s): the store "
		    "is damaged, remove the file",
		    path, got.str);
	return 0;
}

/* Free space where blobs land (staging lives in the same directory tree). */
static int oci_space(bale_sink *sink, uint64_t *avail, const char **where, bale_error **err)
{
	oci_store *s = (oci_store *)sink;
	struct statvfs st;
	if (fstatvfs(s->blobs_fd, &st) < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "free space of %s", s->dir);
	*avail = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
	*where = s->dir;
	return 0;
}

static const bale_sink_ops oci_ops = {
    .has_blob = oci_has_blob,
    .blob_check = oci_blob_check,
    .blob_open = oci_blob_open,
    .blob_write = oci_blob_write,
    .blob_rewind = oci_blob_rewind,
    .blob_commit = oci_blob_commit,
    .blob_abort = oci_blob_abort,
    .set_name = oci_set_name,
    .commit = oci_commit,
    .free = oci_free,
    .blob_read = oci_blob_read,
    .space = oci_space,
};

/* Staging directories of runs that died (kill -9): nobody holds their lock. The scan
 * runs under the store lock, so a staging directory being made is never seen unlocked. */
static void remove_stale_staging(const char *dir)
{
	int lock_fd = store_oci_lock(dir);
	DIR *d = lock_fd >= 0 ? opendir(dir) : NULL;
	if (!d) {
		if (lock_fd >= 0)
			close(lock_fd);
		return;
	}
	struct dirent *e;
	char path[4096];
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, ".bale-staging-", 14) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
			store_oci_remove_staging(path);
		if (fd >= 0)
			close(fd);
	}
	closedir(d);
	close(lock_fd);
}

int bale_store_oci_open(bale_sink **out, const char *dir, unsigned flags, bale_error **err)
{
	int rc = 0, lock_fd = -1;
	char *layout = NULL;
	oci_store *s = calloc(1, sizeof(*s));
	if (!s)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	s->base.ops = &oci_ops;
	s->blobs_fd = -1;
	s->staging_fd = -1;
	s->staged = flags & BALE_STORE_STAGED;
	s->cache = flags & BALE_STORE_CACHE;
	s->dir = strdup(dir);
	s->blobs = bale_fs_join(dir, "blobs/sha256");
	layout = bale_fs_join(dir, "oci-layout");
	if (!s->dir || !s->blobs || !layout) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = bale_fs_mkdir_p(s->blobs, 0755, err)) < 0)
		goto cleanup;
	if ((s->blobs_fd = open(s->blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "open %s", s->blobs);
		goto cleanup;
	}
	/* Under the store lock: a temporary file of these writes that a dead run leaves is then
	 * told from a live one's by whoever holds the lock (bale check). */
	if ((lock_fd = store_oci_lock(dir)) < 0) {
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "lock %s", dir);
		goto cleanup;
	}
	if (access(layout, F_OK) < 0) {
		static const char version[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
		if ((rc = bale_fs_write_atomic(layout, version, sizeof(version) - 1, 0644, err)) <
		    0)
			goto cleanup;
	}
	{ /* a layout always has an index.json, even before its first image */
		char *index = bale_fs_join(dir, "index.json");
		static const char empty[] = "{\"schemaVersion\":2,\"manifests\":[]}";
		if (!index)
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		else if (access(index, F_OK) < 0)
			rc = bale_fs_write_atomic(index, empty, sizeof(empty) - 1, 0644, err);
		free(index);
	}
	close(lock_fd);
	lock_fd = -1;
	if (rc == 0 && s->staged)
		remove_stale_staging(dir);
cleanup:
	if (lock_fd >= 0)
		close(lock_fd);
	free(layout);
	if (rc < 0) {
		bale_error_wrap(err, "store oci:%s", dir);
		oci_free(&s->base);
	} else {
		*out = &s->base;
	}
	return rc;
}

int bale_store_scratch_open(bale_sink **out, bale_error **err)
{
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	char *dir = bale_fs_join(tmp, "bale-scratch-XXXXXX");
	if (!dir)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	int rc = 0;
	if (!mkdtemp(dir)) {
		rc = bale_error_set_errno(err, BALE_EGENERIC, errno,
		                          "a temporary directory for manifests in %s", tmp);
	} else if ((rc = bale_store_oci_open(out, dir, BALE_STORE_CACHE, err)) < 0) {
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	} else {
		((oci_store *)*out)->scratch = true;
	}
	free(dir);
	return rc;
}
