/* bale verify BUNDLE: the signature, then every byte. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "bale/verify.h"
#include "cli/cli.h"

static const char usage_text[] =
    "Usage: bale verify BUNDLE [--key PUB | --trust DIR] [--json]\n"
    "\n"
    "Checks the signature over bale/manifest.json against a trusted public key, then\n"
    "reads the whole bundle and checks every member: size and SHA-256 of each blob and\n"
    "of index.db, nothing missing, nothing extra, no unsafe paths, links or devices, and\n"
    "the zstd frames against the seek table. Exit 0 when all is well, 4 for a signature\n"
    "or trust failure, 3 for content that does not match.\n"
    "\n"
    "      --key PUB                trust this public key (NAME.pub)\n"
    "      --trust DIR              trust every *.pub in DIR (default /etc/bale/trust.d)\n"
    "      --insecure-skip-verify   check the content but not the signature\n"
    "      --json                   print a JSON report (also when a check fails)\n"
    "  -q, --quiet                  print nothing, only the exit status tells\n"
    "\n"
    "Usage: bale verify --manifests PATH… --store oci:DIR | --bundle FILE [--platform P]\n"
    "                   [--json]\n"
    "Never-readiness preflight: every container image of the manifests resolved as the\n"
    "kubelet would (normalized name, digest pin, this node's platform) against the node\n"
    "store or a bundle; lists the containers that would not start and why (absent,\n"
    "wrong-platform, digest-mismatch, incomplete); exit 6 if any.\n"
    "  -h, --help                   this help\n";

typedef struct verify_args {
	bale_store_options store_opts;
	const char *key, *trust, *store, *bundle;
	bool json, skip_signature;
	const char **manifests;
	size_t n_manifests;
} verify_args;

static int verify_option(void *payload, int opt, const char *arg)
{
	verify_args *a = payload;
	if (opt == OPT_KEY)
		a->key = arg;
	else if (opt == OPT_TRUST)
		a->trust = arg;
	else if (opt == OPT_JSON)
		a->json = true;
	else if (opt == OPT_INSECURE_SKIP_VERIFY)
		a->skip_signature = true;
	else if (cli_store_option(&a->store_opts, &a->store, opt, arg))
		return 0;
	else if (opt == OPT_BUNDLE)
		a->bundle = arg;
	else if (opt == OPT_MANIFESTS)
		return cli_push_arg(&a->manifests, &a->n_manifests, arg);
	else
		return -1;
	return 0;
}

static void print_json(const char *path, const bale_verify_report *r, const bale_error *err)
{
	json_t *o = json_pack("{s:s,s:b,s:s,s:b,s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "bundle", path, "ok",
	                      err == NULL, "signer", r->signer, "signatureChecked",
	                      r->signature_checked, "bundleId", r->bundle_id, "created", r->created,
	                      "images", (json_int_t)r->images, "blobs", (json_int_t)r->blobs,
	                      "members", (json_int_t)r->members, "contentBytes",
	                      (json_int_t)r->content_bytes, "fileBytes", (json_int_t)r->file_bytes);
	if (err) {
		json_object_set_new(o, "exitCode",
		                    json_integer(bale_error_exit_status(bale_error_code(err))));
		json_object_set_new(o, "error", json_string(bale_error_message(err)));
	}
	json_dumpf(o, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(o);
}

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
	    CLI_BUNDLE_LONG_OPTIONS,
	    {"key", required_argument, NULL, OPT_KEY},
	    {"trust", required_argument, NULL, OPT_TRUST},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"insecure-skip-verify", no_argument, NULL, OPT_INSECURE_SKIP_VERIFY},
	    {"manifests", required_argument, NULL, OPT_MANIFESTS},
	    CLI_STORE_LONG_OPTIONS,
	    {"bundle", required_argument, NULL, OPT_BUNDLE},
	    {"platform", required_argument, NULL, OPT_PLATFORM},
	    {NULL, 0, NULL, 0},
	};
	cli_common c;
	verify_args a = {0};
	bale_error *err = NULL;
	bale_trust *trust = NULL;
	bale_verify_report report = {0};
	int status = 0;
	cli_common_init(&c);
	int parsed = cli_parse(&c, argc, argv, "hqv", longopts, usage_text, verify_option, &a);
	if (parsed != CLI_PARSED) {
		status = parsed == CLI_HELP_SHOWN ? 0 : 2;
		goto cleanup;
	}
	if (a.n_manifests) { /* the Never-readiness preflight */
		if (optind != argc || !a.store == !a.bundle) {
			cli_usage_error("verify",
			                "with --manifests: one of --store STORE, --bundle FILE");
			status = 2;
		} else {
			status = cli_preflight(&c, a.manifests, a.n_manifests, a.store,
			                       &a.store_opts, a.bundle, a.json);
		}
		goto cleanup;
	}
	if (optind + 1 != argc || (a.key && a.trust)) {
		cli_usage_error("verify", "want one BUNDLE and at most one of --key, --trust");
		status = 2;
		goto cleanup;
	}
	const char *path = argv[optind];
	if (!a.skip_signature && cli_load_trust(&trust, a.key, a.trust, &err) < 0) {
		status = cli_report("verify", err);
		goto cleanup;
	}
	int rc = bale_verify_bundle(path, trust, &report, &c.log, &err);
	if (a.json)
		print_json(path, &report, rc < 0 ? err : NULL);
	if (rc < 0) {
		/* -q: the exit status alone tells; --json: the report carries the error. */
		if (c.log.level > BALE_LOG_ERROR && !a.json)
			status = cli_report("verify", err);
		else {
			status = bale_error_exit_status(bale_error_code(err));
			bale_error_free(err);
		}
		goto cleanup;
	}
	if (!a.json && c.log.level >= BALE_LOG_INFO) {
		char size[32];
		printf("%s: ok: %lld image%s, %lld blobs, %s checked, %s\n", path,
		       (long long)report.images, report.images == 1 ? "" : "s",
		       (long long)report.blobs,
		       cli_human_size(size, sizeof(size), report.content_bytes),
		       report.signature_checked ? "signed by trusted key"
		                                : "signature NOT checked");
		if (report.signature_checked)
			printf("signer: %s\n", report.signer);
	}
cleanup:
	bale_trust_free(trust);
	free(a.manifests);
	cli_common_free(&c);
	return status;
}
