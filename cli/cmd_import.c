/* bale import BUNDLE --store STORE: a verified bundle into a node store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bale/import.h"
#include "bale/ledger.h"
#include "bale/store.h"
#include "cli/cli.h"
#include "cli/terminal.h"

static const char usage_text[] =
    "Usage: bale import BUNDLE [--store STORE] [--key PUB | --trust DIR]\n"
    "                   [--image REF]… [--platform P[,P…]|all] [--ledger FILE]\n"
    "\n"
    "Checks the bundle's signature before anything is written, then loads the images into\n"
    "the node store: every blob re-hashed as it streams in, blobs the store has are not\n"
    "written again, names appear only once all content is in. A failed or interrupted\n"
    "import leaves the store as it was; running it again finishes the job. Every attempt\n"
    "is recorded in the node ledger (bale ledger). Prints one line per image:\n"
    "  REFERENCE DIGEST PLATFORM[,PLATFORM…]\n"
    "\n" CLI_STORE_HELP "      --key PUB              trust this public key (NAME.pub)\n"
    "      --trust DIR            trust every *.pub in DIR (default /etc/bale/trust.d)\n"
    "      --insecure-skip-verify import an unsigned or untrusted bundle (digests are\n"
    "                             still checked)\n"
    "      --image REF            only this image (repeatable; default: all)\n"
    "      --platform P[,P…]|all  platforms of multi-arch images (default: this host)\n"
    "      --ledger FILE          the node ledger (default " BALE_DEFAULT_LEDGER ")\n"
    "Registry options (for registry:// stores), as for bale pull:\n"
    "      --creds, --creds-stdin, --username + --password-stdin, --authfile,\n"
    "      --pull-secret, --ca-file, --certs-dir, --insecure-registry, --retries,\n"
    "      --retry-delay, --timeout, --min-speed, --request-timeout, --max-retry-after\n"
    "  -q, --quiet                only errors on stderr\n"
    "  -h, --help                 this help\n";

typedef struct import_args {
	bale_store_options store_opts;
	const char *store, *key, *trust, *ledger;
	bool skip_signature;
	const char **images;
	size_t n_images;
} import_args;

static int import_option(void *payload, int opt, const char *arg)
{
	import_args *a = payload;
	if (cli_store_option(&a->store_opts, &a->store, opt, arg))
		return 0;
	switch (opt) {
	case OPT_KEY:
		a->key = arg;
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
	case OPT_IMAGE:
		return cli_push_arg(&a->images, &a->n_images, arg);
	default:
		return -1;
	}
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every attempt goes to the ledger; a ledger that cannot be written is an error of its
 * own, reported after the import's. */
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
	    .bundle_digest = res->bundle_digest[0] ? res->bundle_digest : NULL,
	    .signer_key_id = res->signer[0] ? res->signer : NULL,
	    .signature_checked = res->signature_checked,
	    .store = store,
	    .exit_status = failure ? bale_error_exit_status(bale_error_code(failure)) : 0,
	    .error = failure ? bale_error_message(failure) : NULL,
	    .blobs_written = res->blobs_written,
	    .blobs_present = res->blobs_present,
	    .bytes_written = res->bytes_written,
	    .seconds = seconds,
	    .images = failure ? NULL : images,
	    .n_images = failure ? 0 : res->n_images,
	};
	int rc = bale_ledger_record(a->ledger ? a->ledger : BALE_DEFAULT_LEDGER, &e, err);
	free(images);
	return rc;
}

