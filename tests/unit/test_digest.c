/* Digests, hashers and the capped buffer: the pieces every verification rests on. A
 * digest that is computed or compared wrongly turns "verified" into a lie, and a buffer
 * without its cap lets a hostile registry exhaust memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bale/buf.h"
#include "bale/digest.h"
#include "bale/error.h"
#include "bale/hasher.h"
#include "cli/report.h"
#include "testutil.h"

#define EMPTY_SHA256 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_SHA256 "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/* FIPS 180-2 two-block vector */
#define LONG_INPUT "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define LONG_SHA256 "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"

/* Copies the message and frees the error, so a failing assert leaks nothing. */
static int take_error(bale_error **err, char *msg, size_t size)
{
	int code = bale_error_code(*err);

	snprintf(msg, size, "%s", bale_error_message(*err));
	bale_error_clear(err);
	return code;
}

static void test_known_vectors(void **state)
{
	bale_digest d;

	bale_digest_of(&d, "", 0);
	assert_string_equal(d.str, EMPTY_SHA256);
	bale_digest_of(&d, "abc", 3);
	assert_string_equal(d.str, ABC_SHA256);
	assert_string_equal(bale_digest_hex(&d), ABC_SHA256 + 7);
	bale_digest_of(&d, LONG_INPUT, strlen(LONG_INPUT));
	assert_string_equal(d.str, LONG_SHA256);
}

static void test_hasher_chunks(void **state)
{
	static const size_t chunks[] = {1, 3, 63, 64, 65, 4096, 65536, 1 << 20};
	const size_t len = (1 << 20) + 17;
	unsigned char *data = malloc(len);
	uint32_t x = 2463534242u;
	bale_hasher *h = NULL;
	bale_digest whole, streamed;

	assert_non_null(data);
	for (size_t i = 0; i < len; i++) { /* xorshift: reproducible, not compressible */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (unsigned char)x;
	}
	bale_digest_of(&whole, data, len);
	assert_int_equal(bale_hasher_new(&h, NULL), 0);
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		for (size_t off = 0; off < len; off += chunks[c])
			bale_hasher_update(h, data + off,
			                   len - off < chunks[c] ? len - off : chunks[c]);
		/* final resets, so the same hasher serves every chunk size */
		bale_hasher_final(h, &streamed);
		assert_true(bale_digest_equal(&whole, &streamed));
	}
	bale_hasher_free(h);
	free(data);
}

static void test_hasher_reset(void **state)
{
	bale_hasher *h = NULL;
	bale_digest d;

	assert_int_equal(bale_hasher_new(&h, NULL), 0);
	bale_hasher_final(h, &d); /* nothing fed */
	assert_string_equal(d.str, EMPTY_SHA256);
	bale_hasher_update(h, "garbage", 7);
	bale_hasher_reset(h);
	bale_hasher_update(h, "a", 1);
	bale_hasher_update(h, "", 0);
	bale_hasher_update(h, "bc", 2);
	bale_hasher_final(h, &d);
	assert_string_equal(d.str, ABC_SHA256);
	bale_hasher_free(h);
	bale_hasher_free(NULL);
}

static void test_parse_valid(void **state)
{
	bale_digest a, b, c;

	assert_int_equal(bale_digest_parse(&a, ABC_SHA256, NULL), 0);
	assert_string_equal(a.str, ABC_SHA256);
	bale_digest_of(&b, "abc", 3);
	assert_true(bale_digest_equal(&a, &b));
	assert_int_equal(bale_digest_parse(&c, EMPTY_SHA256, NULL), 0);
	assert_false(bale_digest_equal(&a, &c));
}

static void assert_parse_refused(const char *text, int code, const char *want)
{
	bale_digest d;
	bale_error *err = NULL;
	char msg[512];

	assert_int_equal(bale_digest_parse(&d, text, &err), code);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), code);
	if (!strstr(msg, want))
		fail_msg("message \"%s\" lacks \"%s\"", msg, want);
}

