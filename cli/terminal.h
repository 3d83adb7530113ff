/* Printing text that came from a registry or a bundle (config labels, creation times,
 * media types, references, anything read from an index) in bale's human-readable output:
 * escaped with bale_text_for_terminal, so no escape sequence reaches the terminal, be it
 * stdout itself or a pager or head(1) it is piped into. --json and --csv output is data
 * and keeps its own escaping. */
#ifndef BALE_CLI_TERMINAL_H
#define BALE_CLI_TERMINAL_H

#include <stddef.h>
#include <stdio.h>

void cli_put_text(FILE *f, const char *text);
/* Escaped, then padded with spaces to width characters. */
void cli_put_padded(FILE *f, const char *text, size_t width);
/* The characters text shows once escaped. */
size_t cli_text_width(const char *text);

#endif
