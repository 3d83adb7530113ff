#include "bale/error.h"
#include "bale/text.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bale_error {
	int code;
	char *message;
};

/* What *err becomes when not even an error can be allocated: never written, never freed,
 * so an allocation failure still reaches the user as a message, not as an empty line. */
static bale_error out_of_memory = {BALE_EGENERIC, NULL};

static char *vformat(const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return NULL;
	char *s = malloc((size_t)n + 1);
	if (s)
		vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

/* Whatever a message quotes (a registry's error text, a name from a bundle), it stays one
 * line a terminal only displays: control characters and the like become escapes. */
static char *one_line(char *message)
{
	if (!message)
		return NULL;
	bool plain = true;
	for (const unsigned char *c = (const unsigned char *)message; plain && *c; c++)
		plain = *c >= 0x20 && *c < 0x7f;
	if (plain)
		return message;
	char *safe = bale_text_for_message(message);
	free(message);
	return safe;
}

static int set_message(bale_error **err, int code, char *message)
{
	message = one_line(message);
	if (!err || *err) { /* the first (innermost) error wins */
		free(message);
		return code;
	}
	bale_error *e = message ? malloc(sizeof(*e)) : NULL;
	if (!e) {
		free(message);
		*err = &out_of_memory;
		return code;
	}
	e->code = code;
	e->message = message;
	*err = e;
	return code;
}

int bale_error_setv(bale_error **err, int code, const char *fmt, va_list ap)
{
	return set_message(err, code, vformat(fmt, ap));
}

int bale_error_set(bale_error **err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = bale_error_setv(err, code, fmt, ap);
	va_end(ap);
	return rc;
}

int bale_error_set_errno(bale_error **err, int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = vformat(fmt, ap);
	va_end(ap);
	if (m) {
		const char *why = strerror(errnum);
		size_t n = strlen(m) + strlen(why) + 3;
		char *full = malloc(n);
		if (full)
			snprintf(full, n, "%s: %s", m, why);
		free(m);
		m = full;
	}
	return set_message(err, code, m);
}

int bale_error_wrap(bale_error **err, const char *fmt, ...)
{
	if (!err || !*err)
		return BALE_EGENERIC;
	if (*err == &out_of_memory) /* no room for context either */
		return out_of_memory.code;
	va_list ap;
	va_start(ap, fmt);
	char *ctx = one_line(vformat(fmt, ap));
	va_end(ap);
	if (ctx) {
		const char *inner = bale_error_message(*err);
		size_t n = strlen(ctx) + strlen(inner) + 3;
		char *full = malloc(n);
		if (full) {
			snprintf(full, n, "%s: %s", ctx, inner);
			free((*err)->message);
			(*err)->message = full;
		}
		free(ctx);
	}
	return (*err)->code;
}

int bale_error_code(const bale_error *e)
{
	return e ? e->code : BALE_OK;
}

const char *bale_error_message(const bale_error *e)
{
	if (!e)
		return "";
	return e->message ? e->message : "out of memory";
}

void bale_error_free(bale_error *e)
{
	if (!e || e == &out_of_memory)
		return;
	free(e->message);
	free(e);
}

void bale_error_clear(bale_error **err)
{
	if (err) {
		bale_error_free(*err);
		*err = NULL;
	}
}
