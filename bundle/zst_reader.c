/* The Zstandard seekable format, read on libzstd's public streaming API.
 *
 * Open reads only the footer and the seek table, never the frames, so opening a
 * multi-GiB bundle to read its first members costs just those members. Every frame is
 * held to the table while it is decompressed: it must end (zstd returns 0) exactly at its
 * last compressed byte, produce exactly its decompressed size, and carry a content
 * checksum that libzstd checks.
 *
 * Seeking past the end is BALE_EUSAGE; seeking to exactly the end is allowed and the next
 * read returns 0 bytes. */
#include "bale/zst.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "bale/digest.h"
#include "bale/hasher.h"
#include "bundle/zst_private.h"

#define ZSTD_FRAME_MAGIC 0xFD2FB528u
#define TABLE_READ_ENTRIES 4096
#define HASH_AHEAD_CHUNK ((size_t)1 << 20)
/* Frame header descriptor bits (RFC 8878 3.1.1.1.1). */
#define FHD_CHECKSUM 0x04
#define FHD_RESERVED 0x08
#define FHD_UNUSED 0x10

struct bale_zst_reader {
	int fd;
	ZSTD_DCtx *dctx;
	bale_zst_frame *frames;
	size_t nframes;
	uint64_t size; /* total decompressed */
	uint8_t *inbuf;
	size_t inbuf_cap;
	ZSTD_inBuffer in; /* unconsumed compressed bytes of frame `fi` */
	uint8_t *scratch; /* where skipped bytes are decompressed to */
	size_t scratch_cap;
	size_t fi;           /* current frame; nframes at the end */
	uint64_t pos;        /* decompressed offset of the next byte read() returns */
	uint64_t frame_cin;  /* compressed bytes of frame fi loaded into inbuf so far */
	uint64_t frame_dout; /* decompressed bytes of frame fi returned so far */
	/* After a failure the decompressor state is unknown; reads fail until a seek. */
	int failed;
	int format; /* 2: a frame check per frame; 1: one SHA-256 of the whole file */
	/* Format 2: each frame's compressed bytes are held to its check as they are loaded. */
	uint64_t *checks;
	bool *checked;
	XXH3_state_t *xxh;
	/* The id of the exact file (bale_zst_reader_recorded_digest): format 1's file digest,
	 * format 2's SHA-256 of its frame checks. */
	uint8_t file_digest[DIGEST_SIZE];
	/* Format 1: compressed bytes are hashed as frames are loaded in file order, so a read
	 * from start to end checks the file digest at no extra cost. */
	uint64_t data_end;  /* where the digest frame starts */
	uint64_t hash_next; /* compressed offset the hasher has reached */
	bale_hasher *hasher;
	bool file_checked;
	/* bale_zst_reader_hash_ahead: a thread of its own hashes the whole file while the
	 * caller decompresses, and owns the hasher until check_file joins it. */
	pthread_t hash_thread;
	bool hash_thread_on;
	atomic_bool hash_stop;
	int hash_errno;        /* what stopped the thread early: errno, or EIO for a short file */
	uint64_t hash_reached; /* how far it hashed */
};

/* pread until len bytes or end of file; the count read, or -1 with errno. */
static ssize_t pread_full(int fd, void *buf, size_t len, uint64_t offset)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int read_at(int fd, void *buf, size_t len, uint64_t offset, const char *what,
                   bale_error **err)
{
	ssize_t n = pread_full(fd, buf, len, offset);
	if (n < 0)
		return bale_error_set_errno(err, BALE_EGENERIC, errno, "read %s at offset %" PRIu64,
		                            what, offset);
	if ((size_t)n < len)
		return bale_error_set(err, BALE_EVERIFY,
		                      "file ends at offset %" PRIu64 " inside the %s",
		                      offset + (size_t)n, what);
	return 0;
}

