/* Text from registries and bundles, shown to a person. */
#include "cli/terminal.h"

#include <stdlib.h>

#include "bale/text.h"

void cli_put_text(FILE *f, const char *text)
{
	cli_put_padded(f, text, 0);
}

void cli_put_padded(FILE *f, const char *text, size_t width)
{
	size_t shown = 0;
	char *safe = bale_text_for_terminal(text ? text : "", &shown);
	fputs(safe ? safe : "?", f);
	for (; safe && shown < width; shown++)
		fputc(' ', f);
	free(safe);
}

size_t cli_text_width(const char *text)
{
	size_t shown = 0;
	free(bale_text_for_terminal(text ? text : "", &shown));
	return shown;
}
