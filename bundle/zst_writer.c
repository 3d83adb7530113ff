/* The Zstandard seekable format, written on libzstd's public streaming API: one
 * ZSTD_CCtx; every frame ends with ZSTD_e_end, and the compressed bytes that came out
 * between two frame ends are that frame's compressed size. Output goes through one fixed
 * buffer, so memory stays flat whatever the input size; the seek table is the only thing
 * that grows (8 bytes a frame). */
#include "bale/zst.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#include "bale/digest.h"
#include "bale/fs.h"
#include "bundle/zst_private.h"

/* The skippable frame's size field is a u32, so it cannot describe more frames. */
#define MAX_FRAMES (((size_t)UINT32_MAX - FOOTER_SIZE) / ENTRY_SIZE)
#define DEFAULT_MAX_FRAME ((size_t)ZST_MAX_FRAME)
#define WRITE_BUFFER_SIZE ((size_t)1 << 20)
#define WINDOW_LOG 19

struct frame_sizes {
	uint32_t compressed;
	uint32_t decompressed;
	uint64_t check; /* XXH3-64 of its compressed bytes */
};

struct bale_zst_writer {
	int fd;
	ZSTD_CCtx *cctx;
	int threads; /* zstd workers the writer may use (bale_zst_writer_set_workers) */
	size_t max_frame;
	uint8_t *out; /* WRITE_BUFFER_SIZE bytes of compressed output not yet written */
	size_t out_len;
	uint64_t file_offset; /* compressed bytes produced so far, buffered ones included */
	uint64_t position;    /* decompressed bytes taken so far */
	uint64_t frame_in;    /* input bytes in the current frame */
	uint64_t frame_out;   /* compressed bytes of the current frame produced so far */
	struct frame_sizes *frames;
	size_t nframes, frames_cap;
	/* After any failure the file holds a partial frame: refuse to go on and to write a
	 * table that would describe it. */
	int failed;
	bool finished;
	XXH3_state_t *check; /* over the current frame's compressed bytes */
	/* With threads, full buffers are written by a thread of its own while the next one
	 * fills. */
	bool io_on;
	pthread_t io_thread;
	pthread_mutex_t io_mu;
	pthread_cond_t io_cv;
	uint8_t *io_buf; /* the buffer the thread owns while io_len > 0 */
	size_t io_len;
	uint64_t io_offset; /* file offset of io_buf */
	bool io_quit;
	int io_errno;
	uint64_t io_failed_at;
};

/* Writes a buffer: inline, or on the writer thread. */
static int write_out(bale_zst_writer *w, const uint8_t *buf, size_t len, uint64_t offset)
{
	if (bale_fs_write_all(w->fd, buf, len) < 0) {
		w->io_failed_at = offset;
		return errno ? errno : EIO;
	}
	/* Start writing it to disk now (no wait): the fsync at the end then finds little
	 * left to do. A file system that cannot is simply left to its own writeback. */
	sync_file_range(w->fd, (off_t)offset, (off_t)len, SYNC_FILE_RANGE_WRITE);
	return 0;
}

static void *io_main(void *arg)
{
	bale_zst_writer *w = arg;
	pthread_mutex_lock(&w->io_mu);
	for (;;) {
		while (!w->io_len && !w->io_quit)
			pthread_cond_wait(&w->io_cv, &w->io_mu);
		if (!w->io_len)
			break;
		pthread_mutex_unlock(&w->io_mu);
		int e = w->io_errno ? 0 : write_out(w, w->io_buf, w->io_len, w->io_offset);
		pthread_mutex_lock(&w->io_mu);
		if (e)
			w->io_errno = e;
		w->io_len = 0;
		pthread_cond_broadcast(&w->io_cv);
	}
	pthread_mutex_unlock(&w->io_mu);
	return NULL;
}

/* Waits until the writer thread holds no buffer; its error, if it had one. */
static int io_wait(bale_zst_writer *w, bale_error **err)
{
	if (!w->io_on)
		return 0;
	pthread_mutex_lock(&w->io_mu);
	while (w->io_len)
		pthread_cond_wait(&w->io_cv, &w->io_mu);
	int e = w->io_errno;
	pthread_mutex_unlock(&w->io_mu);
	if (e)
		return bale_error_set_errno(err, BALE_EGENERIC, e,
		                            "write compressed stream at offset %" PRIu64,
		                            w->io_failed_at);
	return 0;
}

