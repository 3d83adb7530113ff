/* bale doctor -f PATH… [--store STORE]: why would these pods not start on this node, and
 * the fix. Gathers the facts (manifests, the kubelet's and containerd's configurations,
 * hosts.toml, the store, the image filesystem), has libbale check them, prints the
 * findings. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/doctor.h"
#include "bale/text.h"
#include "cli/cli.h"

enum {
	OPT_KUBELET_CONFIG = OPT_VERB_FIRST,
	OPT_CONTAINERD_CONFIG,
	OPT_IMAGEFS,
	OPT_LINK_SPEED,
};

#define DEFAULT_LINK_SPEED "100Mbit"

static const char usage_text[] =
    "Usage: bale doctor -f PATH… [--store STORE] [--kubelet-config FILE]\n"
    "                   [--containerd-config FILE] [--link-speed RATE] [--json]\n"
    "\n"
    "Why would these pods not start on this node, and the fix: every finding, one a line,\n"
    "with its severity, pod, container, cause and fix. Checks the Never images in the\n"
    "store, pull secrets, latest tags, containerd's trust in the registries pulled from\n"
    "(config_path, hosts.toml, CA files, plain HTTP), the kubelet's eviction and image GC\n"
    "against the image filesystem and what is pinned, containerd's version and CRI\n"
    "settings, and the pull deadlines against the largest layer. Without --store, what\n"
    "the manifests and configurations alone tell. Exit 1 if any finding is an error.\n"
    "\n";

static const cli_opt options[] = {
    {"file", 'f', "PATH", "manifests (repeatable)", OPT_FILE},
    {"store", 0, "STORE",
     "the node store: oci:DIR or containerd[:SOCKET] (Never\n"
     "images, pins, containerd's version, layer sizes)",
     OPT_STORE},
    CLI_OPT_NAMESPACE,
    CLI_OPT_CTR,
    {"kubelet-config", 0, "FILE",
     "the KubeletConfiguration (default " BALE_DOCTOR_KUBELET_CONFIG ")", OPT_KUBELET_CONFIG},
    {"containerd-config", 0, "FILE",
     "containerd's config.toml (default " BALE_DOCTOR_CONTAINERD_CONFIG ")", OPT_CONTAINERD_CONFIG},
    {"imagefs", 0, "DIR",
     "the image filesystem (default containerd's root, else\n" BALE_DOCTOR_CONTAINERD_ROOT ")",
     OPT_IMAGEFS},
    {"link-speed", 0, "RATE",
     "the node's link for pull deadlines: 100Mbit, 1Gbit,\n"
     "50MB/s (default " DEFAULT_LINK_SPEED ")",
     OPT_LINK_SPEED},
    {"insecure-registry", 0, "HOST[:PORT]",
     "a plain-HTTP registry the pods pull from (repeatable;\n"
     "also $BALE_INSECURE_REGISTRIES)",
     OPT_INSECURE_REGISTRY},
    {"platform", 0, "P", "the node's platform (default: this host's)", OPT_PLATFORM},
    {"json", 0, NULL, "an object with the counts and the findings", OPT_JSON},
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

const cli_verb cli_verb_doctor = {"doctor", usage_text, options};

typedef struct doctor_args {
	const char **paths;
	size_t n_paths;
	const char *store;
	bale_store_options store_opts;
	const char *kubelet_config, *containerd_config, *imagefs, *link_speed;
	bool json;
} doctor_args;

static int doctor_option(void *payload, int opt, const char *arg, bale_error **err)
{
	doctor_args *a = payload;
	if (opt == OPT_FILE) {
		if (cli_push_arg(&a->paths, &a->n_paths, arg) < 0)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
	} else if (opt == OPT_KUBELET_CONFIG) {
		a->kubelet_config = arg;
	} else if (opt == OPT_CONTAINERD_CONFIG) {
		a->containerd_config = arg;
	} else if (opt == OPT_IMAGEFS) {
		a->imagefs = arg;
	} else if (opt == OPT_LINK_SPEED) {
		a->link_speed = arg;
	} else if (opt == OPT_JSON) {
		a->json = true;
	} else {
		cli_store_option(&a->store_opts, &a->store, opt, arg);
	}
	return 0;
}

/* "Deployment/default/web", or "node". */
static const char *pod_name(const bale_doctor_finding *f, char *buf, size_t size)
{
	if (!f->workload)
		return "node";
	snprintf(buf, size, "%s/%s/%s", f->workload->kind,
	         f->workload->namespace ? f->workload->namespace : "default",
	         f->workload->name ? f->workload->name : "?");
	return buf;
}

