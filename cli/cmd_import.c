/* bale import BUNDLE | VOLUME… --store STORE: a verified bundle into a node store. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bale/import.h"
#include "bale/ledger.h"
#include "bale/store.h"
#include "cli/cli.h"
#include "cli/terminal.h"

enum { OPT_ALLOW_DOWNGRADE = OPT_VERB_FIRST, OPT_STAGING };

static const char usage_text[] =
    "Usage: bale import BUNDLE | VOLUME… [--store STORE] [--key PUB | --trust DIR]\n"
    "                   [--image REF]… [--platform P[,P…]|all] [--ledger FILE]\n"
    "                   [--allow-downgrade] [--staging DIR]\n"
    "\n"
    "Checks the bundle's signature before anything is written, then loads the images into\n"
    "the node store: every blob re-hashed as it streams in, blobs the store has are not\n"
    "written again, names appear only once all content is in. A failed or interrupted\n"
    "import leaves the store as it was; running it again finishes the job. Every attempt\n"
    "is recorded in the node ledger (bale ledger). Tags move forward only: an image a newer\n"
    "bundle set is skipped. Into containerd each image lands on its own. Prints one line\n"
    "per image that landed:\n"
    "  REFERENCE DIGEST PLATFORM[,PLATFORM…]\n"
    "\n"
    "The volumes of a set (bale export --volume-size) are taken in any order, one or\n"
    "several a call, in any session: what each brings waits in the staging directory, and\n"
    "an image lands once all of its content is in. Each call says which images wait for\n"
    "which volumes.\n"
    "\n";

static const cli_opt options[] = {
    CLI_OPTS_STORE,
    {"key", 0, "PUB", "trust this public key (NAME.pub)", OPT_KEY},
    {"trust", 0, "DIR", "trust every *.pub in DIR (default /etc/bale/trust.d)", OPT_TRUST},
    {"insecure-skip-verify", 0, NULL,
     "import an unsigned or untrusted bundle (digests are\nstill checked)",
     OPT_INSECURE_SKIP_VERIFY},
    {"image", 0, "REF", "only this image (repeatable; default: all)", OPT_IMAGE},
    {"platform", 0, "P[,P…]|all", "platforms of multi-arch images (default: this host)",
     OPT_PLATFORM},
    {"ledger", 0, "FILE", "the node ledger (default $BALE_LEDGER, else " BALE_DEFAULT_LEDGER ")",
     OPT_LEDGER},
    {"staging", 0, "DIR",
     "where the volumes of a set wait for the rest (default:\n"
     "staging/ beside the ledger)",
     OPT_STAGING},
    {"allow-downgrade", 0, NULL,
     "move tags back to what an older bundle carries (default:\nskip such images)",
     OPT_ALLOW_DOWNGRADE},
    CLI_OPT_HEADING("Registry options (for registry:// stores), as for bale pull:"),
    CLI_OPT_REPOSITORY_DEPTH,
    CLI_OPTS_REGISTRY,
    {"json", 0, NULL,
     "what landed, waits, was skipped or failed, and the\n"
     "counts, as a JSON object (also when the import fails)",
     OPT_JSON},
    CLI_OPT_PROGRESS,
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

const cli_verb cli_verb_import = {"import", usage_text, options};

typedef struct import_args {
	bale_store_options store_opts;
	const char *store, *key, *trust, *ledger, *staging;
	bool skip_signature, allow_downgrade, json;
	const char **images;
	size_t n_images;
} import_args;

static int import_option(void *payload, int opt, const char *arg, bale_error **err)
{
	import_args *a = payload;
	if (cli_store_option(&a->store_opts, &a->store, opt, arg))
		return 0;
	switch (opt) {
	case OPT_REPOSITORY_DEPTH:
		return cli_repository_depth(arg, &a->store_opts.repository_depth, err);
	case OPT_KEY:
		a->key = arg;
		return 0;
	case OPT_STAGING:
		a->staging = arg;
		return 0;
	case OPT_TRUST:
		a->trust = arg;
		return 0;
	case OPT_INSECURE_SKIP_VERIFY:
		a->skip_signature = true;
		return 0;
	case OPT_LEDGER:
		a->ledger = arg;
		return 0;
	case OPT_ALLOW_DOWNGRADE:
		a->allow_downgrade = true;
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

static json_t *problems(const bale_import_problem *list, size_t n)
{
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, json_pack("{s:s,s:s,s:s}", "ref", list[i].ref, "digest",
		                                     list[i].digest, "why", list[i].message));
	return out;
}

/* --json: the run as an object, whether it went well or not (then with its exit status
 * and error). */
