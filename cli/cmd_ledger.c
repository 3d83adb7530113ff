/* bale ledger [SQL]: the node's import history. */
#include <stdio.h>

#include "bale/ledger.h"
#include "cli/cli.h"

static const char usage_text[] =
    "Usage: bale ledger [\"SQL\"] [--ledger FILE] [--csv | --json]\n"
    "\n"
    "Lists every import recorded on this node (successful or not), newest first; with SQL,\n"
    "runs one read-only statement on the ledger (schema: docs/ledger-schema.md).\n"
    "\n"
    "      --ledger FILE   the ledger (default " BALE_DEFAULT_LEDGER ")\n"
    "      --csv           comma-separated values with a header row\n"
    "      --json          an array of objects\n"
    "  -h, --help          this help\n";

static const char listing[] =
    "SELECT i.id, i.time, i.result, i.store, substr(i.bundle_id, 1, 12) AS bundle,"
    " substr(i.signer_key_id, 1, 12) AS signer,"
    " (SELECT count(*) FROM imported_images m WHERE m.import_id = i.id) AS images,"
    " i.blobs_written AS written, i.blobs_present AS present, coalesce(i.error, '') AS error"
    " FROM imports i ORDER BY i.id DESC";

typedef struct ledger_args {
	const char *path;
	enum cli_option format;
} ledger_args;

static int ledger_option(void *payload, int opt, const char *arg)
{
	ledger_args *a = payload;
	if (opt == OPT_LEDGER)
		a->path = arg;
	else if (opt == OPT_CSV || opt == OPT_JSON)
		a->format = (enum cli_option)opt;
	else
		return -1;
	return 0;
}

int cmd_ledger(int argc, char **argv)
{
	static const struct option longopts[] = {
	    CLI_BUNDLE_LONG_OPTIONS,
	    {"ledger", required_argument, NULL, OPT_LEDGER},
	    {"csv", no_argument, NULL, OPT_CSV},
	    {"json", no_argument, NULL, OPT_JSON},
	    {NULL, 0, NULL, 0},
	};
	cli_common c;
	ledger_args a = {.path = BALE_DEFAULT_LEDGER, .format = OPT_HELP};
	bale_error *err = NULL;
	sqlite3 *db = NULL;
	int status = 0;
	cli_common_init(&c);
	int parsed = cli_parse(&c, argc, argv, "hqv", longopts, usage_text, ledger_option, &a);
	if (parsed != CLI_PARSED) {
		status = parsed == CLI_HELP_SHOWN ? 0 : 2;
		goto cleanup;
	}
	if (optind + 1 < argc) {
		cli_usage_error("ledger",
		                "want at most one SQL statement (see bale ledger --help)");
		status = 2;
		goto cleanup;
	}
	if (bale_ledger_open_readonly(&db, a.path, &err) < 0 ||
	    cli_run_query(db, optind < argc ? argv[optind] : listing, a.format, &err) < 0)
		status = cli_report("ledger", err);
cleanup:
	sqlite3_close(db);
	cli_common_free(&c);
	return status;
}