static void io_stop(bale_zst_writer *w)
{
	if (!w->io_on)
		return;
	pthread_mutex_lock(&w->io_mu);
	w->io_quit = true;
	pthread_cond_broadcast(&w->io_cv);
	pthread_mutex_unlock(&w->io_mu);
	pthread_join(w->io_thread, NULL);
	pthread_mutex_destroy(&w->io_mu);
	pthread_cond_destroy(&w->io_cv);
	w->io_on = false;
}

static int writer_flush(bale_zst_writer *w, bale_error **err)
{
	int rc = 0;
	if (!w->out_len)
		return 0;
	uint64_t offset = w->file_offset - w->out_len;
	if (!w->io_on) {
		int e = write_out(w, w->out, w->out_len, offset);
		if (e)
			return bale_error_set_errno(err, BALE_EGENERIC, e,
			                            "write compressed stream at offset %" PRIu64,
			                            offset);
		w->out_len = 0;
		return 0;
	}
	/* Hand the full buffer over and fill the one the thread is done with. */
	if ((rc = io_wait(w, err)) < 0)
		return rc;
	uint8_t *full = w->out;
	w->out = w->io_buf;
	pthread_mutex_lock(&w->io_mu);
	w->io_buf = full;
	w->io_offset = offset;
	w->io_len = w->out_len;
	pthread_cond_broadcast(&w->io_cv);
	pthread_mutex_unlock(&w->io_mu);
	w->out_len = 0;
	return 0;
}

/* One ZSTD_compressStream2 call into the output buffer; *remaining is its return value. */
static int writer_step(bale_zst_writer *w, ZSTD_inBuffer *in, ZSTD_EndDirective op,
                       size_t *remaining, bale_error **err)
{
	int rc;
	if (w->out_len == WRITE_BUFFER_SIZE && (rc = writer_flush(w, err)) < 0)
		return rc;
	ZSTD_outBuffer ob = {w->out, WRITE_BUFFER_SIZE, w->out_len};
	size_t ret = ZSTD_compressStream2(w->cctx, &ob, in, op);
	if (ZSTD_isError(ret))
		return bale_error_set(err, BALE_EGENERIC, "zstd compression, frame %zu: %s",
		                      w->nframes, ZSTD_getErrorName(ret));
	size_t produced = ob.pos - w->out_len;
	XXH3_64bits_update(w->check, w->out + w->out_len, produced);
	w->out_len = ob.pos;
	w->frame_out += produced;
	w->file_offset += produced;
	*remaining = ret;
	return 0;
}

static int writer_append(bale_zst_writer *w, const uint8_t *p, size_t len, bale_error **err)
{
	int rc;
	while (len) {
		if (w->out_len == WRITE_BUFFER_SIZE && (rc = writer_flush(w, err)) < 0)
			return rc;
		size_t n = WRITE_BUFFER_SIZE - w->out_len;
		if (n > len)
			n = len;
		memcpy(w->out + w->out_len, p, n);
		w->out_len += n;
		w->file_offset += n;
		p += n;
		len -= n;
	}
	return 0;
}

static int writer_end_frame(bale_zst_writer *w, bale_error **err)
{
	int rc;
	if (!w->frame_in)
		return 0;
	/* Make room first: once the frame is out, its table entry must not fail to fit. */
	if (w->nframes == w->frames_cap) {
		if (w->nframes == MAX_FRAMES)
			return bale_error_set(err, BALE_EGENERIC,
			                      "too many frames for a seek table (%zu)", w->nframes);
		size_t cap = w->frames_cap ? w->frames_cap * 2 : 64;
		if (cap > MAX_FRAMES)
			cap = MAX_FRAMES;
		struct frame_sizes *grown = realloc(w->frames, cap * sizeof(*grown));
		if (!grown)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		w->frames = grown;
		w->frames_cap = cap;
	}
	ZSTD_inBuffer none = {NULL, 0, 0};
	size_t remaining;
	do {
		if ((rc = writer_step(w, &none, ZSTD_e_end, &remaining, err)) < 0)
			return rc;
	} while (remaining);
	/* max_frame keeps both below 4 GiB (checked in _new); this guards the invariant. */
	if (w->frame_out > UINT32_MAX || w->frame_in > UINT32_MAX)
		return bale_error_set(err, BALE_EGENERIC,
		                      "frame %zu: %" PRIu64 " bytes compressed to %" PRIu64
		                      " do not fit the seek table",
		                      w->nframes, w->frame_in, w->frame_out);
	w->frames[w->nframes].compressed = (uint32_t)w->frame_out;
	w->frames[w->nframes].decompressed = (uint32_t)w->frame_in;
	w->frames[w->nframes].check = XXH3_64bits_digest(w->check);
	XXH3_64bits_reset(w->check);
	w->nframes++;
	w->frame_in = 0;
	w->frame_out = 0;
	return 0;
}

