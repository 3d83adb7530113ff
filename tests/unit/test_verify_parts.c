/* verify_members on tiny bundles cut into parts: frames of 512 bytes make every tar block
 * a frame start, so the cuts the manifest predicts can fall anywhere, also inside a
 * member. Each case holds the outcome (return code, the member named, the tally) to what
 * one pass over the same bundle would give. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bale/buf.h"
#include "bale/bundle.h"
#include "bale/hasher.h"
#include "bale/zst.h"
#include "testutil.h"
#include "verify/verify_private.h"

#define FRAME 512u
#define MAX_MEMBERS 16

/* One tar member as written: its path and bytes. */
typedef struct member {
	char path[128];
	uint8_t *data;
	size_t len;
} member;

/* A bundle in the making: the members in archive order (the head first) and the manifest
 * entries, listed in an order of the test's choosing. */
typedef struct fixture {
	member members[MAX_MEMBERS];
	size_t n_members;
	bale_bundle_file files[3];
	bale_bundle_blob blobs[MAX_MEMBERS];
	size_t n_blobs;
	char *path;
} fixture;

static uint8_t *random_bytes(size_t len, uint64_t seed)
{
	uint8_t *p = malloc(len ? len : 1);
	assert_non_null(p);
	uint64_t s = seed * 0x9E3779B97F4A7C15u | 1;
	for (size_t i = 0; i < len; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		p[i] = (uint8_t)s;
	}
	return p;
}

static member *add_member(fixture *f, const char *path, const void *data, size_t len)
{
	assert_true(f->n_members < MAX_MEMBERS);
	member *m = &f->members[f->n_members++];
	snprintf(m->path, sizeof(m->path), "%s", path);
	m->data = malloc(len ? len : 1);
	assert_non_null(m->data);
	memcpy(m->data, data, len);
	m->len = len;
	return m;
}

/* The head (manifest, index.db) and the two other files, listed in "files". */
static void fixture_init(fixture *f, const char *dir)
{
	static const char manifest[] = "{\"formatVersion\":2}\n";
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	static const char index_json[] = "{\"schemaVersion\":2,\"manifests\":[]}";
	memset(f, 0, sizeof(*f));
	f->path = path_join(dir, "b.tar.zst");
	add_member(f, BALE_BUNDLE_MANIFEST, manifest, sizeof(manifest) - 1);
	uint8_t *db = random_bytes(700, 1);
	const char *names[3] = {BALE_BUNDLE_INDEX_DB, "oci-layout", "index.json"};
	const void *bytes[3] = {db, layout, index_json};
	size_t lens[3] = {700, sizeof(layout) - 1, sizeof(index_json) - 1};
	for (size_t i = 0; i < 3; i++) {
		member *m = add_member(f, names[i], bytes[i], lens[i]);
		f->files[i].path = names[i];
		bale_digest_of(&f->files[i].digest, m->data, m->len);
		f->files[i].size = (int64_t)m->len;
	}
	free(db);
}

/* A blob of len random bytes (seed tells them apart), listed in "blobs" (at the end) and
 * written to the archive (at the end) when asked. */
static bale_bundle_blob *add_blob(fixture *f, size_t len, uint64_t seed, bool listed, bool written)
{
	uint8_t *data = random_bytes(len, seed + 100);
	bale_digest d;
	bale_digest_of(&d, data, len);
	if (written) {
		char path[128];
		snprintf(path, sizeof(path), "blobs/sha256/%s", bale_digest_hex(&d));
		add_member(f, path, data, len);
	}
	free(data);
	if (!listed)
		return NULL;
	assert_true(f->n_blobs < MAX_MEMBERS);
	bale_bundle_blob *b = &f->blobs[f->n_blobs++];
	*b = (bale_bundle_blob){.digest = d, .size = (int64_t)len, .media_type = ""};
	return b;
}

static member *find_member(fixture *f, const char *path)
{
	for (size_t i = 0; i < f->n_members; i++)
		if (strcmp(f->members[i].path, path) == 0)
			return &f->members[i];
	fail_msg("no member %s", path);
	return NULL;
}

static la_ssize_t to_zst(struct archive *a, void *payload, const void *data, size_t len)
{
	(void)a;
	return bale_zst_writer_write(payload, data, len, NULL) == 0 ? (la_ssize_t)len : -1;
}

