/* bale check --store STORE [--repair]: is what a node store names still whole? */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/check.h"
#include "bale/json.h"
#include "bale/store.h"
#include "cli/cli.h"

enum { OPT_REPAIR = OPT_VERB_FIRST };

static const char usage_text[] =
    "Usage: bale check [--store STORE] [--image REF]… [--repair] [--json]\n"
    "\n"
    "Walks every named image of a node store from its root (index, manifests, config,\n"
    "layers), re-hashes every blob there, and finds the partial files of interrupted\n"
    "writes that no running writer holds. Prints one line per finding:\n"
    "  REFERENCE OBJECT DIGEST (PATH): WHAT IS WRONG\n"
    "  - OBJECT (PATH): partial …\n"
    "then a summary. Exit status 0 when the store is whole, 3 when damage was found.\n"
    "\n";

static const cli_opt options[] = {
    {"store", 0, "STORE",
     "oci:DIR, containerd[:SOCKET] or registry://HOST[/PREFIX]\n"
     "(default " BALE_DEFAULT_STORE ")",
     OPT_STORE},
    {"namespace", 0, "NS", "containerd namespace (default k8s.io)", OPT_NAMESPACE},
    CLI_OPT_CTR,
    {"image", 0, "REF", "only this image (repeatable; default: every name and\nthe partial files)",
     OPT_IMAGE},
    {"repair", 0, NULL,
     "remove the partial files and drop the names whose\n"
     "content is damaged (never a blob a remaining name\n"
     "needs); exit 0 when the store is whole afterwards",
     OPT_REPAIR},
    {"json", 0, NULL, "the findings and the summary as one JSON document", OPT_JSON},
    CLI_OPT_HEADING("Registry options (for registry:// stores), as for bale pull:"),
    CLI_OPTS_REGISTRY,
    {"quiet", 'q', NULL, "no summary line; only errors on stderr", OPT_QUIET},
    {"verbose", 'v', NULL, "say more (every image as it is checked)", OPT_VERBOSE},
    CLI_OPT_HELP,
    CLI_OPT_END,
};

const cli_verb cli_verb_check = {"check", usage_text, options};

typedef struct check_args {
	bale_store_options store_opts;
	const char *store;
	const char **images;
	size_t n_images;
	bool repair, json;
	json_t *findings; /* --json */
} check_args;

static int check_option(void *payload, int opt, const char *arg, bale_error **err)
{
	check_args *a = payload;
	if (cli_store_option(&a->store_opts, &a->store, opt, arg))
		return 0;
	switch (opt) {
	case OPT_REPAIR:
		a->repair = true;
		return 0;
	case OPT_JSON:
		a->json = true;
		return 0;
	case OPT_IMAGE:
		if (cli_push_arg(&a->images, &a->n_images, arg) < 0)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		return 0;
	default:
		return 0;
	}
}

