/* bale export REF… | -f LIST -o FILE.tar.zst --key KEY: registry -> signed bundle. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bale/bundle.h"
#include "bale/export.h"
#include "bale/fs.h"
#include "bale/have.h"
#include "bale/image_set.h"
#include "bale/json.h"
#include "bale/plan.h"
#include "bale/policy.h"
#include "bale/pull.h"
#include "bale/reflist.h"
#include "bale/store.h"
#include "cli/cli.h"
#include "cli/export.h"
#include "cli/report.h"

static const char usage_text[] =
    "Usage: bale export [options] REF… | -f LIST  -o FILE.tar.zst  --key KEY | --unsigned\n"
    "       bale export [options] REF… | -f LIST  --dry-run [--json]\n"
    "\n"
    "Pulls the images (every platform unless --platform says otherwise) and writes one\n"
    "signed bundle: a zstd-compressed tar (seekable format) holding an OCI image layout,\n"
    "the SQLite index bale/index.db and the signed bale/manifest.json. Blobs pass through a\n"
    "local content cache, so a second export of the same images fetches no layer again\n"
    "and an interrupted export resumes. The bundle appears only when complete.\n"
    "\n"
    "With --have (what the site holds, from bale have) the bundle is a delta: it carries\n"
    "every index, manifest and config, and only the layers the site lacks; it lists the\n"
    "others as expected at the site, and bale import checks the store holds them.\n"
    "\n";

enum {
	OPT_INCLUDE_FOREIGN_LAYERS = OPT_VERB_FIRST,
	OPT_HAVE,
	OPT_VOLUME_SIZE,
	OPT_WITH_BALE,
	OPT_REFERRERS,
	OPT_DRY_RUN,
	OPT_PLAN,
};

static const cli_opt options[] = {
    {"file", 'f', "LIST",
     "references, one per line ('#' comments; '-' for stdin),\n"
     "or an image set (imageSet: 1; docs/image-set.md)",
     OPT_FILE},
    {"output", 'o', "FILE", "the bundle to write", OPT_OUTPUT},
    {"key", 0, "KEY", "private key from bale keygen (NAME.key)", OPT_KEY},
    {"unsigned", 0, NULL, "write an unsigned bundle (import refuses it by default)", OPT_UNSIGNED},
    {"level", 0, "N", "zstd level, 1-19 (default 3)", OPT_LEVEL},
    {"cache", 0, "DIR", "content cache (default $XDG_CACHE_HOME/bale)", OPT_CACHE},
    {"force", 0, NULL, "replace FILE if it exists", OPT_FORCE},
    {"from-manifests", 0, "PATH",
     "images of Kubernetes manifests (repeatable), with the\n"
     "registry credentials their imagePullSecrets and\n"
     "ServiceAccounts name (Secrets from the same input)",
     OPT_FROM_MANIFESTS},
    {"node-config", 0, "FILE", "the kubelet's config.json, after the manifests' Secrets",
     OPT_NODE_CONFIG},
    {"plan", 0, "FILE",
     "the images of a saved plan (bale plan --json [--nodes]),\n"
     "each with the platforms it needs",
     OPT_PLAN},
    {"nodes", 0, "FILE",
     "the site's nodes (kubectl get nodes -o json, or a YAML\n"
     "list of os/arch): with --from-manifests, each image's\n"
     "platforms are those its workloads may run on there",
     OPT_NODES},
    {"platform", 0, "P[,P…]|all", "platforms of multi-arch images (default: all)", OPT_PLATFORM},
    {"include-foreign-layers", 0, NULL,
     "fetch foreign (non-distributable) layers from their\n"
     "urls and carry them (default: left to the node)",
     OPT_INCLUDE_FOREIGN_LAYERS},
    {"referrers", 0, "all|signatures|none",
     "what each image brings from its registry: cosign's\n"
     ".sig, .att and .sbom tags and OCI referrers (all, the\n"
     "default), signatures only, or nothing",
     OPT_REFERRERS},
    {"dry-run", 0, NULL,
     "resolve everything and download no layer: each image,\n"
     "its platforms and the bytes it adds, all that is missing",
     OPT_DRY_RUN},
    {"policy", 0, "FILE",
     "the site's containers-policy.json: an image it refuses\n"
     "with the signatures it brings is not exported (exit 4)",
     OPT_POLICY},
    {"volume-size", 0, "SIZE",
     "cut the bundle into volumes of at most SIZE (700M, 4G;\n"
     "cd, dvd, dvd-dl, bd25, bd50), each verifying alone:\n"
     "FILE's NAME.001.tar.zst, NAME.002.tar.zst, …",
     OPT_VOLUME_SIZE},
    {"have", 0, "FILE",
     "a have-list of the site (repeatable; bale have): write a\n"
     "delta without the layers it lists",
     OPT_HAVE},
    {"with-bale", 0, "FILE",
     "carry this static bale (scripts/build.sh Static) at\n"
     "bale/bin/linux-ARCH/bale, signed with the rest\n"
     "(repeatable, one per architecture)",
     OPT_WITH_BALE},
    CLI_OPT_HEADING("Registry options:"),
    CLI_OPTS_REGISTRY,
    CLI_OPT_JOBS,
    {"json", 0, NULL, "the bundle and its images as a JSON object", OPT_JSON},
    CLI_OPT_PROGRESS,
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

const cli_verb cli_verb_export = {"export", usage_text, options};

/* --with-bale FILE: a static bale, checked now, carried at its architecture's member. */
static int add_binary(export_args *a, const char *path, bale_error **err)
{
	char *member = a->binary_members[a->n_binaries];
	if (a->n_binaries == MAX_BINARIES)
		return cli_usage(err, "--with-bale: at most %d binaries", MAX_BINARIES);
	int rc = bale_export_binary_member(path, member, sizeof(a->binary_members[0]), err);
	for (size_t i = 0; rc == 0 && i < a->n_binaries; i++)
		if (strcmp(a->binaries[i].member, member) == 0)
			rc = cli_usage(err, "--with-bale %s: %s is carried already (%s)", path,
			               member, a->binaries[i].source);
	if (rc == 0)
		a->binaries[a->n_binaries++] =
		    (bale_bundle_extra){.member = member, .source = path};
	return rc;
}

