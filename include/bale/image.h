/* A resolved image as the pull engine found it and the bundle index records it: its
 * root (index or manifest) and the descriptors of its manifests, configs and layers. */
#ifndef BALE_IMAGE_H
#define BALE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "bale/error.h"
#include "bale/platform.h"
#include "bale/sink.h"

/* One manifest of a resolved image: descriptors only; the bytes are kept on disk. */
typedef struct bale_image_manifest {
	bale_descriptor desc;
	bool has_platform;
	bale_platform platform;
	bool selected; /* carried (platform requested); only these are fetched */
	bale_descriptor config;
	char created[40];
	bale_descriptor *layers; /* distributable layers, bottom first */
	size_t n_layers;
	size_t *positions;        /* each layer's position in the manifest; NULL: 0, 1, ... */
	bale_descriptor *foreign; /* foreign layers ("urls"): carried only if foreign_carried */
	size_t *foreign_positions;
	size_t n_foreign;
	/* Its foreign layers are fetched from their urls and carried like any layer (bale
	 * export --include-foreign-layers); otherwise the bundle lacks them. */
	bool foreign_carried;
	/* An artifact or attestation, not a runnable image: carried with the image it
	 * describes (subject), never chosen or refused by platform. */
	bool artifact;
	char artifact_type[128];
	bool has_subject;
	bale_digest subject;
	/* The index that lists it (the root or a child index; empty for a single-manifest
	 * image) and its position in that index's "manifests". */
	bale_digest parent;
	size_t position;
} bale_image_manifest;

/* An index listed by another index of the image (the root or a child index). */
typedef struct bale_image_index {
	bale_descriptor desc;
	bool has_platform;
	bale_platform platform;
	bool selected; /* carried: some manifest under it is */
	bale_digest parent;
	size_t position; /* in the parent's "manifests" */
	size_t depth;    /* 1 for an index the root lists */
} bale_image_index;

/* A resolved image: its root (index or manifest) and its manifests. */
typedef struct bale_image {
	char *ref;        /* normalized reference as asked */
	char *domain;     /* registry domain */
	char *repository; /* path in the registry */
	bale_descriptor root;
	/* Every manifest of the tree in walk order (an index's entries in their order, a
	 * child index's in its place); for a single manifest: one, the root itself. */
	bale_image_manifest *manifests;
	size_t n_manifests;
	bale_image_index *indexes; /* the child indexes, parents before their children */
	size_t n_indexes;
	/* An attachment of another image of the same run, found beside it in its registry:
	 * kind "cosign-signature", "cosign-attestation" or "cosign-sbom" (cosign's tags
	 * sha256-<hex>.sig, .att, .sbom) or "oci-referrer" (the referrers API or its tag
	 * schema); "" for an image asked for. subject is the manifest or index it is
	 * about; an attachment is carried whole, whatever the platforms asked. */
	char attachment_kind[24];
	bale_digest subject;
	char attachment_type[128]; /* the artifactType its referrer entry declares, if any */
	/* A cosign signature a site policy checked at export (bale export --policy): the
	 * policy's key it verifies with, and the policy file's digest; "" otherwise. */
	char signer_key_id[65];
	char policy_digest[72];
	/* The rule that chose it (an image set's: "HOST/REPO: semver >=1.27.0 <1.28.0,
	 * newest 3"); "" for an image named as it is. */
	char rule[256];
} bale_image;

/* Frees an image and everything it points to (every pointer malloc'd, or NULL). */
void bale_image_free(bale_image *img);

/* Which manifests are carried, before any is read (after a pull's walk, or as an import
 * plans): marks the runnable manifests of the wanted platforms, and the artifacts whose
 * subject (as the index names it) is carried, or names nothing of this tree. BALE_ENOTFOUND, naming
 * the platforms the image has
 * ("linux/s390x and one without a platform"), when it has runnable manifests and none
 * is wanted; an image of artifacts only is carried whole. */
int bale_image_select(bale_image *img, const bale_platform_set *want, bale_error **err);

/* Once the selected manifests are read: drops the artifacts whose own "subject" is an image
 * of this tree that is left out, and marks the child indexes above what is carried. */
void bale_image_select_loaded(bale_image *img, const bale_platform_set *want);

#endif
