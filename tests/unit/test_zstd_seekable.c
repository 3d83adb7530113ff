/* Seekable zstd: round trips with frames exactly where they were asked for, seeks, the
 * zstd CLI reading our files, and tampered, truncated or extended files never read as
 * good data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bale/zst.h"
#include "testutil.h"

#define MiB ((size_t)1 << 20)

static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Runs of words (compress well) and random bytes (do not: raw blocks), as in a bundle. */
static uint8_t *mixed_input(size_t len, uint64_t seed)
{
	static const char *const words[] = {"layer ", "sha256:",  "manifest ",  "{\"size\": ",
	                                    "blobs/", "config\n", "0123456789", "application/"};
	uint8_t *p = malloc(len ? len : 1);
	assert_non_null(p);
	uint64_t s = seed | 1;
	size_t at = 0;
	while (at < len) {
		size_t run = 1 + next_random(&s) % (64 * 1024);
		if (run > len - at)
			run = len - at;
		bool text = next_random(&s) & 1;
		for (size_t i = 0; i < run;) {
			if (text) {
				const char *w = words[next_random(&s) % 8];
				for (; *w && i < run; w++)
					p[at + i++] = (uint8_t)*w;
			} else {
				p[at + i++] = (uint8_t)next_random(&s);
			}
		}
		at += run;
	}
	return p;
}

/* Writes data with end_frame after each cut offset (ascending), feeding it in uneven
 * pieces. */
static void write_file(const char *path, const uint8_t *data, size_t len, int threads,
                       size_t max_frame, const size_t *cuts, size_t ncuts)
{
	bale_zst_writer *w = NULL;
	bale_error *err = NULL;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(bale_zst_writer_new(&w, fd, 3, threads, max_frame, &err), 0);
	size_t at = 0, c = 0;
	uint64_t s = 7;
	while (at < len) {
		size_t piece = 1 + next_random(&s) % (200 * 1024);
		if (piece > len - at)
			piece = len - at;
		if (c < ncuts && at + piece > cuts[c])
			piece = cuts[c] - at;
		assert_int_equal(bale_zst_writer_write(w, data + at, piece, &err), 0);
		at += piece;
		assert_int_equal(bale_zst_writer_position(w), at);
		for (; c < ncuts && cuts[c] == at; c++)
			assert_int_equal(bale_zst_writer_end_frame(w, &err), 0);
	}
	assert_int_equal(bale_zst_writer_finish(w, &err), 0);
	assert_null(err);
	bale_zst_writer_free(w);
	assert_int_equal(close(fd), 0);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t cap = 1 << 16, n = 0, got;
	uint8_t *p = malloc(cap);
	assert_non_null(p);
	while ((got = fread(p + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			p = realloc(p, cap);
			assert_non_null(p);
		}
	}
	fclose(f);
	*len = n;
	return p;
}

/* Opens and reads everything in odd-sized pieces; the result code, output in *out. */
static int read_whole(const char *path, uint8_t **out, size_t *len, bale_error **err)
{
	bale_zst_reader *r = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	int rc = bale_zst_reader_open(&r, fd, err);
	size_t cap = 1 << 16, n = 0, got = 0, piece = 1;
	uint8_t *p = malloc(cap);
	assert_non_null(p);
	while (rc == 0) {
		if (cap - n < piece) {
			cap = cap * 2 + piece;
			p = realloc(p, cap);
			assert_non_null(p);
		}
		rc = bale_zst_reader_read(r, p + n, piece, &got, err);
		if (rc < 0 || got == 0)
			break;
		n += got;
		piece = piece * 3 + 1 > 300000 ? 1 : piece * 3 + 1;
	}
	if (rc == 0)
		assert_int_equal(n, bale_zst_reader_size(r));
	if (rc == 0) /* read to the end: every frame check was held too */
		rc = bale_zst_reader_check_file(r, err);
	bale_zst_reader_free(r);
	close(fd);
	*out = p;
	*len = n;
	return rc;
}

static void assert_round_trip(const char *path, const uint8_t *data, size_t len)
{
	uint8_t *back;
	size_t n;
	bale_error *err = NULL;
	assert_int_equal(read_whole(path, &back, &n, &err), 0);
	assert_null(err);
	assert_int_equal(n, len);
	assert_memory_equal(back, data, len);
	free(back);
}

static void assert_zstd_cli_reads(const char *path, const uint8_t *data, size_t len)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "zstd -q -d -c '%s'", path);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	uint8_t *back = malloc(len + 1);
	assert_non_null(back);
	size_t n = 0, got;
	/* one byte of room past the original, to notice output that is too long */
	while (n <= len && (got = fread(back + n, 1, len + 1 - n, f)) > 0)
		n += got;
	assert_int_equal(pclose(f), 0);
	assert_int_equal(n, len);
	assert_memory_equal(back, data, len);
	free(back);
}

