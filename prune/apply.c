/* bale prune --apply PLAN: exactly that plan, re-checked now. The plan is made again from
 * the options it records, at the moment of the apply; an image is removed only when both
 * plans remove it, under no name the plan did not list (containerd's CRI aliases
 * "sha256:…" aside: they go with their image). Whatever became used, named or kept since
 * is reported and left alone. The store removes names before content and content only
 * when nothing left reaches it, so an interrupted apply leaves whole images, and applying
 * the plan again finishes it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bale/digest.h"
#include "bale/ledger.h"
#include "bale/node.h"
#include "bale/slots.h"
#include "prune/prune_private.h"

static bool listed(const bale_prune_image *img, const char *name)
{
	for (size_t i = 0; i < img->n_names; i++)
		if (strcmp(img->names[i], name) == 0)
			return true;
	return false;
}

/* A name cur has that the plan's image did not list (its CRI aliases aside), or NULL. */
static const char *new_name(const bale_prune_image *planned, const bale_prune_image *cur)
{
	for (size_t i = 0; i < cur->n_names; i++)
		if (!prune_runtime_alias(cur->names[i]) && !listed(planned, cur->names[i]))
			return cur->names[i];
	return NULL;
}

typedef struct removal {
	const char **names;
	size_t n_names;
	bale_descriptor *blobs;
	size_t n_blobs;
	bale_ledger_image *images; /* what the ledger records as removed */
	size_t n_images;
} removal;

static void removal_free(removal *r)
{
	free(r->names);
	free(r->blobs);
	free(r->images);
}

/* Adds a planned image to the removal: cur, the same image in the plan made now, gives
 * the names to remove and the blobs that still go (those the new plan removes too: no
 * kept image needs them). Without cur, the image's names are all gone already (an apply
 * that a crash interrupted): its planned blobs still go if nothing left reaches them (the
 * store checks), and the ledger learns of the names the plan removed. */
static int take(removal *r, const bale_prune_image *planned, const bale_prune_image *cur,
                bale_error **err)
{
	const bale_prune_image *named = cur ? cur : planned;
	size_t n_names = cur ? cur->n_names : 0;
	const char **names = realloc(r->names, (r->n_names + n_names + 1) * sizeof(*names));
	if (names)
		r->names = names;
	bale_ledger_image *images =
	    names ? realloc(r->images, (r->n_images + named->n_names + 1) * sizeof(*images)) : NULL;
	if (images)
		r->images = images;
	bale_descriptor *blobs =
	    images ? realloc(r->blobs, (r->n_blobs + planned->n_blobs + 1) * sizeof(*blobs)) : NULL;
	if (!blobs)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	r->blobs = blobs;
	for (size_t i = 0; i < n_names; i++)
		r->names[r->n_names++] = cur->names[i];
	for (size_t i = 0; i < named->n_names; i++)
		if (!prune_runtime_alias(named->names[i]))
			r->images[r->n_images++] =
			    (bale_ledger_image){.ref = named->names[i], .digest = named->digest};
	for (size_t i = 0; i < planned->n_blobs; i++) {
		bool still = !cur;
		for (size_t k = 0; cur && k < cur->n_blobs && !still; k++)
			still = strcmp(cur->blobs[k].digest, planned->blobs[i].digest) == 0;
		bale_descriptor d = {.size = planned->blobs[i].size};
		if (still && bale_digest_parse(&d.digest, planned->blobs[i].digest, NULL) == 0)
			r->blobs[r->n_blobs++] = d;
	}
	return 0;
}

static int keep_back(bale_prune_result *res, bale_prune_image *cur, const char *name,
                     bale_error **err)
{
	const bale_prune_image **grown = realloc(res->kept, (res->n_kept + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	res->kept = grown;
	res->kept[res->n_kept++] = cur;
	if (name) {
		cur->keep |= BALE_PRUNE_CHANGED;
		return prune_add_why(cur, err, "named %s since the plan", name);
	}
	return 0;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int bale_prune_apply(const bale_prune_plan *plan, const bale_store_options *store_opts,
                     bale_prune_result *res, bale_error **err)
{
	removal r = {0};
	bale_node_removed removed = {0};
	bale_slots *now = NULL; /* the images of the plan made now, by digest */
	struct timespec t0;
	int rc;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(res, 0, sizeof(*res));
	bale_prune_options opts = {
	    .store = plan->store,
	    .store_opts = store_opts,
	    .ledger = plan->ledger,
	    .keep_bundles = (const char *const *)plan->keep_bundles,
	    .n_keep_bundles = plan->n_keep_bundles,
	    .keep_manifests = (const char *const *)plan->keep_manifests,
	    .n_keep_manifests = plan->n_keep_manifests,
	    .keep_newest = plan->keep_newest,
	    .repository_depth = plan->repository_depth,
	};
	if ((rc = bale_prune_plan_make(&res->now, &opts, err)) < 0) {
		bale_error_wrap(err, "re-checking plan %s", plan->path ? plan->path : "");
		goto cleanup;
	}
	if ((rc = bale_slots_new(&now, prune_image_key, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < res->now->n_images && rc == 0; i++)
		rc = bale_slots_put(now, res->now->images, i, err);
	for (size_t i = 0; i < plan->n_removed && rc == 0; i++) {
		const bale_prune_image *planned = &plan->images[i];
		size_t at = bale_slots_find(now, res->now->images, planned->digest);
		bale_prune_image *cur = at == SIZE_MAX ? NULL : &res->now->images[at];
		const char *extra = cur ? new_name(planned, cur) : NULL;
		if (!cur) {
			rc = take(&r, planned, NULL, err);
		} else if (cur->keep || extra) {
			rc = keep_back(res, cur, extra, err);
		} else {
			res->images_removed++;
			rc = take(&r, planned, cur, err);
		}
	}
	if (rc < 0)
		goto cleanup;
	bale_node_removal what = {
	    .names = r.names, .n_names = r.n_names, .blobs = r.blobs, .n_blobs = r.n_blobs};
	int applied = bale_node_remove(plan->store, store_opts, &what, &removed, err);
	res->names_removed = removed.names;
	res->blobs_removed = removed.blobs;
	res->bytes_freed = removed.bytes;
	snprintf(res->note, sizeof(res->note), "%s", removed.note);
	/* Recorded whatever happened: a failed apply may have removed names already. */
	bale_ledger_prune entry = {
	    .store = plan->store,
	    .plan_path = plan->path,
	    .plan_digest = plan->digest,
	    .exit_status = applied < 0   ? -applied
	                   : res->n_kept ? 1
	                                 : 0,
	    .partial = applied == 0 && res->n_kept,
	    .error = applied < 0 ? bale_error_message(*err) : NULL,
	    .names_removed = (int64_t)removed.names,
	    .blobs_removed = (int64_t)removed.blobs,
	    .bytes_freed = removed.bytes,
	    .images_kept = (int64_t)res->n_kept,
	    .seconds = seconds_since(&t0),
	    .images = r.images,
	    .n_images = applied < 0 ? 0 : r.n_images,
	};
	bale_error *ledger_err = NULL;
	int recorded = bale_ledger_record_prune(plan->ledger, &entry, &ledger_err);
	rc = applied;
	if (rc == 0 && recorded < 0)
		rc = bale_error_set(err, recorded, "%s", bale_error_message(ledger_err));
	bale_error_free(ledger_err);
cleanup:
	bale_slots_free(now);
	removal_free(&r);
	return rc;
}

void bale_prune_result_free(bale_prune_result *res)
{
	free(res->kept);
	bale_prune_plan_free(res->now);
	memset(res, 0, sizeof(*res));
}