/* BALE_EVERIFY naming the current frame; also stops the reader until the next seek. */
static int frame_error(bale_zst_reader *r, bale_error **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int frame_error(bale_zst_reader *r, bale_error **err, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	r->failed = BALE_EVERIFY;
	return bale_error_set(err, BALE_EVERIFY, "frame %zu at offset %" PRIu64 ": %s", r->fi,
	                      r->frames[r->fi].compressed_offset, why);
}

static void reader_goto_frame(bale_zst_reader *r, size_t fi)
{
	ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
	r->fi = fi;
	r->pos = fi < r->nframes ? r->frames[fi].decompressed_offset : r->size;
	r->frame_cin = 0;
	r->frame_dout = 0;
	r->in.src = r->inbuf;
	r->in.size = 0;
	r->in.pos = 0;
	r->failed = 0;
}

/* Format 2: hashes the next part of frame fi's compressed bytes (first: its start; last:
 * its end), and holds the frame to its check once the last part is in. */
static int check_frame_part(bale_zst_reader *r, XXH3_state_t *st, size_t fi, const uint8_t *part,
                            size_t len, bool first, bool last, bale_error **err)
{
	if (r->checked[fi])
		return 0;
	if (first)
		XXH3_64bits_reset(st);
	XXH3_64bits_update(st, part, len);
	if (!last)
		return 0;
	if (XXH3_64bits_digest(st) != r->checks[fi])
		return bale_error_set(err, BALE_EVERIFY,
		                      "frame %zu at offset %" PRIu64
		                      ": its compressed bytes do not match the frame check (the "
		                      "file is damaged)",
		                      fi, r->frames[fi].compressed_offset);
	r->checked[fi] = true;
	return 0;
}

static int load_frame_bytes(bale_zst_reader *r, bale_error **err)
{
	int rc;
	const bale_zst_frame *f = &r->frames[r->fi];
	uint64_t left = f->compressed_size - r->frame_cin;
	size_t want = left < r->inbuf_cap ? (size_t)left : r->inbuf_cap;
	uint64_t at = f->compressed_offset + r->frame_cin;
	ssize_t n = pread_full(r->fd, r->inbuf, want, at);
	if (n < 0) {
		r->failed = BALE_EGENERIC;
		return bale_error_set_errno(err, BALE_EGENERIC, errno,
		                            "frame %zu: read at offset %" PRIu64, r->fi, at);
	}
	if ((size_t)n < want)
		return frame_error(r, err, "file ends at offset %" PRIu64 " (truncated after open)",
		                   at + (size_t)n);
	if (r->format == 1 && !r->hash_thread_on && at == r->hash_next) {
		bale_hasher_update(r->hasher, r->inbuf, want);
		r->hash_next += want;
	}
	bool first = r->frame_cin == 0;
	r->in.size = want;
	r->in.pos = 0;
	r->frame_cin += want;
	if (r->format == 2 &&
	    (rc = check_frame_part(r, r->xxh, r->fi, r->inbuf, want, first,
	                           r->frame_cin == f->compressed_size, err)) < 0) {
		r->failed = BALE_EVERIFY;
		return rc;
	}
	if (!first)
		return 0;
	/* libzstd checks the rest of the header; these are what it would let pass: a frame
	 * without a content checksum (corruption then goes unnoticed) and the bit that
	 * decoders are told to ignore, which bale's writer never sets. */
	if (want < 5 || get_le32(r->inbuf) != ZSTD_FRAME_MAGIC)
		return frame_error(r, err, "not a zstd frame");
	uint8_t fhd = r->inbuf[4];
	if (!(fhd & FHD_CHECKSUM))
		return frame_error(r, err, "zstd frame has no content checksum");
	if (fhd & (FHD_UNUSED | FHD_RESERVED))
		return frame_error(r, err,
		                   "zstd frame header descriptor 0x%02x has unused bits set", fhd);
	return 0;
}

/* Decompresses up to len bytes from the current position. A frame whose last byte is
 * returned is also finished here (end, checksum, sizes), so reading up to a frame end
 * verifies that frame even if the caller never reads again. */
static int reader_decompress(bale_zst_reader *r, uint8_t *buf, size_t len, size_t *got,
                             bale_error **err)
{
	int rc;
	*got = 0;
	while (r->fi < r->nframes) {
		const bale_zst_frame *f = &r->frames[r->fi];
		bool tail = r->frame_dout == f->decompressed_size;
		if (*got == len && !tail)
			break;
		if (r->in.pos == r->in.size && r->frame_cin < f->compressed_size &&
		    (rc = load_frame_bytes(r, err)) < 0)
			return rc;
		ZSTD_outBuffer ob = {buf + *got, len - *got, 0};
		size_t in_before = r->in.pos;
		size_t ret = ZSTD_decompressStream(r->dctx, &ob, &r->in);
		if (ZSTD_isError(ret))
			return frame_error(r, err, "%s", ZSTD_getErrorName(ret));
		r->frame_dout += ob.pos;
		r->pos += ob.pos;
		*got += ob.pos;
		if (r->frame_dout > f->decompressed_size)
			return frame_error(r, err,
			                   "holds more than the %" PRIu32
			                   " decompressed bytes in the seek table",
			                   f->decompressed_size);
		bool input_done = r->in.pos == r->in.size && r->frame_cin == f->compressed_size;
		if (ret == 0) {
			if (!input_done)
				return frame_error(r, err,
				                   "zstd frame ends before its %" PRIu32
				                   " compressed bytes",
				                   f->compressed_size);
			if (r->frame_dout != f->decompressed_size)
				return frame_error(r, err,
				                   "decompresses to %" PRIu64
				                   " bytes, the seek table says %" PRIu32,
				                   r->frame_dout, f->decompressed_size);
			r->fi++;
			r->frame_cin = 0;
			r->frame_dout = 0;
			r->in.size = 0;
			r->in.pos = 0;
			continue;
		}
		/* Not ended: zstd wants more input (there is none) or room to write bytes the
		 * table does not account for. */
		if (input_done && (ob.pos < ob.size || r->frame_dout == f->decompressed_size))
			return frame_error(r, err,
			                   "zstd frame does not end within its %" PRIu32
			                   " compressed bytes",
			                   f->compressed_size);
		if (ob.size == 0 && r->in.pos == in_before)
			return frame_error(r, err,
			                   "holds more than the %" PRIu32
			                   " decompressed bytes in the seek table",
			                   f->decompressed_size);
	}
	return 0;
}

static int reader_skip(bale_zst_reader *r, uint64_t n, bale_error **err)
{
	while (n) {
		size_t want = n < r->scratch_cap ? (size_t)n : r->scratch_cap;
		size_t got;
		int rc = reader_decompress(r, r->scratch, want, &got, err);
		if (rc < 0)
			return rc;
		/* Cannot happen: open made the table's sizes add up to the stream size. */
		assert(got > 0);
		n -= got;
	}
	return 0;
}

/* Which trailer sits before the seek table at table_offset: 1 for format 1's digest
 * frame (copied to dframe), 2 for the frame check of n frames; BALE_EVERIFY for neither. */
static int trailer_format(int fd, uint64_t table_offset, uint32_t n,
                          uint8_t dframe[DIGEST_FRAME_SIZE], bale_error **err)
{
	uint8_t h[SKIPPABLE_HEADER_SIZE];
	uint64_t checks_size = (uint64_t)n * CHECK_SIZE;
	int rc;
	if (table_offset >= SKIPPABLE_HEADER_SIZE + checks_size) {
		uint64_t at = table_offset - SKIPPABLE_HEADER_SIZE - checks_size;
		if ((rc = read_at(fd, h, sizeof(h), at, "frame check", err)) < 0)
			return rc;
		if (get_le32(h) == CHECK_FRAME_MAGIC && get_le32(h + 4) == checks_size)
			return 2;
	}
	if (table_offset >= DIGEST_FRAME_SIZE) {
		uint64_t at = table_offset - DIGEST_FRAME_SIZE;
		if ((rc = read_at(fd, dframe, DIGEST_FRAME_SIZE, at, "file digest frame", err)) < 0)
			return rc;
		if (get_le32(dframe) == DIGEST_FRAME_MAGIC && get_le32(dframe + 4) == DIGEST_SIZE)
			return 1;
	}
	return bale_error_set(err, BALE_EVERIFY,
	                      "no frame check before the seek table (offset %" PRIu64 ")",
	                      table_offset);
}

/* Format 2: the frame checks (at offset `at`), and the file's id: their SHA-256. */
static int load_checks(bale_zst_reader *r, uint64_t at, bale_error **err)
{
	int rc = 0;
	size_t n = r->nframes;
	uint8_t *raw = malloc(n ? n * CHECK_SIZE : 1);
	r->checks = calloc(n ? n : 1, sizeof(*r->checks));
	r->checked = calloc(n ? n : 1, sizeof(*r->checked));
	if (!raw || !r->checks || !r->checked || !(r->xxh = XXH3_createState())) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = read_at(r->fd, raw, n * CHECK_SIZE, at, "frame check", err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < n; i++)
		r->checks[i] = get_le64(raw + i * CHECK_SIZE);
	bale_hasher *h = NULL;
	if ((rc = bale_hasher_new(&h, err)) < 0)
		goto cleanup;
	bale_hasher_update(h, raw, n * CHECK_SIZE);
	bale_hasher_final_raw(h, r->file_digest);
	bale_hasher_free(h);
cleanup:
	free(raw);
	return rc;
}

int bale_zst_reader_open(bale_zst_reader **out, int fd, bale_error **err)
{
	assert(out && fd >= 0);
	int rc = 0;
	bale_zst_reader *r = NULL;
	uint8_t *entries = NULL;
	uint8_t b[FOOTER_SIZE];
	struct stat st;
	*out = NULL;
	if (fstat(fd, &st) < 0) {
		rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "stat seekable zstd file");
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = bale_error_set(err, BALE_EUSAGE, "seekable zstd needs a regular file");
		goto cleanup;
	}
	uint64_t fsize = (uint64_t)st.st_size;
	if (fsize < SKIPPABLE_HEADER_SIZE + FOOTER_SIZE) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "not in the seekable zstd format: %" PRIu64
		                    " bytes cannot hold a seek table",
		                    fsize);
		goto cleanup;
	}
	if ((rc = read_at(fd, b, FOOTER_SIZE, fsize - FOOTER_SIZE, "seek table footer", err)) < 0)
		goto cleanup;
	if (get_le32(b + 5) != SEEKABLE_MAGIC) {
		rc =
		    bale_error_set(err, BALE_EVERIFY,
		                   "not in the seekable zstd format: no seek table at the end of "
		                   "the file (a plain zstd file, or truncated, or bytes appended)");
		goto cleanup;
	}
	if (b[4] != 0) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "seek table descriptor 0x%02x not supported (bale writes 0x00)",
		                    b[4]);
		goto cleanup;
	}
	uint32_t n = get_le32(b);
	uint64_t payload = (uint64_t)n * ENTRY_SIZE + FOOTER_SIZE;
	uint64_t table_size = SKIPPABLE_HEADER_SIZE + payload;
	if (table_size > fsize) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "seek table of %" PRIu32
		                    " frames is larger than the file (%" PRIu64 " bytes)",
		                    n, fsize);
		goto cleanup;
	}
	uint64_t table_offset = fsize - table_size;
	if ((rc = read_at(fd, b, SKIPPABLE_HEADER_SIZE, table_offset, "seek table header", err)) <
	    0)
		goto cleanup;
	if (get_le32(b) != SEEK_TABLE_MAGIC || get_le32(b + 4) != payload) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "no seek table frame of %" PRIu32 " entries at offset %" PRIu64
		                    " (magic 0x%08" PRIx32 ", size %" PRIu32 ")",
		                    n, table_offset, get_le32(b), get_le32(b + 4));
		goto cleanup;
	}

	uint8_t dframe[DIGEST_FRAME_SIZE];
	uint64_t checks_size = (uint64_t)n * CHECK_SIZE, data_end;
	int format = trailer_format(fd, table_offset, n, dframe, err);
	if (format < 0) {
		rc = format;
		goto cleanup;
	}
	data_end =
	    table_offset - (format == 1 ? DIGEST_FRAME_SIZE : SKIPPABLE_HEADER_SIZE + checks_size);

	r = calloc(1, sizeof(*r));
	if (!r || !(r->frames = calloc(n ? n : 1, sizeof(*r->frames))) ||
	    !(entries = malloc(TABLE_READ_ENTRIES * ENTRY_SIZE)) ||
	    !(r->dctx = ZSTD_createDCtx())) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	r->fd = fd;
	r->nframes = n;
	uint64_t coff = 0, doff = 0;
	for (size_t i = 0; i < n; i += TABLE_READ_ENTRIES) {
		size_t count = n - i < TABLE_READ_ENTRIES ? n - i : TABLE_READ_ENTRIES;
		uint64_t at = table_offset + SKIPPABLE_HEADER_SIZE + (uint64_t)i * ENTRY_SIZE;
		if ((rc = read_at(fd, entries, count * ENTRY_SIZE, at, "seek table", err)) < 0)
			goto cleanup;
		for (size_t k = 0; k < count; k++) {
			bale_zst_frame *f = &r->frames[i + k];
			f->compressed_size = get_le32(entries + k * ENTRY_SIZE);
			f->decompressed_size = get_le32(entries + k * ENTRY_SIZE + 4);
			f->compressed_offset = coff;
			f->decompressed_offset = doff;
			/* bale never writes empty frames; allowing them would only make the
			 * frame for an offset ambiguous */
			if (!f->compressed_size || !f->decompressed_size) {
				rc =
				    bale_error_set(err, BALE_EVERIFY,
				                   "seek table entry %zu: empty frame (%" PRIu32
				                   " bytes compressed, %" PRIu32 " decompressed)",
				                   i + k, f->compressed_size, f->decompressed_size);
				goto cleanup;
			}
			coff += f->compressed_size;
			doff += f->decompressed_size;
			/* Stop at the first entry that cannot fit: a table of lies is not
			 * read to its end. */
			if (coff > data_end) {
				rc = bale_error_set(
				    err, BALE_EVERIFY,
				    "seek table entry %zu: frames add up to %" PRIu64
				    " bytes, past the end of the data at offset %" PRIu64,
				    i + k, coff, data_end);
				goto cleanup;
			}
		}
	}
	if (coff != data_end) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "seek table frames add up to %" PRIu64
		                    " bytes but the data ends at offset %" PRIu64,
		                    coff, data_end);
		goto cleanup;
	}
	r->format = format;
	r->data_end = data_end;
	if (format == 1) {
		memcpy(r->file_digest, dframe + SKIPPABLE_HEADER_SIZE, DIGEST_SIZE);
		if ((rc = bale_hasher_new(&r->hasher, err)) < 0)
			goto cleanup;
	} else if ((rc = load_checks(r, data_end + SKIPPABLE_HEADER_SIZE, err)) < 0) {
		goto cleanup;
	}
	r->size = doff;
	r->inbuf_cap = ZSTD_DStreamInSize();
	r->scratch_cap = ZSTD_DStreamOutSize();
	if (!(r->inbuf = malloc(r->inbuf_cap)) || !(r->scratch = malloc(r->scratch_cap))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	reader_goto_frame(r, 0);
	*out = r;
	r = NULL;
cleanup:
	free(entries);
	bale_zst_reader_free(r);
	return rc;
}