static json_t *nullable(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* One line per finding; with --json, collected for the document printed at the end. */
static int report(void *payload, const bale_check_finding *f, bale_error **err)
{
	check_args *a = payload;
	if (a->json) {
		json_t *o = json_object();
		json_object_set_new(o, "ref", nullable(f->ref));
		json_object_set_new(o, "object", nullable(f->object));
		json_object_set_new(o, "digest", nullable(f->digest));
		json_object_set_new(o, "path", nullable(f->path));
		json_object_set_new(o, "problem", json_string(bale_check_problem_name(f->problem)));
		json_object_set_new(o, "detail", nullable(f->detail));
		if (a->repair) {
			json_object_set_new(o, "repaired", json_boolean(f->repaired));
			json_object_set_new(o, "repair", nullable(f->repair));
		}
		if (json_array_append_new(a->findings, o) < 0)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		return 0;
	}
	if (a->repair)
		fputs(f->repaired ? "repaired: " : "not repaired: ", stdout);
	printf("%s %s", f->ref ? f->ref : "-", f->object);
	if (f->digest)
		printf(" %s", f->digest);
	if (f->path)
		printf(" (%s)", f->path);
	printf(": %s", f->detail);
	if (a->repair && f->repair)
		printf(" -> %s", f->repair);
	putchar('\n');
	return 0;
}

static void print_summary(const check_args *a, const bale_check_summary *s)
{
	char size[32];
	size_t damage = s->findings - s->partials;
	printf("%s: %zu image%s checked (%zu blob%s, %s hashed): ", a->store, s->images,
	       s->images == 1 ? "" : "s", s->blobs, s->blobs == 1 ? "" : "s",
	       cli_human_size(size, sizeof(size), s->bytes));
	if (!s->findings)
		printf("whole, no damage%s",
		       s->partials_unlisted || a->n_images ? "" : ", no partial files");
	if (damage)
		printf("%zu damaged image%s (%zu finding%s)", s->damaged_images,
		       s->damaged_images == 1 ? "" : "s", damage, damage == 1 ? "" : "s");
	if (s->partials)
		printf("%s%zu partial file%s", damage ? ", " : "", s->partials,
		       s->partials == 1 ? "" : "s");
	if (a->repair && s->findings)
		printf("; repaired %zu of %zu (%zu name%s dropped, %zu damaged blob%s removed)%s",
		       s->repaired, s->findings, s->names_dropped, s->names_dropped == 1 ? "" : "s",
		       s->blobs_removed, s->blobs_removed == 1 ? "" : "s",
		       s->repaired == s->findings ? ": whole now" : ": damage remains");
	if (s->partials_unlisted)
		fputs(" (a registry does not list its upload sessions: no partial files to "
		      "look for)",
		      stdout);
	putchar('\n');
}

static int print_json(check_args *a, const bale_check_summary *s, bale_error **err)
{
	json_t *doc = json_pack(
	    "{s:s,s:O,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:b}}", "store", a->store,
	    "findings", a->findings, "summary", "images", (json_int_t)s->images, "damaged_images",
	    (json_int_t)s->damaged_images, "blobs", (json_int_t)s->blobs, "bytes",
	    (json_int_t)s->bytes, "partials", (json_int_t)s->partials, "findings",
	    (json_int_t)s->findings, "repaired", (json_int_t)s->repaired, "names_dropped",
	    (json_int_t)s->names_dropped, "blobs_removed", (json_int_t)s->blobs_removed,
	    "partials_listed", !s->partials_unlisted, "whole", s->findings == s->repaired);
	char *text = NULL;
	size_t len = 0;
	int rc = doc ? bale_json_dump(&text, &len, doc, err)
	             : bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (rc == 0)
		printf("%s\n", text);
	free(text);
	json_decref(doc);
	return rc;
}

int cmd_check(int argc, char **argv, bale_error **err)
{
	cli_common c;
	check_args a = {.store = cli_default_store()};
	bale_check_summary summary;
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_check, check_option, &a, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	if (optind != argc) {
		rc = cli_usage(err, "unexpected argument \"%s\" (the store goes with --store)",
		               argv[optind]);
		goto cleanup;
	}
	/* A registry:// store: --creds are for it, settled before any request. */
	cli_registries regs = {0};
	rc = cli_registries_add_store(&regs, a.store, err);
	if (rc == 0)
		rc = cli_bind_creds(&c, &regs, NULL, err);
	cli_registries_free(&regs);
	if (rc < 0)
		goto cleanup;
	if (a.json && !(a.findings = json_array())) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	a.store_opts.log = &c.log;
	a.store_opts.registry = &c.registry;
	bale_check_options o = {.images = a.images,
	                        .n_images = a.n_images,
	                        .repair = a.repair,
	                        .store = &a.store_opts,
	                        .report = report,
	                        .payload = &a};
	if ((rc = bale_check_store(a.store, &o, &summary, err)) < 0 ||
	    (a.json && (rc = print_json(&a, &summary, err)) < 0))
		goto cleanup;
	if (!a.json && c.log.level >= BALE_LOG_INFO)
		print_summary(&a, &summary);
	/* Damage is told by the findings above and the exit status. */
	rc = summary.findings > summary.repaired ? BALE_EVERIFY : 0;
cleanup:
	json_decref(a.findings);
	free(a.images);
	cli_common_free(&c);
	return rc;
}