/* Manifests and configurations are not ours: what they say reaches the terminal
 * escaped. */
static void print_text(const bale_doctor_report *r)
{
	char pod[600];
	for (size_t i = 0; i < r->n_findings; i++) {
		const bale_doctor_finding *f = &r->findings[i];
		const char *container =
		    f->container && f->container->name ? f->container->name : NULL;
		char *line = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&line, &len);
		if (!mem)
			continue;
		fprintf(mem, "%s %s%s%s [%s]: %s; fix: %s", bale_doctor_severity_name(f->severity),
		        pod_name(f, pod, sizeof(pod)), container ? " container " : "",
		        container ? container : "", f->check, f->cause, f->fix);
		fclose(mem);
		char *safe = line ? bale_text_for_terminal(line, NULL) : NULL;
		if (safe)
			printf("%s\n", safe);
		free(safe);
		free(line);
	}
}

static void print_json(const bale_doctor_report *r)
{
	json_t *list = json_array();
	for (size_t i = 0; i < r->n_findings; i++) {
		const bale_doctor_finding *f = &r->findings[i];
		const bale_k8s_workload *w = f->workload;
		json_t *o = json_pack("{s:s,s:s}", "severity",
		                      bale_doctor_severity_name(f->severity), "check", f->check);
		if (w) {
			json_object_set_new(o, "kind", json_string(w->kind));
			json_object_set_new(o, "namespace",
			                    json_string(w->namespace ? w->namespace : "default"));
			json_object_set_new(o, "name",
			                    w->name ? json_string(w->name) : json_null());
			json_object_set_new(o, "file", json_string(w->file));
			json_object_set_new(
			    o, "line", json_integer(f->container ? f->container->line : w->line));
		}
		if (f->container && f->container->name)
			json_object_set_new(o, "container", json_string(f->container->name));
		json_object_set_new(o, "cause", json_string(f->cause));
		json_object_set_new(o, "fix", json_string(f->fix));
		json_array_append_new(list, o);
	}
	cli_print_json(json_pack("{s:I,s:I,s:I,s:o}", "errors", (json_int_t)r->n_errors, "warnings",
	                         (json_int_t)r->n_warnings, "infos", (json_int_t)r->n_infos,
	                         "findings", list));
}

/* The facts, gathered: each file missing or malformed is a fact, the store's errors are
 * errors. */
typedef struct gathered {
	bale_k8s_set set;
	bale_doctor_kubelet kubelet;
	bale_doctor_containerd containerd;
	bale_doctor_host *hosts;
	size_t n_hosts;
	bale_doctor_store store;
	bool has_store;
	bale_doctor_fs imagefs;
	bale_platform_set *platforms;
} gathered;

