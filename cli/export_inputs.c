/* What bale export is asked to export, besides the references on its command line: lists
 * and image sets (-f), a saved plan (--plan), and the platforms the manifests' workloads
 * may run on (--from-manifests with --nodes). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/json.h"
#include "cli/export.h"

/* -f FILE: a list of references, or an image set (read now, resolved later). */
int export_read_list(export_args *a, const char *path, bale_error **err)
{
	bale_buf text;
	int rc = 0;
	if (strcmp(path, "-") == 0)
		return bale_reflist_read(&a->refs, path, err);
	bale_buf_init(&text, 16u << 20, "image list");
	if ((rc = bale_buf_read_file(&text, path, err)) == 0) {
		if (!bale_image_set_detect(text.data, text.len))
			rc = bale_reflist_read(&a->refs, path, err);
		else if (a->n_sets == sizeof(a->sets) / sizeof(a->sets[0]))
			rc = cli_usage(err, "-f: at most 8 image sets");
		else
			rc = bale_image_set_read(&a->sets[a->n_sets++], path, text.data, text.len,
			                         err);
	}
	bale_buf_free(&text);
	return rc;
}

/* --from-manifests: each image carries the platforms its workloads may run on (their
 * nodeSelector and nodeAffinity, narrowed to the --nodes inventory); an image no node can
 * run is refused, every one of them named. */
int export_want_planned(const bale_plan *plan, const bale_k8s_set *nodes, bale_pull *pull,
                        bale_error **err)
{
	bale_buf none;
	size_t n_none = 0;
	int rc = 0;
	bale_buf_init(&none, 1u << 20, "images");
	for (size_t i = 0; i < plan->n_images && rc == 0; i++) {
		char platforms[512];
		const bale_plan_image *img = &plan->images[i];
		bale_plan_platforms(img, nodes->node_archs, nodes->node_oses, platforms,
		                    sizeof(platforms));
		if (!platforms[0])
			bale_buf_appendf(&none, NULL, "%s%s", n_none++ ? ", " : "", img->ref);
		else if (strcmp(platforms, "all") != 0)
			rc = bale_pull_want(pull, img->ref, platforms, NULL, err);
	}
	if (rc == 0 && n_none)
		rc = bale_error_set(err, BALE_ENOTFOUND,
		                    "no node of the inventory can run %zu image%s: %s (their "
		                    "workloads' nodeSelector and nodeAffinity ask for platforms "
		                    "the nodes do not have)",
		                    n_none, n_none == 1 ? "" : "s", none.data);
	bale_buf_free(&none);
	return rc;
}

static int plan_wants_add(plan_wants *w, const char *ref, const char *platforms, bale_error **err)
{
	char **refs = realloc(w->refs, (w->n + 1) * sizeof(*refs));
	if (refs)
		w->refs = refs;
	char **grown = refs ? realloc(w->platforms, (w->n + 1) * sizeof(*grown)) : NULL;
	if (grown)
		w->platforms = grown;
	if (!grown || !(w->refs[w->n] = strdup(ref)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (!(w->platforms[w->n] = strdup(platforms))) {
		free(w->refs[w->n]);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	w->n++;
	return 0;
}

void export_plan_wants_free(plan_wants *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->refs[i]);
		free(w->platforms[i]);
	}
	free(w->refs);
	free(w->platforms);
}

static int set_tags(void *payload, const char *repository, char ***tags, size_t *n,
                    bale_error **err)
{
	return bale_pull_tags(payload, repository, tags, n, err);
}

static int set_digest(void *payload, const char *ref, char digest[80], bale_error **err)
{
	return bale_pull_digest(payload, ref, digest, err);
}

/* When ref's image was made: its first carried manifest's config says. */
static int set_created(void *payload, const char *ref, char created[40], bale_error **err)
{
	bale_image *img = NULL;
	created[0] = '\0';
	int rc = bale_pull_resolve(payload, ref, &img, err);
	for (size_t i = 0; rc == 0 && i < img->n_manifests && !created[0]; i++)
		if (img->manifests[i].selected)
			snprintf(created, 40, "%s", img->manifests[i].created);
	bale_image_free(img);
	return rc;
}

/* The image sets' choices: references to export, each with its platforms (unless
 * --platform says); what each rule chose is said on standard error. */
int export_resolve_sets(cli_common *c, export_args *a, bale_pull *pull, bale_error **err)
{
	int rc = 0;
	for (size_t s = 0; s < a->n_sets && rc == 0; s++) {
		bale_image_set_choice *list = NULL;
		size_t n = 0;
		bale_image_set_access access = {set_tags, set_digest, set_created, pull};
		rc = bale_image_set_resolve(a->sets[s], &access, &list, &n, err);
		for (size_t i = 0; i < n && rc == 0; i++) {
			bool own = list[i].platforms && !c->platform;
			bool rule = strcmp(list[i].rule, "ref") != 0;
			rc = bale_reflist_add(&a->refs, list[i].ref, err);
			if (rc == 0 && (own || rule))
				rc = bale_pull_want(pull, list[i].ref,
				                    own ? list[i].platforms : NULL,
				                    rule ? list[i].rule : NULL, err);
			if (rc == 0 && c->log.level >= BALE_LOG_INFO &&
			    strcmp(list[i].rule, "ref") != 0)
				fprintf(stderr, "image set: %s (%s)\n", list[i].ref, list[i].rule);
		}
		bale_image_set_choices_free(list, n);
	}
	return rc;
}

/* --plan FILE: the images of a saved plan, each with its platforms (unless --platform
 * says), into refs; an image whose platforms are none is refused, every one named. */
int export_read_plan(const char *path, bool platforms, bale_reflist *refs, plan_wants *wants,
                     bale_error **err)
{
	bale_buf file;
	json_t *doc = NULL, *item;
	size_t i, n_none = 0;
	bale_buf none;
	bale_buf_init(&file, 64u << 20, "plan");
	bale_buf_init(&none, 1u << 20, "images");
	int rc = bale_buf_read_file(&file, path, err);
	if (rc == 0)
		rc = bale_json_parse(&doc, file.data, file.len, 64u << 20, path, err);
	if (rc == 0 && !json_is_array(doc))
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "%s: not a plan (bale plan --json writes one)", path);
	json_array_foreach(doc, i, item)
	{
		const char *ref = bale_json_str(item, "image");
		const char *want = bale_json_str(item, "platforms");
		if (rc < 0)
			break;
		if (!ref) {
			rc =
			    bale_error_set(err, BALE_EUSAGE, "%s: entry %zu has no image", path, i);
			break;
		}
		if (platforms && want && !*want) {
			bale_buf_appendf(&none, NULL, "%s%s", n_none++ ? ", " : "", ref);
			continue;
		}
		if ((rc = bale_reflist_add(refs, ref, err)) == 0 && platforms && want &&
		    strcmp(want, "all") != 0)
			rc = plan_wants_add(wants, ref, want, err);
	}
	if (rc == 0 && n_none)
		rc = bale_error_set(err, BALE_ENOTFOUND,
		                    "%s: no node of the inventory can run %zu image%s: %s", path,
		                    n_none, n_none == 1 ? "" : "s", none.data);
	json_decref(doc);
	bale_buf_free(&file);
	bale_buf_free(&none);
	return rc;
}