static int export_option(void *payload, int opt, const char *arg, bale_error **err)
{
	export_args *a = payload;
	char *end;
	switch (opt) {
	case OPT_FILE:
		a->list_stdin = a->list_stdin || strcmp(arg, "-") == 0;
		return export_read_list(a, arg, err);
	case OPT_OUTPUT:
		a->output = arg;
		return 0;
	case OPT_KEY:
		a->key = arg;
		return 0;
	case OPT_UNSIGNED:
		a->unsigned_ok = true;
		return 0;
	case OPT_CACHE:
		a->cache = arg;
		return 0;
	case OPT_FORCE:
		a->force = true;
		return 0;
	case OPT_INCLUDE_FOREIGN_LAYERS:
		a->foreign_layers = true;
		return 0;
	case OPT_POLICY:
		a->policy = arg;
		return 0;
	case OPT_DRY_RUN:
		a->dry_run = true;
		return 0;
	case OPT_NODES:
		a->nodes = arg;
		return 0;
	case OPT_PLAN:
		a->plan = arg;
		return 0;
	case OPT_REFERRERS:
		if (strcmp(arg, "all") == 0)
			a->referrers = BALE_PULL_REFERRERS_ALL;
		else if (strcmp(arg, "signatures") == 0)
			a->referrers = BALE_PULL_REFERRERS_SIGNATURES;
		else if (strcmp(arg, "none") == 0)
			a->referrers = BALE_PULL_REFERRERS_NONE;
		else
			return cli_usage(
			    err, "--referrers: want all, signatures or none, got \"%s\"", arg);
		return 0;
	case OPT_FROM_MANIFESTS:
		return cli_push_arg(&a->manifests, &a->n_manifests, arg);
	case OPT_HAVE:
		return cli_push_arg(&a->haves, &a->n_haves, arg);
	case OPT_VOLUME_SIZE:
		return bale_bundle_volume_size_parse(arg, &a->volume_size, err);
	case OPT_WITH_BALE:
		return add_binary(a, arg, err);
	case OPT_JSON:
		a->json = true;
		return 0;
	case OPT_NODE_CONFIG:
		a->node_config = arg;
		return 0;
	case OPT_LEVEL:
		a->level = (int)strtol(arg, &end, 10);
		if (*end || a->level < 1 || a->level > 19)
			return cli_usage(err, "--level: want 1 to 19, got \"%s\"", arg);
		return 0;
	default:
		return 0;
	}
}

