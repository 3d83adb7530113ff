/* What the node store says about the pods: the Never preflight (reused as it is), the
 * node's names, pins and version, the layers of the images the pods pull, and the bytes
 * the pinned names reach, read through bale check's view of the store. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/check.h"
#include "bale/doctor.h"
#include "bale/manifest.h"
#include "bale/plan.h"
#include "bale/ref.h"
#include "doctor/doctor_private.h"

/* The blobs counted so far, so that a layer two pinned images share counts once. */
typedef struct seen {
	char (*digests)[80];
	size_t n;
} seen;

typedef struct store_read {
	bale_doctor_store *out;
	const bale_k8s_set *set;
	const bale_platform *platform;
	bool node_store; /* oci: or containerd: a store the Never preflight reads */
	seen pinned;
} store_read;

/* true when the digest was new (and is now seen); false when seen before or out of
 * memory (then *oom). */
static bool see(seen *s, const bale_digest *d, bool *oom)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->digests[i], d->str) == 0)
			return false;
	char(*grown)[80] = realloc(s->digests, (s->n + 1) * sizeof(*grown));
	if (!grown) {
		*oom = true;
		return false;
	}
	s->digests = grown;
	snprintf(s->digests[s->n++], 80, "%s", d->str);
	return true;
}

/* The manifest or index d, read from the view (NULL-free on failure: *ok false). */
static bool read_json(bale_check_view *v, const bale_descriptor *d, bale_buf *out)
{
	bale_error *why = NULL;
	bool ok = bale_check_view_has(v, &d->digest) && bale_check_view_read(v, d, out, &why) == 0;
	bale_error_free(why);
	return ok;
}

/* The image manifest m's config and layers: counted into the pinned bytes (counted set),
 * or the largest layer into img. */
static int walk_image(store_read *r, bale_check_view *v, const bale_buf *m, bool count,
                      bale_doctor_image *img, bale_error **err)
{
	bale_descriptor config, *layers = NULL;
	size_t n = 0;
	bale_error *why = NULL;
	bool oom = false;
	if (bale_manifest_parse_image(&config, &layers, &n, NULL, m->data, m->len, &why) < 0) {
		bale_error_free(why); /* not an image manifest: no layers to weigh */
		return 0;
	}
	if (count && bale_check_view_has(v, &config.digest) &&
	    see(&r->pinned, &config.digest, &oom))
		r->out->pinned_bytes += config.size;
	for (size_t i = 0; i < n && !oom; i++) {
		if (count && bale_check_view_has(v, &layers[i].digest) &&
		    see(&r->pinned, &layers[i].digest, &oom))
			r->out->pinned_bytes += layers[i].size;
		if (img && layers[i].size > img->largest_layer) {
			img->largest_layer = layers[i].size;
			snprintf(img->largest_digest, sizeof(img->largest_digest), "%s",
			         layers[i].digest.str);
		}
	}
	free(layers);
	return oom ? bale_error_set(err, BALE_EGENERIC, "out of memory") : 0;
}

/* Name i from its root: every child the store has when counting pinned bytes, the
 * node's platform's manifest when weighing an image. */
static int walk_name(store_read *r, bale_check_view *v, size_t i, bool count,
                     bale_doctor_image *img, bale_error **err)
{
	const bale_descriptor *root = bale_check_view_root(v, i);
	bale_buf buf, child;
	bale_index_entry *entries = NULL;
	size_t n = 0;
	bool oom = false;
	bale_error *why = NULL;
	int rc = 0;
	bale_buf_init(&buf, 1, "manifest");
	bale_buf_init(&child, 1, "manifest");
	if (!root->digest.str[0])
		goto cleanup;
	bale_check_view_enter(v, i);
	if (!read_json(v, root, &buf))
		goto cleanup;
	if (count && see(&r->pinned, &root->digest, &oom))
		r->out->pinned_bytes += root->size >= 0 ? root->size : (int64_t)buf.len;
	if (!bale_manifest_type_is_index(root->media_type)) {
		rc = walk_image(r, v, &buf, count, img, err);
		goto cleanup;
	}
	if (bale_manifest_parse_index(&entries, &n, buf.data, buf.len, &why) < 0) {
		bale_error_free(why);
		goto cleanup;
	}
	for (size_t k = 0; k < n && rc == 0 && !oom; k++) {
		const bale_index_entry *e = &entries[k];
		bool wanted = count || (e->has_platform && !e->artifact &&
		                        bale_platform_matches(r->platform, &e->platform));
		if (!wanted)
			continue;
		bool ok = read_json(v, &e->desc, &child);
		if (ok && count && see(&r->pinned, &e->desc.digest, &oom))
			r->out->pinned_bytes += e->desc.size;
		if (ok)
			rc = walk_image(r, v, &child, count, img, err);
		bale_buf_free(&child);
		bale_buf_init(&child, 1, "manifest");
		if (ok && !count)
			break; /* the kubelet pulls the first manifest for its platform */
	}
cleanup:
	free(entries);
	bale_buf_free(&buf);
	bale_buf_free(&child);
	return oom ? bale_error_set(err, BALE_EGENERIC, "out of memory") : rc;
}