static bale_zst_reader *open_reader(const char *path, int *fd)
{
	bale_zst_reader *r = NULL;
	bale_error *err = NULL;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(*fd >= 0);
	assert_int_equal(bale_zst_reader_open(&r, *fd, &err), 0);
	return r;
}

static int open_code(const char *path, char *msg, size_t msg_len)
{
	bale_zst_reader *r = NULL;
	bale_error *err = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	int rc = bale_zst_reader_open(&r, fd, &err);
	if (msg)
		snprintf(msg, msg_len, "%s", bale_error_message(err));
	bale_error_free(err);
	bale_zst_reader_free(r);
	close(fd);
	return rc;
}

static void test_empty_stream(void **state)
{
	char *path = path_join(*state, "empty.zst");
	write_file(path, NULL, 0, 0, 0, NULL, 0);
	size_t n;
	free(slurp(path, &n));
	assert_int_equal(n, 8 + 8 + 9); /* an empty frame check and a seek table with no entries */
	int fd;
	bale_zst_reader *r = open_reader(path, &fd);
	assert_int_equal(bale_zst_reader_frame_count(r), 0);
	assert_int_equal(bale_zst_reader_size(r), 0);
	uint8_t b[4];
	size_t got = 9;
	bale_error *err = NULL;
	assert_int_equal(bale_zst_reader_read(r, b, sizeof(b), &got, &err), 0);
	assert_int_equal(got, 0);
	assert_int_equal(bale_zst_reader_seek(r, 0, &err), 0);
	assert_int_equal(bale_zst_reader_seek(r, 1, &err), BALE_EUSAGE);
	bale_error_free(err);
	bale_zst_reader_free(r);
	close(fd);
	assert_zstd_cli_reads(path, (const uint8_t *)"", 0);
	free(path);
}

static void test_one_byte(void **state)
{
	char *path = path_join(*state, "one.zst");
	write_file(path, (const uint8_t *)"x", 1, 0, 0, NULL, 0);
	int fd;
	bale_zst_reader *r = open_reader(path, &fd);
	assert_int_equal(bale_zst_reader_frame_count(r), 1);
	assert_int_equal(bale_zst_reader_frame(r, 0)->decompressed_size, 1);
	assert_int_equal(bale_zst_reader_size(r), 1);
	bale_zst_reader_free(r);
	close(fd);
	assert_round_trip(path, (const uint8_t *)"x", 1);
	assert_zstd_cli_reads(path, (const uint8_t *)"x", 1);
	free(path);
}

static void test_many_small_frames(void **state)
{
	enum { FRAMES = 5000 };
	char *path = path_join(*state, "small.zst");
	size_t *cuts = malloc(FRAMES * sizeof(*cuts));
	assert_non_null(cuts);
	size_t len = 0;
	for (size_t i = 0; i < FRAMES; i++) {
		len += 1 + (i * 37) % 300;
		cuts[i] = len;
	}
	uint8_t *data = mixed_input(len, 11);
	bale_zst_writer *w = NULL;
	bale_error *err = NULL;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(bale_zst_writer_new(&w, fd, 3, 0, 0, &err), 0);
	size_t at = 0;
	for (size_t i = 0; i < FRAMES; i++) {
		assert_int_equal(bale_zst_writer_write(w, data + at, cuts[i] - at, &err), 0);
		at = cuts[i];
		assert_int_equal(bale_zst_writer_end_frame(w, &err), 0);
		assert_int_equal(bale_zst_writer_end_frame(w, &err), 0); /* empty: no frame */
		assert_int_equal(bale_zst_writer_write(w, NULL, 0, &err), 0);
	}
	assert_int_equal(bale_zst_writer_finish(w, &err), 0);
	bale_zst_writer_free(w);
	close(fd);

	bale_zst_reader *r = open_reader(path, &fd);
	assert_int_equal(bale_zst_reader_frame_count(r), FRAMES);
	uint64_t coff = 0;
	for (size_t i = 0; i < FRAMES; i++) {
		const bale_zst_frame *f = bale_zst_reader_frame(r, i);
		assert_int_equal(f->decompressed_offset, i ? cuts[i - 1] : 0);
		assert_int_equal(f->decompressed_size, cuts[i] - (i ? cuts[i - 1] : 0));
		assert_int_equal(f->compressed_offset, coff);
		coff += f->compressed_size;
	}
	bale_zst_reader_free(r);
	close(fd);
	assert_round_trip(path, data, len);
	assert_zstd_cli_reads(path, data, len);
	free(data);
	free(cuts);
	free(path);
}

