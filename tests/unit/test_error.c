/* Errors with context: the innermost error wins, each wrap adds its operation, what a
 * message quotes stays one displayable line, and an allocation failure anywhere still
 * leaves a message to print (this executable links with --wrap=malloc to force them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bale/error.h"

/* Allocations libbale makes from here on succeed this many times, then fail; -1: never. */
static int mallocs_left = -1;

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
	if (mallocs_left == 0)
		return NULL;
	if (mallocs_left > 0)
		mallocs_left--;
	return __real_malloc(n);
}

static void test_context_and_codes(void **state)
{
	bale_error *err = NULL;
	assert_int_equal(
	    bale_error_set(&err, BALE_EVERIFY, "blobs/sha256/%s: digest mismatch", "ab12"),
	    BALE_EVERIFY);
	assert_int_equal(bale_error_wrap(&err, "verify %s", "site.tar.zst"), BALE_EVERIFY);
	assert_string_equal(bale_error_message(err),
	                    "verify site.tar.zst: blobs/sha256/ab12: digest mismatch");
	/* the first (innermost) error wins */
	assert_int_equal(bale_error_set(&err, BALE_ENETWORK, "later"), BALE_ENETWORK);
	assert_int_equal(bale_error_code(err), BALE_EVERIFY);
	assert_int_equal(bale_error_exit_status(bale_error_code(err)), 3);
	bale_error_clear(&err);
	assert_null(err);
	assert_int_equal(bale_error_set_errno(&err, BALE_ESTORE, ENOENT, "open %s", "/x"),
	                 BALE_ESTORE);
	assert_string_equal(bale_error_message(err), "open /x: No such file or directory");
	bale_error_free(err);
	/* nothing to wrap; no place to put an error */
	err = NULL;
	assert_int_equal(bale_error_wrap(&err, "context"), BALE_EGENERIC);
	assert_null(err);
	assert_int_equal(bale_error_set(NULL, BALE_EUSAGE, "dropped"), BALE_EUSAGE);
	assert_string_equal(bale_error_message(NULL), "");
	assert_int_equal(bale_error_code(NULL), BALE_OK);
}

static void test_exit_statuses(void **state)
{
	assert_int_equal(bale_error_exit_status(BALE_OK), 0);
	for (int code = BALE_EGENERIC; code >= BALE_ESTORE; code--)
		assert_int_equal(bale_error_exit_status(code), -code);
	assert_int_equal(bale_error_exit_status(-42), 1); /* unknown: other error */
}

/* What a registry or a bundle says reaches the terminal as text, never as control. */
static void test_one_displayable_line(void **state)
{
	bale_error *err = NULL;
	bale_error_set(&err, BALE_EVERIFY, "name %s", "evil\x1b]0;owned\x07\nsecond line");
	bale_error_wrap(&err, "import \x1b[31mred");
	const char *m = bale_error_message(err);
	for (const char *c = m; *c; c++)
		assert_true((unsigned char)*c >= 0x20 && (unsigned char)*c != 0x7f);
	assert_non_null(strstr(m, "evil"));
	assert_non_null(strstr(m, "second line"));
	bale_error_free(err);
}

/* Every allocation the error module makes, failed in turn: a message is always there. */
static void test_allocation_failures(void **state)
{
	for (int k = 0; k < 8; k++) {
		bale_error *err = NULL;
		mallocs_left = k;
		int rc = bale_error_set_errno(&err, BALE_EVERIFY, EIO, "member %s", "index.db");
		rc = bale_error_wrap(&err, "verify %s", "site.tar.zst");
		mallocs_left = -1;
		assert_non_null(err);
		const char *m = bale_error_message(err);
		assert_true(strcmp(m, "out of memory") == 0 ||
		            strstr(m, "member index.db: Input/output error") != NULL);
		assert_true(rc == BALE_EVERIFY || rc == BALE_EGENERIC);
		assert_int_not_equal(bale_error_exit_status(bale_error_code(err)), 0);
		bale_error_clear(&err); /* the static out-of-memory error is not freed */
		assert_null(err);
	}
	/* no allocation at all: the out-of-memory error, then a second one stays it */
	bale_error *err = NULL;
	mallocs_left = 0;
	bale_error_set(&err, BALE_ESTORE, "lost %d", 1);
	bale_error_set(&err, BALE_EUSAGE, "also lost");
	bale_error_wrap(&err, "context");
	mallocs_left = -1;
	assert_string_equal(bale_error_message(err), "out of memory");
	assert_int_equal(bale_error_exit_status(bale_error_code(err)), 1);
	bale_error_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_context_and_codes),
	    cmocka_unit_test(test_exit_statuses),
	    cmocka_unit_test(test_one_displayable_line),
	    cmocka_unit_test(test_allocation_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