static void print_json(const import_args *a, const char *bundle, const bale_import_result *r,
                       int rc, const bale_error *err)
{
	json_t *images = json_array();
	for (size_t i = 0; i < r->n_images; i++) {
		json_t *platforms = json_array();
		for (const char *p = r->images[i].platforms; p && *p;) {
			size_t len = strcspn(p, ",");
			json_array_append_new(platforms, json_stringn(p, len));
			p += len + (p[len] == ',');
		}
		json_array_append_new(images,
		                      json_pack("{s:s,s:s,s:o}", "ref", r->images[i].ref, "digest",
		                                r->images[i].digest, "platforms", platforms));
	}
	json_t *doc = json_pack(
	    "{s:s,s:s,s:s?,s:b,s:o,s:o,s:o,s:o,s:I,s:I,s:I,s:i}", "bundle", bundle, "store",
	    a->store, "signer", r->signer[0] ? r->signer : NULL, "signatureChecked",
	    r->signature_checked, "images", images, "waiting", problems(r->waiting, r->n_waiting),
	    "skipped", problems(r->skipped, r->n_skipped), "failed",
	    problems(r->failed, r->n_failed), "blobsWritten", (json_int_t)r->blobs_written,
	    "blobsPresent", (json_int_t)r->blobs_present, "bytesWritten",
	    (json_int_t)r->bytes_written, "exitStatus", rc < 0 ? -rc : 0);
	if (doc && rc < 0 && err)
		json_object_set_new(doc, "error", json_string(bale_error_message(err)));
	cli_print_json(doc);
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every attempt goes to the ledger; a ledger that cannot be written is an error of its
 * own: the run's error when the import went well, a line before it when it did not. */
static int record(const import_args *a, const char *bundle, const char *store,
                  const bale_import_result *res, const bale_error *failure, double seconds,
                  bale_error **err)
{
	bale_ledger_image *images = calloc(res->n_images + 1, sizeof(*images));
	if (!images)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; i < res->n_images; i++)
		images[i] = (bale_ledger_image){res->images[i].ref, res->images[i].digest,
		                                res->images[i].platforms};
	bale_ledger_entry e = {
	    .bundle_path = bundle,
	    .bundle_id = res->bundle_id[0] ? res->bundle_id : NULL,
	    .bundle_created = res->bundle_created[0] ? res->bundle_created : NULL,
	    .bundle_digest = res->bundle_digest[0] ? res->bundle_digest : NULL,
	    .signer_key_id = res->signer[0] ? res->signer : NULL,
	    .signature_checked = res->signature_checked,
	    .store = store,
	    .exit_status = failure ? cli_exit_status(bale_error_code(failure)) : 0,
	    .error = failure ? bale_error_message(failure) : NULL,
	    .blobs_written = res->blobs_written,
	    .blobs_present = res->blobs_present,
	    .bytes_written = res->bytes_written,
	    .seconds = seconds,
	    .images = images, /* those that landed, also when others failed */
	    .n_images = res->n_images,
	};
	int rc = bale_ledger_record(cli_ledger_path(a->ledger), &e, err);
	free(images);
	return rc;
}

