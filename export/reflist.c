#include "bale/reflist.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 4096

int bale_reflist_add(bale_reflist *list, const char *ref, bale_error **err)
{
	char **grown = realloc(list->refs, (list->n + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	list->refs = grown;
	if (!(list->refs[list->n] = strdup(ref)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	list->n++;
	return 0;
}

/* Cuts a comment and surrounding white space off a line, in place. */
static char *clean_line(char *line)
{
	for (char *p = line; *p; p++)
		if (*p == '#' && (p == line || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	while (isspace((unsigned char)*line))
		line++;
	size_t n = strlen(line);
	while (n && isspace((unsigned char)line[n - 1]))
		line[--n] = '\0';
	return line;
}

int bale_reflist_read(bale_reflist *list, const char *path, bale_error **err)
{
	int rc = 0;
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "re");
	char line[MAX_LINE];
	if (!f)
		return bale_error_set_errno(err, errno == ENOENT ? BALE_ENOTFOUND : BALE_EGENERIC,
		                            errno, "image list %s", path);
	for (unsigned lineno = 1; fgets(line, sizeof(line), f); lineno++) {
		if (!strchr(line, '\n') && !feof(f)) {
			rc = bale_error_set(err, BALE_EUSAGE, "%s:%u: line longer than %d bytes",
			                    path, lineno, MAX_LINE - 1);
			goto cleanup;
		}
		char *ref = clean_line(line);
		if (*ref && (rc = bale_reflist_add(list, ref, err)) < 0)
			goto cleanup;
		/* A reference with white space inside is caught by the reference parser. */
	}
	if (ferror(f))
		rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "read %s", path);
cleanup:
	if (!is_stdin)
		fclose(f);
	return rc;
}

void bale_reflist_free(bale_reflist *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->refs[i]);
	free(list->refs);
	list->refs = NULL;
	list->n = 0;
}