static int gather(gathered *g, const doctor_args *a, cli_common *c, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < a->n_paths; i++)
		if ((rc = bale_k8s_load(&g->set, a->paths[i], err)) < 0)
			return rc;
	if ((rc = bale_doctor_kubelet_read(
	         &g->kubelet, a->kubelet_config ? a->kubelet_config : BALE_DOCTOR_KUBELET_CONFIG,
	         err)) < 0 ||
	    (rc = bale_doctor_containerd_read(&g->containerd,
	                                      a->containerd_config ? a->containerd_config
	                                                           : BALE_DOCTOR_CONTAINERD_CONFIG,
	                                      err)) < 0 ||
	    (rc = bale_doctor_hosts_read(&g->hosts, &g->n_hosts, &g->set, &g->containerd,
	                                 c->insecure, c->n_insecure, err)) < 0)
		return rc;
	bale_doctor_fs_read(&g->imagefs, a->imagefs ? a->imagefs : g->containerd.root,
	                    BALE_DOCTOR_KUBELET_ROOT);
	if ((rc = bale_platform_set_parse(&g->platforms, c->platform, err)) < 0)
		return rc;
	if (bale_platform_set_count(g->platforms) != 1)
		return cli_usage(err, "--platform: the node's one platform");
	if (!a->store)
		return 0;
	bale_store_options opts = a->store_opts;
	opts.log = &c->log;
	if ((rc = bale_doctor_store_read(&g->store, a->store, &opts, &g->set,
	                                 bale_platform_set_at(g->platforms, 0), err)) < 0)
		return rc;
	g->has_store = true;
	return 0;
}

static void gathered_free(gathered *g)
{
	if (g->has_store)
		bale_doctor_store_free(&g->store);
	bale_doctor_fs_free(&g->imagefs);
	bale_doctor_hosts_free(g->hosts, g->n_hosts);
	bale_doctor_containerd_free(&g->containerd);
	bale_doctor_kubelet_free(&g->kubelet);
	bale_k8s_set_free(&g->set);
	bale_platform_set_free(g->platforms);
}

int cmd_doctor(int argc, char **argv, bale_error **err)
{
	cli_common c;
	doctor_args a = {0};
	gathered g = {0};
	bale_doctor_report report = {0};
	double speed = 0;
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_doctor, doctor_option, &a, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	for (int i = optind; i < argc && rc == 0; i++) /* bare paths count as -f too */
		rc = doctor_option(&a, OPT_FILE, argv[i], err);
	if (rc < 0)
		goto cleanup;
	if (!a.n_paths) {
		rc = cli_usage(err, "want -f PATH… (the manifests of the pods to check)");
		goto cleanup;
	}
	if ((rc = bale_doctor_parse_rate(a.link_speed ? a.link_speed : DEFAULT_LINK_SPEED, &speed,
	                                 err)) < 0 ||
	    (rc = gather(&g, &a, &c, err)) < 0)
		goto cleanup;
	bale_doctor_facts facts = {
	    .set = &g.set,
	    .kubelet = &g.kubelet,
	    .containerd = &g.containerd,
	    .hosts = g.hosts,
	    .n_hosts = g.n_hosts,
	    .store = a.store,
	    .preflight = g.has_store && g.store.has_preflight ? &g.store.preflight : NULL,
	    .node = g.has_store && g.store.has_node ? &g.store.node : NULL,
	    .images = g.store.images,
	    .n_images = g.store.n_images,
	    .pinned_bytes = g.has_store ? g.store.pinned_bytes : -1,
	    .imagefs = &g.imagefs,
	    .link_speed = speed,
	};
	if ((rc = bale_doctor_check(&report, &facts, err)) < 0)
		goto cleanup;
	if (a.json)
		print_json(&report);
	else
		print_text(&report);
	if (c.log.level >= BALE_LOG_INFO && !a.json && report.n_findings)
		fprintf(stderr, "%zu error%s, %zu warning%s, %zu note%s\n", report.n_errors,
		        report.n_errors == 1 ? "" : "s", report.n_warnings,
		        report.n_warnings == 1 ? "" : "s", report.n_infos,
		        report.n_infos == 1 ? "" : "s");
	rc = report.n_errors ? BALE_EGENERIC : 0; /* the findings above say why */
cleanup:
	bale_doctor_report_free(&report);
	gathered_free(&g);
	free(a.paths);
	cli_common_free(&c);
	return rc;
}
