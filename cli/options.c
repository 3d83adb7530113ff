/* A verb's option table made into what getopt_long wants and into its --help listing, so
 * that what a verb accepts and what it lists cannot drift apart. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* Text of --help starts at this column at most; a longer option pushes its own text
 * further right, and continuation lines still start here. */
#define HELP_COLUMN_MAX 29

/* Characters, not bytes: argument names such as "P[,P…]" hold UTF-8. */
static size_t columns(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static size_t option_width(const cli_opt *o)
{
	return 8 + columns(o->name) + (o->arg ? 1 + columns(o->arg) : 0);
}

void cli_print_help(FILE *f, const cli_verb *verb)
{
	size_t column = 0;
	for (const cli_opt *o = verb->options; o->name || o->help; o++)
		if (o->name && option_width(o) + 2 > column)
			column = option_width(o) + 2;
	if (column > HELP_COLUMN_MAX)
		column = HELP_COLUMN_MAX;
	fputs(verb->usage, f);
	for (const cli_opt *o = verb->options; o->name || o->help; o++) {
		if (!o->name) { /* a heading */
			fprintf(f, "%s\n", o->help);
			continue;
		}
		if (o->short_name)
			fprintf(f, "  -%c, --%s", o->short_name, o->name);
		else
			fprintf(f, "      --%s", o->name);
		if (o->arg)
			fprintf(f, " %s", o->arg);
		size_t width = option_width(o);
		size_t pad = width + 2 > column ? 2 : column - width;
		fprintf(f, "%*s", (int)pad, "");
		for (const char *line = o->help; *line;) {
			size_t n = strcspn(line, "\n");
			fprintf(f, "%.*s\n", (int)n, line);
			line += n;
			if (*line == '\n') {
				line++;
				fprintf(f, "%*s", (int)column, "");
			}
		}
	}
}

/* getopt_long's two tables for a verb; the long one is malloc'd. */
static int getopt_tables(const cli_verb *verb, char *shortopts, size_t size, struct option **out,
                         bale_error **err)
{
	size_t n = 0, len = 0;
	for (const cli_opt *o = verb->options; o->name || o->help; o++)
		n += o->name != NULL;
	struct option *longopts = calloc(n + 1, sizeof(*longopts));
	if (!longopts)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	shortopts[len++] = ':'; /* a missing argument is told apart from an unknown option */
	n = 0;
	for (const cli_opt *o = verb->options; o->name || o->help; o++) {
		if (!o->name)
			continue;
		longopts[n++] =
		    (struct option){o->name, o->arg ? required_argument : no_argument, NULL, o->id};
		if (o->short_name && len + 3 < size) {
			shortopts[len++] = o->short_name;
			if (o->arg)
				shortopts[len++] = ':';
		}
	}
	shortopts[len] = '\0';
	*out = longopts;
	return 0;
}

/* What went wrong with argv[optind - 1], as getopt_long left it. */
static int option_error(const cli_verb *verb, int opt, char **argv, bale_error **err)
{
	const char *word = argv[optind - 1];
	bool is_long = strncmp(word, "--", 2) == 0;
	char shortname[3] = {'-', (char)optopt, '\0'};
	const char *what = is_long ? word : shortname;
	if (opt == ':')
		return cli_usage(err, "%s needs an argument (see bale %s --help)", what,
		                 verb->name);
	if (is_long && optopt) /* --flag=value */
		return cli_usage(err, "%.*s takes no argument (see bale %s --help)",
		                 (int)strcspn(word, "="), word, verb->name);
	return cli_usage(err, "unknown option %s (see bale %s --help)", what, verb->name);
}

int cli_parse(cli_common *c, int argc, char **argv, const cli_verb *verb,
              cli_verb_option_fn verb_option, void *payload, bale_error **err)
{
	char shortopts[64];
	struct option *longopts = NULL;
	int opt, rc = getopt_tables(verb, shortopts, sizeof(shortopts), &longopts, err);
	if (rc < 0)
		return rc;
	opterr = 0; /* the one error message is main's */
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (opt == OPT_HELP) {
			cli_print_help(stdout, verb);
			rc = CLI_HELP_SHOWN;
			goto cleanup;
		}
		if (opt == '?' || opt == ':') {
			rc = option_error(verb, opt, argv, err);
			goto cleanup;
		}
		rc = cli_common_option(c, opt, optarg, err);
		if (rc == 0 && verb_option)
			rc = verb_option(payload, opt, optarg, err);
		if (rc < 0)
			goto cleanup;
	}
	cli_common_finish(c);
	rc = CLI_PARSED;
cleanup:
	free(longopts);
	return rc;
}
