/* bale cache ls|prune: the content cache bale export keeps (docs/bale-cache.1.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bale/store.h"
#include "cli/cli.h"

enum { OPT_OLDER_THAN = OPT_VERB_FIRST };

static const char usage_text[] =
    "Usage: bale cache ls [--cache DIR] [--json]\n"
    "       bale cache prune [--cache DIR] [--older-than DAYS] [--json]\n"
    "\n"
    "The content cache bale export downloads into ($BALE_CACHE, else $XDG_CACHE_HOME/bale,\n"
    "~/.cache/bale or /var/cache/bale): ls counts what it holds; prune removes the blobs\n"
    "last written more than DAYS ago (default 0: all of them) and the names they leave\n"
    "without content. A pruned blob is fetched again by the next export that needs it.\n"
    "\n";

static const cli_opt options[] = {
    {"cache", 0, "DIR", "the cache (default: bale export's)", OPT_CACHE},
    {"older-than", 0, "DAYS", "with prune: only blobs written more than DAYS ago", OPT_OLDER_THAN},
    {"json", 0, NULL, "the counts as a JSON object", OPT_JSON},
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

const cli_verb cli_verb_cache = {"cache", usage_text, options};

typedef struct cache_args {
	const char *dir;
	long days;
	bool json;
} cache_args;

static int cache_option(void *payload, int opt, const char *arg, bale_error **err)
{
	cache_args *a = payload;
	char *end;
	if (opt == OPT_CACHE) {
		a->dir = arg;
	} else if (opt == OPT_JSON) {
		a->json = true;
	} else if (opt == OPT_OLDER_THAN) {
		a->days = strtol(arg, &end, 10);
		if (*end || end == arg || a->days < 0 || a->days > 36500)
			return cli_usage(err, "--older-than: want a number of days, got \"%s\"",
			                 arg);
	}
	return 0;
}

int cmd_cache(int argc, char **argv, bale_error **err)
{
	cli_common c;
	cache_args a = {0};
	bale_store_cache_usage u;
	char *dir = NULL;
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_cache, cache_option, &a, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	const char *what = optind + 1 == argc ? argv[optind] : "";
	bool prune = strcmp(what, "prune") == 0;
	if (!prune && strcmp(what, "ls") != 0) {
		rc = cli_usage(err, "want ls or prune (see bale cache --help)");
		goto cleanup;
	}
	if (!(dir = a.dir ? strdup(a.dir) : cli_default_cache())) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = bale_store_cache_count(dir, prune ? a.days * 86400 : -1, &u, err)) < 0)
		goto cleanup;
	char size[32], pruned[32], when[32] = "-";
	struct tm tm;
	if (u.oldest) {
		time_t t = (time_t)u.oldest;
		strftime(when, sizeof(when), "%Y-%m-%d", gmtime_r(&t, &tm));
	}
	if (a.json)
		cli_print_json(json_pack(
		    "{s:s,s:I,s:I,s:I,s:s?,s:I,s:I}", "cache", dir, "blobs", (json_int_t)u.blobs,
		    "bytes", (json_int_t)u.bytes, "images", (json_int_t)u.names, "oldest",
		    u.oldest ? when : NULL, "prunedBlobs", (json_int_t)u.pruned_blobs,
		    "prunedBytes", (json_int_t)u.pruned_bytes));
	else if (prune)
		printf("%s: pruned %lld blobs (%s); %lld blobs (%s) and %lld images left\n", dir,
		       (long long)u.pruned_blobs,
		       cli_human_size(pruned, sizeof(pruned), u.pruned_bytes), (long long)u.blobs,
		       cli_human_size(size, sizeof(size), u.bytes), (long long)u.names);
	else
		printf("%s: %lld blobs (%s), %lld images, oldest written %s\n", dir,
		       (long long)u.blobs, cli_human_size(size, sizeof(size), u.bytes),
		       (long long)u.names, when);
cleanup:
	free(dir);
	cli_common_free(&c);
	return rc;
}