/* The store's name for ref: the same name, or for a digest reference a name whose root
 * is that digest; SIZE_MAX when none. */
static size_t find_name(bale_check_view *v, const bale_ref *ref)
{
	const char *digest = bale_ref_digest(ref);
	for (size_t i = 0; i < bale_check_view_count(v); i++) {
		bale_ref *have = NULL;
		bool same = false;
		if (bale_ref_parse(&have, bale_check_view_name(v, i), NULL) == 0)
			same = strcmp(bale_ref_string(have), bale_ref_string(ref)) == 0 ||
			       (digest && strcmp(bale_ref_name(have), bale_ref_name(ref)) == 0 &&
			        strcmp(bale_check_view_root(v, i)->digest.str, digest) == 0);
		bale_ref_free(have);
		if (same)
			return i;
	}
	return SIZE_MAX;
}

static int add_image(bale_doctor_store *out, const char *ref, bale_doctor_image **img,
                     bale_error **err)
{
	*img = NULL;
	for (size_t i = 0; i < out->n_images; i++)
		if (strcmp(out->images[i].ref, ref) == 0)
			return 0; /* weighed already */
	bale_doctor_image *grown = realloc(out->images, (out->n_images + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	out->images = grown;
	*img = &grown[out->n_images];
	memset(*img, 0, sizeof(**img));
	(*img)->largest_layer = -1;
	if (!((*img)->ref = strdup(ref)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	out->n_images++;
	return 0;
}

/* The largest layer of every image the pods pull (not Never) that the store has. */
static int weigh_images(store_read *r, bale_check_view *v, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < r->set->n_workloads && rc == 0; i++) {
		const bale_k8s_workload *w = &r->set->workloads[i];
		for (size_t j = 0; j < w->n_containers && rc == 0; j++) {
			const bale_k8s_container *c = &w->containers[j];
			bale_ref *ref = NULL;
			bale_doctor_image *img = NULL;
			if (!c->image ||
			    strcmp(bale_plan_effective_policy(c->image, c->pull_policy), "Never") ==
			        0 ||
			    bale_ref_parse(&ref, c->image, NULL) < 0)
				continue;
			size_t at = find_name(v, ref);
			if (at != SIZE_MAX &&
			    (rc = add_image(r->out, bale_ref_string(ref), &img, err)) == 0 && img)
				rc = walk_name(r, v, at, false, img, err);
			bale_ref_free(ref);
		}
	}
	return rc;
}

static int read_view(void *payload, bale_check_view *v, bale_error **err)
{
	store_read *r = payload;
	int rc = 0;
	/* the preflight reads oci: and containerd stores: a registry has no Never */
	if (r->node_store && doctor_any_never(r->set)) {
		if ((rc = bale_preflight_run_view(&r->out->preflight, r->set, v, r->platform,
		                                  err)) < 0)
			return rc;
		r->out->has_preflight = true;
	}
	rc = weigh_images(r, v, err);
	if (!r->out->has_node)
		return rc;
	r->out->pinned_bytes = 0;
	for (size_t i = 0; i < bale_check_view_count(v) && rc == 0; i++) {
		const bale_node_name *name =
		    bale_node_find(&r->out->node, bale_check_view_name(v, i));
		if (name && name->pinned)
			rc = walk_name(r, v, i, true, NULL, err);
	}
	return rc;
}

int bale_doctor_store_read(bale_doctor_store *out, const char *spec, const bale_store_options *opts,
                           const bale_k8s_set *set, const bale_platform *platform, bale_error **err)
{
	store_read r = {.out = out, .set = set, .platform = platform};
	int rc = 0;
	memset(out, 0, sizeof(*out));
	out->pinned_bytes = -1;
	r.node_store = strncmp(spec, "oci:", 4) == 0 || strncmp(spec, "containerd", 10) == 0;
	if ((rc = bale_node_read(&out->node, spec, opts, err)) < 0)
		goto cleanup;
	out->has_node = true;
	rc = bale_check_read_store(spec, opts, read_view, &r, err);
cleanup:
	free(r.pinned.digests);
	if (rc < 0)
		bale_doctor_store_free(out);
	return rc;
}

void bale_doctor_store_free(bale_doctor_store *s)
{
	if (s->has_preflight)
		bale_preflight_free(&s->preflight);
	if (s->has_node)
		bale_node_free(&s->node);
	for (size_t i = 0; i < s->n_images; i++)
		free(s->images[i].ref);
	free(s->images);
	memset(s, 0, sizeof(*s));
	s->pinned_bytes = -1;
}
