/* bale plan -f PATH…: the images Kubernetes manifests need, and pull-policy lint. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bale/bundle.h"
#include "bale/fs.h"
#include "bale/index_db.h"
#include "bale/k8s_pin.h"
#include "bale/plan.h"
#include "bale/preheat.h"
#include "cli/cli.h"

enum {
	OPT_DAEMONSET = OPT_VERB_FIRST,
	OPT_TOOLS_IMAGE,
	OPT_NAME,
	OPT_PLATFORMS,
	OPT_REGISTRY,
};

#define DEFAULT_TOOLS_IMAGE "docker.io/library/busybox:1.36"

static const char usage_text[] =
    "Usage: bale plan -f PATH… [--json | --lint [--offline] [--bundle FILE]]\n"
    "       bale plan --pin BUNDLE -f PATH… [-o FILE|DIR [--force]]\n"
    "       bale plan --daemonset BUNDLE [-f PATH…] [--tools-image REF] [--namespace NS]\n"
    "                 [-o FILE [--force]]\n"
    "\n"
    "Reads Kubernetes manifests (files, directories recursively, - for stdin; multi-document\n"
    "YAML, Lists, every workload kind, containers, initContainers, ephemeralContainers) and\n"
    "prints every image they need, normalized as the kubelet looks it up, one per line: the\n"
    "list bale export -f takes.\n"
    "\n";

static const cli_opt options[] = {
    {"file", 'f', "PATH", "manifests (repeatable)", OPT_FILE},
    {"json", 0, NULL,
     "per image, every use: workload, container, file:line and the\n"
     "effective pull policy (Kubernetes defaulting)",
     OPT_JSON},
    {"platforms", 0, NULL,
     "each image with the platforms its workloads may run on\n"
     "(nodeSelector, nodeAffinity; narrowed by --nodes)",
     OPT_PLATFORMS},
    {"nodes", 0, "FILE",
     "the site's nodes (kubectl get nodes -o json, or a YAML\n"
     "list of os/arch): the platforms there are",
     OPT_NODES},
    {"lint", 0, NULL, "findings with file:line and severity; exit 1 on any error", OPT_LINT},
    {"offline", 0, NULL, "the site has no registry: pull policy Always is an error", OPT_OFFLINE},
    {"pin", 0, "BUNDLE",
     "the manifests with every container image pinned to\n"
     "NAME:TAG@DIGEST from the bundle and imagePullPolicy Never\n"
     "(comments are not kept); written only if every image pins",
     OPT_PIN},
    {"output", 'o', "PATH",
     "with --pin: write there instead of standard output; a\n"
     "directory tree mirroring the input when a PATH is a directory",
     OPT_OUTPUT},
    {"registry", 0, "HOST[/PREFIX]",
     "with --pin: the site registry the images are pulled\n"
     "from (bale import --store registry://…): images renamed\n"
     "there, pinned by digest, pull policy IfNotPresent",
     OPT_REGISTRY},
    CLI_OPT_REPOSITORY_DEPTH,
    {"daemonset", 0, "BUNDLE",
     "a DaemonSet that has every node pull and keep the\n"
     "images (of -f, else all the bundle carries) from its mirror",
     OPT_DAEMONSET},
    {"tools-image", 0, "REF",
     "with --daemonset: the bundle's image with a static\n"
     "/bin/busybox (default " DEFAULT_TOOLS_IMAGE ")",
     OPT_TOOLS_IMAGE},
    {"namespace", 0, "NS", "with --daemonset: its namespace (default bale-system)", OPT_NAMESPACE},
    {"name", 0, "NAME", "with --daemonset: its name (default bale-preheat)", OPT_NAME},
    {"force", 0, NULL, "with -o: replace files that exist", OPT_FORCE},
    {"bundle", 0, "FILE", "with --lint: name the digest the bundle would pin each image to",
     OPT_BUNDLE},
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

const cli_verb cli_verb_plan = {"plan", usage_text, options};

typedef struct plan_args {
	const char **paths;
	size_t n_paths;
	bool json, lint, offline, platforms;
	const char *nodes;    /* the site's node inventory */
	const char *registry; /* --pin --registry */
	int repository_depth; /* and its --repository-depth */
	const char *pin;      /* a bundle to pin from */
	const char *bundle;   /* a bundle whose digests the lint names */
	const char *output;   /* --pin's output file or directory, --daemonset's file */
	bool force;
	const char *daemonset; /* a bundle whose images every node preheats */
	const char *tools_image, *namespace, *name;
} plan_args;

