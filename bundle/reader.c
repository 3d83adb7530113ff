/* Reading a bundle: the seekable zstd stream decompressed by bundle/zstd_seekable.c,
 * the tar members parsed by libarchive, the head (manifest, signature, index.db) read
 * without touching the layers. Everything here is untrusted input. */
#include <archive.h>
#include <archive_entry.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bale/buf.h"
#include "bale/bundle.h"
#include "bale/zstd_seekable.h"
#include "bundle/bundle_private.h"

#define READ_CHUNK (256u << 10)

struct bale_bundle_reader {
	int fd;
	uint64_t file_size;
	bale_zst_reader *zst;
	struct archive *a;
	char *buf;
	bale_error *read_err; /* what the decompressor said, behind libarchive's back */
	char member[4096];
	bool head_read;
	bale_bundle_head head;
	bale_bundle_member index_member; /* bale/index.db, read by bale_bundle_read_index */
	uint64_t handed;                 /* decompressed bytes given to libarchive or skipped */
	bool whole_file;                 /* check the file digest at the end */
};

bool bundle_path_is_safe(const char *path)
{
	if (!*path || path[0] == '/')
		return false;
	const char *p = path;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!slash)
			break;
		p = slash + 1;
		if (!*p) /* a trailing slash: a directory name, not a file */
			return false;
	}
	return true;
}

static la_ssize_t read_cb(struct archive *a, void *payload, const void **out)
{
	bale_bundle_reader *r = payload;
	size_t got = 0;
	if (bale_zst_reader_read(r->zst, r->buf, READ_CHUNK, &got, &r->read_err) < 0) {
		archive_set_error(a, EIO, "decompression failed");
		return -1;
	}
	*out = r->buf;
	r->handed += got;
	return (la_ssize_t)got;
}

/* Members libarchive skips are not decompressed: every member starts a frame, so the
 * seek table takes us straight to the next one. */
static la_int64_t skip_cb(struct archive *a, void *payload, la_int64_t request)
{
	bale_bundle_reader *r = payload;
	uint64_t size = bale_zst_reader_size(r->zst);
	uint64_t target = r->handed + (uint64_t)request;
	if (target > size)
		target = size;
	if (bale_zst_reader_seek(r->zst, target, &r->read_err) < 0) {
		archive_set_error(a, EIO, "seek failed");
		return ARCHIVE_FATAL;
	}
	la_int64_t skipped = (la_int64_t)(target - r->handed);
	r->handed = target;
	return skipped;
}

void bale_bundle_check_whole_file(bale_bundle_reader *r)
{
	/* The file digest on a second core; without the thread it is taken inline. */
	r->whole_file = true;
	bale_zst_reader_hash_ahead(r->zst, NULL);
}

/* An error from libarchive, or the decompressor's that caused it. */
static int reader_error(bale_bundle_reader *r, const char *what, bale_error **err)
{
	if (r->read_err) {
		int code = bale_error_code(r->read_err);
		bale_error_set(err, code, "%s", bale_error_message(r->read_err));
		bale_error_clear(&r->read_err);
		return code;
	}
	return bale_error_set(err, BALE_EVERIFY, "%s: %s", what,
	                      archive_error_string(r->a) ? archive_error_string(r->a)
	                                                 : "not a valid tar stream");
}