int cmd_import(int argc, char **argv)
{
	static const struct option longopts[] = {
	    CLI_COMMON_LONG_OPTIONS, /* registry:// stores use the registry options */
	    CLI_STORE_LONG_OPTIONS,
	    {"key", required_argument, NULL, OPT_KEY},
	    {"trust", required_argument, NULL, OPT_TRUST},
	    {"insecure-skip-verify", no_argument, NULL, OPT_INSECURE_SKIP_VERIFY},
	    {"image", required_argument, NULL, OPT_IMAGE},
	    {"ledger", required_argument, NULL, OPT_LEDGER},
	    {NULL, 0, NULL, 0},
	};
	cli_common c;
	import_args a = {.store = BALE_DEFAULT_STORE};
	bale_error *err = NULL, *ledger_err = NULL;
	bale_trust *trust = NULL;
	bale_platform_set *platforms = NULL;
	bale_sink *store = NULL;
	bale_import_result res = {0};
	int status = 0;
	cli_common_init(&c);
	int parsed = cli_parse(&c, argc, argv, "hqv", longopts, usage_text, import_option, &a);
	if (parsed != CLI_PARSED) {
		status = parsed == CLI_HELP_SHOWN ? 0 : 2;
		goto cleanup;
	}
	if (optind + 1 != argc || (a.key && a.trust)) {
		cli_usage_error("import", "want one BUNDLE and at most one of --key, --trust");
		status = 2;
		goto cleanup;
	}
	/* A registry:// store: --creds are for it, settled before any request. */
	cli_registries regs = {0};
	int bound = cli_registries_add_store(&regs, a.store) < 0
	                ? cli_usage_error("import", "out of memory")
	                : cli_bind_creds(&c, "import", &regs, NULL);
	cli_registries_free(&regs);
	if (bound < 0) {
		status = 2;
		goto cleanup;
	}
	const char *bundle = argv[optind];
	double start = now_seconds();
	int rc = 0;
	if ((!a.skip_signature && (rc = cli_load_trust(&trust, a.key, a.trust, &err)) < 0) ||
	    (rc = bale_platform_set_parse(&platforms, c.platform, &err)) < 0 ||
	    (a.store_opts.platforms = platforms, a.store_opts.log = &c.log,
	     a.store_opts.registry = &c.registry,
	     (rc = bale_store_open_with(&store, a.store, &a.store_opts, &err)) < 0))
		goto done;
	bale_import_options io = {.bundle = bundle,
	                          .trust = a.skip_signature ? NULL : trust,
	                          .images = a.images,
	                          .n_images = a.n_images,
	                          .platforms = platforms,
	                          .log = &c.log};
	rc = bale_import_bundle(&io, store, &res, &err);
done:
	/* The store is closed first: a failed run's staged blobs are gone before the
	 * ledger says so. */
	bale_sink_free(store);
	store = NULL;
	if (rc != BALE_EUSAGE || res.bundle_id[0])
		record(&a, bundle, a.store, &res, rc < 0 ? err : NULL, now_seconds() - start,
		       &ledger_err);
	if (rc < 0) {
		status = cli_report("import", err);
		goto cleanup;
	}
	for (size_t i = 0; i < res.n_images; i++) { /* the bundle's words, escaped */
		cli_put_text(stdout, res.images[i].ref);
		putchar(' ');
		cli_put_text(stdout, res.images[i].digest);
		putchar(' ');
		cli_put_text(stdout, res.images[i].platforms[0] ? res.images[i].platforms : "-");
		putchar('\n');
	}
	if (c.log.level >= BALE_LOG_INFO) {
		char size[32];
		fprintf(stderr,
		        "imported %zu image%s into %s: %lld blobs written (%s), %lld present\n",
		        res.n_images, res.n_images == 1 ? "" : "s", a.store,
		        (long long)res.blobs_written,
		        cli_human_size(size, sizeof(size), res.bytes_written),
		        (long long)res.blobs_present);
	}
cleanup:
	if (ledger_err) {
		int ls = cli_report("import: ledger", ledger_err);
		status = status ? status : ls;
	}
	bale_import_result_free(&res);
	bale_sink_free(store);
	bale_platform_set_free(platforms);
	bale_trust_free(trust);
	free(a.images);
	cli_common_free(&c);
	return status;
}
