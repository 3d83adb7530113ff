/* bale query BUNDLE "SQL": read-only SQL over the bundle's index.db. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/bundle.h"
#include "bale/index_db.h"
#include "bale/text.h"
#include "cli/cli.h"

static const char usage_text[] =
    "Usage: bale query BUNDLE \"SQL\" [--csv | --json]\n"
    "\n"
    "Runs one read-only SQL statement on the bundle's index (bale/index.db), reading only\n"
    "the head of the bundle. The schema is in docs/index-schema.md; views such as\n"
    "shared_layers, platform_sizes and registry_images answer common audits.\n"
    "\n";

static const cli_opt options[] = {
    {"csv", 0, NULL, "comma-separated values with a header row (RFC 4180, LF)", OPT_CSV},
    {"no-header", 0, NULL, "with --csv: no header row", OPT_NO_HEADER},
    {"json", 0, NULL, "an array of objects; numbers as numbers, NULL as null", OPT_JSON},
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

const cli_verb cli_verb_query = {"query", usage_text, options};

/* A table is laid out once every row is in, so its rows are held: up to this much text.
 * CSV and JSON stream, row by row, whatever the size of the result. */
#define TABLE_CAP (64u << 20)
#define TABLE_TOO_BIG 2

typedef struct out_state {
	enum cli_option format;
	bool no_header; /* --csv --no-header */
	int ncols;
	char **names; /* the table: escaped */
	size_t *widths;
	char **cells; /* the table: escaped, row-major, NULL for SQL NULL */
	size_t n, alloc, bytes;
	size_t json_rows; /* JSON: rows printed so far */
} out_state;

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

static void print_csv_row(int ncols, const char *const *fields)
{
	for (int j = 0; j < ncols; j++) {
		if (j)
			putchar(',');
		print_csv_field(fields[j]);
	}
	putchar('\n'); /* LF, as every other tool on the node writes lines */
}

/* One object of the array, indented as json_dumpf indents a whole array. */
static json_t *typed(const char *value, int type)
{
	if (!value || type == SQLITE_NULL)
		return json_null();
	if (type == SQLITE_INTEGER)
		return json_integer(strtoll(value, NULL, 10));
	if (type == SQLITE_FLOAT)
		return json_real(strtod(value, NULL));
	return json_string(value);
}

static int print_json_row(out_state *o, const char *const *names, const char *const *values,
                          const int *types)
{
	json_t *obj = json_object();
	for (int j = 0; obj && j < o->ncols; j++)
		json_object_set_new(obj, names[j], typed(values[j], types[j]));
	char *text = obj ? json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(obj);
	if (!text)
		return -1;
	fputs(o->json_rows++ ? ",\n  " : "[\n  ", stdout);
	for (const char *c = text; *c; c++) {
		putchar(*c);
		if (*c == '\n')
			fputs("  ", stdout);
	}
	free(text);
	return 0;
}

static char *escaped(const char *s, size_t *width)
{
	return bale_text_for_terminal(s ? s : "NULL", width);
}

static int keep_table_row(out_state *o, const char *const *values)
{
	size_t nc = (size_t)o->ncols;
	if (o->n == o->alloc) {
		size_t want = o->alloc ? o->alloc * 2 : 64;
		char **grown = realloc(o->cells, want * nc * sizeof(char *));
		if (!grown)
			return -1;
		o->cells = grown;
		o->alloc = want;
	}
	for (size_t j = 0; j < nc; j++) {
		size_t w = 0;
		char *cell = escaped(values[j], &w);
		if (!cell) {
			for (size_t k = 0; k < j; k++)
				free(o->cells[o->n * nc + k]);
			return -1;
		}
		o->cells[o->n * nc + j] = cell;
		o->bytes += strlen(cell) + sizeof(char *);
		if (w > o->widths[j])
			o->widths[j] = w;
	}
	o->n++;
	return o->bytes > TABLE_CAP ? TABLE_TOO_BIG : 0;
}

