/* bale prune: a plan of what a node store no longer needs, then exactly that plan
 * (docs/bale-prune.1.md, docs/day-2.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bale/fs.h"
#include "bale/prune.h"
#include "cli/cli.h"

enum { OPT_KEEP_BUNDLE = OPT_VERB_FIRST, OPT_KEEP_MANIFESTS, OPT_KEEP_NEWEST, OPT_APPLY };

static const char usage_text[] =
    "Usage: bale prune [--store STORE] [--keep-bundle FILE]… [--keep-manifests PATH]…\n"
    "                  [--keep-newest N] -o PLAN [--force] [--json]\n"
    "       bale prune --apply PLAN [--json]\n"
    "\n"
    "Writes a plan of the images of a node store that nothing needs any more, and the\n"
    "blobs and bytes that go with them; removes nothing. Only images bale imported (as the\n"
    "ledger says) are candidates. An image stays when a container of the node uses it\n"
    "(running or not), the manifests given name it, a kept bundle carries it, it is among\n"
    "the newest N imports of its repository, or it has a name bale did not import.\n"
    "A site registry (registry://) deletes by digest and keeps the blobs until its own\n"
    "garbage collector runs.\n"
    "--apply PLAN re-checks every entry, removes exactly what is still to go (names, then\n"
    "the content nothing else needs) and records the prune in the ledger; an image that\n"
    "became used or was named again since the plan is kept and reported (exit status 1).\n"
    "\n";

static const cli_opt options[] = {
    {"store", 0, "STORE",
     "oci:DIR, containerd[:SOCKET] or registry://HOST[/PREFIX]\n(default " BALE_DEFAULT_STORE ")",
     OPT_STORE},
    CLI_OPT_NAMESPACE,
    CLI_OPT_CTR,
    {"ledger", 0, "FILE", "the node ledger (default $BALE_LEDGER or\n/var/lib/bale/ledger.db)",
     OPT_LEDGER},
    {"keep-bundle", 0, "FILE", "keep every image of this bundle (repeatable)", OPT_KEEP_BUNDLE},
    {"keep-manifests", 0, "PATH",
     "keep every image these Kubernetes manifests name\n(file, directory or -; repeatable)",
     OPT_KEEP_MANIFESTS},
    {"keep-newest", 0, "N", "keep the newest N images imported per repository (default 1)",
     OPT_KEEP_NEWEST},
    {"output", 'o', "PLAN", "write the plan there (JSON); a table goes to standard output",
     OPT_OUTPUT},
    {"force", 0, NULL, "replace PLAN when it exists", OPT_FORCE},
    {"apply", 0, "PLAN", "apply a plan, re-checked now", OPT_APPLY},
    {"json", 0, NULL, "what was planned or done as JSON on standard output", OPT_JSON},
    CLI_OPT_REPOSITORY_DEPTH,
    CLI_OPT_HEADING("Registry options (for registry:// stores), as for bale pull:"),
    CLI_OPTS_REGISTRY,
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

const cli_verb cli_verb_prune = {"prune", usage_text, options};

typedef struct prune_args {
	bale_store_options store_opts;
	const char *store, *ledger, *output, *apply;
	const char **bundles, **manifests;
	size_t n_bundles, n_manifests;
	int newest;
	bool force, json;
} prune_args;

static int prune_option(void *payload, int opt, const char *arg, bale_error **err)
{
	prune_args *a = payload;
	char *end;
	if (cli_store_option(&a->store_opts, &a->store, opt, arg))
		return 0;
	switch (opt) {
	case OPT_REPOSITORY_DEPTH:
		return cli_repository_depth(arg, &a->store_opts.repository_depth, err);
	case OPT_LEDGER:
		a->ledger = arg;
		break;
	case OPT_KEEP_BUNDLE:
		return cli_push_arg(&a->bundles, &a->n_bundles, arg) < 0
		           ? bale_error_set(err, BALE_EGENERIC, "out of memory")
		           : 0;
	case OPT_KEEP_MANIFESTS:
		return cli_push_arg(&a->manifests, &a->n_manifests, arg) < 0
		           ? bale_error_set(err, BALE_EGENERIC, "out of memory")
		           : 0;
	case OPT_KEEP_NEWEST: {
		long n = strtol(arg, &end, 10);
		if (*end || end == arg || n < 0 || n > 100000)
			return cli_usage(err, "--keep-newest: want a number, 0 or more, got \"%s\"",
			                 arg);
		a->newest = (int)n;
		break;
	}
	case OPT_OUTPUT:
		a->output = arg;
		break;
	case OPT_FORCE:
		a->force = true;
		break;
	case OPT_APPLY:
		a->apply = arg;
		break;
	case OPT_JSON:
		a->json = true;
		break;
	}
	return 0;
}

/* The first name of an image, and how many more it has. */
static void image_label(char *out, size_t size, const bale_prune_image *img)
{
	snprintf(out, size, "%s", img->n_names ? img->names[0] : img->digest);
	if (img->n_names > 1) {
		size_t len = strlen(out);
		snprintf(out + len, size - len, " (+%zu name%s)", img->n_names - 1,
		         img->n_names > 2 ? "s" : "");
	}
}

