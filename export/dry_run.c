/* bale export --dry-run: everything resolved as an export resolves it (indexes, manifests
 * and configs fetched and kept in the cache), and not a layer downloaded: what each image
 * would add to the download, after the cache and the site's have-lists, and every
 * reference that cannot be resolved. */
#include <stdlib.h>
#include <string.h>

#include "bale/export.h"
#include "bale/slots.h"
#include "export/export_private.h"

/* The resolved images only: a delta's choice reads them through this. */
typedef struct resolved {
	bale_pull *pull;
	size_t *index; /* the pull's image number of each */
	size_t n;
} resolved;

static int load_resolved(void *payload, size_t i, bale_image **out, bale_error **err)
{
	const resolved *r = payload;
	return bale_pull_image_load(r->pull, r->index[i], out, err);
}

/* Each blob once, however many images share it. */
typedef struct seen {
	char (*digests)[BALE_DIGEST_STR_LEN + 1];
	size_t n, alloc;
	bale_slots *by_digest;
} seen;

static const char *seen_key(const void *items, size_t pos)
{
	return ((const char(*)[BALE_DIGEST_STR_LEN + 1]) items)[pos];
}

/* 1 when d is new (and now seen), 0 when seen before. */
static int first_time(seen *s, const bale_digest *d, bale_error **err)
{
	if (bale_slots_find(s->by_digest, s->digests, d->str) != SIZE_MAX)
		return 0;
	if (s->n == s->alloc) {
		size_t alloc = s->alloc ? 2 * s->alloc : 256;
		void *grown = realloc(s->digests, alloc * sizeof(*s->digests));
		if (!grown)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		s->digests = grown;
		s->alloc = alloc;
	}
	memcpy(s->digests[s->n], d->str, sizeof(s->digests[s->n]));
	int rc = bale_slots_put(s->by_digest, s->digests, s->n, err);
	if (rc < 0)
		return rc;
	s->n++;
	return 1;
}

/* One layer of an image: where it would come from. */
static int count_layer(bale_sink *cache, const export_delta *delta, seen *s,
                       const bale_descriptor *layer, bale_export_dry_report *out, int64_t *adds,
                       bale_error **err)
{
	bool cached = false;
	int rc = first_time(s, &layer->digest, err);
	if (rc <= 0)
		return rc;
	if (export_delta_skips(delta, &layer->digest)) {
		out->site_blobs++;
		out->site_bytes += layer->size;
		return 0;
	}
	if ((rc = bale_sink_has_blob(cache, layer, &cached, err)) < 0)
		return rc;
	if (cached) {
		out->cached_blobs++;
		out->cached_bytes += layer->size;
		return 0;
	}
	out->download_blobs++;
	out->download_bytes += layer->size;
	*adds += layer->size;
	return 0;
}

static int count_image(bale_sink *cache, const export_delta *delta, seen *s, const bale_image *img,
                       bale_export_dry_report *out, int64_t *adds, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < img->n_manifests && rc == 0; i++) {
		const bale_image_manifest *m = &img->manifests[i];
		if (!m->selected)
			continue;
		for (size_t k = 0; k < m->n_layers && rc == 0; k++)
			rc = count_layer(cache, delta, s, &m->layers[k], out, adds, err);
		for (size_t k = 0; m->foreign_carried && k < m->n_foreign && rc == 0; k++)
			rc = count_layer(cache, delta, s, &m->foreign[k], out, adds, err);
	}
	return rc;
}

int bale_export_dry_run(bale_pull *pull, const char *const *refs, size_t n, bale_sink *cache,
                        const bale_have *have, bale_export_dry_image_fn each, void *payload,
                        bale_export_dry_report *out, bale_error **err)
{
	resolved r = {.pull = pull};
	seen s = {0};
	export_delta *delta = NULL;
	bale_error *failures = NULL;
	memset(out, 0, sizeof(*out));
	int rc = bale_pull_resolve_all(pull, refs, n, cache, &failures);
	/* references that failed are the answer's too: every one is in the error */
	if (rc < 0 && bale_pull_failed_count(pull) == 0) {
		if (err && !*err)
			*err = failures;
		else
			bale_error_free(failures);
		return rc;
	}
	size_t total = bale_pull_image_count(pull);
	out->failed = bale_pull_failed_count(pull);
	if (!(r.index = calloc(total + 1, sizeof(*r.index)))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < total; i++)
		if (bale_pull_image_resolved(pull, i))
			r.index[r.n++] = i;
	bale_bundle_images images = {.n = r.n, .load = load_resolved, .payload = &r};
	rc = bale_slots_new(&s.by_digest, seen_key, err);
	if (rc == 0 && have)
		rc = export_delta_new(&delta, have, &images, err);
	for (size_t i = 0; i < r.n && rc == 0; i++) {
		bale_image *img = NULL;
		int64_t adds = 0;
		if ((rc = bale_pull_image_load(pull, r.index[i], &img, err)) == 0 &&
		    (rc = count_image(cache, delta, &s, img, out, &adds, err)) == 0)
			rc = each(payload, img, adds, err);
		out->images++;
		bale_image_free(img);
	}
cleanup:
	if (rc == 0 && failures) { /* what resolved is told; the run still fails */
		rc = bale_error_code(failures);
		if (err && !*err) {
			*err = failures;
			failures = NULL;
		}
	}
	bale_error_free(failures);
	export_delta_free(delta);
	bale_slots_free(s.by_digest);
	free(s.digests);
	free(r.index);
	return rc;
}
