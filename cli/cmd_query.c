/* bale query BUNDLE "SQL": read-only SQL over the bundle's index.db. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/bundle.h"
#include "bale/index_db.h"
#include "cli/cli.h"

static const char usage_text[] =
    "Usage: bale query BUNDLE \"SQL\" [--csv | --json]\n"
    "\n"
    "Runs one read-only SQL statement on the bundle's index (bale/index.db), reading only\n"
    "the head of the bundle. The schema is in docs/index-schema.md; views such as\n"
    "shared_layers, platform_sizes and registry_images answer common audits.\n"
    "\n"
    "      --csv        comma-separated values with a header row (RFC 4180)\n"
    "      --json       an array of objects\n"
    "  -h, --help       this help\n";

typedef struct rows {
	int ncols;
	char **names;
	char **cells; /* row-major, NULL for SQL NULL */
	size_t n, alloc;
} rows;

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int collect(void *payload, int ncols, const char *const *names, const char *const *values)
{
	rows *r = payload;
	if (!values) { /* the header */
		r->ncols = ncols;
		if (!(r->names = calloc((size_t)ncols, sizeof(char *))))
			return -1;
		for (int i = 0; i < ncols; i++)
			r->names[i] = dup_or_null(names[i]);
		return 0;
	}
	if (r->n == r->alloc) {
		size_t want = r->alloc ? r->alloc * 2 : 64;
		char **grown = realloc(r->cells, want * (size_t)ncols * sizeof(char *));
		if (!grown)
			return -1;
		r->cells = grown;
		r->alloc = want;
	}
	for (int i = 0; i < ncols; i++)
		r->cells[r->n * (size_t)ncols + (size_t)i] = dup_or_null(values[i]);
	r->n++;
	return 0;
}

static void rows_free(rows *r)
{
	for (size_t i = 0; i < r->n * (size_t)r->ncols; i++)
		free(r->cells[i]);
	for (int i = 0; r->names && i < r->ncols; i++)
		free(r->names[i]);
	free(r->cells);
	free(r->names);
}

static void print_csv_field(const char *s)
{
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static void print_rows(const rows *r, enum cli_option format)
{
	int nc = r->ncols;
	if (format == OPT_JSON) {
		json_t *list = json_array();
		for (size_t i = 0; i < r->n; i++) {
			json_t *o = json_object();
			for (int j = 0; j < nc; j++) {
				const char *v = r->cells[i * (size_t)nc + (size_t)j];
				json_object_set_new(o, r->names[j],
				                    v ? json_string(v) : json_null());
			}
			json_array_append_new(list, o);
		}
		json_dumpf(list, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(list);
		return;
	}
	if (format == OPT_CSV) {
		for (int j = 0; j < nc; j++) {
			if (j)
				putchar(',');
			print_csv_field(r->names[j]);
		}
		fputs("\r\n", stdout);
		for (size_t i = 0; i < r->n; i++) {
			for (int j = 0; j < nc; j++) {
				if (j)
					putchar(',');
				print_csv_field(r->cells[i * (size_t)nc + (size_t)j]);
			}
			fputs("\r\n", stdout);
		}
		return;
	}
	/* A table with a column as wide as its widest value. */
	size_t *w = calloc((size_t)nc, sizeof(size_t));
	if (!w)
		return;
	for (int j = 0; j < nc; j++)
		w[j] = strlen(r->names[j]);
	for (size_t i = 0; i < r->n; i++)
		for (int j = 0; j < nc; j++) {
			const char *v = r->cells[i * (size_t)nc + (size_t)j];
			size_t l = v ? strlen(v) : 4;
			if (l > w[j])
				w[j] = l;
		}
	for (int j = 0; j < nc; j++)
		printf("%-*s%s", j + 1 < nc ? (int)w[j] : 0, r->names[j], j + 1 < nc ? "  " : "\n");
	for (size_t i = 0; i < r->n; i++)
		for (int j = 0; j < nc; j++) {
			const char *v = r->cells[i * (size_t)nc + (size_t)j];
			printf("%-*s%s", j + 1 < nc ? (int)w[j] : 0, v ? v : "NULL",
			       j + 1 < nc ? "  " : "\n");
		}
	free(w);
}

int cli_open_index(bale_bundle_reader **reader, sqlite3 **db, const char *path, bale_error **err)
{
	const bale_bundle_head *head = NULL;
	int rc = bale_bundle_open(reader, path, err);
	if (rc < 0)
		return bale_error_wrap(err, "%s", path);
	if ((rc = bale_bundle_read_head(*reader, &head, err)) < 0 ||
	    (rc = bale_bundle_read_index(*reader, &head, err)) < 0 ||
	    (rc = bale_index_db_open_bytes(db, head->index_db, head->index_db_len, err)) < 0) {
		bale_bundle_close(*reader);
		*reader = NULL;
		return bale_error_wrap(err, "%s", path);
	}
	return 0;
}

int cli_run_query(sqlite3 *db, const char *sql, enum cli_option format, bale_error **err)
{
	rows r = {0};
	int rc = bale_index_db_query(db, sql, collect, &r, err);
	if (rc == 0 && r.names)
		print_rows(&r, format);
	rows_free(&r);
	return rc;
}

static int query_option(void *payload, int opt, const char *arg)
{
	if (opt != OPT_CSV && opt != OPT_JSON)
		return -1;
	*(enum cli_option *)payload = (enum cli_option)opt;
	return 0;
}

int cmd_query(int argc, char **argv)
{
	static const struct option longopts[] = {
	    CLI_BUNDLE_LONG_OPTIONS,
	    {"csv", no_argument, NULL, OPT_CSV},
	    {"json", no_argument, NULL, OPT_JSON},
	    {NULL, 0, NULL, 0},
	};
	cli_common c;
	enum cli_option format = OPT_HELP; /* the table */
	bale_error *err = NULL;
	bale_bundle_reader *reader = NULL;
	sqlite3 *db = NULL;
	int status = 0;
	cli_common_init(&c);
	int parsed = cli_parse(&c, argc, argv, "hqv", longopts, usage_text, query_option, &format);
	if (parsed != CLI_PARSED) {
		status = parsed == CLI_HELP_SHOWN ? 0 : 2;
		goto cleanup;
	}
	if (optind + 2 != argc) {
		cli_usage_error("query",
		                "want BUNDLE and one SQL statement (see bale query --help)");
		status = 2;
		goto cleanup;
	}
	if (cli_open_index(&reader, &db, argv[optind], &err) < 0 ||
	    cli_run_query(db, argv[optind + 1], format, &err) < 0)
		status = cli_report("query", err);
cleanup:
	sqlite3_close(db);
	bale_bundle_close(reader);
	cli_common_free(&c);
	return status;
}