static void print_plan(const bale_prune_plan *p, const char *output)
{
	char label[600], size[32];
	for (size_t i = 0; i < p->n_images; i++) {
		const bale_prune_image *img = &p->images[i];
		image_label(label, sizeof(label), img);
		if (!img->keep)
			printf("remove  %-60s %.19s  %zu blobs, %s\n", label, img->digest,
			       img->n_blobs, cli_human_size(size, sizeof(size), img->bytes));
		else
			printf("keep    %-60s %.19s  %s\n", label, img->digest,
			       img->why ? img->why : "");
	}
	printf("plan: remove %zu image%s, %zu blobs, %s; keep %zu; written to %s (apply it with "
	       "bale prune --apply %s)\n",
	       p->n_removed, p->n_removed == 1 ? "" : "s", p->n_blobs,
	       cli_human_size(size, sizeof(size), p->bytes), p->n_images - p->n_removed, output,
	       output);
}

static int make_plan(prune_args *a, bale_error **err)
{
	bale_prune_plan *plan = NULL;
	char *text = NULL;
	size_t len = 0;
	const char *store = a->store ? a->store : cli_default_store();
	bale_prune_options o = {
	    .store = store,
	    .store_opts = &a->store_opts,
	    .ledger = cli_ledger_path(a->ledger),
	    .keep_bundles = a->bundles,
	    .n_keep_bundles = a->n_bundles,
	    .keep_manifests = a->manifests,
	    .n_keep_manifests = a->n_manifests,
	    .keep_newest = a->newest,
	    .repository_depth = a->store_opts.repository_depth,
	};
	int rc = 0;
	if (!a->force && access(a->output, F_OK) == 0)
		return cli_usage(err, "%s exists (--force replaces it)", a->output);
	if ((rc = bale_prune_plan_make(&plan, &o, err)) < 0 ||
	    (rc = bale_prune_plan_json(plan, &text, &len, err)) < 0 ||
	    (rc = bale_fs_write_atomic(a->output, text, len, 0644, err)) < 0)
		goto cleanup;
	if (a->json)
		fwrite(text, 1, len, stdout);
	else
		print_plan(plan, a->output);
cleanup:
	free(text);
	bale_prune_plan_free(plan);
	return rc;
}

static json_t *kept_json(const bale_prune_image *img)
{
	json_t *names = json_array();
	for (size_t i = 0; i < img->n_names; i++)
		json_array_append_new(names, json_string(img->names[i]));
	return json_pack("{s:s,s:o,s:s}", "digest", img->digest, "names", names, "why",
	                 img->why ? img->why : "");
}

static int apply_plan(prune_args *a, const bale_prune_plan *plan, bale_error **err)
{
	bale_prune_result r;
	char size[32], label[600];
	int rc = bale_prune_apply(plan, &a->store_opts, &r, err);
	if (rc < 0)
		goto cleanup;
	if (a->json) {
		json_t *kept = json_array();
		for (size_t i = 0; i < r.n_kept; i++)
			json_array_append_new(kept, kept_json(r.kept[i]));
		cli_print_json(json_pack(
		    "{s:s,s:I,s:I,s:I,s:I,s:o,s:s?}", "plan", a->apply, "imagesRemoved",
		    (json_int_t)r.images_removed, "namesRemoved", (json_int_t)r.names_removed,
		    "blobsRemoved", (json_int_t)r.blobs_removed, "bytesFreed",
		    (json_int_t)r.bytes_freed, "kept", kept, "note", r.note[0] ? r.note : NULL));
	} else {
		for (size_t i = 0; i < r.n_kept; i++) {
			image_label(label, sizeof(label), r.kept[i]);
			printf("kept    %s: %s\n", label, r.kept[i]->why ? r.kept[i]->why : "");
		}
		printf("removed %zu image%s (%zu names), %zu blobs, %s freed\n", r.images_removed,
		       r.images_removed == 1 ? "" : "s", r.names_removed, r.blobs_removed,
		       cli_human_size(size, sizeof(size), r.bytes_freed));
		if (r.note[0])
			printf("note: %s\n", r.note);
	}
	if (r.n_kept)
		rc = bale_error_set(err, BALE_EGENERIC,
		                    "%zu image%s of plan %s kept: %s changed since the plan (see "
		                    "above); make a new plan",
		                    r.n_kept, r.n_kept == 1 ? "" : "s", a->apply,
		                    r.n_kept == 1 ? "it" : "they");
cleanup:
	bale_prune_result_free(&r);
	return rc;
}

int cmd_prune(int argc, char **argv, bale_error **err)
{
	cli_common c;
	prune_args a = {.newest = 1};
	bale_prune_plan *plan = NULL;
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_prune, prune_option, &a, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	a.store_opts.log = &c.log;
	a.store_opts.registry = &c.registry;
	if (optind != argc || !a.output == !a.apply ||
	    (a.apply && (a.store || a.ledger || a.n_bundles || a.n_manifests || a.force ||
	                 a.store_opts.repository_depth))) {
		rc = cli_usage(err, "want -o PLAN to write a plan, or --apply PLAN alone (the plan "
		                    "says the store, the ledger and what to keep)");
		goto cleanup;
	}
	/* The store's registry, for a registry:// store: --creds are for it, settled before
	 * any request. --apply's store is the one its plan names. */
	if (a.apply && (rc = bale_prune_plan_load(&plan, a.apply, err)) < 0)
		goto cleanup;
	cli_registries regs = {0};
	rc = cli_registries_add_store(&regs,
	                              plan      ? plan->store
	                              : a.store ? a.store
	                                        : cli_default_store(),
	                              err);
	if (rc == 0)
		rc = cli_bind_creds(&c, &regs, NULL, err);
	cli_registries_free(&regs);
	if (rc == 0)
		rc = a.apply ? apply_plan(&a, plan, err) : make_plan(&a, err);
cleanup:
	bale_prune_plan_free(plan);
	free(a.bundles);
	free(a.manifests);
	cli_common_free(&c);
	return rc;
}
