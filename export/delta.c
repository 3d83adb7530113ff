/* A delta: the layers of the images being exported that the site already has (its
 * have-lists), which the bundle lists as expected instead of carrying and the download
 * skips. Indexes, manifests and configs are always carried: an import plans from them. */
#include <stdlib.h>

#include "bale/slots.h"
#include "export/export_private.h"

struct export_delta {
	bale_digest *skip; /* layers left out, each once */
	size_t n_skip, skip_alloc;
	bale_slots *skip_slots;
	bale_digest *keep; /* what is carried whatever the have-lists say */
	size_t n_keep, keep_alloc;
	bale_slots *keep_slots;
	const bale_have *have; /* while the delta is made */
};

static const char *digest_key(const void *items, size_t pos)
{
	return ((const bale_digest *)items)[pos].str;
}

static int add(bale_digest **items, size_t *n, size_t *alloc, bale_slots *slots,
               const bale_digest *d, bale_error **err)
{
	if (bale_slots_find(slots, *items, d->str) != SIZE_MAX)
		return 0;
	if (*n == *alloc) {
		size_t want = *alloc ? *alloc * 2 : 64;
		bale_digest *grown = realloc(*items, want * sizeof(*grown));
		if (!grown)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		*items = grown;
		*alloc = want;
	}
	(*items)[*n] = *d;
	return bale_slots_put(slots, *items, (*n)++, err);
}

static int keep(export_delta *x, const bale_descriptor *d, bale_error **err)
{
	return add(&x->keep, &x->n_keep, &x->keep_alloc, x->keep_slots, &d->digest, err);
}

/* Everything but the layers: the root, child indexes, manifests and configs. */
static int keep_image(void *payload, size_t i, const bale_image *img, bale_error **err)
{
	export_delta *x = payload;
	int rc = keep(x, &img->root, err);
	(void)i;
	for (size_t j = 0; j < img->n_indexes && rc == 0; j++)
		if (img->indexes[j].selected)
			rc = keep(x, &img->indexes[j].desc, err);
	for (size_t j = 0; j < img->n_manifests && rc == 0; j++)
		if (img->manifests[j].selected && (rc = keep(x, &img->manifests[j].desc, err)) == 0)
			rc = keep(x, &img->manifests[j].config, err);
	return rc;
}

static int skip_if_had(export_delta *x, const bale_descriptor *d, bale_error **err)
{
	if (!bale_have_blob(x->have, &d->digest, d->size) ||
	    bale_slots_find(x->keep_slots, x->keep, d->digest.str) != SIZE_MAX)
		return 0;
	return add(&x->skip, &x->n_skip, &x->skip_alloc, x->skip_slots, &d->digest, err);
}

/* The layers of an image that a have-list holds. */
static int skip_image(void *payload, size_t i, const bale_image *img, bale_error **err)
{
	export_delta *x = payload;
	int rc = 0;
	(void)i;
	for (size_t j = 0; j < img->n_manifests && rc == 0; j++) {
		const bale_image_manifest *m = &img->manifests[j];
		for (size_t k = 0; m->selected && k < m->n_layers && rc == 0; k++)
			rc = skip_if_had(x, &m->layers[k], err);
		for (size_t k = 0; m->selected && m->foreign_carried && k < m->n_foreign && rc == 0;
		     k++)
			rc = skip_if_had(x, &m->foreign[k], err);
	}
	return rc;
}

int export_delta_new(export_delta **out, const bale_have *have, const bale_bundle_images *images,
                     bale_error **err)
{
	export_delta *x = calloc(1, sizeof(*x));
	int rc = x ? 0 : bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (rc == 0 && (rc = bale_slots_new(&x->skip_slots, digest_key, err)) == 0)
		rc = bale_slots_new(&x->keep_slots, digest_key, err);
	if (rc == 0) {
		x->have = have;
		rc = bale_bundle_images_each(images, keep_image, x, err);
	}
	if (rc == 0)
		rc = bale_bundle_images_each(images, skip_image, x, err);
	/* only the layers left out are needed from here on */
	if (x) {
		bale_slots_free(x->keep_slots);
		x->keep_slots = NULL;
		free(x->keep);
		x->keep = NULL;
	}
	if (rc < 0) {
		export_delta_free(x);
		return rc;
	}
	*out = x;
	return 0;
}

void export_delta_free(export_delta *x)
{
	if (!x)
		return;
	bale_slots_free(x->skip_slots);
	bale_slots_free(x->keep_slots);
	free(x->skip);
	free(x->keep);
	free(x);
}

bool export_delta_skips(const export_delta *x, const bale_digest *d)
{
	return x && bale_slots_find(x->skip_slots, x->skip, d->str) != SIZE_MAX;
}

bool export_delta_left_out(void *payload, const bale_descriptor *layer)
{
	return export_delta_skips(payload, &layer->digest);
}
