/* bale verify --manifests PATH… --store STORE | --bundle FILE: would these pods start with
 * imagePullPolicy: Never here? */
#include <jansson.h>
#include <stdio.h>

#include "bale/k8s.h"
#include "bale/preflight.h"
#include "cli/cli.h"

static void print_text(const bale_preflight *p)
{
	for (size_t i = 0; i < p->n_checks; i++) {
		const bale_preflight_check *k = &p->checks[i];
		if (k->status == BALE_PREFLIGHT_OK)
			continue;
		printf("%s:%d: %s/%s container %s: %s: %s%s%s\n", k->workload->file,
		       k->container->line, k->workload->kind,
		       k->workload->name ? k->workload->name : "?",
		       k->container->name ? k->container->name : "?",
		       k->ref ? k->ref : (k->container->image ? k->container->image : "(no image)"),
		       bale_preflight_status_name(k->status), k->detail ? ": " : "",
		       k->detail ? k->detail : "");
	}
}

static void print_json(const bale_preflight *p)
{
	json_t *list = json_array();
	for (size_t i = 0; i < p->n_checks; i++) {
		const bale_preflight_check *k = &p->checks[i];
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:b}", "kind", k->workload->kind,
		                      "name", k->workload->name ? k->workload->name : "",
		                      "container", k->container->name ? k->container->name : "",
		                      "file", k->workload->file, "line", k->container->line,
		                      "status", bale_preflight_status_name(k->status), "starts",
		                      k->status == BALE_PREFLIGHT_OK);
		json_object_set_new(o, "image", k->ref ? json_string(k->ref) : json_null());
		if (k->detail)
			json_object_set_new(o, "detail", json_string(k->detail));
		json_array_append_new(list, o);
	}
	json_dumpf(list, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(list);
}

int cli_preflight(cli_common *c, const char *const *manifests, size_t n, const char *store,
                  const bale_store_options *store_opts, const char *bundle, bool json,
                  bale_error **err)
{
	bale_k8s_set set = {0};
	bale_preflight p = {0};
	bale_platform_set *platforms = NULL;
	int rc = 0;
	for (size_t i = 0; i < n; i++)
		if ((rc = bale_k8s_load(&set, manifests[i], err)) < 0)
			goto cleanup;
	if ((rc = bale_platform_set_parse(&platforms, c->platform, err)) < 0)
		goto cleanup;
	if (bale_platform_set_count(platforms) != 1) {
		rc = bale_error_set(err, BALE_EUSAGE, "--platform: the node's one platform");
		goto cleanup;
	}
	if ((rc = bale_preflight_run(&p, &set, bundle ? bundle : store, bundle != NULL, store_opts,
	                             bale_platform_set_at(platforms, 0), err)) < 0)
		goto cleanup;
	if (json)
		print_json(&p);
	else
		print_text(&p);
	if (c->log.level >= BALE_LOG_INFO)
		fprintf(stderr,
		        "%zu of %zu containers would not start with imagePullPolicy: Never\n",
		        p.n_failing, p.n_checks);
	rc = p.n_failing ? BALE_ENOTFOUND : 0; /* the list above says why */
cleanup:
	bale_preflight_free(&p);
	bale_platform_set_free(platforms);
	bale_k8s_set_free(&set);
	return rc;
}
