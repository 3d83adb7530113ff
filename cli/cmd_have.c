/* bale have --store STORE | BUNDLE… -o FILE: what the site holds, for a delta export. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/have.h"
#include "bale/store.h"
#include "cli/cli.h"

static const char usage_text[] =
    "Usage: bale have [--store STORE]… [BUNDLE…] [--have FILE]… -o FILE\n"
    "                 [registry options]\n"
    "\n"
    "Writes a have-list: every image name a node store holds (or a bundle carries) with its\n"
    "root digest, and every blob with its size (docs/have-list.md). Carry it back to the\n"
    "export machine: bale export --have FILE writes a delta that leaves those blobs out.\n"
    "Several stores, bundles and have-lists make one list of what they hold together.\n"
    "\n";

enum { OPT_HAVE = OPT_VERB_FIRST };

static const cli_opt options[] = {
    {"store", 0, "STORE",
     "oci:DIR, containerd[:SOCKET] or registry://HOST[/PREFIX]\n"
     "(repeatable; containerd's socket: " BALE_DEFAULT_CONTAINERD_SOCKET ")",
     OPT_STORE},
    CLI_OPT_NAMESPACE,
    CLI_OPT_CTR,
    {"have", 0, "FILE", "a have-list to add (repeatable; '-' for stdin)", OPT_HAVE},
    {"output", 'o', "FILE", "the have-list to write ('-' for stdout)", OPT_OUTPUT},
    {"json", 0, NULL, "what was written (file, images, blobs, bytes) as a JSON object", OPT_JSON},
    CLI_OPT_HEADING("Registry options (for registry:// stores), as for bale pull:"),
    CLI_OPTS_REGISTRY,
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

const cli_verb cli_verb_have = {"have", usage_text, options};

typedef struct have_args {
	bale_store_options store_opts;
	const char **stores, **haves;
	size_t n_stores, n_haves;
	const char *output;
	bool json;
} have_args;

static int have_option(void *payload, int opt, const char *arg, bale_error **err)
{
	have_args *a = payload;
	const char *spec = NULL;
	if (opt == OPT_STORE || opt == OPT_HAVE) {
		if (cli_push_arg(opt == OPT_STORE ? &a->stores : &a->haves,
		                 opt == OPT_STORE ? &a->n_stores : &a->n_haves, arg) < 0)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		return 0;
	}
	if (opt == OPT_OUTPUT)
		a->output = arg;
	else if (opt == OPT_JSON)
		a->json = true;
	else
		cli_store_option(&a->store_opts, &spec, opt, arg);
	return 0;
}

int cmd_have(int argc, char **argv, bale_error **err)
{
	cli_common c;
	have_args a = {0};
	bale_have *h = NULL;
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_have, have_option, &a, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	if (!a.output || (!a.n_stores && !a.n_haves && optind == argc)) {
		rc = cli_usage(err, "want -o FILE and at least one --store, BUNDLE or --have "
		                    "(see bale have --help)");
		goto cleanup;
	}
	if (a.json && strcmp(a.output, "-") == 0) {
		rc = cli_usage(err, "--json prints to stdout, where -o - writes the have-list; "
		                    "name a file with -o");
		goto cleanup;
	}
	/* registry:// stores: --creds are for them, settled before any request */
	cli_registries regs = {0};
	for (size_t i = 0; i < a.n_stores && rc == 0; i++)
		rc = cli_registries_add_store(&regs, a.stores[i], err);
	if (rc == 0)
		rc = cli_bind_creds(&c, &regs, NULL, err);
	cli_registries_free(&regs);
	if (rc < 0)
		goto cleanup;
	a.store_opts.log = &c.log;
	a.store_opts.registry = &c.registry;
	if ((rc = bale_have_new(&h, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < a.n_stores && rc == 0; i++)
		rc = bale_have_add_store(h, a.stores[i], &a.store_opts, err);
	for (int i = optind; i < argc && rc == 0; i++)
		rc = bale_have_add_bundle(h, argv[i], err);
	for (size_t i = 0; i < a.n_haves && rc == 0; i++)
		rc = bale_have_read(h, a.haves[i], err);
	if (rc == 0)
		rc = bale_have_write(h, a.output, err);
	if (rc == 0 && a.json) {
		cli_print_json(json_pack("{s:s,s:I,s:I,s:I}", "file", a.output, "images",
		                         (json_int_t)bale_have_image_count(h), "blobs",
		                         (json_int_t)bale_have_blob_count(h), "bytes",
		                         (json_int_t)bale_have_bytes(h)));
	} else if (rc == 0 && c.log.level >= BALE_LOG_INFO && strcmp(a.output, "-") != 0) {
		char size[32];
		fprintf(stderr, "wrote %s: %zu image%s, %zu blobs (%s)\n", a.output,
		        bale_have_image_count(h), bale_have_image_count(h) == 1 ? "" : "s",
		        bale_have_blob_count(h),
		        cli_human_size(size, sizeof(size), (int64_t)bale_have_bytes(h)));
	}
cleanup:
	bale_have_free(h);
	free(a.stores);
	free(a.haves);
	cli_common_free(&c);
	return rc;
}
