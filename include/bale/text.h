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

/* Sets err to `label "quoted input": detail` (detail from fmt) and returns code. */
int bale_text_vfail(bale_error **err, int code, const char *label, const char *input,
                    const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

#endif