int cmd_export(int argc, char **argv, bale_error **err)
{
	cli_common c;
	export_args a = {.referrers = BALE_PULL_REFERRERS_ALL};
	bale_k8s_set k8s = {0}, nodes = {0};
	plan_wants wants = {0};
	bale_plan plan = {0};
	bale_manifest_secret *secrets = NULL;
	size_t n_secrets = 0;
	bale_platform_set *platforms = NULL;
	bale_sink *cache = NULL;
	bale_pull *pull = NULL;
	bale_key *key = NULL;
	bale_have *have = NULL;
	bale_policy *policy = NULL;
	char *cache_dir = NULL, *blob_dir = NULL;
	cli_registries regs = {0};
	const char *stdin_taken = NULL;
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_export, export_option, &a, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	for (int i = optind; i < argc; i++)
		if (bale_reflist_add(&a.refs, argv[i], err) < 0)
			goto failed;
	if (a.plan && export_read_plan(a.plan, !c.platform, &a.refs, &wants, err) < 0)
		goto failed;
	if (a.nodes &&
	    (!a.n_manifests || bale_k8s_load(&nodes, a.nodes, err) < 0 || !nodes.n_nodes)) {
		rc = *err ? bale_error_code(*err)
		          : cli_usage(err,
		                      a.n_manifests ? "--nodes %s: no node in it (want kubectl "
		                                      "get nodes -o json, or a list of os/arch)"
		                                    : "--nodes needs --from-manifests",
		                      a.nodes);
		goto cleanup;
	}
	/* Images and registry credentials from the manifests the cluster runs. */
	for (size_t i = 0; i < a.n_manifests; i++)
		if (bale_k8s_load(&k8s, a.manifests[i], err) < 0)
			goto failed;
	if (a.n_manifests) {
		if (bale_plan_build(&plan, &k8s, false, NULL, NULL, err) < 0 ||
		    bale_plan_pull_secrets(&secrets, &n_secrets, &k8s, &c.log, err) < 0)
			goto failed;
		for (size_t i = 0; i < plan.n_findings; i++) /* an image that cannot be exported */
			if (plan.findings[i].severity == BALE_LINT_ERROR) {
				const bale_lint_finding *f = &plan.findings[i];
				bale_error_set(
				    err, BALE_EUSAGE, "%s:%d: %s/%s: %s", f->workload->file,
				    f->container->line, f->workload->kind,
				    f->workload->name ? f->workload->name : "?", f->message);
				goto failed;
			}
		for (size_t i = 0; i < plan.n_images; i++)
			if (bale_reflist_add(&a.refs, plan.images[i].ref, err) < 0)
				goto failed;
		c.auth.manifest_secrets = secrets;
		c.auth.n_manifest_secrets = n_secrets;
	}
	if (a.node_config && !c.auth.authfile) /* the kubelet's config.json: after the Secrets */
		c.auth.authfile = a.node_config;
	if (bale_auth_check(&c.auth, err) < 0)
		goto failed;
	if ((!a.refs.n && !a.n_sets) || (!a.dry_run && (!a.output || (!a.key == !a.unsigned_ok)))) {
		rc = cli_usage(err, "want image references, -o FILE and either --key KEY or "
		                    "--unsigned (see bale export --help)");
		goto cleanup;
	}
	/* Credentials go to the registries they are for, settled before any request. */
	for (size_t i = 0; i < a.refs.n; i++)
		if (cli_registries_add_ref(&regs, a.refs.refs[i]) < 0) {
			bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto failed;
		}
	for (size_t i = 0; i < a.n_manifests; i++)
		if (strcmp(a.manifests[i], "-") == 0)
			stdin_taken = "--from-manifests -";
	for (size_t i = 0; i < a.n_haves; i++)
		if (strcmp(a.haves[i], "-") == 0)
			stdin_taken = "--have -";
	if (a.list_stdin)
		stdin_taken = "-f -";
	if (cli_bind_creds(&c, &regs, stdin_taken, err) < 0)
		goto failed;
	/* Before any download: an output that exists stops here (a dry run writes none). */
	if (!a.dry_run && !a.force && !a.volume_size && access(a.output, F_OK) == 0) {
		bale_error_set(err, BALE_EUSAGE, "%s exists (use --force to replace it)", a.output);
		goto failed;
	}
	if (!a.dry_run && !a.force && a.volume_size) { /* the first volume's name stands */
		char *first = bale_bundle_volume_name(a.output, 1);
		bool exists = first && access(first, F_OK) == 0;
		if (exists)
			bale_error_set(err, BALE_EUSAGE, "%s exists (use --force to replace it)",
			               first);
		free(first);
		if (exists)
			goto failed;
	}
	if (a.key && bale_key_load_private(&key, a.key, err) < 0)
		goto failed;
	/* The site policy and the have-lists before any download: a file that cannot be
	 * read stops here. */
	if (a.policy && bale_policy_load(&policy, a.policy, err) < 0)
		goto failed;
	if (a.policy && a.referrers == BALE_PULL_REFERRERS_NONE) {
		rc = cli_usage(err, "--policy checks the signatures images bring: not with "
		                    "--referrers none");
		goto cleanup;
	}
	if (a.n_haves && bale_have_new(&have, err) < 0)
		goto failed;
	for (size_t i = 0; i < a.n_haves; i++)
		if (bale_have_read(have, a.haves[i], err) < 0)
			goto failed;
	if (bale_platform_set_parse(&platforms, c.platform ? c.platform : "all", err) < 0)
		goto failed;
	cache_dir = a.cache ? strdup(a.cache) : cli_default_cache();
	blob_dir = cache_dir ? bale_fs_join(cache_dir, "blobs/sha256") : NULL;
	if (!blob_dir) {
		bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto failed;
	}
	if (bale_store_oci_open(&cache, cache_dir, BALE_STORE_CACHE, err) < 0)
		goto failed;
	/* Manifests and configs wait in the cache, not in memory; the writer reads them there. */
	bale_pull_options po = {.registry = c.registry,
	                        .platforms = platforms,
	                        .max_parallel = c.jobs,
	                        .log = &c.log,
	                        .keep = cache,
	                        .foreign_layers = a.foreign_layers,
	                        .referrers = a.referrers};
	bale_bundle_write_options wo = {.output = a.output,
	                                .force = a.force,
	                                .key = key,
	                                .level = a.level,
	                                .blob_dir = blob_dir,
	                                .log = &c.log,
	                                .volume_size = a.volume_size,
	                                .extras = a.binaries,
	                                .n_extras = a.n_binaries};
	if (bale_pull_new(&pull, &po, err) < 0)
		goto failed;
	/* Each image's platforms from where its workloads may run, unless --platform says */
	if (a.n_manifests && !c.platform &&
	    (rc = export_want_planned(&plan, &nodes, pull, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < wants.n; i++) /* and a saved plan's */
		if ((rc = bale_pull_want(pull, wants.refs[i], wants.platforms[i], NULL, err)) < 0)
			goto cleanup;
	if ((rc = export_resolve_sets(&c, &a, pull, err)) < 0) /* and the image sets' choices */
		goto cleanup;
	if (a.dry_run) {
		rc = export_dry_run(&c, &a, pull, cache, have, err);
		goto cleanup;
	}
	if (bale_export(pull, (const char *const *)a.refs.refs, a.refs.n, cache, have, policy, &wo,
	                err) < 0)
		goto failed;
	cli_progress_clear(&c);
	size_t n = bale_pull_image_count(pull);
	json_t *list = a.json ? json_array() : NULL;
	for (size_t i = 0; i < n; i++) {
		bale_image *img = NULL;
		if (bale_pull_image_load(pull, i, &img, err) < 0) {
			json_decref(list);
			goto failed;
		}
		if (list)
			json_array_append_new(list, json_pack("{s:s,s:s}", "ref", img->ref,
			                                      "digest", img->root.digest.str));
		else
			printf("%s %s\n", img->ref, img->root.digest.str);
		bale_image_free(img);
	}
	if (list)
		cli_print_json(json_pack("{s:s,s:b,s:s?,s:o}", "output", a.output, "volumes",
		                         a.volume_size > 0, "signer", key ? bale_key_id(key) : NULL,
		                         "images", list));
	if (c.log.level >= BALE_LOG_INFO)
		fprintf(stderr, "wrote %s%s (%zu image%s, %s)\n", a.output,
		        a.volume_size ? " as volumes NAME.001.tar.zst…" : "", n, n == 1 ? "" : "s",
		        key ? bale_key_id(key) : "unsigned");
	goto cleanup;
failed:
	rc = bale_error_code(*err) ? bale_error_code(*err) : BALE_EGENERIC;
cleanup:
	cli_registries_free(&regs);
	bale_pull_free(pull);
	bale_sink_free(cache);
	bale_key_free(key);
	bale_platform_set_free(platforms);
	bale_reflist_free(&a.refs);
	for (size_t i = 0; i < a.n_sets; i++)
		bale_image_set_free(a.sets[i]);
	bale_plan_free(&plan);
	bale_k8s_set_free(&k8s);
	bale_k8s_set_free(&nodes);
	export_plan_wants_free(&wants);
	free(secrets);
	free(a.manifests);
	free(a.haves);
	bale_have_free(have);
	bale_policy_free(policy);
	free(cache_dir);
	free(blob_dir);
	cli_common_free(&c);
	return rc;
}
