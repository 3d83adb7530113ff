/* The seekable zstd format as bale writes and reads it (bale/zst.h describes the layout):
 * what bundle/zst_writer.c and bundle/zst_reader.c must agree on. */
#ifndef BALE_BUNDLE_ZST_PRIVATE_H
#define BALE_BUNDLE_ZST_PRIVATE_H

#include <stdint.h>

#define SEEK_TABLE_MAGIC 0x184D2A5Eu /* one of zstd's skippable frame magics */
#define SEEKABLE_MAGIC 0x8F92EAB1u
/* bale's own skippable frame, just before the seek table, catches what zstd tolerates:
 * a few bits inside a frame (window size, padding bits) can flip and the frame still
 * decodes to the same bytes.
 * Format 1 (read only): the SHA-256 of every byte before it, one serial pass. */
#define DIGEST_FRAME_MAGIC 0x184D2A5Bu
#define DIGEST_SIZE 32
#define DIGEST_FRAME_SIZE (8 + DIGEST_SIZE)
/* Format 2: the frame check, one XXH3-64 of each data frame's compressed bytes (u64
 * little-endian, in frame order), so a reader checks each frame as it loads it, and
 * readers of different frames check them on different cores. */
#define CHECK_FRAME_MAGIC 0x184D2A5Cu
#define CHECK_SIZE 8
#define SKIPPABLE_HEADER_SIZE 8 /* magic, frame size */
#define ENTRY_SIZE 8            /* compressed size, decompressed size */
/* The writer's frames hold at most this many uncompressed bytes. */
#define ZST_MAX_FRAME ((int64_t)4 << 20)
#define FOOTER_SIZE 9 /* frame count, descriptor, seekable magic */

static inline void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

#endif