static void test_parse_invalid(void **state)
{
	/* Other algorithms are content we cannot verify: BALE_EVERIFY, naming it. */
	assert_parse_refused(
	    "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
	    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
	    BALE_EVERIFY, "unsupported digest algorithm \"sha512\"");
	assert_parse_refused("md5:d41d8cd98f00b204e9800998ecf8427e", BALE_EVERIFY,
	                     "unsupported digest algorithm \"md5\"");
	assert_parse_refused(
	    "SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", BALE_EVERIFY,
	    "\"SHA256\"");
	/* Malformed text is a usage error. */
	assert_parse_refused("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	                     BALE_EUSAGE, "no algorithm");
	assert_parse_refused("", BALE_EUSAGE, "invalid digest \"\": no algorithm");
	assert_parse_refused(":abc", BALE_EUSAGE, "no algorithm");
	assert_parse_refused("sha256:", BALE_EUSAGE, "64 lowercase hex digits");
	assert_parse_refused("sha256:ba7816bf", BALE_EUSAGE, "64 lowercase hex digits");
	assert_parse_refused(
	    "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", BALE_EUSAGE,
	    "64 lowercase hex digits");
	assert_parse_refused(ABC_SHA256 "0", BALE_EUSAGE, "64 lowercase hex digits");
	assert_parse_refused(
	    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag", BALE_EUSAGE,
	    "64 lowercase hex digits");
	assert_parse_refused("sha256:"
	                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2001 ad",
	                     BALE_EUSAGE, "64 lowercase hex digits");
}

static void test_error_chain(void **state)
{
	bale_error *err = NULL;

	assert_int_equal(bale_error_set(&err, BALE_EVERIFY, "digest mismatch (expected %s)", "x"),
	                 BALE_EVERIFY);
	/* The innermost error wins; context is prepended on the way up. */
	assert_int_equal(bale_error_set(&err, BALE_ENETWORK, "later"), BALE_ENETWORK);
	assert_int_equal(bale_error_wrap(&err, "blobs/%s", "sha256/ab12"), BALE_EVERIFY);
	assert_int_equal(bale_error_wrap(&err, "verify %s", "site.tar.zst"), BALE_EVERIFY);
	assert_string_equal(bale_error_message(err),
	                    "verify site.tar.zst: blobs/sha256/ab12: digest mismatch (expected x)");
	assert_int_equal(bale_error_code(err), BALE_EVERIFY);
	bale_error_clear(&err);
	assert_null(err);

	assert_int_equal(bale_error_set_errno(&err, BALE_ESTORE, 2, "open %s", "f"), BALE_ESTORE);
	assert_string_equal(bale_error_message(err), "open f: No such file or directory");
	bale_error_clear(&err);

	assert_int_equal(bale_error_wrap(&err, "nothing"), BALE_EGENERIC);
	assert_int_equal(bale_error_set(NULL, BALE_EUSAGE, "dropped"), BALE_EUSAGE);
	assert_int_equal(bale_error_code(NULL), BALE_OK);
	assert_string_equal(bale_error_message(NULL), "");
	assert_int_equal(cli_exit_status(0), 0);
	assert_int_equal(cli_exit_status(BALE_EUSAGE), 2);
	assert_int_equal(cli_exit_status(BALE_ESTORE), 8);
	assert_int_equal(cli_exit_status(-99), 1);
}

static void test_buf_cap(void **state)
{
	bale_buf b;
	bale_error *err = NULL;
	char msg[256];

	bale_buf_init(&b, 10, "manifest");
	assert_int_equal(bale_buf_append(&b, "0123456789", 10, &err), 0);
	assert_null(err);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "0123456789");
	/* One byte past the cap is refused and the buffer is left as it was. */
	assert_int_equal(bale_buf_append(&b, "x", 1, &err), BALE_EVERIFY);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_EVERIFY);
	assert_string_equal(msg, "manifest is larger than the 10 byte limit");
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "0123456789");
	assert_int_equal(bale_buf_append(&b, "", 0, &err), 0);
	bale_buf_free(&b);
	assert_null(b.data);

	/* A huge length must not wrap around the check. */
	bale_buf_init(&b, 10, NULL);
	assert_int_equal(bale_buf_append(&b, "ab", 2, NULL), 0);
	assert_int_equal(bale_buf_append(&b, "x", SIZE_MAX, &err), BALE_EVERIFY);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_EVERIFY);
	assert_string_equal(msg, "data is larger than the 10 byte limit");
	bale_buf_free(&b);
}