/* Writes the members as bundle/writer.c does: pax_restricted, no blocking, each member
 * in a new frame, its padding in its own frames. */
static void fixture_write(const fixture *f)
{
	bale_zst_writer *w = NULL;
	int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(bale_zst_writer_new(&w, fd, 3, 0, FRAME, NULL), 0);
	struct archive *a = archive_write_new();
	assert_non_null(a);
	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_none(a);
	archive_write_set_bytes_per_block(a, 0);
	assert_int_equal(archive_write_open(a, w, NULL, to_zst, NULL), ARCHIVE_OK);
	for (size_t i = 0; i < f->n_members; i++) {
		const member *m = &f->members[i];
		assert_int_equal(bale_zst_writer_end_frame(w, NULL), 0);
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m->path);
		archive_entry_set_size(e, (la_int64_t)m->len);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_mtime(e, 1700000000, 0);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		archive_entry_free(e);
		assert_int_equal(archive_write_data(a, m->data, m->len), (la_ssize_t)m->len);
		assert_int_equal(archive_write_finish_entry(a), ARCHIVE_OK);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	assert_int_equal(bale_zst_writer_finish(w, NULL), 0);
	bale_zst_writer_free(w);
	assert_int_equal(close(fd), 0);
}

static void fixture_free(fixture *f)
{
	for (size_t i = 0; i < f->n_members; i++)
		free(f->members[i].data);
	free(f->path);
}

/* What one run of verify_members came to, and what it logged. */
typedef struct outcome {
	int rc;
	char message[1024];
	verify_tally tally;
	int parts;     /* from the debug line; 1 when none was logged */
	bool one_pass; /* the log says a part went on alone */
	char log[4096];
} outcome;

static void capture(void *payload, bale_log_level level, const char *text)
{
	outcome *o = payload;
	(void)level;
	size_t used = strlen(o->log);
	snprintf(o->log + used, sizeof(o->log) - used, "%s\n", text);
	const char *p = strstr(text, "members checked in ");
	if (p)
		o->parts = (int)strtol(p + strlen("members checked in "), NULL, 10);
}

/* Opens the bundle and reads its head as bale_verify_bundle does, builds the expectations
 * as it does, and runs verify_members. */
static outcome run_verify(const fixture *f, uint64_t min_part_bytes)
{
	outcome o = {.parts = 1};
	bale_log log = {.message = capture, .payload = &o, .level = BALE_LOG_DEBUG};
	bale_bundle_reader *r = NULL;
	const bale_bundle_head *head = NULL;
	bale_error *err = NULL;
	verify_expected items[3 + MAX_MEMBERS];
	int64_t sizes[2 + MAX_MEMBERS];
	verify_expectations e = {.items = items, .sizes = sizes};
	char paths[MAX_MEMBERS][128];
	for (size_t i = 1; i < 3; i++) /* archive order after index.db: files, then blobs */
		sizes[e.n_sizes++] = f->files[i].size;
	for (size_t i = 0; i < f->n_blobs; i++)
		sizes[e.n_sizes++] = f->blobs[i].size;
	for (size_t i = 0; i < 3; i++)
		items[e.n++] = (verify_expected){.path = (char *)f->files[i].path,
		                                 .digest = f->files[i].digest,
		                                 .size = f->files[i].size};
	for (size_t i = 0; i < f->n_blobs; i++) {
		snprintf(paths[i], sizeof(paths[i]), "blobs/sha256/%s",
		         bale_digest_hex(&f->blobs[i].digest));
		items[e.n++] = (verify_expected){
		    .path = paths[i], .digest = f->blobs[i].digest, .size = f->blobs[i].size};
	}
	verify_expectations_sort(&e);
	for (size_t i = 0; i < e.n; i++)
		items[i].seen = strcmp(items[i].path, BALE_BUNDLE_INDEX_DB) == 0;

	assert_int_equal(bale_bundle_open(&r, f->path, &err), 0);
	bale_bundle_check_whole_file(r);
	assert_int_equal(bale_bundle_read_head(r, &head, &err), 0);
	assert_int_equal(bale_bundle_read_index_sized(r, f->files[0].size, &head, &err), 0);
	o.tally = (verify_tally){.members = 2,
	                         .bytes = (int64_t)(head->manifest_len + head->index_db_len)};
	o.rc = verify_members(r, f->path, &e, min_part_bytes, &o.tally, &log, &err);
	snprintf(o.message, sizeof(o.message), "%s", err ? bale_error_message(err) : "");
	o.one_pass = strstr(o.log, "in one pass") != NULL;
	bale_error_free(err);
	bale_bundle_close(r);
	return o;
}