size_t bale_zst_reader_frame_count(const bale_zst_reader *r)
{
	return r->nframes;
}

const bale_zst_frame *bale_zst_reader_frame(const bale_zst_reader *r, size_t i)
{
	assert(i < r->nframes);
	return &r->frames[i];
}

uint64_t bale_zst_reader_size(const bale_zst_reader *r)
{
	return r->size;
}

size_t bale_zst_reader_frame_at(const bale_zst_reader *r, uint64_t pos)
{
	if (pos >= r->size)
		return r->nframes;
	/* the last frame starting at or before pos */
	size_t lo = 0, hi = r->nframes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->frames[mid].decompressed_offset <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

int bale_zst_reader_seek(bale_zst_reader *r, uint64_t pos, bale_error **err)
{
	assert(r);
	if (pos > r->size)
		return bale_error_set(err, BALE_EUSAGE,
		                      "seek to %" PRIu64 " past the end of the stream (%" PRIu64
		                      " bytes)",
		                      pos, r->size);
	size_t fi = bale_zst_reader_frame_at(r, pos);
	/* Forward within the frame being read: keep going rather than start it over. */
	if (r->failed || fi != r->fi || pos < r->pos)
		reader_goto_frame(r, fi);
	return reader_skip(r, pos - r->pos, err);
}

static void *hash_ahead_main(void *arg)
{
	bale_zst_reader *r = arg;
	uint8_t *buf = malloc(HASH_AHEAD_CHUNK);
	uint64_t at = r->hash_next; /* inline hashing stopped there when the thread began */
	if (!buf)
		r->hash_errno = ENOMEM;
	while (buf && at < r->data_end && !atomic_load(&r->hash_stop)) {
		uint64_t left = r->data_end - at;
		size_t want = left < HASH_AHEAD_CHUNK ? (size_t)left : HASH_AHEAD_CHUNK;
		ssize_t n = pread_full(r->fd, buf, want, at);
		if (n < 0 || (size_t)n < want) {
			r->hash_errno = n < 0 ? errno : EIO;
			break;
		}
		bale_hasher_update(r->hasher, buf, want);
		at += want;
	}
	r->hash_reached = at;
	free(buf);
	return NULL;
}

int bale_zst_reader_hash_ahead(bale_zst_reader *r, bale_error **err)
{
	assert(r && !r->hash_thread_on);
	if (r->file_checked || r->format == 2) /* format 2: checked frame by frame as read */
		return 0;
	posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	atomic_store(&r->hash_stop, false);
	r->hash_errno = 0;
	int e = pthread_create(&r->hash_thread, NULL, hash_ahead_main, r);
	if (e != 0)
		return bale_error_set_errno(err, BALE_EGENERIC, e, "start the file hashing thread");
	r->hash_thread_on = true;
	return 0;
}

/* Waits for the hashing thread; the hasher is the caller's again. */
static int join_hash_ahead(bale_zst_reader *r, bale_error **err)
{
	if (!r->hash_thread_on)
		return 0;
	pthread_join(r->hash_thread, NULL);
	r->hash_thread_on = false;
	r->hash_next = r->hash_reached;
	if (r->hash_errno)
		return bale_error_set_errno(err, BALE_EGENERIC, r->hash_errno,
		                            "read compressed data at offset %" PRIu64,
		                            r->hash_reached);
	return 0;
}

int bale_zst_reader_check_frames(bale_zst_reader *r, size_t from, size_t to, bale_error **err)
{
	assert(r && from <= to && to <= r->nframes);
	int rc = 0;
	if (r->format == 1)
		return from == 0 && to == r->nframes ? bale_zst_reader_check_file(r, err) : 0;
	/* Frames read to their end were checked as they were loaded; the rest are read here,
	 * into scratch and with a state of their own: inbuf and r->xxh belong to the frame
	 * being read. */
	XXH3_state_t *st = XXH3_createState();
	if (!st)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t fi = from; fi < to && rc == 0; fi++) {
		const bale_zst_frame *f = &r->frames[fi];
		for (uint64_t done = 0; !r->checked[fi] && rc == 0 && done < f->compressed_size;) {
			uint64_t left = f->compressed_size - done;
			size_t want = left < r->scratch_cap ? (size_t)left : r->scratch_cap;
			rc = read_at(r->fd, r->scratch, want, f->compressed_offset + done,
			             "compressed data", err);
			if (rc == 0)
				rc = check_frame_part(r, st, fi, r->scratch, want, done == 0,
				                      done + want == f->compressed_size, err);
			done += want;
		}
	}
	XXH3_freeState(st);
	return rc;
}

