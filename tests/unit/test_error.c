/* Errors with context: the innermost error wins, each wrap adds its operation, what a
 * message quotes stays one displayable line, and an allocation failure anywhere still
 * leaves a message to print, which the command line's last step (cli/report.c) prints
 * with its exit status (this executable links with --wrap=malloc to force them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/error.h"
#include "cli/report.h"

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
	assert_int_equal(cli_exit_status(bale_error_code(err)), 3);
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
	assert_int_equal(cli_exit_status(BALE_OK), 0);
	for (int code = BALE_EGENERIC; code >= BALE_EFORMAT; code--)
		assert_int_equal(cli_exit_status(code), -code);
	assert_int_equal(cli_exit_status(-42), 1); /* unknown: other error */
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
		assert_int_not_equal(cli_exit_status(bale_error_code(err)), 0);
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
	assert_int_equal(cli_exit_status(bale_error_code(err)), 1);
	bale_error_free(err);
}

/* What main does with a verb's result, read back from a file it printed to. The file's
 * buffer is ours, so printing into it allocates nothing. */
typedef struct printed {
	FILE *f;
	char buf[BUFSIZ];
	char line[512];
} printed;

static void printed_open(printed *p)
{
	p->f = tmpfile();
	assert_non_null(p->f);
	assert_int_equal(setvbuf(p->f, p->buf, _IOFBF, sizeof(p->buf)), 0);
}

static const char *printed_close(printed *p)
{
	rewind(p->f);
	size_t n = fread(p->line, 1, sizeof(p->line) - 1, p->f);
	p->line[n] = '\0';
	fclose(p->f);
	return p->line;
}

/* main prints one line and exits with the error's status; a run with nothing to say (a
 * quiet failure, findings already printed) prints nothing and exits with its code. */
static void test_main_prints_once(void **state)
{
	printed p;
	bale_error *err = NULL;
	printed_open(&p);
	bale_error_set(&err, BALE_ENOTFOUND, "open %s: No such file or directory", "/x.tar.zst");
	assert_int_equal(cli_finish(p.f, "import", BALE_ENOTFOUND, err), 6);
	assert_string_equal(printed_close(&p),
	                    "bale import: open /x.tar.zst: No such file or directory\n");
	printed_open(&p);
	assert_int_equal(cli_finish(p.f, "check", BALE_EVERIFY, NULL), 3);
	assert_int_equal(cli_finish(p.f, "ls", 0, NULL), 0);
	assert_string_equal(printed_close(&p), "");
	/* the error's own code decides, whatever the verb returned */
	printed_open(&p);
	err = NULL;
	bale_error_set(&err, BALE_EUSAGE, "want one BUNDLE");
	assert_int_equal(cli_finish(p.f, "ls", BALE_EGENERIC, err), 2);
	assert_string_equal(printed_close(&p), "bale ls: want one BUNDLE\n");
}

/* An allocation failure anywhere on the way, with malloc still failing while main
 * prints: the user still reads a line, "out of memory" at worst, and the status fits. */
static void test_main_prints_out_of_memory(void **state)
{
	for (int k = 0; k < 8; k++) {
		printed p;
		bale_error *err = NULL;
		printed_open(&p);
		mallocs_left = k;
		int rc = bale_error_set_errno(&err, BALE_EVERIFY, EIO, "member %s", "index.db");
		rc = bale_error_wrap(&err, "read %s", "site.tar.zst");
		mallocs_left = 0;
		int status = cli_finish(p.f, "verify", rc, err);
		mallocs_left = -1;
		const char *line = printed_close(&p);
		if (strcmp(line, "bale verify: out of memory\n") == 0) {
			assert_int_equal(status, 1);
		} else {
			assert_non_null(strstr(line, "member index.db: Input/output error\n"));
			assert_int_equal(strncmp(line, "bale verify: ", 13), 0);
			assert_int_equal(status, 3);
		}
	}
	/* nothing could be allocated at all */
	printed p;
	bale_error *err = NULL;
	printed_open(&p);
	mallocs_left = 0;
	int rc = bale_error_set(&err, BALE_ESTORE, "store %s", "oci:/s");
	int status = cli_finish(p.f, "pull", rc, err);
	mallocs_left = -1;
	assert_string_equal(printed_close(&p), "bale pull: out of memory\n");
	assert_int_equal(status, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_context_and_codes),
	    cmocka_unit_test(test_exit_statuses),
	    cmocka_unit_test(test_one_displayable_line),
	    cmocka_unit_test(test_allocation_failures),
	    cmocka_unit_test(test_main_prints_once),
	    cmocka_unit_test(test_main_prints_out_of_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
