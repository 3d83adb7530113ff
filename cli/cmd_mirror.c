/* bale mirror-config --mirror URL (--registry HOST… | --bundle B…) --format F [-o DIR]:
 * the runtimes' configuration for pulling from the site mirror. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bale/bundle.h"
#include "bale/fs.h"
#include "bale/index_db.h"
#include "bale/mirror.h"
#include "cli/cli.h"

enum { OPT_MIRROR = OPT_VERB_FIRST, OPT_REGISTRY, OPT_FORMAT, OPT_CA };

static const char usage_text[] =
    "Usage: bale mirror-config --mirror URL (--registry HOST… | --bundle BUNDLE…)\n"
    "                          --format containerd|k3s|cri-o|docker [-o DIR] [--ca FILE]\n"
    "\n"
    "Writes the configuration a container runtime reads to pull every image of the given\n"
    "registries (or of the registries the bundles name) from the site mirror first: the\n"
    "registry bale import --store registry://HOST[/PREFIX] filled, given as\n"
    "http[s]://HOST[/PREFIX]. containerd: DIR/certs.d/REGISTRY/hosts.toml (its config_path);\n"
    "k3s: DIR/registries.yaml; cri-o and podman: DIR/registries.conf; docker:\n"
    "DIR/daemon.json (docker mirrors docker.io only). Without -o, the files are printed.\n"
    "\n";

static const cli_opt options[] = {
    {"mirror", 0, "URL", "the site mirror: http[s]://HOST[:PORT][/PREFIX]", OPT_MIRROR},
    {"registry", 0, "HOST", "a registry to mirror (repeatable): docker.io, quay.io, …",
     OPT_REGISTRY},
    {"bundle", 0, "BUNDLE", "mirror every registry this bundle names (repeatable)", OPT_BUNDLE},
    {"format", 0, "F", "containerd, k3s, cri-o or docker", OPT_FORMAT},
    {"ca", 0, "FILE", "the mirror's CA certificate, as the nodes will find it", OPT_CA},
    {"output", 'o', "DIR", "where to write the files (default: print them)", OPT_OUTPUT},
    {"json", 0, NULL,
     "the files (path, and text when not written) and the\nregistries as a JSON object", OPT_JSON},
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

const cli_verb cli_verb_mirror = {"mirror-config", usage_text, options};

typedef struct mirror_args {
	const char *mirror, *format, *output, *ca;
	const char **registries, **bundles;
	size_t n_registries, n_bundles;
	bool json;
} mirror_args;

static int mirror_option(void *payload, int opt, const char *arg, bale_error **err)
{
	mirror_args *a = payload;
	int rc = 0;
	if (opt == OPT_MIRROR)
		a->mirror = arg;
	else if (opt == OPT_FORMAT)
		a->format = arg;
	else if (opt == OPT_OUTPUT)
		a->output = arg;
	else if (opt == OPT_JSON)
		a->json = true;
	else if (opt == OPT_CA)
		a->ca = arg;
	else if (opt == OPT_REGISTRY)
		rc = cli_push_arg(&a->registries, &a->n_registries, arg);
	else if (opt == OPT_BUNDLE)
		rc = cli_push_arg(&a->bundles, &a->n_bundles, arg);
	return rc < 0 ? bale_error_set(err, BALE_EGENERIC, "out of memory") : 0;
}

/* Each registry a bundle's images come from, once. */
static int add_registry(void *payload, int ncols, const char *const *names,
                        const char *const *values)
{
	mirror_args *a = payload;
	(void)ncols;
	(void)names;
	if (!values || !values[0])
		return 0;
	for (size_t i = 0; i < a->n_registries; i++)
		if (strcmp(a->registries[i], values[0]) == 0)
			return 0;
	char *copy = strdup(values[0]);
	return copy && cli_push_arg(&a->registries, &a->n_registries, copy) == 0 ? 0 : -1;
}

static int write_files(const char *dir, const bale_mirror_file *files, size_t n, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char *path = bale_fs_join(dir, files[i].path);
		char *parent = path ? strdup(path) : NULL;
		char *slash = parent ? strrchr(parent, '/') : NULL;
		if (!path || !parent) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		} else {
			if (slash)
				*slash = '\0';
			if ((rc = bale_fs_mkdir_p(parent, 0755, err)) == 0)
				rc = bale_fs_write_atomic(path, files[i].text.data,
				                          files[i].text.len, 0644, err);
		}
		free(path);
		free(parent);
	}
	return rc;
}

int cmd_mirror_config(int argc, char **argv, bale_error **err)
{
	cli_common c;
	mirror_args a = {0};
	bale_mirror_file *files = NULL;
	size_t n = 0, given = 0;
	bale_mirror_format format;
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_mirror, mirror_option, &a, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	given = a.n_registries; /* the strings after these are ours to free */
	if (!a.mirror || !a.format || optind != argc || (!a.n_registries && !a.n_bundles)) {
		rc = cli_usage(err, "want --mirror URL, --format F and --registry or --bundle "
		                    "(see bale mirror-config --help)");
		goto cleanup;
	}
	if ((rc = bale_mirror_format_parse(a.format, &format, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < a.n_bundles && rc == 0; i++) {
		bale_bundle_reader *r = NULL;
		sqlite3 *db = NULL;
		if ((rc = bale_index_db_open_bundle(&r, &db, a.bundles[i], err)) == 0 &&
		    (rc = bale_index_db_query(db, "SELECT DISTINCT registry FROM images ORDER BY 1",
		                              add_registry, &a, err)) > 0)
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		sqlite3_close(db);
		bale_bundle_close(r);
	}
	bale_mirror_options o = {.mirror = a.mirror,
	                         .registries = a.registries,
	                         .n_registries = a.n_registries,
	                         .ca_file = a.ca};
	if (rc < 0 || (rc = bale_mirror_config(format, &o, &files, &n, err)) < 0)
		goto cleanup;
	if (a.output)
		rc = write_files(a.output, files, n, err);
	if (rc == 0 &&
	    a.json) { /* {"mirror", "format", "registries", "files": [{"path"[, "text"]}]} */
		json_t *list = json_array(), *registries = json_array();
		for (size_t i = 0; i < n; i++) {
			char *path = a.output ? bale_fs_join(a.output, files[i].path) : NULL;
			json_array_append_new(
			    list, json_pack("{s:s,s:s?}", "path", path ? path : files[i].path,
			                    "text", a.output ? NULL : files[i].text.data));
			free(path);
		}
		for (size_t i = 0; i < a.n_registries; i++)
			json_array_append_new(registries, json_string(a.registries[i]));
		cli_print_json(json_pack("{s:s,s:s,s:o,s:o}", "mirror", a.mirror, "format",
		                         a.format, "registries", registries, "files", list));
	} else if (a.output) {
		for (size_t i = 0; rc == 0 && c.log.level >= BALE_LOG_INFO && i < n; i++)
			fprintf(stderr, "wrote %s/%s\n", a.output, files[i].path);
	} else if (rc == 0) {
		for (size_t i = 0; i < n; i++)
			printf("%s--- %s\n%s", i ? "\n" : "", files[i].path, files[i].text.data);
	}
cleanup:
	bale_mirror_files_free(files, n);
	for (size_t i = given; i < a.n_registries; i++)
		free((char *)a.registries[i]);
	free(a.registries);
	free(a.bundles);
	cli_common_free(&c);
	return rc;
}
