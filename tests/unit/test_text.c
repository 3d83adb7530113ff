/* Untrusted text made safe for messages and for a terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "bale/error.h"
#include "bale/text.h"

static void expect_terminal(const char *in, const char *want, size_t want_width)
{
	size_t width = 0;
	char *got = bale_text_for_terminal(in, &width);
	assert_non_null(got);
	assert_string_equal(got, want);
	assert_int_equal(width, want_width);
	free(got);
}

/* Nothing a terminal acts on survives: C0, DEL, C1 in UTF-8 and raw, bidi controls. */
static void test_terminal_escapes(void **state)
{
	expect_terminal("plain text", "plain text", 10);
	expect_terminal("", "", 0);
	expect_terminal("\x1b]0;PWNED\x07retitled", "\\x1b]0;PWNED\\x07retitled", 24);
	expect_terminal("\x1b[31;1mred\x1b[0m", "\\x1b[31;1mred\\x1b[0m", 20);
	expect_terminal("line1\nline2\r\t", "line1\\x0aline2\\x0d\\x09", 22);
	expect_terminal("del\x7f", "del\\x7f", 7);
	expect_terminal("\xc2\x9b"
	                "31m",
	                "\\u009b31m", 9); /* C1 CSI as UTF-8 */
	expect_terminal("\x9b"
	                "31m",
	                "\\x9b31m", 7); /* C1 CSI as a raw byte */
	expect_terminal("abc\xe2\x80\xae"
	                "dcba",
	                "abc\\u202edcba", 13);
	expect_terminal("a\xe2\x80\xa8"
	                "b",
	                "a\\u2028b", 8);
	/* a backslash is doubled, so "\x1b" in the text cannot pass for an escaped ESC */
	expect_terminal("C:\\x1b", "C:\\\\x1b", 7);
	/* UTF-8 text is kept and counts one column a character */
	expect_terminal("Gr\xc3\xbc\xc3\x9f"
	                "e",
	                "Gr\xc3\xbc\xc3\x9f"
	                "e",
	                5);
	expect_terminal("\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac", 2);
	/* what is not UTF-8 is shown byte by byte: overlong, surrogate, cut short */
	expect_terminal("\xc0\xaf", "\\xc0\\xaf", 8);
	expect_terminal("\xed\xa0\x80", "\\xed\\xa0\\x80", 12);
	expect_terminal("ab\xe2\x82", "ab\\xe2\\x82", 10);
	expect_terminal("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80", 16);
}

static void test_quote(void **state)
{
	char buf[BALE_TEXT_QUOTE_SIZE];
	bale_text_quote(buf, sizeof(buf), "a\"b\\c\x1b");
	assert_string_equal(buf, "a\\\"b\\\\c\\x1b");
}

/* Every error message is one line a terminal only displays, whatever it quotes. */
static void test_error_messages(void **state)
{
	bale_error *err = NULL;
	bale_error_set(&err, BALE_ENETWORK, "registry says: %s", "\x1b]0;PWNED\x07 line\nnext");
	bale_error_wrap(&err, "pull %s", "x\xc2\x9by");
	assert_string_equal(bale_error_message(err),
	                    "pull x\\u009by: registry says: \\x1b]0;PWNED\\x07 line\\x0anext");
	bale_error_free(err);
	err = NULL;
	/* backslashes of quoted input read as they were written */
	bale_error_set(&err, BALE_EUSAGE, "invalid reference \"a\\x01\": %s", "Grüße");
	assert_string_equal(bale_error_message(err), "invalid reference \"a\\x01\": Grüße");
	bale_error_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_terminal_escapes),
	    cmocka_unit_test(test_quote),
	    cmocka_unit_test(test_error_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
