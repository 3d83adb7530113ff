/* Image lists for `bale export -f LIST`: one reference per line, `#` starts a comment
 * (at the start of a line or after white space), blank lines are skipped. */
#ifndef BALE_REFLIST_H
#define BALE_REFLIST_H

#include <stddef.h>

#include "bale/error.h"

typedef struct bale_reflist {
	char **refs;
	size_t n;
} bale_reflist;

/* Appends the references of a file ("-": standard input). Errors name file:line. */
int bale_reflist_read(bale_reflist *list, const char *path, bale_error **err);
/* Appends one reference (a copy). */
int bale_reflist_add(bale_reflist *list, const char *ref, bale_error **err);
void bale_reflist_free(bale_reflist *list);

#endif
