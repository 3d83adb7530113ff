/* Showing untrusted text in one-line messages. */
#ifndef BALE_TEXT_H
#define BALE_TEXT_H

#include <stdarg.h>
#include <stddef.h>

#include "bale/error.h"

/* Longer input is cut in messages (positions in messages still count from the start). */
#define BALE_TEXT_QUOTE_MAX 120
/* A buffer that always holds a quoted input. */
#define BALE_TEXT_QUOTE_SIZE (BALE_TEXT_QUOTE_MAX * 4 + 4)

/* Copies text into buf with quotes, backslashes and control or non-ASCII bytes escaped,
 * cut after BALE_TEXT_QUOTE_MAX bytes with "...". */
void bale_text_quote(char *buf, size_t size, const char *text);
/* Names one byte so spaces and control bytes are visible: 'x', "'", byte 0x01,
 * end of input. */
void bale_text_describe_char(char *buf, size_t size, char c);

/* Untrusted text (from a registry or a bundle) made safe to show on a terminal, whole:
 * control characters (C0, DEL, and C1 both as UTF-8 U+0080..U+009F and as raw bytes),
 * bytes that are not UTF-8, line and paragraph separators and Unicode's bidirectional
 * controls become visible escapes ("\x1b", "\u009b", "\u202e"), and a backslash is
 * doubled, so no escape sequence reaches the terminal and none can be faked. Other text,
 * UTF-8 included, is kept. Returns a malloc'd string, NULL when out of memory; *width
 * (when not NULL) gets the number of characters it shows, for aligning columns. */
char *bale_text_for_terminal(const char *text, size_t *width);
/* The same for a one-line message (every bale_error goes through it): backslashes are kept
 * as they are, since messages quote input with bale_text_quote, whose escapes must read the
 * same. NULL when out of memory. */
char *bale_text_for_message(const char *text);

/* Sets err to `label "quoted input": detail` (detail from fmt) and returns code. */
int bale_text_vfail(bale_error **err, int code, const char *label, const char *input,
                    const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

#endif