int bale_bundle_open(bale_bundle_reader **out, const char *path, bale_error **err)
{
	int rc = 0;
	struct stat st;
	bale_bundle_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	r->fd = -1;
	if (!(r->buf = malloc(READ_CHUNK))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((r->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(r->fd, &st) < 0) {
		rc = bale_error_set_errno(err, errno == ENOENT ? BALE_ENOTFOUND : BALE_EGENERIC,
		                          errno, "open %s", path);
		goto cleanup;
	}
	r->file_size = (uint64_t)st.st_size;
	if ((rc = bale_zst_reader_open(&r->zst, r->fd, err)) < 0)
		goto cleanup;
	if (!(r->a = archive_read_new())) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	archive_read_support_format_tar(r->a);
	archive_read_set_read_callback(r->a, read_cb);
	archive_read_set_skip_callback(r->a, skip_cb);
	archive_read_set_callback_data(r->a, r);
	if (archive_read_open1(r->a) != ARCHIVE_OK)
		rc = reader_error(r, "tar", err);
cleanup:
	if (rc < 0)
		bale_bundle_close(r);
	else
		*out = r;
	return rc;
}

void bale_bundle_data_digest(const bale_bundle_reader *r, bale_digest *out)
{
	bale_zst_reader_recorded_digest(r->zst, out);
}

uint64_t bale_bundle_file_size(const bale_bundle_reader *r)
{
	return r->file_size;
}

/* Past the tar end-of-archive marker only zero padding may follow: `tar -i` would
 * extract members hidden there that no check has seen. */
static int check_after_end(bale_bundle_reader *r, bale_error **err)
{
	uint64_t end = (uint64_t)archive_filter_bytes(r->a, 0);
	int rc = bale_zst_reader_seek(r->zst, end, err);
	while (rc == 0) {
		size_t got = 0;
		if ((rc = bale_zst_reader_read(r->zst, r->buf, READ_CHUNK, &got, err)) < 0 ||
		    got == 0)
			break;
		for (size_t i = 0; i < got; i++)
			if (r->buf[i] != 0)
				return bale_error_set(
				    err, BALE_EVERIFY,
				    "data after the end of the tar archive (offset %llu)",
				    (unsigned long long)(end + i));
		end += got;
	}
	if (rc == 0 && r->whole_file) /* read from end to end: the digest costs nothing more */
		rc = bale_zst_reader_check_file(r->zst, err);
	return rc;
}

int bale_bundle_next(bale_bundle_reader *r, bale_bundle_member *out, bale_error **err)
{
	struct archive_entry *e = NULL;
	int ar = archive_read_next_header(r->a, &e);
	if (ar == ARCHIVE_EOF)
		return check_after_end(r, err);
	if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN)
		return reader_error(r, "tar header", err);
	const char *name = archive_entry_pathname(e);
	snprintf(r->member, sizeof(r->member), "%s", name ? name : "");
	out->path = r->member;
	out->size = archive_entry_size(e);
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		out->type = archive_entry_hardlink(e) ? BALE_MEMBER_LINK : BALE_MEMBER_FILE;
		break;
	case AE_IFDIR:
		out->type = BALE_MEMBER_DIR;
		break;
	case AE_IFLNK:
		out->type = BALE_MEMBER_LINK;
		break;
	default:
		out->type = archive_entry_hardlink(e) ? BALE_MEMBER_LINK : BALE_MEMBER_OTHER;
	}
	return 1;
}

int bale_bundle_read(bale_bundle_reader *r, void *buf, size_t len, size_t *got, bale_error **err)
{
	la_ssize_t n = archive_read_data(r->a, buf, len);
	if (n < 0)
		return reader_error(r, r->member, err);
	*got = (size_t)n;
	return 0;
}

int bale_bundle_check_member(bale_bundle_reader *r, const char *path, const bale_descriptor *want,
                             bale_member_copy_fn copy, void *payload, bale_error **err)
{
	bale_hasher *h = NULL;
	int64_t done = 0;
	int rc = bale_hasher_new(&h, err);
	/* libarchive's own blocks, not a copy of them: the bytes are hashed (and handed to
	 * copy) where the decompressor put them. */
	while (rc == 0) {
		const void *block = NULL;
		size_t got = 0;
		la_int64_t offset = 0;
		int ar = archive_read_data_block(r->a, &block, &got, &offset);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK) {
			rc = reader_error(r, r->member, err);
			break;
		}
		if (offset != done) { /* a sparse member: holes no digest speaks for */
			rc = bale_error_set(err, BALE_EVERIFY, "%s: sparse tar member", path);
			break;
		}
		if ((int64_t)got > want->size - done) {
			rc = bale_error_set(err, BALE_EVERIFY, "%s: larger than its %lld bytes",
			                    path, (long long)want->size);
			break;
		}
		bale_hasher_update(h, block, got);
		if (copy && got)
			rc = copy(payload, block, got, err);
		done += (int64_t)got;
	}
	if (rc == 0) {
		bale_digest d;
		bale_hasher_final(h, &d);
		if (done != want->size || !bale_digest_equal(&d, &want->digest))
			rc = bale_error_set(
			    err, BALE_EVERIFY,
			    "%s: digest mismatch (expected %s, got %s, %lld of %lld bytes)", path,
			    want->digest.str, d.str, (long long)done, (long long)want->size);
	}
	bale_hasher_free(h);
	return rc;
}