/* What a run over the whole fixture adds up to when every member checks out. */
static void assert_whole_tally(const fixture *f, const outcome *o)
{
	int64_t bytes = 0;
	for (size_t i = 0; i < f->n_members; i++)
		bytes += (int64_t)f->members[i].len;
	assert_int_equal(o->tally.members, (int64_t)f->n_members);
	assert_int_equal(o->tally.bytes, bytes);
}

static void assert_names(const outcome *o, const char *path, const char *why)
{
	assert_int_equal(o->rc, BALE_EVERIFY);
	if (!strstr(o->message, path) || !strstr(o->message, why))
		fail_msg("\"%s\" does not say %s: %s", o->message, path, why);
}

/* The same outcome as one pass over the bundle (the default floor makes one part of so
 * small a bundle). */
static void assert_as_one_pass(const fixture *f, const outcome *o)
{
	outcome one = run_verify(f, VERIFY_MIN_PART_BYTES);
	assert_int_equal(one.parts, 1);
	assert_int_equal(o->rc, one.rc);
	assert_string_equal(o->message, one.message);
	assert_int_equal(o->tally.members, one.tally.members);
	assert_int_equal(o->tally.bytes, one.tally.bytes);
}

static const char *blob_path(const bale_bundle_blob *b, char out[128])
{
	snprintf(out, 128, "blobs/sha256/%s", bale_digest_hex(&b->digest));
	return out;
}

/* Eight blobs of assorted sizes, each listed and written. */
static void add_blobs(fixture *f)
{
	static const size_t sizes[] = {3000, 700, 5000, 1200, 2600, 512, 4100, 90};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		add_blob(f, sizes[i], i + 1, true, true);
}

static void test_clean_in_parts(void **state)
{
	fixture f;
	fixture_init(&f, *state);
	add_blobs(&f);
	fixture_write(&f);
	outcome o = run_verify(&f, FRAME);
	assert_int_equal(o.rc, 0);
	assert_true(o.parts >= 2);
	assert_false(o.one_pass);
	assert_whole_tally(&f, &o);
	assert_as_one_pass(&f, &o);
	fixture_free(&f);
}

static void test_damaged_in_last_part(void **state)
{
	fixture f;
	char path[128];
	fixture_init(&f, *state);
	add_blobs(&f);
	f.members[f.n_members - 1].data[10] ^= 1; /* the last blob: always in the last part */
	fixture_write(&f);
	outcome o = run_verify(&f, FRAME);
	assert_true(o.parts >= 2);
	assert_names(&o, blob_path(&f.blobs[f.n_blobs - 1], path), "digest mismatch");
	assert_as_one_pass(&f, &o);
	fixture_free(&f);
}

/* The first blob is damaged and so is the last: the first one is named, as one pass
 * would name it, whichever thread finds its member first. */
static void test_damaged_in_first_part(void **state)
{
	fixture f;
	char path[128];
	fixture_init(&f, *state);
	add_blobs(&f);
	find_member(&f, blob_path(&f.blobs[0], path))->data[0] ^= 1;
	f.members[f.n_members - 1].data[10] ^= 1;
	fixture_write(&f);
	outcome o = run_verify(&f, FRAME);
	assert_true(o.parts >= 2);
	assert_names(&o, blob_path(&f.blobs[0], path), "digest mismatch");
	assert_null(strstr(o.message, blob_path(&f.blobs[f.n_blobs - 1], path)));
	assert_as_one_pass(&f, &o);
	fixture_free(&f);
}