/* Frames where end_frame was called and every max_frame bytes in between. */
static void test_large_threaded(void **state)
{
	const size_t len = 20 * MiB, max_frame = MiB;
	const size_t cuts[] = {1, 4096, 3 * MiB + 17, 3 * MiB + 18, 9 * MiB, 12 * MiB + 5555};
	const size_t ncuts = sizeof(cuts) / sizeof(cuts[0]);
	char *path = path_join(*state, "large.zst");
	uint8_t *data = mixed_input(len, 42);
	write_file(path, data, len, 2, max_frame, cuts, ncuts);

	size_t expect[64], nexpect = 0, start = 0;
	for (size_t c = 0; c <= ncuts; c++) {
		size_t end = c < ncuts ? cuts[c] : len;
		for (size_t at = start + max_frame; at < end; at += max_frame)
			expect[nexpect++] = at;
		expect[nexpect++] = end;
		start = end;
	}
	int fd;
	bale_zst_reader *r = open_reader(path, &fd);
	assert_int_equal(bale_zst_reader_frame_count(r), nexpect);
	assert_true(nexpect > 20);
	for (size_t i = 0; i < nexpect; i++) {
		const bale_zst_frame *f = bale_zst_reader_frame(r, i);
		assert_int_equal(f->decompressed_offset + f->decompressed_size, expect[i]);
	}
	assert_int_equal(bale_zst_reader_size(r), len);
	bale_zst_reader_free(r);
	close(fd);
	assert_round_trip(path, data, len);
	assert_zstd_cli_reads(path, data, len);
	free(data);
	free(path);
}

static void check_seek(bale_zst_reader *r, const uint8_t *data, size_t len, uint64_t pos,
                       size_t want)
{
	bale_error *err = NULL;
	assert_int_equal(bale_zst_reader_seek(r, pos, &err), 0);
	uint8_t *b = malloc(want + 1);
	assert_non_null(b);
	size_t n = 0, got;
	do {
		assert_int_equal(bale_zst_reader_read(r, b + n, want - n, &got, &err), 0);
		n += got;
	} while (got && n < want);
	size_t expect = len - pos < want ? len - pos : want;
	assert_int_equal(n, expect);
	assert_memory_equal(b, data + pos, expect);
	free(b);
	assert_null(err);
}

static void test_seek(void **state)
{
	const size_t len = 3 * MiB + 1234;
	const size_t cuts[] = {100, 70000, 70001};
	char *path = path_join(*state, "seek.zst");
	uint8_t *data = mixed_input(len, 5);
	write_file(path, data, len, 0, 256 * 1024, cuts, 3);
	int fd;
	bale_zst_reader *r = open_reader(path, &fd);
	const bale_zst_frame *f5 = bale_zst_reader_frame(r, 5);
	check_seek(r, data, len, 0, 10);
	check_seek(r, data, len, 50, 100); /* middle of frame 0 into frame 1 */
	check_seek(r, data, len, 100, 1);  /* boundary */
	check_seek(r, data, len, 70000, 2);
	check_seek(r, data, len, f5->decompressed_offset + f5->decompressed_size / 2, 500000);
	check_seek(r, data, len, f5->decompressed_offset + f5->decompressed_size / 2 + 9, 5);
	check_seek(r, data, len, f5->decompressed_offset, 3); /* backwards within a frame */
	check_seek(r, data, len, f5->decompressed_offset + f5->decompressed_size - 1, 1);
	check_seek(r, data, len, 1, 70000);
	check_seek(r, data, len, len - 1, 10); /* last byte */
	check_seek(r, data, len, len, 10);     /* the end: zero bytes */
	check_seek(r, data, len, 7, len);      /* everything after a seek */
	bale_error *err = NULL;
	assert_int_equal(bale_zst_reader_seek(r, len + 1, &err), BALE_EUSAGE);
	assert_non_null(strstr(bale_error_message(err), "past the end"));
	bale_error_free(err);
	check_seek(r, data, len, 12345, 20); /* still usable */
	uint64_t s = 99;
	for (int i = 0; i < 200; i++)
		check_seek(r, data, len, next_random(&s) % (len + 1), 1 + next_random(&s) % 3000);
	bale_zst_reader_free(r);
	close(fd);
	free(data);
	free(path);
}

