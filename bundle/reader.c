/* Reading a bundle: the seekable zstd stream decompressed by bundle/zst_reader.c,
 * the tar members parsed by libarchive, the head (manifest, signature, index.db) read
 * without touching the layers. Everything here is untrusted input. */
#include <archive.h>
#include <archive_entry.h>
#include <openssl/crypto.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bale/bundle.h"
#include "bale/hasher.h"
#include "bale/zst.h"
#include "bundle/bundle_private.h"

#define READ_CHUNK (256u << 10)
#define HEADER_READ 4096u

struct bale_bundle_reader {
	int fd;
	uint64_t file_size;
	bale_zst_reader *zst;
	struct archive *a;
	char *buf;
	bale_error *read_err; /* what the decompressor said, behind libarchive's back */
	char member[4096];
	int64_t member_size; /* of the current member, as its tar header says */
	bool head_read;
	bale_bundle_head head;
	bale_bundle_manifest *manifest;  /* parsed from head.manifest on demand */
	bale_bundle_member index_member; /* bale/index.db, read by bale_bundle_read_index */
	uint64_t handed;                 /* decompressed bytes given to libarchive or skipped */
	bool whole_file;                 /* check every frame at the end */
	/* A part of the members (bale_bundle_open_part): libarchive's offsets start at origin,
	 * and bale_bundle_next stops at stop. */
	uint64_t origin, stop;
};

/* What is left of the frame holding the next byte, up to READ_CHUNK: libarchive reads
 * ahead no further than the end of the member it is on (every member starts a frame), so
 * a bad frame is reported at the member it holds, not at one before it. At the start of a
 * frame only HEADER_READ: enough for the member's tar headers, so that a member that is
 * then skipped (bale import) costs that much decompression, not a whole chunk. */
static size_t frame_room(const bale_bundle_reader *r)
{
	size_t lo = 0, hi = bale_zst_reader_frame_count(r->zst);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bale_zst_reader_frame(r->zst, mid)->decompressed_offset <= r->handed)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return READ_CHUNK;
	const bale_zst_frame *f = bale_zst_reader_frame(r->zst, lo - 1);
	uint64_t end = f->decompressed_offset + f->decompressed_size;
	size_t most = r->handed == f->decompressed_offset ? HEADER_READ : READ_CHUNK;
	if (end <= r->handed || end - r->handed >= most)
		return most;
	return (size_t)(end - r->handed);
}