static int writer_refuse(const bale_zst_writer *w, bale_error **err)
{
	if (w->failed)
		return bale_error_set(err, w->failed,
		                      "compressed stream unusable after an earlier error");
	return 0;
}

int bale_zst_writer_new(bale_zst_writer **out, int fd, int level, int threads, size_t max_frame,
                        bale_error **err)
{
	assert(out && fd >= 0);
	int rc = 0;
	bale_zst_writer *w = NULL;
	*out = NULL;
	if (!max_frame)
		max_frame = DEFAULT_MAX_FRAME;
	/* A frame's compressed size is at most ZSTD_compressBound of its input; keeping that
	 * within a u32 is what lets every frame be described by the table. */
	if ((uint64_t)max_frame > UINT32_MAX || ZSTD_compressBound(max_frame) > UINT32_MAX) {
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "zstd frame size %zu too large for a seek table entry",
		                    max_frame);
		goto cleanup;
	}
	if (threads < 0) {
		rc =
		    bale_error_set(err, BALE_EUSAGE, "zstd threads %d: must be 0 or more", threads);
		goto cleanup;
	}
	w = calloc(1, sizeof(*w));
	if (!w || !(w->cctx = ZSTD_createCCtx()) || !(w->out = malloc(WRITE_BUFFER_SIZE))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if (!(w->check = XXH3_createState()) || XXH3_64bits_reset(w->check) != XXH_OK) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	w->fd = fd;
	if (threads > 0 && (w->io_buf = malloc(WRITE_BUFFER_SIZE))) {
		pthread_mutex_init(&w->io_mu, NULL);
		pthread_cond_init(&w->io_cv, NULL);
		if (pthread_create(&w->io_thread, NULL, io_main, w) == 0) {
			w->io_on = true;
		} else { /* then inline, as without threads */
			pthread_mutex_destroy(&w->io_mu);
			pthread_cond_destroy(&w->io_cv);
		}
	}
	w->max_frame = max_frame;
	size_t ret = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(ret))
		ret = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
	/* A 1 MiB window at every level: the compressor and every reader's decompressor stay
	 * small however large a member (index.db of many images, an uncompressed layer),
	 * for 0.9% more bytes than level 3's 2 MiB (/usr/bin in 4 MiB frames). */
	if (!ZSTD_isError(ret))
		ret = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_windowLog, WINDOW_LOG);
	if (ZSTD_isError(ret)) {
		rc = bale_error_set(err, BALE_EUSAGE, "zstd level %d: %s", level,
		                    ZSTD_getErrorName(ret));
		goto cleanup;
	}
	w->threads = threads;
	if ((rc = bale_zst_writer_set_workers(w, threads, err)) < 0)
		goto cleanup;
	*out = w;
	w = NULL;
cleanup:
	bale_zst_writer_free(w);
	return rc;
}

int bale_zst_writer_set_workers(bale_zst_writer *w, int workers, bale_error **err)
{
	assert(w && !w->finished && !w->frame_in);
	if (workers > w->threads)
		workers = w->threads;
	size_t ret = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_nbWorkers, workers > 0 ? workers : 0);
	if (!ZSTD_isError(ret) && workers > 0) {
		/* Frames end one after another, so threads only help inside a frame: cut each
		 * frame into one job per thread (zstd raises this to its 512 KiB minimum). */
		size_t job = (w->max_frame + (size_t)workers - 1) / (size_t)workers;
		ret = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_jobSize,
		                             job > INT_MAX ? INT_MAX : (int)job);
	}
	if (ZSTD_isError(ret))
		return bale_error_set(err, BALE_EUSAGE, "zstd with %d threads: %s", workers,
		                      ZSTD_getErrorName(ret));
	return 0;
}