static void test_plain_zstd_refused(void **state)
{
	char *raw = path_join(*state, "raw"), *zst = path_join(*state, "raw.zst");
	char cmd[1024], msg[512];
	uint8_t *data = mixed_input(100000, 3);
	FILE *f = fopen(raw, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, 100000, f), 100000);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "zstd -q -f '%s' -o '%s'", raw, zst);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(open_code(zst, msg, sizeof(msg)), BALE_EVERIFY);
	assert_non_null(strstr(msg, "not in the seekable zstd format"));
	assert_int_equal(open_code(raw, msg, sizeof(msg)), BALE_EVERIFY);
	free(data);
	free(raw);
	free(zst);
}

static void test_truncated_or_extended(void **state)
{
	char *path = path_join(*state, "t.zst"), *bad = path_join(*state, "bad.zst");
	uint8_t *data = mixed_input(300000, 9);
	write_file(path, data, 300000, 0, 64 * 1024, NULL, 0);
	size_t n;
	uint8_t *file = slurp(path, &n);
	const size_t cut[] = {1, 2, 9, 10, 17, 100, n / 2, n - 1};
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		FILE *f = fopen(bad, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(file, 1, n - cut[i], f), n - cut[i]);
		fclose(f);
		assert_int_equal(open_code(bad, NULL, 0), BALE_EVERIFY);
	}
	/* garbage after the table; then a second valid-looking table after the first */
	const size_t extra[] = {1, 100, 17};
	for (size_t i = 0; i < 3; i++) {
		FILE *f = fopen(bad, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(file, 1, n, f), n);
		const uint8_t *tail = i == 2 ? file + n - 17 : data;
		assert_int_equal(fwrite(tail, 1, extra[i], f), extra[i]);
		fclose(f);
		assert_int_equal(open_code(bad, NULL, 0), BALE_EVERIFY);
	}
	free(file);
	free(data);
	free(path);
	free(bad);
}

/* Open reads only the table: a damaged last frame does not stop reading the first one,
 * and is reported, with its frame and offset, when read. */
static void test_open_reads_only_the_table(void **state)
{
	const size_t len = 500000, cuts[] = {1000};
	char *path = path_join(*state, "lazy.zst");
	uint8_t *data = mixed_input(len, 21);
	write_file(path, data, len, 0, 128 * 1024, cuts, 1);
	int fd;
	bale_zst_reader *r = open_reader(path, &fd);
	size_t last = bale_zst_reader_frame_count(r) - 1;
	const bale_zst_frame f = *bale_zst_reader_frame(r, last);
	uint64_t at = f.compressed_offset + f.compressed_size / 2;
	bale_zst_reader_free(r);
	close(fd);
	fd = open(path, O_RDWR | O_CLOEXEC);
	uint8_t byte;
	assert_int_equal(pread(fd, &byte, 1, (off_t)at), 1);
	byte ^= 0x20;
	assert_int_equal(pwrite(fd, &byte, 1, (off_t)at), 1);
	close(fd);

	r = open_reader(path, &fd);
	uint8_t b[1000];
	size_t got;
	bale_error *err = NULL;
	assert_int_equal(bale_zst_reader_read(r, b, sizeof(b), &got, &err), 0);
	assert_int_equal(got, 1000);
	assert_memory_equal(b, data, 1000);
	bale_zst_reader_free(r);
	close(fd);

	uint8_t *back;
	size_t n;
	assert_int_equal(read_whole(path, &back, &n, &err), BALE_EVERIFY);
	char expect[64];
	snprintf(expect, sizeof(expect), "frame %zu at offset %llu: ", last,
	         (unsigned long long)f.compressed_offset);
	assert_non_null(strstr(bale_error_message(err), expect));
	bale_error_free(err);
	free(back);
	free(data);
	free(path);
}

