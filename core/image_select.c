/* Which manifests of an image's tree are carried (by a pull) or taken (by an import): runnable
 * images by platform, artifacts and attestations with the image they describe, child indexes when
 * something under them is carried. */
#include <stdio.h>
#include <string.h>

#include "bale/buf.h"
#include "bale/manifest.h"
#include "bale/image.h"

/* "linux/amd64, linux/arm64/v8" into b (for messages). */
static void list_wanted(bale_buf *b, const bale_platform_set *set)
{
	char one[BALE_PLATFORM_TEXT];
	for (size_t i = 0; i < bale_platform_set_count(set); i++)
		bale_buf_appendf(
		    b, NULL, "%s%s", b->len ? ", " : "",
		    bale_platform_format(bale_platform_set_at(set, i), one, sizeof(one)));
}

/* What an image offers, each platform once, then how many entries have none: "linux/s390x,
 * linux/ppc64le and one without a platform". */
static void list_offered(bale_buf *b, const bale_image *img)
{
	char one[BALE_PLATFORM_TEXT];
	size_t without = 0;
	for (size_t i = 0; i < img->n_manifests; i++) {
		const bale_image_manifest *m = &img->manifests[i];
		bool seen = false;
		if (m->artifact || !m->has_platform) {
			without++;
			continue;
		}
		for (size_t k = 0; k < i && !seen; k++)
			seen = !img->manifests[k].artifact && img->manifests[k].has_platform &&
			       bale_platform_equal(&img->manifests[k].platform, &m->platform);
		if (!seen)
			bale_buf_appendf(b, NULL, "%s%s", b->len ? ", " : "",
			                 bale_platform_format(&m->platform, one, sizeof(one)));
	}
	if (without == 1)
		bale_buf_appendf(b, NULL, "%sone without a platform", b->len ? " and " : "");
	else if (without)
		bale_buf_appendf(b, NULL, "%s%zu without a platform", b->len ? " and " : "",
		                 without);
}

/* The image's manifest of that digest, or NULL. */
static const bale_image_manifest *manifest_named(const bale_image *img, const bale_digest *d)
{
	for (size_t i = 0; i < img->n_manifests; i++)
		if (bale_digest_equal(&img->manifests[i].desc.digest, d))
			return &img->manifests[i];
	return NULL;
}

/* An artifact goes with what it describes: carried unless its subject is an image of
 * this tree that is left out. One that names no subject, or one outside the tree (a
 * referrers index lists artifacts of another manifest), is carried. */
static bool artifact_carried(const bale_image *img, const bale_image_manifest *m)
{
	const bale_image_manifest *subject =
	    m->has_subject ? manifest_named(img, &m->subject) : NULL;
	return !subject || subject->artifact || subject->selected;
}

int bale_image_select(bale_image *img, const bale_platform_set *want, bale_error **err)
{
	bool all = bale_platform_set_is_all(want);
	size_t runnable = 0, chosen = 0;
	for (size_t i = 0; i < img->n_manifests; i++) {
		bale_image_manifest *m = &img->manifests[i];
		if (m->artifact)
			continue;
		runnable++;
		/* "all" carries every entry, attestations included, as skopeo --all does. */
		m->selected =
		    all || (m->has_platform && bale_platform_set_contains(want, &m->platform));
		chosen += m->selected;
	}
	if (runnable && !chosen) {
		bale_buf asked, have;
		bale_buf_init(&asked, 4096, "platforms");
		bale_buf_init(&have, 4096, "platforms");
		list_wanted(&asked, want);
		list_offered(&have, img);
		int rc = bale_error_set(err, BALE_ENOTFOUND,
		                        "%s: no manifest for %s (the image has %s); name one of "
		                        "those with --platform",
		                        img->ref, asked.data ? asked.data : "?",
		                        have.data ? have.data : "no manifests");
		bale_buf_free(&asked);
		bale_buf_free(&have);
		return rc;
	}
	for (size_t i = 0; i < img->n_manifests; i++)
		if (img->manifests[i].artifact)
			img->manifests[i].selected =
			    all || artifact_carried(img, &img->manifests[i]);
	return 0;
}

/* A child index is carried when something under it is, so every carried manifest can be
 * reached from the root through indexes the bundle holds. */
static void select_indexes(bale_image *img)
{
	for (size_t i = 0; i < img->n_manifests; i++) {
		const bale_digest *up = &img->manifests[i].parent;
		if (!img->manifests[i].selected)
			continue;
		for (size_t depth = 0; depth <= BALE_MANIFEST_MAX_DEPTH; depth++) {
			const bale_digest *next = NULL;
			for (size_t k = 0; k < img->n_indexes; k++)
				if (bale_digest_equal(&img->indexes[k].desc.digest, up)) {
					img->indexes[k].selected = true;
					next = &img->indexes[k].parent;
				}
			if (!next)
				break;
			up = next;
		}
	}
}

void bale_image_select_loaded(bale_image *img, const bale_platform_set *want)
{
	/* Manifests name their subjects too: an artifact whose image is left out goes. */
	for (size_t i = 0; i < img->n_manifests; i++)
		if (img->manifests[i].artifact && img->manifests[i].selected &&
		    !bale_platform_set_is_all(want))
			img->manifests[i].selected = artifact_carried(img, &img->manifests[i]);
	select_indexes(img);
}
