/* Errors with context: every fallible libbale function returns 0 or a negative
 * bale_code and fills a trailing `bale_error **err`. Callers add context with
 * bale_error_wrap() on the way up; only the CLI prints the final one-line message. */
#ifndef BALE_ERROR_H
#define BALE_ERROR_H

#include <stdarg.h>

/* Negative codes; the CLI exits with the absolute value (cli/report.h, docs/design.md §3). */
typedef enum bale_code {
	BALE_OK = 0,
	BALE_EGENERIC = -1,  /* other error */
	BALE_EUSAGE = -2,    /* bad arguments, malformed reference */
	BALE_EVERIFY = -3,   /* content failed verification: digest, size, structure */
	BALE_ETRUST = -4,    /* signature or trust failure */
	BALE_EAUTH = -5,     /* authentication or authorization refused */
	BALE_ENOTFOUND = -6, /* image, tag or platform not found */
	BALE_ENETWORK = -7,  /* network or registry failure after retries */
	BALE_ESTORE = -8,    /* store failure */
	BALE_EFORMAT = -9,   /* a format bale does not carry (Docker schema 1 manifests) */
} bale_code;

typedef struct bale_error bale_error;

/* Sets *err (when err is not NULL and *err is NULL) and returns code. */
int bale_error_set(bale_error **err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* bale_error_set with a va_list. */
int bale_error_setv(bale_error **err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Like bale_error_set, appending ": strerror(errnum)". */
int bale_error_set_errno(bale_error **err, int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prepends "context: " to the message in *err and returns its code
 * (BALE_EGENERIC when *err is unset). */
int bale_error_wrap(bale_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int bale_error_code(const bale_error *e);
const char *bale_error_message(const bale_error *e);
void bale_error_free(bale_error *e);
/* Clears *err and sets it to NULL. */
void bale_error_clear(bale_error **err);

#endif
