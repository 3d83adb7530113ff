/* A resolved image as the pull engine found it and the bundle index records it: its
 * root (index or manifest) and the descriptors of its manifests, configs and layers. */
#ifndef BALE_IMAGE_H
#define BALE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>

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
	bale_descriptor *layers;
	size_t n_layers;
} bale_image_manifest;

/* A resolved image: its root (index or manifest) and its manifests. */
typedef struct bale_image {
	char *ref;        /* normalized reference as asked */
	char *domain;     /* registry domain */
	char *repository; /* path in the registry */
	bale_descriptor root;
	bale_image_manifest *manifests; /* for a single manifest: one, the root itself */
	size_t n_manifests;
} bale_image;

#endif