int bale_zst_writer_write(bale_zst_writer *w, const void *data, size_t len, bale_error **err)
{
	assert(w && !w->finished && (data || !len));
	int rc = writer_refuse(w, err);
	const uint8_t *p = data;
	while (rc == 0 && len) {
		size_t chunk = w->max_frame - (size_t)w->frame_in;
		if (chunk > len)
			chunk = len;
		ZSTD_inBuffer in = {p, chunk, 0};
		size_t remaining;
		while (rc == 0 && in.pos < in.size)
			rc = writer_step(w, &in, ZSTD_e_continue, &remaining, err);
		if (rc < 0)
			break;
		w->frame_in += chunk;
		w->position += chunk;
		p += chunk;
		len -= chunk;
		if (w->frame_in == w->max_frame)
			rc = writer_end_frame(w, err);
	}
	if (rc < 0 && !w->failed)
		w->failed = rc;
	return rc;
}

int bale_zst_writer_end_frame(bale_zst_writer *w, bale_error **err)
{
	assert(w && !w->finished);
	int rc = writer_refuse(w, err);
	if (rc == 0)
		rc = writer_end_frame(w, err);
	if (rc < 0 && !w->failed)
		w->failed = rc;
	return rc;
}

int bale_zst_writer_set_level(bale_zst_writer *w, int level, bale_error **err)
{
	assert(w && !w->finished && !w->frame_in);
	size_t ret = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
	if (ZSTD_isError(ret))
		return bale_error_set(err, BALE_EUSAGE, "zstd level %d: %s", level,
		                      ZSTD_getErrorName(ret));
	return 0;
}

int bale_zst_writer_finish(bale_zst_writer *w, bale_error **err)
{
	assert(w && !w->finished);
	uint8_t b[SKIPPABLE_HEADER_SIZE];
	int rc = writer_refuse(w, err);
	if (rc < 0 || (rc = writer_end_frame(w, err)) < 0 || (rc = writer_flush(w, err)) < 0 ||
	    (rc = io_wait(w, err)) < 0)
		goto cleanup;
	io_stop(w); /* the trailer is written inline */
	put_le32(b, CHECK_FRAME_MAGIC);
	put_le32(b + 4, (uint32_t)(w->nframes * CHECK_SIZE));
	if ((rc = writer_append(w, b, SKIPPABLE_HEADER_SIZE, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < w->nframes; i++) {
		put_le64(b, w->frames[i].check);
		if ((rc = writer_append(w, b, CHECK_SIZE, err)) < 0)
			goto cleanup;
	}
	put_le32(b, SEEK_TABLE_MAGIC);
	put_le32(b + 4, (uint32_t)(w->nframes * ENTRY_SIZE + FOOTER_SIZE));
	if ((rc = writer_append(w, b, SKIPPABLE_HEADER_SIZE, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < w->nframes; i++) {
		put_le32(b, w->frames[i].compressed);
		put_le32(b + 4, w->frames[i].decompressed);
		if ((rc = writer_append(w, b, ENTRY_SIZE, err)) < 0)
			goto cleanup;
	}
	put_le32(b, (uint32_t)w->nframes);
	b[4] = 0; /* descriptor: no per-frame checksums, zstd's own cover each frame */
	if ((rc = writer_append(w, b, 5, err)) < 0)
		goto cleanup;
	put_le32(b, SEEKABLE_MAGIC);
	if ((rc = writer_append(w, b, 4, err)) < 0 || (rc = writer_flush(w, err)) < 0)
		goto cleanup;
	w->finished = true;
cleanup:
	if (rc < 0 && !w->failed)
		w->failed = rc;
	return rc;
}

uint64_t bale_zst_writer_position(const bale_zst_writer *w)
{
	return w->position;
}

void bale_zst_writer_free(bale_zst_writer *w)
{
	if (!w)
		return;
	io_stop(w);
	ZSTD_freeCCtx(w->cctx);
	XXH3_freeState(w->check);
	free(w->out);
	free(w->io_buf);
	free(w->frames);
	free(w);
}