/* The first blob again at the end of the archive: one part has it, the last has it too. */
static void test_appears_twice(void **state)
{
	fixture f;
	char path[128];
	fixture_init(&f, *state);
	add_blobs(&f);
	add_blob(&f, 3000, 1, false, true);
	fixture_write(&f);
	outcome o = run_verify(&f, FRAME);
	assert_true(o.parts >= 2);
	assert_false(o.one_pass);
	assert_names(&o, blob_path(&f.blobs[0], path), "appears twice");
	assert_as_one_pass(&f, &o);
	fixture_free(&f);
}

/* The first blob again in the last part, before a damaged member there: one pass meets
 * the copy first, so that is the member named. */
static void test_twice_before_damaged(void **state)
{
	fixture f;
	char path[128];
	fixture_init(&f, *state);
	add_blobs(&f);
	member last = f.members[--f.n_members];
	add_blob(&f, 3000, 1, false, true);
	last.data[10] ^= 1;
	f.members[f.n_members++] = last;
	fixture_write(&f);
	outcome o = run_verify(&f, FRAME);
	assert_true(o.parts >= 2);
	assert_names(&o, blob_path(&f.blobs[0], path), "appears twice");
	assert_as_one_pass(&f, &o);
	fixture_free(&f);
}

/* A member twice in two parts and another missing (one whose path sorts first): one pass
 * finds the copy as it reads it, and what is missing only at the end. */
static void test_twice_before_missing(void **state)
{
	fixture f;
	char path[128], first[128];
	fixture_init(&f, *state);
	add_blobs(&f);
	add_blob(&f, 3000, 1, false, true);
	blob_path(&f.blobs[0], first);
	for (uint64_t seed = 99;; seed++) {
		bale_bundle_blob *absent = add_blob(&f, 800, seed, true, false);
		if (strcmp(blob_path(absent, path), first) < 0)
			break;
		f.n_blobs--;
	}
	fixture_write(&f);
	outcome o = run_verify(&f, FRAME);
	assert_true(o.parts >= 2);
	assert_names(&o, first, "appears twice");
	assert_as_one_pass(&f, &o);
	fixture_free(&f);
}

static void test_missing(void **state)
{
	fixture f;
	char path[128];
	fixture_init(&f, *state);
	add_blobs(&f);
	bale_bundle_blob *absent = add_blob(&f, 800, 99, true, false);
	fixture_write(&f);
	outcome o = run_verify(&f, FRAME);
	assert_true(o.parts >= 2);
	assert_names(&o, blob_path(absent, path), "missing");
	assert_as_one_pass(&f, &o);
	fixture_free(&f);
}

/* What plan_parts adds up from the manifest: every member after index.db in ustar form. */
static uint64_t listed_bytes(const fixture *f)
{
	uint64_t total = 0;
	for (size_t i = 1; i < 3; i++)
		total += FRAME + ((uint64_t)f->files[i].size + FRAME - 1) / FRAME * FRAME;
	for (size_t i = 0; i < f->n_blobs; i++)
		total += FRAME + ((uint64_t)f->blobs[i].size + FRAME - 1) / FRAME * FRAME;
	return total;
}

