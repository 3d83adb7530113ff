/* The Zstandard seekable format (zstd's contrib/seekable_format): a zstd stream cut into
 * independent frames, with a table of frame sizes in a trailing skippable frame. Plain
 * `zstd -d` and `tar --zstd` read it as ordinary zstd; bale uses the table to start
 * decompressing at any frame (a bundle's metadata, one image's layers).
 *
 * After the last data frame (all integers little-endian):
 *   bale's frame check, a skippable frame: u32 magic 0x184D2A5C, u32 8 x frames, then
 *   per data frame the u64 XXH3-64 of its compressed bytes;
 *   the seek table: u32 magic 0x184D2A5E, u32 size of what follows,
 *   per frame: u32 compressed size, u32 decompressed size,
 *   footer: u32 number of frames, u8 descriptor (0: no per-frame checksums),
 *           u32 seekable magic 0x8F92EAB1.
 * Every data frame carries zstd's own content checksum (XXH64), so corruption inside a
 * frame is caught by the decompressor; the few bits zstd ignores (a larger window, block
 * padding) are caught by the frame check, which the reader holds each frame to as it
 * loads it. Files of bundle format 1 have a digest frame instead (u32 magic 0x184D2A5B,
 * u32 32, the SHA-256 of every byte before it); the reader takes both. */
#ifndef BALE_ZST_H
#define BALE_ZST_H

#include <stddef.h>
#include <stdint.h>

#include "bale/digest.h"
#include "bale/error.h"

/* ---- writing ---- */
typedef struct bale_zst_writer bale_zst_writer;

/* Compresses into fd (opened for writing, positioned at 0). level: zstd level (1..19, or
 * negative for zstd's fast levels);
 * threads: zstd worker threads (0: single-threaded). A frame is ended automatically
 * once it holds max_frame bytes of input (0: 4 MiB). */
int bale_zst_writer_new(bale_zst_writer **out, int fd, int level, int threads, size_t max_frame,
                        bale_error **err);
int bale_zst_writer_write(bale_zst_writer *w, const void *data, size_t len, bale_error **err);
/* Ends the current frame (no-op when it is empty): the next byte starts a new frame. */
int bale_zst_writer_end_frame(bale_zst_writer *w, bale_error **err);
/* How many of the writer's threads compress the frames that start from now on (call
 * between frames; 0: this thread alone). zstd's worker contexts cost memory as far as the
 * frames fill them, so a writer uses them only for what is worth it. */
int bale_zst_writer_set_workers(bale_zst_writer *w, int workers, bale_error **err);
/* The zstd level of the frames that start from now on (call between frames). */
int bale_zst_writer_set_level(bale_zst_writer *w, int level, bale_error **err);
/* Ends the last frame and writes the seek table. Does not fsync or close fd. */
int bale_zst_writer_finish(bale_zst_writer *w, bale_error **err);
/* Offset in the decompressed stream of the next byte written. */
uint64_t bale_zst_writer_position(const bale_zst_writer *w);
void bale_zst_writer_free(bale_zst_writer *w);

/* ---- reading ---- */
typedef struct bale_zst_reader bale_zst_reader;

typedef struct bale_zst_frame {
	uint64_t compressed_offset;   /* in the file */
	uint64_t decompressed_offset; /* in the decompressed stream */
	uint32_t compressed_size;
	uint32_t decompressed_size;
} bale_zst_frame;

/* Opens a seekable zstd file: reads and checks the seek table (the frames must tile
 * the file exactly up to the table, which must end the file). BALE_EVERIFY, naming
 * what is wrong, for a file that is not in the seekable format or is truncated or has
 * bytes appended. */
int bale_zst_reader_open(bale_zst_reader **out, int fd, bale_error **err);
size_t bale_zst_reader_frame_count(const bale_zst_reader *r);
const bale_zst_frame *bale_zst_reader_frame(const bale_zst_reader *r, size_t i);
/* Format 1: starts hashing the whole compressed file on a thread of its own, so a reader
 * that decompresses everything (bale verify) spends a second core on the file digest
 * instead of its own; bale_zst_reader_check_file then waits for that thread. Format 2
 * needs no thread (each frame is checked as it is loaded): nothing to do. */
int bale_zst_reader_hash_ahead(bale_zst_reader *r, bale_error **err);
/* Index of the frame holding decompressed offset pos; the frame count at or past the end. */
size_t bale_zst_reader_frame_at(const bale_zst_reader *r, uint64_t pos);
/* Total decompressed size. */
uint64_t bale_zst_reader_size(const bale_zst_reader *r);
/* Positions the reader at the start of the frame that holds decompressed offset `pos`
 * and skips to pos. */
int bale_zst_reader_seek(bale_zst_reader *r, uint64_t pos, bale_error **err);
/* Reads up to len decompressed bytes; *got = 0 at the end of the stream. Every frame
 * decompressed is checked against the seek table (sizes) and its own checksum;
 * a mismatch is BALE_EVERIFY naming the frame and its file offset. */
int bale_zst_reader_read(bale_zst_reader *r, void *buf, size_t len, size_t *got, bale_error **err);
/* Checks every compressed byte before the trailer: format 1's file digest, format 2's
 * frame checks. Bytes that reading has already loaded are not read again, so after a read
 * to the end this costs nothing more. BALE_EVERIFY when they do not match. */
int bale_zst_reader_check_file(bale_zst_reader *r, bale_error **err);
/* Holds frames [from, to) to the file's frame check (format 2): those read to their end
 * already were checked as they were loaded, the others are read now. Readers that share
 * out a file's frames (bale verify on several cores) each check their own. For a file of
 * format 1, whose one digest covers everything, only [0, all) checks anything (as
 * bale_zst_reader_check_file). BALE_EVERIFY naming the first damaged frame. */
int bale_zst_reader_check_frames(bale_zst_reader *r, size_t from, size_t to, bale_error **err);
/* The file's bundle format as its trailer says: 1 (one SHA-256 of the whole file) or 2
 * (a check per frame). */
int bale_zst_reader_format(const bale_zst_reader *r);
/* An id of the exact file (not checked by this call): format 1's file digest, format 2's
 * SHA-256 of its frame checks. */
void bale_zst_reader_recorded_digest(const bale_zst_reader *r, bale_digest *out);
void bale_zst_reader_free(bale_zst_reader *r);

#endif
