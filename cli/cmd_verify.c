/* bale verify BUNDLE: the signature, then every byte. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "bale/verify.h"
#include "cli/cli.h"

static const char usage_text[] =
    "Usage: bale verify BUNDLE [--key PUB | --trust DIR] [--policy FILE] [--json]\n"
    "\n"
    "Checks the signature over bale/manifest.json against a trusted public key, then\n"
    "reads the whole bundle and checks every member: size and SHA-256 of each blob and\n"
    "of index.db, nothing missing, nothing extra, no unsafe paths, links or devices, and\n"
    "the zstd frames against the seek table. Exit 0 when all is well, 4 for a signature\n"
    "or trust failure, 3 for content that does not match.\n"
    "\n"
    "Usage: bale verify --manifests PATH… --store oci:DIR | --bundle FILE [--platform P]\n"
    "                   [--json]\n"
    "Never-readiness preflight: every container image of the manifests resolved as the\n"
    "kubelet would (normalized name, digest pin, this node's platform) against the node\n"
    "store or a bundle; lists the containers that would not start and why (absent,\n"
    "wrong-platform, digest-mismatch, incomplete); exit 6 if any.\n"
    "\n";

static const cli_opt options[] = {
    {"key", 0, "PUB", "trust this public key (NAME.pub)", OPT_KEY},
    {"trust", 0, "DIR", "trust every *.pub in DIR (default /etc/bale/trust.d)", OPT_TRUST},
    {"insecure-skip-verify", 0, NULL, "check the content but not the signature",
     OPT_INSECURE_SKIP_VERIFY},
    {"json", 0, NULL, "print a JSON report (also when a check fails)", OPT_JSON},
    {"policy", 0, "FILE",
     "the site's containers-policy.json: every image held to it\n"
     "with the cosign signatures the bundle carries (exit 4)",
     OPT_POLICY},
    CLI_OPT_PROGRESS,
    CLI_OPT_HEADING("Never-readiness preflight:"),
    {"manifests", 0, "PATH", "Kubernetes manifests, as bale plan reads them (repeatable)",
     OPT_MANIFESTS},
    {"store", 0, "STORE", "the node store: oci:DIR or containerd[:SOCKET]", OPT_STORE},
    CLI_OPT_NAMESPACE,
    CLI_OPT_CTR,
    {"bundle", 0, "FILE", "look in this bundle instead of a node store", OPT_BUNDLE},
    {"platform", 0, "P", "the node's platform (default: this host's)", OPT_PLATFORM},
    {"quiet", 'q', NULL, "print nothing, only the exit status tells", OPT_QUIET},
    CLI_OPT_VERBOSE,
    CLI_OPT_HELP,
    CLI_OPT_END,
};

const cli_verb cli_verb_verify = {"verify", usage_text, options};

typedef struct verify_args {
	bale_store_options store_opts;
	const char *key, *trust, *store, *bundle, *policy;
	bool json, skip_signature;
	const char **manifests;
	size_t n_manifests;
} verify_args;

static int verify_option(void *payload, int opt, const char *arg, bale_error **err)
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
	else if (opt == OPT_POLICY)
		a->policy = arg;
	else if (cli_store_option(&a->store_opts, &a->store, opt, arg))
		return 0;
	else if (opt == OPT_BUNDLE)
		a->bundle = arg;
	else if (opt == OPT_MANIFESTS && cli_push_arg(&a->manifests, &a->n_manifests, arg) < 0)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	return 0;
}

static void print_json(const char *path, const bale_verify_report *r, const char *policy,
                       const bale_verify_policy_report *pr, const bale_error *err)
{
	json_t *o = json_pack("{s:s,s:b,s:s,s:b,s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "bundle", path, "ok",
	                      err == NULL, "signer", r->signer, "signatureChecked",
	                      r->signature_checked, "bundleId", r->bundle_id, "created", r->created,
	                      "images", (json_int_t)r->images, "blobs", (json_int_t)r->blobs,
	                      "members", (json_int_t)r->members, "contentBytes",
	                      (json_int_t)r->content_bytes, "fileBytes", (json_int_t)r->file_bytes);
	if (r->volume)
		json_object_set_new(
		    o, "volume", json_pack("{s:i,s:i}", "number", r->volume, "count", r->volumes));
	if (r->expected_blobs)
		json_object_set_new(o, "delta",
		                    json_pack("{s:I,s:I}", "expectedBlobs",
		                              (json_int_t)r->expected_blobs, "expectedBytes",
		                              (json_int_t)r->expected_bytes));
	if (policy)
		json_object_set_new(o, "policy",
		                    json_pack("{s:s,s:I,s:I}", "file", policy, "images",
		                              (json_int_t)pr->images, "refused",
		                              (json_int_t)pr->refused));
	if (err) {
		json_object_set_new(o, "exitCode",
		                    json_integer(cli_exit_status(bale_error_code(err))));
		json_object_set_new(o, "error", json_string(bale_error_message(err)));
	}
	json_dumpf(o, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(o);
}

int cmd_verify(int argc, char **argv, bale_error **err)
{
	cli_common c;
	verify_args a = {0};
	bale_trust *trust = NULL;
	bale_policy *policy = NULL;
	bale_verify_report report = {0};
	bale_verify_policy_report policy_report = {0};
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_verify, verify_option, &a, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	if (a.n_manifests) { /* the Never-readiness preflight */
		rc = optind != argc || !a.store == !a.bundle
		         ? cli_usage(err, "with --manifests: one of --store STORE, --bundle FILE")
		         : cli_preflight(&c, a.manifests, a.n_manifests, a.store, &a.store_opts,
		                         a.bundle, a.json, err);
		goto cleanup;
	}
	if (optind + 1 != argc || (a.key && a.trust)) {
		rc = cli_usage(err, "want one BUNDLE and at most one of --key, --trust");
		goto cleanup;
	}
	const char *path = argv[optind];
	if (!a.skip_signature && (rc = cli_load_trust(&trust, a.key, a.trust, err)) < 0)
		goto cleanup;
	if (a.policy && (rc = bale_policy_load(&policy, a.policy, err)) < 0)
		goto cleanup;
	rc = bale_verify_bundle(path, trust, &report, &c.log, err);
	/* every byte checked first: the policy reads signatures already known good */
	if (rc == 0 && policy)
		rc = bale_verify_policy(path, policy, &policy_report, err);
	if (a.json)
		print_json(path, &report, a.policy, &policy_report, rc < 0 ? *err : NULL);
	if (rc < 0) {
		/* -q: the exit status alone tells; --json: the report carries the error. */
		if (c.log.level <= BALE_LOG_ERROR || a.json) {
			rc = bale_error_code(*err);
			bale_error_clear(err);
		}
		goto cleanup;
	}
	if (!a.json && c.log.level >= BALE_LOG_INFO) {
		char size[32];
		if (report.volume) /* its own members checked, of a set that lists them all */
			printf("%s: ok: volume %d of %d, %lld member%s, %s checked, %s; the set: "
			       "%lld image%s, %lld blobs\n",
			       path, report.volume, report.volumes, (long long)report.members,
			       report.members == 1 ? "" : "s",
			       cli_human_size(size, sizeof(size), report.content_bytes),
			       report.signature_checked ? "signed by trusted key"
			                                : "signature NOT checked",
			       (long long)report.images, report.images == 1 ? "" : "s",
			       (long long)(report.blobs - report.expected_blobs));
		else
			printf("%s: ok: %lld image%s, %lld blobs, %s checked, %s\n", path,
			       (long long)report.images, report.images == 1 ? "" : "s",
			       (long long)(report.blobs - report.expected_blobs),
			       cli_human_size(size, sizeof(size), report.content_bytes),
			       report.signature_checked ? "signed by trusted key"
			                                : "signature NOT checked");
		if (report.signature_checked)
			printf("signer: %s\n", report.signer);
		if (policy)
			printf("policy %s: %zu image%s admitted\n", a.policy, policy_report.images,
			       policy_report.images == 1 ? "" : "s");
		if (report.expected_blobs)
			printf("delta: expects %lld layer%s (%s) at the site\n",
			       (long long)report.expected_blobs,
			       report.expected_blobs == 1 ? "" : "s",
			       cli_human_size(size, sizeof(size), report.expected_bytes));
	}
cleanup:
	bale_trust_free(trust);
	bale_policy_free(policy);
	free(a.manifests);
	cli_common_free(&c);
	return rc;
}
