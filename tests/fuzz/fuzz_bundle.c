/* Fuzz target for reading a bundle that came on untrusted media: the seek table, the
 * digest frame, the zstd frames, the tar stream, bale/manifest.json and its signature,
 * and the SQLite index at the head, through the reader (open, head, manifest, index,
 * every member) and bale verify, with a trust set and, when the signature fails, without one
 * (--insecure-skip-verify).
 * Every path must end in a result or a clean error.
 *
 * An input that starts like a zstd file is the bundle file itself. Anything else is
 * the tar stream inside one, framed here as bale's writer frames it: mutations of the
 * compressed bytes rarely get past zstd's checksums, mutations of the tar do.
 *
 * The trusted key is fixed (bundle-seed.pub beside this file; bundle-seed.key signed the
 * seeds in tests/data/bundle), so signed seeds pass the real signature check and their
 * mutants fail it. Bundles live in memfds: nothing is written to the file system.
 * libFuzzer runs it (scripts/fuzz.sh); replay.c runs it in the test suite. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bale/bundle.h"
#include "bale/index_db.h"
#include "bale/verify.h"
#include "bale/zst.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_CAP (1u << 20)
/* Decompressed bytes a bundle file may expand to: zstd packs 128 KiB into a few bytes,
 * and every pass below reads the whole stream. */
#define DECOMPRESSED_CAP (4u << 20)
/* Frames of the tar streams framed here: not a multiple of the tar block, so frame
 * boundaries fall inside headers too. */
#define FRAME_SIZE 3000
/* SQLite steps for one query on the index: a hostile schema can hold views that are
 * expensive to read. */
#define QUERY_STEPS 200000

/* tests/fuzz/bundle-seed.pub */
static const char trusted_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEd61Ym/rrhZj41l+4q3xzpDC/08MN\n"
    "3MeEIN73EpLdqzmIsArLwP0/8urW2FNiEUT+9X3g5PbQnY2+13+Z1yvjEQ==\n"
    "-----END PUBLIC KEY-----\n";

/* An anonymous in-memory file holding len bytes; -1 on failure. */
static int memfd_with(const void *data, size_t len)
{
	int fd = memfd_create("fuzz-bundle", MFD_CLOEXEC);
	const char *p = data;
	while (fd >= 0 && len) {
		ssize_t n = write(fd, p, len);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return fd;
}

static void fd_path(char *buf, size_t size, int fd)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* Loaded once and kept: the same trust set for every input. */
static const bale_trust *fixed_trust(void)
{
	static bale_trust *trust;
	if (!trust) {
		char path[64];
		bale_error *err = NULL;
		int fd = memfd_with(trusted_pub, sizeof(trusted_pub) - 1);
		fd_path(path, sizeof(path), fd);
		if (fd < 0 || bale_trust_from_key(&trust, path, &err) < 0) {
			/* Not the input's fault: stop rather than fuzz without the key. */
			fprintf(stderr, "fuzz_bundle: trusted key: %s\n",
			        err ? bale_error_message(err) : "no memfd");
			abort();
		}
		close(fd);
	}
	return trust;
}

/* The tar stream in a seekable zstd file, as the writer makes one. */
static int frame_tar(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-bundle", MFD_CLOEXEC);
	bale_zst_writer *w = NULL;
	bale_error *err = NULL;
	if (fd < 0)
		return -1;
	if (bale_zst_writer_new(&w, fd, 1, 0, FRAME_SIZE, &err) < 0 ||
	    bale_zst_writer_write(w, data, size, &err) < 0 || bale_zst_writer_finish(w, &err) < 0) {
		fprintf(stderr, "fuzz_bundle: framing: %s\n", bale_error_message(err));
		abort();
	}
	bale_zst_writer_free(w);
	return fd;
}

/* Whether the file decompresses to no more than the cap (true for what is not a
 * seekable zstd file at all: the reader refuses it before decompressing). */
static int small_enough(int fd)
{
	bale_zst_reader *z = NULL;
	bale_error *err = NULL;
	int ok = 1;
	if (bale_zst_reader_open(&z, fd, &err) == 0)
		ok = bale_zst_reader_size(z) <= DECOMPRESSED_CAP;
	bale_zst_reader_free(z);
	bale_error_free(err);
	return ok;
}

static int count_row(void *payload, int ncols, const char *const *names, const char *const *values)
{
	for (int i = 0; values && i < ncols; i++)
		*(size_t *)payload += values[i] ? strlen(values[i]) : 0;
	return 0;
}

static int enough_steps(void *payload)
{
	return ++*(int *)payload > QUERY_STEPS / 1000;
}

/* What bale ls, inspect and plan --pin ask of an index. */
static void query_index(const bale_bundle_head *head)
{
	static const char *const queries[] = {
	    "SELECT ref, SUM(size) FROM image_blobs GROUP BY ref",
	    "SELECT ref AS name, digest, media_type AS mediaType, size FROM images",
	    "SELECT * FROM shared_layers",
	    "SELECT * FROM image_sizes",
	};
	sqlite3 *db = NULL;
	bale_error *err = NULL;
	if (bale_index_db_open_bytes(&db, head->index_db, head->index_db_len, &err) == 0) {
		for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
			size_t bytes = 0;
			int calls = 0;
			sqlite3_progress_handler(db, 1000, enough_steps, &calls);
			bale_index_db_query(db, queries[i], count_row, &bytes, &err);
			bale_error_clear(&err);
		}
	}
	sqlite3_close(db);
	bale_error_free(err);
}