int cmd_import(int argc, char **argv, bale_error **err)
{
	cli_common c;
	import_args a = {.store = cli_default_store()};
	bale_error *ledger_err = NULL;
	bale_trust *trust = NULL;
	bale_platform_set *platforms = NULL;
	bale_sink *store = NULL;
	bale_import_result res = {0};
	char *staging = NULL;
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_import, import_option, &a, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	if (optind >= argc || (a.key && a.trust)) {
		rc = cli_usage(err, "want a BUNDLE (or the VOLUMEs of a set) and at most one of "
		                    "--key, --trust");
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
	const char *bundle = argv[optind];
	const char *ledger = cli_ledger_path(a.ledger);
	staging = a.staging ? strdup(a.staging) : NULL;
	if (!staging) { /* beside the ledger: the node's own state */
		const char *slash = strrchr(ledger, '/');
		if (asprintf(&staging, "%.*sstaging", slash ? (int)(slash - ledger + 1) : 0,
		             ledger) < 0)
			staging = NULL;
	}
	double start = now_seconds();
	if ((!a.skip_signature && (rc = cli_load_trust(&trust, a.key, a.trust, err)) < 0) ||
	    (rc = bale_platform_set_parse(&platforms, c.platform, err)) < 0 ||
	    (a.store_opts.platforms = platforms, a.store_opts.log = &c.log,
	     a.store_opts.registry = &c.registry,
	     (rc = bale_store_open_with(&store, a.store, &a.store_opts, err)) < 0))
		goto done;
	bale_import_options io = {.bundle = bundle,
	                          .trust = a.skip_signature ? NULL : trust,
	                          .images = a.images,
	                          .n_images = a.n_images,
	                          .platforms = platforms,
	                          .log = &c.log,
	                          .ledger = ledger,
	                          .store = a.store,
	                          .allow_downgrade = a.allow_downgrade,
	                          .volumes = (const char *const *)argv + optind,
	                          .n_volumes = (size_t)(argc - optind),
	                          .staging = staging};
	rc = bale_import_bundle(&io, store, &res, err);
done:
	/* The store is closed first: a failed run's staged blobs are gone before the
	 * ledger says so. */
	bale_sink_free(store);
	store = NULL;
	if (rc != BALE_EUSAGE || res.bundle_id[0])
		record(&a, bundle, a.store, &res, rc < 0 ? *err : NULL, now_seconds() - start,
		       &ledger_err);
	for (size_t i = 0; i < res.n_skipped; i++)
		bale_log_printf(&c.log, BALE_LOG_WARN, "skipped %s", res.skipped[i].message);
	/* Each image that did not land, when it is not all the run's error says. */
	for (size_t i = 0; (res.n_images || res.n_failed > 1) && i < res.n_failed; i++)
		bale_log_printf(&c.log, BALE_LOG_ERROR, "not imported: %s", res.failed[i].message);
	if (ledger_err && rc < 0) /* the import's error is the run's */
		bale_log_printf(&c.log, BALE_LOG_ERROR, "%s", bale_error_message(ledger_err));
	if (a.json) {
		print_json(&a, bundle, &res, rc, rc < 0 ? *err : NULL);
		goto printed;
	}
	for (size_t i = 0; i < res.n_waiting; i++) { /* a volume set's images not whole yet */
		cli_put_text(stdout, res.waiting[i].ref);
		printf(" %s\n", res.waiting[i].message);
	}
	for (size_t i = 0; i < res.n_images; i++) { /* the bundle's words, escaped */
		cli_put_text(stdout, res.images[i].ref);
		putchar(' ');
		cli_put_text(stdout, res.images[i].digest);
		putchar(' ');
		cli_put_text(stdout, res.images[i].platforms[0] ? res.images[i].platforms : "-");
		putchar('\n');
	}
printed:
	if (rc < 0)
		goto cleanup;
	if (c.log.level >= BALE_LOG_INFO) {
		char size[32];
		fprintf(stderr,
		        "imported %zu image%s into %s: %lld blobs written (%s), %lld present\n",
		        res.n_images, res.n_images == 1 ? "" : "s", a.store,
		        (long long)res.blobs_written,
		        cli_human_size(size, sizeof(size), res.bytes_written),
		        (long long)res.blobs_present);
	}
	if (ledger_err) { /* the import went well: the ledger's error (naming it) is the run's */
		rc = bale_error_code(ledger_err);
		*err = ledger_err;
		ledger_err = NULL;
	}
cleanup:
	bale_error_free(ledger_err);
	bale_import_result_free(&res);
	bale_sink_free(store);
	bale_platform_set_free(platforms);
	bale_trust_free(trust);
	free(a.images);
	free(staging);
	cli_common_free(&c);
	return rc;
}
