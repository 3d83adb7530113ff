/* The pull engine's own parts (pull/), below bale/pull.h. */
#ifndef BALE_PULL_PRIVATE_H
#define BALE_PULL_PRIVATE_H

#include <stdint.h>

#include "bale/error.h"
#include "bale/image.h"
#include "bale/pull.h"
#include "bale/registry.h"

/* Where resolved images wait until they are fetched and written: an unnamed temporary
 * file, each image appended once its configs are read (its records, arrays and names as
 * they lie in memory) and read back, one at a time, when it is needed. The pull keeps an
 * image's place (16 bytes) instead of the image (1.7 KiB for a one-manifest image, far
 * more for an index): its memory stays flat for any number of images. The file is this
 * process's own, never read by another. */
typedef struct pull_spill pull_spill;
typedef struct pull_spilled {
	uint64_t offset;
	uint64_t size;
} pull_spilled;

int pull_spill_new(pull_spill **out, bale_error **err);
void pull_spill_free(pull_spill *s);
/* Appends img; *at is where it lies. Safe from several threads. */
int pull_spill_put(pull_spill *s, const bale_image *img, pull_spilled *at, bale_error **err);
/* A copy of the image put at at: the caller's, to free with bale_image_free. Safe from
 * several threads. */
int pull_spill_get(pull_spill *s, const pull_spilled *at, bale_image **out, bale_error **err);

/* An attachment found beside an image (pull/attach.c): the reference that pulls it
 * (REPO:sha256-<hex>.sig, REPO@sha256:… for a referrer), what it is, what it is about. */
typedef struct pull_attachment {
	char *ref;
	char kind[24];
	bale_digest subject;
	char artifact_type[128];
} pull_attachment;

/* The attachments found for one image. */
typedef struct pull_found {
	pull_attachment *list;
	size_t n;
} pull_found;

/* The tag listings of the run's repositories, each made once (pull/tags.c). */
typedef struct pull_tags pull_tags;
int pull_tags_new(pull_tags **out, bale_error **err);
void pull_tags_free(pull_tags *tags);
/* The sorted tags of domain/repository, listed through reg the first time; *listed is
 * false when the registry would not list them. The array is the cache's, valid until
 * pull_tags_free. Safe from several threads. */
int pull_tags_get(pull_tags *cache, bale_registry *reg, const char *domain, const char *repository,
                  char *const **tags, size_t *n, bool *listed, bale_error **err);

/* Every attachment of img's root and carried manifests that mode asks for, through reg;
 * tags answers the tag questions. */
int pull_attachments_find(bale_registry *reg, pull_tags *tags, const bale_image *img,
                          bale_pull_referrers mode, pull_attachment **out, size_t *n,
                          bale_error **err);
void pull_attachments_free(pull_attachment *list, size_t n);

#endif