/* Flips one bit at offset `at` and reads the whole file: always BALE_EVERIFY. */
static void flip_and_read(int fd, const char *path, size_t at, unsigned bit)
{
	uint8_t byte, flipped;
	assert_int_equal(pread(fd, &byte, 1, (off_t)at), 1);
	flipped = byte ^ (uint8_t)(1u << bit);
	assert_int_equal(pwrite(fd, &flipped, 1, (off_t)at), 1);
	uint8_t *back;
	size_t got;
	bale_error *err = NULL;
	int rc = read_whole(path, &back, &got, &err);
	if (rc != BALE_EVERIFY)
		print_error("byte %zu bit %u: rc %d\n", at, bit, rc);
	assert_int_equal(rc, BALE_EVERIFY);
	bale_error_free(err);
	free(back);
	assert_int_equal(pwrite(fd, &byte, 1, (off_t)at), 1);
}

/* One bit flipped anywhere is caught: inside a frame by zstd's checksum or, for the few
 * bits zstd ignores (a frame's window size may grow, table descriptions have padding),
 * by the frame check; in the frame check, the seek table and the footer by the checks
 * at open and as frames load. Every bit of every frame's header and checksum, of the
 * frame check and of the table is flipped; inside the frames' bodies a seeded sample of bits is
 * (the exhaustive search over every byte belongs to the fuzzers, not to a unit test).
 * BALE_TEST_SEED=N picks another sample. */
static void test_tamper(void **state)
{
	const size_t len = 96 * 1024, cuts[] = {5000, 5001, 40000};
	const size_t body_samples = 400;
	char *path = path_join(*state, "tamper.zst");
	uint8_t *data = mixed_input(len, 77);
	write_file(path, data, len, 0, 16 * 1024, cuts, 3);
	size_t n;
	free(slurp(path, &n));
	int fd;
	bale_zst_reader *r = open_reader(path, &fd);
	size_t nframes = bale_zst_reader_frame_count(r);
	assert_true(nframes >= 8);
	bale_zst_frame *frames = malloc(nframes * sizeof(*frames));
	assert_non_null(frames);
	for (size_t i = 0; i < nframes; i++)
		frames[i] = *bale_zst_reader_frame(r, i);
	bale_zst_reader_free(r);
	close(fd);

	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	size_t table = frames[nframes - 1].compressed_offset + frames[nframes - 1].compressed_size;
	for (size_t at = table; at < n; at++)
		for (unsigned bit = 0; bit < 8; bit++)
			flip_and_read(fd, path, at, bit);
	for (size_t i = 0; i < nframes; i++) {
		uint64_t start = frames[i].compressed_offset;
		uint64_t end = start + frames[i].compressed_size;
		for (unsigned bit = 0; bit < 8; bit++) {
			for (uint64_t at = start; at < start + 5; at++)
				flip_and_read(fd, path, at, bit);
			for (uint64_t at = end - 4; at < end; at++)
				flip_and_read(fd, path, at, bit);
		}
	}
	const char *seed_env = getenv("BALE_TEST_SEED");
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : 0;
	uint64_t s = (seed ? seed : 0x7A3F) | 1;
	for (size_t k = 0; k < body_samples; k++) {
		size_t at = next_random(&s) % table;
		flip_and_read(fd, path, at, (unsigned)(next_random(&s) % 8));
	}
	close(fd);
	assert_round_trip(path, data, len);
	free(frames);
	free(data);
	free(path);
}

static void test_write_failure(void **state)
{
	bale_zst_writer *w = NULL;
	bale_error *err = NULL;
	int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(bale_zst_writer_new(&w, fd, 1, 0, 0, &err), 0);
	uint8_t *data = mixed_input(3 * MiB, 1);
	int rc = bale_zst_writer_write(w, data, 3 * MiB, &err);
	if (rc == 0)
		rc = bale_zst_writer_finish(w, &err);
	assert_int_equal(rc, BALE_EGENERIC);
	assert_non_null(strstr(bale_error_message(err), "write compressed stream at offset"));
	assert_non_null(strstr(bale_error_message(err), "No space left"));
	bale_error_clear(&err);
	/* the stream is unusable now: no table describing a partial frame */
	assert_int_equal(bale_zst_writer_end_frame(w, &err), BALE_EGENERIC);
	bale_error_clear(&err);
	bale_zst_writer_free(w);
	close(fd);
	free(data);

	assert_int_equal(bale_zst_writer_new(&w, 1, 3, 0, (size_t)1 << 33, &err), BALE_EUSAGE);
	assert_null(w);
	bale_error_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_empty_stream, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_one_byte, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_many_small_frames, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_large_threaded, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_seek, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_plain_zstd_refused, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_or_extended, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_open_reads_only_the_table, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_tamper, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_write_failure, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