/* bytes of a member in ustar form, as bundle/writer.c writes it (no end of archive) */
static size_t tar_member(uint8_t *out, size_t cap, const char *path, const uint8_t *data,
                         size_t len)
{
	size_t used = 0;
	struct archive *a = archive_write_new();
	assert_non_null(a);
	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_none(a);
	archive_write_set_bytes_per_block(a, 0);
	assert_int_equal(archive_write_open_memory(a, out, cap, &used), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	archive_entry_free(e);
	assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
	assert_int_equal(archive_write_finish_entry(a), ARCHIVE_OK);
	size_t n = used;
	archive_write_free(a); /* without closing: no end-of-archive blocks */
	return n;
}

/* The manifest lists a big blob, then a small one; the archive holds them the other way
 * round. Cut in two halves, the one cut predicted (where the small one would start) falls
 * inside the big one in the archive, at a frame start: the first part reads past it, goes
 * on alone to the end, and the second part (started inside a member) is dropped. The big
 * blob ends, from that very offset, in a copy of the small one's tar member (a layer is a
 * tar, after all), so the dropped part reads a good member and ends where the archive
 * does: what it saw must count for nothing. */
static void test_crossing_falls_back_to_one_pass(void **state)
{
	fixture f;
	char path[128];
	uint8_t *small = random_bytes(300, 2), *big = random_bytes(8192, 1);
	fixture_init(&f, *state);
	bale_digest small_digest;
	bale_digest_of(&small_digest, small, 300);
	snprintf(path, sizeof(path), "blobs/sha256/%s", bale_digest_hex(&small_digest));
	/* 7680 bytes into the big member: its header, then 7168 bytes of its data */
	assert_int_equal(tar_member(big + 7168, 8192 - 7168, path, small, 300), 1024);
	bale_digest big_digest;
	bale_digest_of(&big_digest, big, 8192);
	f.blobs[f.n_blobs++] = (bale_bundle_blob){.digest = big_digest, .size = 8192};
	f.blobs[f.n_blobs++] = (bale_bundle_blob){.digest = small_digest, .size = 300};
	add_member(&f, path, small, 300);
	snprintf(path, sizeof(path), "blobs/sha256/%s", bale_digest_hex(&big_digest));
	add_member(&f, path, big, 8192);
	fixture_write(&f);
	/* oci-layout and index.json: 1024 bytes each; big: 8704; small: 1024. The cut goes at
	 * the first predicted start past half of 11776: the small one's, at 10752, which in the
	 * archive is 7680 bytes into the big one (1024 + 2048 before it). */
	uint64_t total = listed_bytes(&f);
	assert_int_equal(total, 11776);
	outcome o = run_verify(&f, total / 2);
	assert_int_equal(o.parts, 2);
	assert_true(o.one_pass);
	if (o.rc != 0)
		fail_msg("%s", o.message);
	assert_whole_tally(&f, &o);
	free(small);
	free(big);
	assert_as_one_pass(&f, &o);
	fixture_free(&f);
}

/* Format 1's trailer in place of format 2's: the digest frame over every byte before it
 * instead of the frame check. */
static void make_format_1(const char *path)
{
	bale_buf b;
	bale_hasher *h = NULL;
	bale_buf_init(&b, 1 << 24, "bundle");
	assert_int_equal(bale_buf_read_file(&b, path, NULL), 0);
	const uint8_t *p = (const uint8_t *)b.data;
	uint32_t n = (uint32_t)p[b.len - 9] | (uint32_t)p[b.len - 8] << 8 |
	             (uint32_t)p[b.len - 7] << 16 | (uint32_t)p[b.len - 6] << 24;
	size_t table = 8 + (size_t)n * 8 + 9, check = 8 + (size_t)n * 8;
	size_t data_end = b.len - table - check;
	assert_int_equal(p[data_end], 0x5C); /* the frame check's magic, 0x184D2A5C */
	uint8_t frame[40] = {0x5B, 0x2A, 0x4D, 0x18, 32, 0, 0, 0};
	assert_int_equal(bale_hasher_new(&h, NULL), 0);
	bale_hasher_update(h, p, data_end);
	bale_hasher_final_raw(h, frame + 8);
	bale_hasher_free(h);
	FILE *out = fopen(path, "wb");
	assert_non_null(out);
	assert_int_equal(fwrite(p, 1, data_end, out), data_end);
	assert_int_equal(fwrite(frame, 1, sizeof(frame), out), sizeof(frame));
	assert_int_equal(fwrite(p + b.len - table, 1, table, out), table);
	assert_int_equal(fclose(out), 0);
	bale_buf_free(&b);
}

static void test_format_1_never_cut(void **state)
{
	fixture f;
	bale_bundle_reader *r = NULL;
	fixture_init(&f, *state);
	add_blobs(&f);
	fixture_write(&f);
	make_format_1(f.path);
	assert_int_equal(bale_bundle_open(&r, f.path, NULL), 0);
	assert_int_equal(bale_bundle_format(r), 1);
	bale_bundle_close(r);
	outcome o = run_verify(&f, FRAME);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.parts, 1);
	assert_false(o.one_pass);
	assert_whole_tally(&f, &o);
	assert_as_one_pass(&f, &o);
	fixture_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_clean_in_parts, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_in_last_part, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_in_first_part, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_appears_twice, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_twice_before_damaged, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_twice_before_missing, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_missing, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_crossing_falls_back_to_one_pass, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_format_1_never_cut, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