/* Reads the current member whole, refusing more than cap bytes. */
static int read_member(bale_bundle_reader *r, const bale_bundle_member *m, size_t cap, char **out,
                       size_t *len, bale_error **err)
{
	bale_buf b;
	int rc = 0;
	if (m->type != BALE_MEMBER_FILE)
		return bale_error_set(err, BALE_EVERIFY, "%s is not a regular file", m->path);
	if (m->size < 0 || (uint64_t)m->size > cap)
		return bale_error_set(err, BALE_EVERIFY, "%s is larger than %zu bytes", m->path,
		                      cap);
	/* libarchive hands out r->buf itself: the member goes straight into its own buffer. */
	bale_buf_init(&b, cap, m->path);
	if ((rc = bale_buf_append(&b, "", 0, err)) < 0)
		goto cleanup;
	for (;;) {
		if (b.alloc - b.len < 65536 + 1) {
			size_t want = b.alloc * 2 > b.len + 65537 ? b.alloc * 2 : b.len + 65537;
			char *grown = realloc(b.data, want);
			if (!grown) {
				rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
				goto cleanup;
			}
			b.data = grown;
			b.alloc = want;
		}
		size_t got = 0;
		if ((rc = bale_bundle_read(r, b.data + b.len, 65536, &got, err)) < 0)
			goto cleanup;
		if (got == 0)
			break;
		if (got > b.cap - b.len) {
			rc = bale_error_set(err, BALE_EVERIFY, "%s is larger than %zu bytes",
			                    m->path, cap);
			goto cleanup;
		}
		b.len += got;
		b.data[b.len] = '\0';
	}
	*out = bale_buf_detach(&b, len);
cleanup:
	bale_buf_free(&b);
	return rc;
}

static int expect_member(bale_bundle_reader *r, bale_bundle_member *m, const char *want,
                         bale_error **err)
{
	int rc = bale_bundle_next(r, m, err);
	if (rc < 0)
		return rc;
	if (rc == 0 || strcmp(m->path, want) != 0)
		return bale_error_set(err, BALE_EVERIFY, "not a bale bundle (%s where %s must be)",
		                      rc ? m->path : "end of archive", want);
	return 0;
}

int bale_bundle_read_head(bale_bundle_reader *r, const bale_bundle_head **out, bale_error **err)
{
	int rc = 0;
	bale_bundle_member m;
	size_t sig_len = 0;
	if (r->head_read) {
		*out = &r->head;
		return 0;
	}
	if ((rc = expect_member(r, &m, BALE_BUNDLE_MANIFEST, err)) < 0 ||
	    (rc = read_member(r, &m, BUNDLE_CAP_MANIFEST, &r->head.manifest, &r->head.manifest_len,
	                      err)) < 0)
		return rc;
	if ((rc = bale_bundle_next(r, &m, err)) < 0)
		return rc;
	if (rc == 1 &&
	    strcmp(m.path, BALE_BUNDLE_SIGNATURE) == 0) { /* unsigned bundles have none */
		if ((rc = read_member(r, &m, BUNDLE_CAP_SIGNATURE, &r->head.signature, &sig_len,
		                      err)) < 0 ||
		    (rc = bale_bundle_next(r, &m, err)) < 0)
			return rc;
	}
	if (rc == 0 || strcmp(m.path, BALE_BUNDLE_INDEX_DB) != 0)
		return bale_error_set(err, BALE_EVERIFY, "not a bale bundle (%s where %s must be)",
		                      rc ? m.path : "end of archive", BALE_BUNDLE_INDEX_DB);
	r->index_member = m;
	r->head_read = true;
	*out = &r->head;
	return 0;
}

int bale_bundle_read_index(bale_bundle_reader *r, const bale_bundle_head **out, bale_error **err)
{
	int rc = 0;
	assert(r->head_read);
	if (!r->head.index_db &&
	    (rc = read_member(r, &r->index_member, BUNDLE_CAP_INDEX_DB, &r->head.index_db,
	                      &r->head.index_db_len, err)) < 0)
		return rc;
	*out = &r->head;
	return 0;
}

void bale_bundle_close(bale_bundle_reader *r)
{
	if (!r)
		return;
	if (r->a)
		archive_read_free(r->a);
	bale_zst_reader_free(r->zst);
	if (r->fd >= 0)
		close(r->fd);
	bale_error_free(r->read_err);
	free(r->head.manifest);
	free(r->head.signature);
	free(r->head.index_db);
	free(r->buf);
	free(r);
}