static size_t text_len(const char *s)
{
	return s ? strlen(s) : 0;
}

/* Every field of bale/manifest.json as verify, import and ls read it. */
static void read_manifest(bale_bundle_reader *r)
{
	const bale_bundle_manifest *m = NULL;
	bale_error *err = NULL;
	size_t bytes = 0;
	if (bale_bundle_read_manifest(r, &m, &err) == 0) {
		bytes += text_len(m->bundle_id) + text_len(m->created) + text_len(m->tool) +
		         text_len(m->signer);
		for (size_t i = 0; i < m->n_images; i++) {
			const bale_bundle_image *img = &m->images[i];
			bytes += text_len(img->ref) + text_len(img->registry) +
			         text_len(img->repository) + text_len(img->digest) +
			         text_len(img->media_type);
			for (size_t k = 0; k < img->n_platforms; k++)
				bytes += strlen(img->platforms[k]);
			for (size_t k = 0; k < img->n_platforms_left_out; k++)
				bytes += strlen(img->platforms_left_out[k]);
		}
		for (size_t i = 0; i < m->n_files; i++)
			bytes += strlen(m->files[i].path) + strlen(m->files[i].digest.str);
		for (size_t i = 0; i < m->n_blobs; i++)
			bytes += strlen(m->blobs[i].media_type) + text_len(m->blobs[i].kind);
		bale_bundle_manifest_file(m, BALE_BUNDLE_INDEX_DB);
	}
	(void)bytes;
	bale_error_free(err);
}

/* The reader by hand: head, signature, index, then every member, read or checked. */
static void walk(const char *path)
{
	bale_bundle_reader *r = NULL;
	const bale_bundle_head *head = NULL;
	bale_error *err = NULL;
	char signer[BALE_KEY_ID_LEN + 1];
	static char scratch[64 << 10];
	if (bale_bundle_open(&r, path, &err) < 0)
		goto cleanup;
	bale_bundle_check_whole_file(r);
	bale_digest recorded;
	bale_bundle_data_digest(r, &recorded);
	bale_bundle_file_size(r);
	if (bale_bundle_read_head(r, &head, &err) < 0)
		goto cleanup;
	bale_verify_signature(head, fixed_trust(), signer, &err);
	bale_error_clear(&err);
	read_manifest(r);
	if (bale_bundle_read_index(r, &head, &err) < 0)
		goto cleanup;
	query_index(head);
	for (size_t i = 0;; i++) {
		bale_bundle_member m;
		if (bale_bundle_next(r, &m, &err) <= 0)
			break;
		if (i % 2) {
			bale_descriptor want = {.size = m.size};
			bale_bundle_check_member(r, m.path, &want, NULL, NULL, &err);
			bale_error_clear(&err);
			continue;
		}
		for (size_t got = 1; got;)
			if (bale_bundle_read(r, scratch, sizeof(scratch), &got, &err) < 0)
				break;
		bale_error_clear(&err);
	}
cleanup:
	bale_bundle_close(r);
	bale_error_free(err);
}

/* bale verify with the fixed key; when the signature is what fails, again without a
 * trust set (--insecure-skip-verify), so the checks behind it see the mutant too. */
static void verify(const char *path)
{
	bale_verify_report report;
	bale_error *err = NULL;
	int rc = bale_verify_bundle(path, fixed_trust(), &report, NULL, &err);
	if (rc == 0 && !report.signature_checked) {
		fprintf(stderr, "fuzz_bundle: verified with a trust set, signature unchecked\n");
		abort();
	}
	bale_error_clear(&err);
	if (rc == BALE_ETRUST)
		bale_verify_bundle(path, NULL, &report, NULL, &err);
	bale_error_free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zstd_magic[] = {0x28, 0xb5, 0x2f, 0xfd};
	if (size > INPUT_CAP)
		return 0;
	/* A data frame, or a skippable frame (0x184D2A5?) in front. */
	bool file =
	    size >= 4 &&
	    (memcmp(data, zstd_magic, 4) == 0 ||
	     (data[1] == 0x2a && data[2] == 0x4d && data[3] == 0x18 && (data[0] & 0xf0) == 0x50));
	int fd = file ? memfd_with(data, size) : frame_tar(data, size);
	if (fd < 0)
		return 0;
	if (small_enough(fd)) {
		char path[64];
		fd_path(path, sizeof(path), fd);
		walk(path);
		verify(path);
	}
	close(fd);
	return 0;
}
