/* bale ledger [SQL]: the node's import history. */
#include <stdio.h>

#include "bale/ledger.h"
#include "cli/cli.h"

static const char usage_text[] =
    "Usage: bale ledger [\"SQL\"] [--ledger FILE] [--csv | --json]\n"
    "\n"
    "Lists every import recorded on this node (successful or not), newest first; with SQL,\n"
    "runs one read-only statement on the ledger (schema: docs/ledger-schema.md).\n"
    "\n";

static const cli_opt options[] = {
    {"ledger", 0, "FILE", "the ledger (default $BALE_LEDGER, else " BALE_DEFAULT_LEDGER ")",
     OPT_LEDGER},
    {"csv", 0, NULL, "comma-separated values with a header row (RFC 4180, LF)", OPT_CSV},
    {"no-header", 0, NULL, "with --csv: no header row", OPT_NO_HEADER},
    {"json", 0, NULL, "an array of objects; numbers as numbers, NULL as null", OPT_JSON},
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

const cli_verb cli_verb_ledger = {"ledger", usage_text, options};

static const char listing[] =
    "SELECT i.id, i.time, i.result, i.store, substr(i.bundle_id, 1, 12) AS bundle,"
    " substr(i.signer_key_id, 1, 12) AS signer,"
    " (SELECT count(*) FROM imported_images m WHERE m.import_id = i.id) AS images,"
    " i.blobs_written AS written, i.blobs_present AS present, coalesce(i.error, '') AS error"
    " FROM imports i ORDER BY i.id DESC";

typedef struct ledger_args {
	const char *path;
	enum cli_option format;
	bool no_header;
} ledger_args;

static int ledger_option(void *payload, int opt, const char *arg, bale_error **err)
{
	ledger_args *a = payload;
	if (opt == OPT_LEDGER)
		a->path = arg;
	else if (opt == OPT_CSV || opt == OPT_JSON)
		a->format = (enum cli_option)opt;
	else if (opt == OPT_NO_HEADER)
		a->no_header = true;
	return 0;
}

int cmd_ledger(int argc, char **argv, bale_error **err)
{
	cli_common c;
	ledger_args a = {.format = OPT_HELP};
	sqlite3 *db = NULL;
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_ledger, ledger_option, &a, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	if (optind + 1 < argc)
		rc = cli_usage(err, "want at most one SQL statement (see bale ledger --help)");
	else if ((rc = bale_ledger_open_readonly(&db, cli_ledger_path(a.path), err)) == 0)
		rc = cli_run_query(db, optind < argc ? argv[optind] : listing, a.format,
		                   a.no_header, err);
cleanup:
	sqlite3_close(db);
	cli_common_free(&c);
	return rc;
}
