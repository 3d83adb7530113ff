#include "bale/text.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bale_text_quote(char *buf, size_t size, const char *text)
{
	size_t n = 0, i;
	for (i = 0; text[i] != '\0' && i < BALE_TEXT_QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)text[i];
		char esc[5];
		if (c == '"' || c == '\\')
			snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			snprintf(esc, sizeof(esc), "\\x%02x", c);
		else
			snprintf(esc, sizeof(esc), "%c", c);
		size_t len = strlen(esc);
		if (n + len + 4 > size)
			break;
		memcpy(buf + n, esc, len);
		n += len;
	}
	if (text[i] != '\0') {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
}

void bale_text_describe_char(char *buf, size_t size, char c)
{
	unsigned char u = (unsigned char)c;
	if (c == '\0')
		snprintf(buf, size, "end of input");
	else if (c == '\'')
		snprintf(buf, size, "\"'\"");
	else if (u >= 0x20 && u < 0x7f)
		snprintf(buf, size, "'%c'", c);
	else
		snprintf(buf, size, "byte 0x%02x", u);
}

int bale_text_vfail(bale_error **err, int code, const char *label, const char *input,
                    const char *fmt, va_list ap)
{
	char quoted[BALE_TEXT_QUOTE_SIZE];
	char detail[256];
	bale_text_quote(quoted, sizeof(quoted), input);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	return bale_error_set(err, code, "%s \"%s\": %s", label, quoted, detail);
}

/* Length of the UTF-8 sequence at s (1 to 4) and its code point, or 0 when it is not
 * valid UTF-8 (overlong, a surrogate, past U+10FFFF, cut short). */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
	size_t n;
	uint32_t c = s[0], min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Code points a terminal acts on or that change how the rest of the line reads. */
static int needs_escape(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x61c || cp == 0x200e ||
	       cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static char *escape(const char *text, size_t *width, bool double_backslash)
{
	size_t len = strlen(text), at = 0, shown = 0;
	/* Worst case: every byte becomes \xNN. */
	char *out = malloc(len * 4 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		const unsigned char *u = (const unsigned char *)text + i;
		uint32_t cp = 0;
		size_t n = utf8_decode(u, &cp);
		if (n == 0) { /* not UTF-8: the byte itself, visibly */
			at += (size_t)snprintf(out + at, 5, "\\x%02x", u[0]);
			shown += 4;
			i++;
			continue;
		}
		if (cp == '\\' && double_backslash) {
			memcpy(out + at, "\\\\", 2);
			at += 2;
			shown += 2;
		} else if (needs_escape(cp) && cp < 0x80) {
			at += (size_t)snprintf(out + at, 5, "\\x%02x", (unsigned)cp);
			shown += 4;
		} else if (needs_escape(cp)) {
			at += (size_t)snprintf(out + at, 7, "\\u%04x", (unsigned)cp);
			shown += 6;
		} else {
			memcpy(out + at, u, n);
			at += n;
			shown++;
		}
		i += n;
	}
	out[at] = '\0';
	if (width)
		*width = shown;
	return out;
}

char *bale_text_for_terminal(const char *text, size_t *width)
{
	return escape(text, width, true);
}

char *bale_text_for_message(const char *text)
{
	return escape(text, NULL, false);
}
