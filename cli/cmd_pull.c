/* bale pull REF… --store STORE: registry -> node store. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/pull.h"
#include "bale/store.h"
#include "cli/cli.h"

static const char usage_text[] =
    "Usage: bale pull [options] REF… [--store STORE]\n"
    "\n"
    "Pulls images straight from their registries into a node store, verifying every\n"
    "manifest and blob against its digest. Prints one line per image:\n"
    "  REFERENCE DIGEST PLATFORM[,PLATFORM…]\n"
    "\n";

static const cli_opt options[] = {
    CLI_OPTS_STORE,
    CLI_OPT_REPOSITORY_DEPTH,
    {"platform", 0, "P[,P…]|all", "platforms of multi-arch images (default: this host)",
     OPT_PLATFORM},
    CLI_OPT_HEADING("Registry options:"),
    CLI_OPTS_REGISTRY,
    CLI_OPT_JOBS,
    {"json", 0, NULL, "the images pulled as a JSON object", OPT_JSON},
    CLI_OPT_PROGRESS,
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

const cli_verb cli_verb_pull = {"pull", usage_text, options};

/* One pulled image: a line "REF DIGEST PLATFORM,…" (- for none), or into list (--json). */
static void print_result(const bale_image *img, json_t *list)
{
	char one[BALE_PLATFORM_TEXT];
	json_t *platforms = json_array();
	for (size_t i = 0; i < img->n_manifests; i++) {
		const bale_image_manifest *m = &img->manifests[i];
		if (m->selected && m->has_platform)
			json_array_append_new(platforms, json_string(bale_platform_format(
			                                     &m->platform, one, sizeof(one))));
	}
	if (list) {
		json_array_append_new(list,
		                      json_pack("{s:s,s:s,s:o}", "ref", img->ref, "digest",
		                                img->root.digest.str, "platforms", platforms));
		return;
	}
	printf("%s %s ", img->ref, img->root.digest.str);
	for (size_t i = 0; i < json_array_size(platforms); i++)
		printf("%s%s", i ? "," : "", json_string_value(json_array_get(platforms, i)));
	printf("%s\n", json_array_size(platforms) ? "" : "-");
	json_decref(platforms);
}

typedef struct pull_args {
	const char *store;
	bale_store_options store_opts;
	bool json;
} pull_args;

static int pull_option(void *payload, int opt, const char *arg, bale_error **err)
{
	pull_args *a = payload;
	if (opt == OPT_REPOSITORY_DEPTH)
		return cli_repository_depth(arg, &a->store_opts.repository_depth, err);
	cli_store_option(&a->store_opts, &a->store, opt, arg);
	a->json |= opt == OPT_JSON;
	return 0;
}

int cmd_pull(int argc, char **argv, bale_error **err)
{
	cli_common c;
	pull_args a = {.store = cli_default_store()};
	bale_platform_set *platforms = NULL;
	bale_sink *store = NULL;
	bale_pull *pull = NULL;
	cli_registries regs = {0};
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_pull, pull_option, &a, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	if (optind >= argc) {
		rc = cli_usage(err, "no image reference given (see bale pull --help)");
		goto cleanup;
	}
	/* Credentials go to the registries they are for, settled before any request. */
	for (int i = optind; i < argc; i++)
		if (cli_registries_add_ref(&regs, argv[i]) < 0)
			goto oom;
	if ((rc = cli_registries_add_store(&regs, a.store, err)) < 0 ||
	    (rc = cli_bind_creds(&c, &regs, NULL, err)) < 0 ||
	    (rc = bale_platform_set_parse(&platforms, c.platform, err)) < 0)
		goto cleanup;
	a.store_opts.platforms = platforms;
	a.store_opts.log = &c.log;
	a.store_opts.registry = &c.registry;
	if ((rc = bale_store_open_with(&store, a.store, &a.store_opts, err)) < 0)
		goto cleanup;
	bale_pull_options po = {
	    .registry = c.registry, .platforms = platforms, .max_parallel = c.jobs, .log = &c.log};
	if ((rc = bale_pull_new(&pull, &po, err)) < 0 ||
	    (rc = bale_pull_images(pull, (const char *const *)argv + optind,
	                           (size_t)(argc - optind), store, err)) < 0)
		goto cleanup;
	cli_progress_clear(&c);
	json_t *list = a.json ? json_array() : NULL;
	for (size_t i = 0; i < bale_pull_image_count(pull) && rc == 0; i++) {
		bale_image *img = NULL;
		if ((rc = bale_pull_image_load(pull, i, &img, err)) == 0)
			print_result(img, list);
		bale_image_free(img);
	}
	if (list && rc == 0)
		cli_print_json(json_pack("{s:s,s:O}", "store", a.store, "images", list));
	json_decref(list);
	goto cleanup;
oom:
	rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
cleanup:
	cli_registries_free(&regs);
	bale_pull_free(pull);
	bale_sink_free(store);
	bale_platform_set_free(platforms);
	cli_common_free(&c);
	return rc;
}