static void test_buf_appendf(void **state)
{
	bale_buf b;
	bale_error *err = NULL;
	char big[2000];
	char msg[256];
	size_t len = 0;

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bale_buf_init(&b, 4096, "config");
	assert_int_equal(bale_buf_appendf(&b, &err, "%s=%d;", "n", 42), 0);
	assert_int_equal(bale_buf_appendf(&b, &err, "%s", big), 0); /* past the stack buffer */
	assert_int_equal(b.len, 5 + sizeof(big) - 1);
	assert_int_equal(strncmp(b.data, "n=42;yyy", 8), 0);
	assert_int_equal(bale_buf_appendf(&b, &err, "%s%s", big, big), BALE_EVERIFY);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_EVERIFY);
	assert_string_equal(msg, "config is larger than the 4096 byte limit");

	char *p = bale_buf_detach(&b, &len);
	assert_int_equal(len, 5 + sizeof(big) - 1);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(p);
	bale_buf_reset(&b);
	bale_buf_free(&b);
}

static void write_file(const char *path, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		fputc('a' + (int)(i % 26), f);
	assert_int_equal(fclose(f), 0);
}

static void test_buf_read_file(void **state)
{
	const char *dir = *state;
	char small[512], big[512], empty[512], missing[512], msg[1024], want[1024];
	bale_buf b;
	bale_error *err = NULL;

	snprintf(small, sizeof(small), "%s/small", dir);
	snprintf(big, sizeof(big), "%s/big", dir);
	snprintf(empty, sizeof(empty), "%s/empty", dir);
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	write_file(small, 100);
	write_file(big, 20000); /* more than one read() chunk */
	write_file(empty, 0);

	bale_buf_init(&b, 100, "auth file");
	assert_int_equal(bale_buf_read_file(&b, small, &err), 0);
	assert_int_equal(b.len, 100);
	assert_int_equal(strncmp(b.data, "abcdef", 6), 0);
	bale_buf_free(&b);

	bale_buf_init(&b, 19999, "auth file");
	assert_int_equal(bale_buf_read_file(&b, big, &err), BALE_EVERIFY);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_EVERIFY);
	snprintf(want, sizeof(want), "%s: auth file is larger than the 19999 byte limit", big);
	assert_string_equal(msg, want);
	bale_buf_free(&b);

	/* A file of known size is read into a buffer sized once for it. */
	bale_buf_init(&b, 20200, "auth file");
	assert_int_equal(bale_buf_append(&b, "x", 1, NULL), 0);
	assert_int_equal(bale_buf_read_file(&b, small, &err), 0);
	assert_int_equal(bale_buf_read_file(&b, big, &err), 0);
	assert_int_equal(b.len, 20101);
	assert_int_equal(b.alloc, 20102);
	bale_buf_free(&b);
	/* Room a buffer has beyond a lowered cap stays unused. */
	char fill[300];
	memset(fill, 'x', sizeof(fill));
	bale_buf_init(&b, 1000, "auth file");
	assert_int_equal(bale_buf_append(&b, fill, sizeof(fill), NULL), 0);
	b.cap = 350;
	assert_int_equal(bale_buf_read_file(&b, small, &err), BALE_EVERIFY);
	assert_true(b.len <= 350);
	bale_error_clear(&err);
	bale_buf_free(&b);

	bale_buf_init(&b, 100, "auth file");
	assert_int_equal(bale_buf_read_file(&b, empty, &err), 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	bale_buf_free(&b);

	bale_buf_init(&b, 100, "auth file");
	assert_int_equal(bale_buf_read_file(&b, missing, &err), BALE_ENOTFOUND);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_ENOTFOUND);
	snprintf(want, sizeof(want), "open %s: No such file or directory", missing);
	assert_string_equal(msg, want);
	bale_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_vectors),
	    cmocka_unit_test(test_hasher_chunks),
	    cmocka_unit_test(test_hasher_reset),
	    cmocka_unit_test(test_parse_valid),
	    cmocka_unit_test(test_parse_invalid),
	    cmocka_unit_test(test_error_chain),
	    cmocka_unit_test(test_buf_cap),
	    cmocka_unit_test(test_buf_appendf),
	    cmocka_unit_test_setup_teardown(test_buf_read_file, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests_name("digest", tests, NULL, NULL);
}