/* --lint --bundle: the digest the bundle would pin an image to. */
static void bundle_digest(void *payload, const char *ref, char digest[80])
{
	bale_index_db_image_digest(payload, ref, digest, NULL);
}

static int plan_option(void *payload, int opt, const char *arg, bale_error **err)
{
	plan_args *a = payload;
	if (opt == OPT_FILE) {
		if (cli_push_arg(&a->paths, &a->n_paths, arg) < 0)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
	} else if (opt == OPT_JSON) {
		a->json = true;
	} else if (opt == OPT_LINT) {
		a->lint = true;
	} else if (opt == OPT_OFFLINE) {
		a->offline = true;
	} else if (opt == OPT_PIN) {
		a->pin = arg;
	} else if (opt == OPT_BUNDLE) {
		a->bundle = arg;
	} else if (opt == OPT_OUTPUT) {
		a->output = arg;
	} else if (opt == OPT_FORCE) {
		a->force = true;
	} else if (opt == OPT_DAEMONSET) {
		a->daemonset = arg;
	} else if (opt == OPT_TOOLS_IMAGE) {
		a->tools_image = arg;
	} else if (opt == OPT_NAMESPACE) {
		a->namespace = arg;
	} else if (opt == OPT_NAME) {
		a->name = arg;
	} else if (opt == OPT_PLATFORMS) {
		a->platforms = true;
	} else if (opt == OPT_NODES) {
		a->nodes = arg;
	} else if (opt == OPT_REGISTRY) {
		a->registry = arg;
	} else if (opt == OPT_REPOSITORY_DEPTH) {
		return cli_repository_depth(arg, &a->repository_depth, err);
	}
	return 0;
}

/* text to path (refused when it exists, unless force; written whole, atomically), or to
 * standard output when path is NULL. */
static int write_output(const char *path, bool force, const char *text, size_t len,
                        bale_error **err)
{
	struct stat st;
	if (!path)
		return fwrite(text, 1, len, stdout) == len
		           ? 0
		           : bale_error_set_errno(err, BALE_EGENERIC, errno,
		                                  "write standard output");
	if (!force && lstat(path, &st) == 0)
		return bale_error_set(err, BALE_EUSAGE, "%s exists (use --force to replace it)",
		                      path);
	return bale_fs_write_atomic(path, text, len, 0644, err);
}

/* --daemonset: the YAML, to -o (written whole, atomically) or standard output. */
static int write_daemonset(const plan_args *a, const bale_plan *plan, bale_error **err)
{
	if (a->n_paths && !plan->n_images)
		return bale_error_set(err, BALE_EUSAGE, "the manifests name no image to preheat");
	const char **images = calloc(plan->n_images ? plan->n_images : 1, sizeof(*images));
	char *text = NULL;
	size_t len = 0;
	FILE *mem = images ? open_memstream(&text, &len) : NULL;
	if (!mem) {
		free(images);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	for (size_t i = 0; i < plan->n_images; i++)
		images[i] = plan->images[i].ref;
	bale_preheat_request req = {.bundle = a->daemonset,
	                            .images = images,
	                            .n_images = plan->n_images,
	                            .tools_image =
	                                a->tools_image ? a->tools_image : DEFAULT_TOOLS_IMAGE,
	                            .namespace = a->namespace,
	                            .name = a->name};
	int rc = bale_preheat_write(&req, mem, err);
	fclose(mem);
	if (rc == 0)
		rc = write_output(a->output, a->force, text, len, err);
	free(text);
	free(images);
	return rc;
}

static json_t *use_json(const bale_plan_use *u)
{
	const bale_k8s_workload *w = u->workload;
	const bale_k8s_container *c = u->container;
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:b}", "kind", w->kind, "name",
	                      w->name ? w->name : "", "container", c->name ? c->name : "", "list",
	                      c->list, "file", w->file, "line", c->line, "pullPolicy", u->policy,
	                      "pullPolicySet", c->pull_policy != NULL);
	if (w->namespace)
		json_object_set_new(o, "namespace", json_string(w->namespace));
	return o;
}