static la_ssize_t read_cb(struct archive *a, void *payload, const void **out)
{
	bale_bundle_reader *r = payload;
	size_t got = 0;
	if (bale_zst_reader_read(r->zst, r->buf, frame_room(r), &got, &r->read_err) < 0) {
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

/* An error from libarchive, or the decompressor's that caused it; what names the member
 * being read. */
static int reader_error(bale_bundle_reader *r, const char *what, bale_error **err)
{
	if (r->read_err) {
		int code = bale_error_code(r->read_err);
		bale_error_set(err, code, "%s: %s", what, bale_error_message(r->read_err));
		bale_error_clear(&r->read_err);
		return code;
	}
	return bale_error_set(err, BALE_EVERIFY, "%s: %s", what,
	                      archive_error_string(r->a) ? archive_error_string(r->a)
	                                                 : "not a valid tar stream");
}

int bale_bundle_open(bale_bundle_reader **out, const char *path, bale_error **err)
{
	return bale_bundle_open_part(out, path, 0, UINT64_MAX, err);
}

int bale_bundle_open_part(bale_bundle_reader **out, const char *path, uint64_t from, uint64_t to,
                          bale_error **err)
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
	if (from && !bale_bundle_frame_starts_at(r, from)) {
		rc = bale_error_set(err, BALE_EUSAGE, "%s: no frame starts at offset %llu", path,
		                    (unsigned long long)from);
		goto cleanup;
	}
	if (from && (rc = bale_zst_reader_seek(r->zst, from, err)) < 0)
		goto cleanup;
	r->origin = r->handed = from;
	r->stop = to;
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

int bale_bundle_format(const bale_bundle_reader *r)
{
	return bale_zst_reader_format(r->zst);
}

bool bale_bundle_frame_starts_at(const bale_bundle_reader *r, uint64_t offset)
{
	size_t fi = bale_zst_reader_frame_at(r->zst, offset);
	return fi < bale_zst_reader_frame_count(r->zst) &&
	       bale_zst_reader_frame(r->zst, fi)->decompressed_offset == offset;
}

void bale_bundle_stop_at(bale_bundle_reader *r, uint64_t to)
{
	r->stop = to;
}

uint64_t bale_bundle_position(const bale_bundle_reader *r)
{
	return r->origin + (uint64_t)archive_filter_bytes(r->a, 0);
}

int bale_bundle_check_part(bale_bundle_reader *r, bale_error **err)
{
	size_t from = bale_zst_reader_frame_at(r->zst, r->origin);
	size_t to = bale_zst_reader_frame_at(r->zst, bale_bundle_position(r));
	return bale_zst_reader_check_frames(r->zst, from, to, err);
}

/* Past the tar end-of-archive marker only zero padding may follow: `tar -i` would
 * extract members hidden there that no check has seen. */
static int check_after_end(bale_bundle_reader *r, bale_error **err)
{
	uint64_t end = bale_bundle_position(r);
	uint64_t size = bale_zst_reader_size(r->zst);
	/* The seek table says how much follows: a decompression bomb of zeros is refused
	 * before a byte of it is decompressed. */
	if (size > end && size - end > BUNDLE_MAX_TRAILER)
		return bale_error_set(err, BALE_EVERIFY,
		                      "%llu bytes after the end of the tar archive (offset %llu; "
		                      "at most %u bytes of zero padding may follow it)",
		                      (unsigned long long)(size - end), (unsigned long long)end,
		                      BUNDLE_MAX_TRAILER);
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
	/* read to the end: what was loaded was checked as it was, so this costs nothing more */
	if (rc == 0 && r->whole_file)
		rc = r->origin
		         ? bale_zst_reader_check_frames(r->zst,
		                                        bale_zst_reader_frame_at(r->zst, r->origin),
		                                        bale_zst_reader_frame_count(r->zst), err)
		         : bale_zst_reader_check_file(r->zst, err);
	return rc;
}

int bale_bundle_next(bale_bundle_reader *r, bale_bundle_member *out, bale_error **err)
{
	struct archive_entry *e = NULL;
	if (r->stop != UINT64_MAX && bale_bundle_position(r) >= r->stop)
		return 0; /* the end of the part: the caller compares the position with the stop */
	int ar = archive_read_next_header(r->a, &e);
	if (ar == ARCHIVE_EOF)
		return check_after_end(r, err);
	if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
		char what[sizeof(r->member) + 32];
		snprintf(what, sizeof(what), r->member[0] ? "tar header after %s" : "tar header",
		         r->member);
		return reader_error(r, what, err);
	}
	const char *name = archive_entry_pathname(e);
	snprintf(r->member, sizeof(r->member), "%s", name ? name : "");
	out->path = r->member;
	out->size = archive_entry_size(e);
	r->member_size = out->size;
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
	/* The tar header already tells: refused before a byte is decompressed. */
	if (r->member_size != want->size)
		return bale_error_set(err, BALE_EVERIFY,
		                      "%s: %lld bytes in the archive, expected %lld", path,
		                      (long long)r->member_size, (long long)want->size);
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

/* Reads the current member whole, refusing more than cap bytes. Its tar header gives the
 * size, so the buffer is allocated once, before anything is decompressed. */
static int read_member(bale_bundle_reader *r, const bale_bundle_member *m, size_t cap, char **out,
                       size_t *len, bale_error **err)
{
	int rc = 0;
	char *data = NULL;
	size_t have = 0;
	if (m->type != BALE_MEMBER_FILE)
		return bale_error_set(err, BALE_EVERIFY, "%s is not a regular file", m->path);
	if (m->size < 0 || (uint64_t)m->size > cap)
		return bale_error_set(err, BALE_EVERIFY,
		                      "%s: %lld bytes is over the %zu byte limit", m->path,
		                      (long long)m->size, cap);
	size_t size = (size_t)m->size;
	if (!(data = malloc(size + 1)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory for %s (%zu bytes)",
		                      m->path, size);
	for (;;) {
		size_t got = 0, room = size - have;
		/* one byte more than the header says fits: libarchive never hands it out */
		if ((rc = bale_bundle_read(r, data + have, room ? room : 1, &got, err)) < 0)
			goto cleanup;
		if (got == 0)
			break;
		if (got > room) {
			rc = bale_error_set(err, BALE_EVERIFY, "%s holds more than its %zu bytes",
			                    m->path, size);
			goto cleanup;
		}
		have += got;
	}
	if (have != size) {
		rc = bale_error_set(err, BALE_EVERIFY, "%s ends after %zu of its %zu bytes",
		                    m->path, have, size);
		goto cleanup;
	}
	data[size] = '\0';
	*out = data;
	*len = size;
	data = NULL;
cleanup:
	if (data) {
		OPENSSL_cleanse(data, have);
		free(data);
	}
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

int bale_bundle_read_manifest(bale_bundle_reader *r, const bale_bundle_manifest **out,
                              bale_error **err)
{
	const bale_bundle_head *head = NULL;
	int rc = 0;
	if (!r->manifest && ((rc = bale_bundle_read_head(r, &head, err)) < 0 ||
	                     (rc = bale_bundle_manifest_parse(&r->manifest, head->manifest,
	                                                      head->manifest_len, err)) < 0))
		return rc;
	/* The signed version says how the file is framed: no other framing is taken. */
	int framed = bale_zst_reader_format(r->zst);
	int version = r->manifest->format_version;
	/* a delta (3) and a volume (4) are framed as format 2 */
	if ((version >= BALE_BUNDLE_FORMAT_PLAIN ? BALE_BUNDLE_FORMAT_PLAIN : version) != framed)
		return bale_error_set(err, BALE_EVERIFY,
		                      "%s: format version %d, but the file is framed as format %d",
		                      BALE_BUNDLE_MANIFEST, r->manifest->format_version, framed);
	*out = r->manifest;
	return 0;
}

int bale_bundle_read_index_sized(bale_bundle_reader *r, int64_t size, const bale_bundle_head **out,
                                 bale_error **err)
{
	int rc = 0;
	assert(r->head_read);
	if (r->head.index_db) {
		*out = &r->head;
		return 0;
	}
	/* Before a byte is decompressed: a member bigger than the signed size is refused
	 * here, not read into memory up to the cap. */
	if (r->index_member.size != size)
		return bale_error_set(err, BALE_EVERIFY,
		                      "%s: %lld bytes in the archive, %s lists %lld",
		                      BALE_BUNDLE_INDEX_DB, (long long)r->index_member.size,
		                      BALE_BUNDLE_MANIFEST, (long long)size);
	if ((rc = read_member(r, &r->index_member, BUNDLE_CAP_INDEX_DB, &r->head.index_db,
	                      &r->head.index_db_len, err)) < 0)
		return rc;
	*out = &r->head;
	return 0;
}

int bundle_index_entry(bale_bundle_reader *r, const bale_bundle_head *head, bale_bundle_file *out,
                       bale_error **err)
{
	const bale_bundle_manifest *m = NULL;
	if (bundle_manifest_index_entry(head->manifest, head->manifest_len, out) == 1)
		return 0;
	int rc = bale_bundle_read_manifest(r, &m, err);
	if (rc < 0)
		return rc;
	const bale_bundle_file *entry = bale_bundle_manifest_file(m, BALE_BUNDLE_INDEX_DB);
	if (!entry)
		return bale_error_set(err, BALE_EVERIFY, "%s: no size for %s", BALE_BUNDLE_MANIFEST,
		                      BALE_BUNDLE_INDEX_DB);
	*out = *entry;
	return 0;
}

int bale_bundle_read_index(bale_bundle_reader *r, const bale_bundle_head **out, bale_error **err)
{
	bale_bundle_file entry;
	assert(r->head_read);
	if (r->head.index_db) {
		*out = &r->head;
		return 0;
	}
	int rc = bundle_index_entry(r, &r->head, &entry, err);
	return rc < 0 ? rc : bale_bundle_read_index_sized(r, entry.size, out, err);
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
	bale_bundle_manifest_free(r->manifest);
	free(r->head.manifest);
	free(r->head.signature);
	free(r->head.index_db);
	free(r->buf);
	free(r);
}
