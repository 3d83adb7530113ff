/* The blobs a plan removes: everything a removed image reaches in the store (its
 * manifests, configs and layers, as far as the store holds them: a node keeps the
 * platforms it imported), less what any kept image reaches. Read through the store's read
 * side (bale_check_read_store), as bale check reads it; nothing is hashed here, since
 * nothing is kept or served from it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/check.h"
#include "bale/manifest.h"
#include "bale/slots.h"
#include "prune/prune_private.h"

/* Deeper than any real image: an index of indexes of manifests. */
#define MAX_DEPTH 8

/* A set of blobs with their sizes, indexed by digest. */
typedef struct blob_set {
	bale_prune_blob *items;
	size_t n;
	bale_slots *index;
} blob_set;

static const char *blob_key(const void *items, size_t pos)
{
	return ((const bale_prune_blob *)items)[pos].digest;
}

static bool set_has(const blob_set *s, const char *digest)
{
	return s->index && bale_slots_find(s->index, s->items, digest) != SIZE_MAX;
}

static int set_add(blob_set *s, const bale_descriptor *d, bale_error **err)
{
	int rc;
	if (set_has(s, d->digest.str))
		return 0;
	if (!s->index && (rc = bale_slots_new(&s->index, blob_key, err)) < 0)
		return rc;
	bale_prune_blob *grown = realloc(s->items, (s->n + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	s->items = grown;
	snprintf(s->items[s->n].digest, sizeof(s->items[s->n].digest), "%s", d->digest.str);
	s->items[s->n].size = d->size;
	return bale_slots_put(s->index, s->items, s->n++, err);
}

static void set_free(blob_set *s)
{
	bale_slots_free(s->index);
	free(s->items);
	memset(s, 0, sizeof(*s));
}

/* Adds d when the store holds it. */
static int reach_blob(bale_check_view *v, const bale_descriptor *d, blob_set *out, bale_error **err)
{
	return bale_check_view_has(v, &d->digest) ? set_add(out, d, err) : 0;
}

/* Adds what the manifest or index d reaches, d included, that the store holds. */
static int reach(bale_check_view *v, const bale_descriptor *d, blob_set *out, int depth,
                 bale_error **err)
{
	bale_buf bytes;
	bale_index_entry *children = NULL;
	bale_descriptor config, *layers = NULL;
	size_t n = 0;
	int rc = 0;
	if (set_has(out, d->digest.str) || !bale_check_view_has(v, &d->digest))
		return 0;
	if ((rc = set_add(out, d, err)) < 0 || depth > MAX_DEPTH)
		return rc;
	size_t at = out->n - 1;
	rc = bale_check_view_read(v, d, &bytes, NULL);
	if (rc == 0 && out->items[at].size < 0) /* a root whose size the store did not say */
		out->items[at].size = (int64_t)bytes.len;
	if (rc == 0 && bale_manifest_parse_index(&children, &n, bytes.data, bytes.len, NULL) == 0) {
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = reach(v, &children[i].desc, out, depth + 1, err);
	} else if (rc == 0 && bale_manifest_parse_image(&config, &layers, &n, NULL, bytes.data,
	                                                bytes.len, NULL) == 0) {
		rc = reach_blob(v, &config, out, err);
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = reach_blob(v, &layers[i], out, err);
	} else {
		rc =
		    0; /* a manifest the store cannot give or bale cannot read: nothing to follow */
	}
	free(children);
	free(layers);
	bale_buf_free(&bytes);
	return rc;
}

typedef struct walk {
	bale_prune_plan *plan;
} walk;

/* The store's names, indexed: its reads are per name. */
typedef struct view_names {
	bale_check_view *v;
	bale_slots *index;
} view_names;

static const char *view_key(const void *items, size_t pos)
{
	return bale_check_view_name(items, pos);
}

static int view_names_index(view_names *vn, bale_check_view *v, bale_error **err)
{
	int rc = bale_slots_new(&vn->index, view_key, err);
	vn->v = v;
	for (size_t i = 0; i < bale_check_view_count(v) && rc == 0; i++)
		rc = bale_slots_put(vn->index, v, i, err);
	return rc;
}

/* The view's position of one of img's names, SIZE_MAX when it has none of them. */
static size_t view_index(const view_names *vn, const bale_prune_image *img)
{
	size_t i = SIZE_MAX;
	for (size_t k = 0; k < img->n_names && i == SIZE_MAX; k++)
		i = bale_slots_find(vn->index, vn->v, img->names[k]);
	return i;
}

/* The root of img as the store describes it (its media type and size). */
static int image_reach(const view_names *vn, const bale_prune_image *img, blob_set *out,
                       bale_error **err)
{
	bale_check_view *v = vn->v;
	size_t i = view_index(vn, img);
	bale_descriptor root = {.size = -1};
	if (i == SIZE_MAX || bale_digest_parse(&root.digest, img->digest, NULL) < 0)
		return 0;
	const bale_descriptor *said = bale_check_view_root(v, i);
	snprintf(root.media_type, sizeof(root.media_type), "%s", said->media_type);
	root.size = said->size;
	bale_check_view_enter(v, i);
	return reach(v, &root, out, 0, err);
}

static int on_view(void *payload, bale_check_view *v, bale_error **err)
{
	bale_prune_plan *plan = ((walk *)payload)->plan;
	blob_set kept = {0}, taken = {0};
	view_names vn = {0};
	int rc = view_names_index(&vn, v, err);
	for (size_t i = plan->n_removed; i < plan->n_images && rc == 0; i++)
		rc = image_reach(&vn, &plan->images[i], &kept, err);
	for (size_t i = 0; i < plan->n_removed && rc == 0; i++) {
		bale_prune_image *img = &plan->images[i];
		blob_set mine = {0};
		rc = image_reach(&vn, img, &mine, err);
		for (size_t k = 0; k < mine.n && rc == 0; k++) {
			const bale_prune_blob *b = &mine.items[k];
			bale_descriptor d = {.size = b->size};
			if (set_has(&kept, b->digest) || set_has(&taken, b->digest))
				continue;
			if (bale_digest_parse(&d.digest, b->digest, NULL) < 0 ||
			    (rc = set_add(&taken, &d, err)) < 0)
				break;
			bale_prune_blob *grown =
			    realloc(img->blobs, (img->n_blobs + 1) * sizeof(*grown));
			if (!grown) {
				rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
				break;
			}
			img->blobs = grown;
			img->blobs[img->n_blobs++] = *b;
			img->bytes += b->size > 0 ? b->size : 0;
		}
		set_free(&mine);
		plan->n_blobs += img->n_blobs;
		plan->bytes += img->bytes;
	}
	set_free(&kept);
	set_free(&taken);
	bale_slots_free(vn.index);
	return rc;
}

int prune_plan_blobs(bale_prune_plan *plan, const bale_store_options *store_opts, bale_error **err)
{
	walk w = {.plan = plan};
	plan->n_blobs = 0;
	plan->bytes = 0;
	if (!plan->n_removed)
		return 0;
	return bale_check_read_store(plan->store, store_opts, on_view, &w, err);
}