/* Where a workload's pods may run, as bale_plan_platforms writes it. */
static const char *workload_platforms(const bale_k8s_workload *w, char *buf, size_t size)
{
	bale_plan_image one = {.archs = w->archs, .oses = w->oses};
	return bale_plan_platforms(&one, 0, 0, buf, size);
}

static void print_json(const bale_plan *p, const bale_k8s_set *nodes)
{
	json_t *list = json_array();
	for (size_t i = 0; i < p->n_images; i++) {
		char platforms[512], own[512];
		json_t *uses = json_array();
		for (size_t k = 0; k < p->images[i].n_uses; k++) {
			json_t *u = use_json(&p->images[i].uses[k]);
			json_object_set_new(u, "platforms",
			                    json_string(workload_platforms(
			                        p->images[i].uses[k].workload, own, sizeof(own))));
			json_array_append_new(uses, u);
		}
		bale_plan_platforms(&p->images[i], nodes->node_archs, nodes->node_oses, platforms,
		                    sizeof(platforms));
		json_array_append_new(list, json_pack("{s:s,s:s,s:o}", "image", p->images[i].ref,
		                                      "platforms", platforms, "uses", uses));
	}
	json_dumpf(list, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(list);
}

/* --lint --json: {"errors", "warnings", "findings": [{"file", "line", "severity", "kind",
 * "name", "namespace", "container", "message"}]}. */
static void print_lint_json(const bale_plan *p)
{
	json_t *list = json_array();
	for (size_t i = 0; i < p->n_findings; i++) {
		const bale_lint_finding *f = &p->findings[i];
		json_array_append_new(
		    list, json_pack("{s:s,s:i,s:s,s:s,s:s?,s:s?,s:s?,s:s}", "file",
		                    f->workload->file, "line", f->container->line, "severity",
		                    f->severity == BALE_LINT_ERROR ? "error" : "warning", "kind",
		                    f->workload->kind, "name", f->workload->name, "namespace",
		                    f->workload->namespace, "container", f->container->name,
		                    "message", f->message));
	}
	cli_print_json(json_pack("{s:I,s:I,s:o}", "errors", (json_int_t)p->n_errors, "warnings",
	                         (json_int_t)(p->n_findings - p->n_errors), "findings", list));
}

static void print_lint(const bale_plan *p)
{
	for (size_t i = 0; i < p->n_findings; i++) {
		const bale_lint_finding *f = &p->findings[i];
		printf("%s:%d: %s: %s/%s container %s: %s\n", f->workload->file, f->container->line,
		       f->severity == BALE_LINT_ERROR ? "error" : "warning", f->workload->kind,
		       f->workload->name ? f->workload->name : "?",
		       f->container->name ? f->container->name : "?", f->message);
	}
}

int cmd_plan(int argc, char **argv, bale_error **err)
{
	cli_common c;
	plan_args a = {0};
	bale_k8s_set set = {0}, nodes = {0};
	bale_plan plan = {0};
	bale_bundle_reader *reader = NULL;
	sqlite3 *db = NULL;
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_plan, plan_option, &a, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	for (int i = optind; i < argc && rc == 0; i++) /* bare paths count as -f too */
		rc = plan_option(&a, OPT_FILE, argv[i], err);
	if (rc < 0)
		goto cleanup;
	bool preheat_opts = a.tools_image || a.namespace || a.name;
	if ((!a.n_paths && !a.daemonset) || (a.bundle && !a.lint) ||
	    ((a.output || a.force) && !a.pin && !a.daemonset) ||
	    (a.daemonset && (a.pin || a.json || a.lint)) || (preheat_opts && !a.daemonset) ||
	    (a.registry && !a.pin) || (a.repository_depth && !a.registry)) {
		rc =
		    cli_usage(err, "want -f PATH… (or --daemonset BUNDLE), at most one of --lint, "
		                   "--pin, --daemonset; --bundle only with --lint; -o and "
		                   "--force only with --pin or --daemonset; --registry only with "
		                   "--pin, --repository-depth only with --registry; --tools-image, "
		                   "--namespace and --name only with --daemonset");
		goto cleanup;
	}
	if (a.pin) {
		bale_k8s_pin_request req = {.bundle = a.pin,
		                            .paths = a.paths,
		                            .n_paths = a.n_paths,
		                            .output = a.output,
		                            .force = a.force,
		                            .registry = a.registry,
		                            .repository_depth = a.repository_depth};
		rc = bale_k8s_pin_bundle(&req, err);
		goto cleanup;
	}
	for (size_t i = 0; i < a.n_paths; i++)
		if ((rc = bale_k8s_load(&set, a.paths[i], err)) < 0)
			goto cleanup;
	if (a.nodes && ((rc = bale_k8s_load(&nodes, a.nodes, err)) < 0 || !nodes.n_nodes)) {
		rc = rc < 0 ? rc
		            : cli_usage(err,
		                        "--nodes %s: no node in it (want kubectl get nodes -o "
		                        "json, or a list of os/arch)",
		                        a.nodes);
		goto cleanup;
	}
	if (a.bundle && (rc = bale_index_db_open_bundle(&reader, &db, a.bundle, err)) < 0)
		goto cleanup;
	if ((rc = bale_plan_build(&plan, &set, a.offline, a.bundle ? bundle_digest : NULL, db,
	                          err)) < 0)
		goto cleanup;
	if (a.daemonset) {
		rc = write_daemonset(&a, &plan, err);
	} else if (a.json && !a.lint) {
		print_json(&plan, &nodes);
	} else if (a.lint) {
		if (a.json)
			print_lint_json(&plan);
		else
			print_lint(&plan);
		if (c.log.level >= BALE_LOG_INFO)
			fprintf(stderr, "%zu error%s, %zu warning%s\n", plan.n_errors,
			        plan.n_errors == 1 ? "" : "s", plan.n_findings - plan.n_errors,
			        plan.n_findings - plan.n_errors == 1 ? "" : "s");
		rc = plan.n_errors ? BALE_EGENERIC : 0; /* the findings above say why */
	} else if (a.platforms) { /* REF PLATFORMS (why: each workload's own) */
		for (size_t i = 0; i < plan.n_images; i++) {
			char platforms[512], own[512];
			const bale_plan_image *img = &plan.images[i];
			bale_plan_platforms(img, nodes.node_archs, nodes.node_oses, platforms,
			                    sizeof(platforms));
			printf("%s %s", img->ref, platforms[0] ? platforms : "none");
			for (size_t k = 0; k < img->n_uses; k++) {
				const bale_k8s_workload *w = img->uses[k].workload;
				printf("%s%s/%s: %s", k ? "; " : " (", w->kind,
				       w->name ? w->name : "?",
				       workload_platforms(w, own, sizeof(own)));
			}
			printf("%s\n", img->n_uses ? ")" : "");
		}
	} else {
		for (size_t i = 0; i < plan.n_images; i++)
			printf("%s\n", plan.images[i].ref);
	}
cleanup:
	bale_plan_free(&plan);
	bale_k8s_set_free(&set);
	bale_k8s_set_free(&nodes);
	sqlite3_close(db);
	bale_bundle_close(reader);
	free(a.paths);
	cli_common_free(&c);
	return rc;
}