int bale_zst_reader_check_file(bale_zst_reader *r, bale_error **err)
{
	uint8_t got[DIGEST_SIZE];
	int rc = 0;
	if (r->file_checked)
		return 0;
	if (r->format == 2) {
		rc = bale_zst_reader_check_frames(r, 0, r->nframes, err);
		r->file_checked = rc == 0;
		return rc;
	}
	if ((rc = join_hash_ahead(r, err)) < 0)
		return rc;
	/* Whatever sequential reading has not hashed yet is read here. */
	while (rc == 0 && r->hash_next < r->data_end) {
		uint64_t left = r->data_end - r->hash_next;
		size_t want = left < r->scratch_cap ? (size_t)left : r->scratch_cap;
		rc = read_at(r->fd, r->scratch, want, r->hash_next, "compressed data", err);
		if (rc == 0) {
			bale_hasher_update(r->hasher, r->scratch, want);
			r->hash_next += want;
		}
	}
	if (rc < 0)
		return rc;
	bale_hasher_final_raw(r->hasher, got);
	if (memcmp(got, r->file_digest, DIGEST_SIZE) != 0) {
		r->hash_next = 0; /* the hasher was reset: a second call starts over */
		return bale_error_set(
		    err, BALE_EVERIFY,
		    "the compressed data does not match the file's SHA-256 (the file "
		    "is damaged)");
	}
	r->file_checked = true;
	return 0;
}

int bale_zst_reader_read(bale_zst_reader *r, void *buf, size_t len, size_t *got, bale_error **err)
{
	assert(r && got && (buf || !len));
	*got = 0;
	if (r->failed)
		return bale_error_set(err, r->failed,
		                      "frame %zu: seekable zstd reader stopped at an earlier error",
		                      r->fi);
	if (!len)
		return 0;
	return reader_decompress(r, buf, len, got, err);
}

int bale_zst_reader_format(const bale_zst_reader *r)
{
	return r->format;
}

void bale_zst_reader_recorded_digest(const bale_zst_reader *r, bale_digest *out)
{
	bale_digest_from_raw(out, r->file_digest);
}

void bale_zst_reader_free(bale_zst_reader *r)
{
	if (!r)
		return;
	atomic_store(&r->hash_stop, true);
	join_hash_ahead(r, NULL);
	ZSTD_freeDCtx(r->dctx);
	free(r->frames);
	free(r->checks);
	free(r->checked);
	XXH3_freeState(r->xxh);
	bale_hasher_free(r->hasher);
	free(r->inbuf);
	free(r->scratch);
	free(r);
}
