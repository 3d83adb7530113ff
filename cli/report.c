/* The one error message of a run and its exit status. */
#include "cli/report.h"

int cli_exit_status(int code)
{
	if (code >= 0)
		return 0;
	if (code < BALE_EFORMAT)
		return 1;
	return -code;
}

void cli_report(FILE *f, const char *verb, bale_error *err)
{
	/* The message is one displayable line already: core/error.c escapes what it quotes
	 * when the error is made, so it is printed as it is, and printing needs no memory. */
	fprintf(f, "bale%s%s: %s\n", verb ? " " : "", verb ? verb : "", bale_error_message(err));
	fflush(f);
	bale_error_free(err);
}

int cli_finish(FILE *f, const char *verb, int rc, bale_error *err)
{
	if (!err)
		return cli_exit_status(rc);
	int code = bale_error_code(err);
	cli_report(f, verb, err);
	return cli_exit_status(code ? code : BALE_EGENERIC);
}
