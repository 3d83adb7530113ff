#include "bale/text.h"

#include <stdio.h>
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