static int emit(void *payload, int ncols, const char *const *names, const char *const *values,
                const int *types)
{
	out_state *o = payload;
	if (!values) { /* the header */
		o->ncols = ncols;
		if (o->format == OPT_CSV) {
			if (!o->no_header)
				print_csv_row(ncols, names);
			return 0;
		}
		if (o->format == OPT_JSON)
			return 0;
		o->names = calloc((size_t)ncols + 1, sizeof(char *));
		o->widths = calloc((size_t)ncols + 1, sizeof(size_t));
		if (!o->names || !o->widths)
			return -1;
		for (int j = 0; j < ncols; j++)
			if (!(o->names[j] = escaped(names[j], &o->widths[j])))
				return -1;
		return 0;
	}
	if (o->format == OPT_CSV) {
		print_csv_row(ncols, values);
		return 0;
	}
	if (o->format == OPT_JSON)
		return print_json_row(o, names, values, types);
	return keep_table_row(o, values);
}

/* Characters an escaped string shows: one per UTF-8 sequence. */
static size_t columns(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static void print_table(const out_state *o)
{
	size_t nc = (size_t)o->ncols;
	for (size_t j = 0; j < nc; j++)
		printf("%s%*s%s", o->names[j],
		       j + 1 < nc ? (int)(o->widths[j] - columns(o->names[j])) : 0, "",
		       j + 1 < nc ? "  " : "\n");
	for (size_t i = 0; i < o->n; i++)
		for (size_t j = 0; j < nc; j++) {
			const char *v = o->cells[i * nc + j];
			printf("%s%*s%s", v, j + 1 < nc ? (int)(o->widths[j] - columns(v)) : 0, "",
			       j + 1 < nc ? "  " : "\n");
		}
}

static void out_free(out_state *o)
{
	for (size_t i = 0; o->cells && i < o->n * (size_t)o->ncols; i++)
		free(o->cells[i]);
	for (int j = 0; o->names && j < o->ncols; j++)
		free(o->names[j]);
	free(o->cells);
	free(o->names);
	free(o->widths);
}

int cli_run_query(sqlite3 *db, const char *sql, enum cli_option format, bool no_header,
                  bale_error **err)
{
	out_state o = {.format = format, .no_header = no_header};
	int rc = bale_index_db_query_typed(db, sql, emit, &o, err);
	if (rc == TABLE_TOO_BIG)
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "query: the result is over %u MB, too much to lay out as a "
		                    "table; --csv and --json stream it",
		                    TABLE_CAP >> 20);
	else if (rc > 0 || (rc < 0 && !(err && *err)))
		rc = bale_error_set(err, BALE_EGENERIC, "query: out of memory");
	if (format == OPT_JSON && (rc == 0 || o.json_rows))
		fputs(o.json_rows ? "\n]\n" : "[]\n", stdout);
	else if (rc == 0 && format != OPT_CSV && o.names)
		print_table(&o);
	out_free(&o);
	return rc;
}

typedef struct query_args {
	enum cli_option format;
	bool no_header;
} query_args;

static int query_option(void *payload, int opt, const char *arg, bale_error **err)
{
	query_args *a = payload;
	if (opt == OPT_CSV || opt == OPT_JSON)
		a->format = (enum cli_option)opt;
	else if (opt == OPT_NO_HEADER)
		a->no_header = true;
	return 0;
}

int cmd_query(int argc, char **argv, bale_error **err)
{
	cli_common c;
	query_args a = {.format = OPT_HELP}; /* the table */
	bale_bundle_reader *reader = NULL;
	sqlite3 *db = NULL;
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_query, query_option, &a, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	if (optind + 2 != argc)
		rc = cli_usage(err, "want BUNDLE and one SQL statement (see bale query --help)");
	else if ((rc = bale_index_db_open_bundle(&reader, &db, argv[optind], err)) == 0)
		rc = cli_run_query(db, argv[optind + 1], a.format, a.no_header, err);
cleanup:
	sqlite3_close(db);
	bale_bundle_close(reader);
	cli_common_free(&c);
	return rc;
}
