/* The end of every run: main prints the one error a verb returns and picks the exit
 * status. Exit statuses belong to the command line, not to libbale (docs/design.md §3). */
#ifndef BALE_CLI_REPORT_H
#define BALE_CLI_REPORT_H

#include <stdio.h>

#include "bale/error.h"

/* Process exit status for a bale_code: 0 ok, 1 other error, 2 usage, 3..8 as in
 * docs/design.md §3; a code bale does not know is 1. */
int cli_exit_status(int code);

/* Prints "bale VERB: message" (or "bale: message" without a verb) on f, one line, and
 * frees err. Nothing here allocates, so an out-of-memory error is still printed. */
void cli_report(FILE *f, const char *verb, bale_error *err);

/* What main does with a verb's result: rc is what the verb returned (0 or a negative
 * bale_code), err its error, NULL when it has nothing to say (quiet runs, findings already
 * printed). Prints err when there is one and returns the exit status: err's code when
 * there is an error, rc's otherwise. */
int cli_finish(FILE *f, const char *verb, int rc, bale_error *err);

#endif
