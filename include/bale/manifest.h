/* Reading OCI / Docker image indexes and manifests (untrusted JSON, capped). */
#ifndef BALE_MANIFEST_H
#define BALE_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "bale/error.h"
#include "bale/platform.h"
#include "bale/sink.h"

#define BALE_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define BALE_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define BALE_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define BALE_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define BALE_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define BALE_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* Indexes may list indexes; bale walks them this deep below the root, no deeper. */
#define BALE_MANIFEST_MAX_DEPTH 4

bool bale_manifest_type_is_index(const char *media_type);
bool bale_manifest_type_is_manifest(const char *media_type);
/* True for the config media type of a runnable image (OCI or Docker); an artifact's
 * config has another (or is the empty descriptor). */
bool bale_manifest_config_is_image(const char *media_type);

/* Refuses a manifest whose fields contradict the media type it is read as: an index with
 * "layers" or "config", an image manifest with "manifests". The same bytes must never be
 * an index to one reader and an image to another (CVE-2021-41190); containers/image and
 * containerd refuse these too. doc: the parsed JSON. BALE_EVERIFY naming the stray field. */
int bale_manifest_check_fields(const json_t *doc, const char *media_type, const char *what,
                               bale_error **err);

/* One entry of an index: a child manifest (or index) and, when declared, its platform. */
typedef struct bale_index_entry {
	bale_descriptor desc;
	bool has_platform;
	bale_platform platform;
	/* No runnable platform of its own: an artifact or attestation (artifactType, no
	 * platform, or unknown/unknown as buildx writes for attestations). */
	bool artifact;
	/* What it describes, when the index says (buildx's vnd.docker.reference.digest). */
	bool has_subject;
	bale_digest subject;
} bale_index_entry;

/* Every descriptor is checked: a sha256 digest, a size from 0 to BALE_CAP_BLOB. */
int bale_manifest_parse_index(bale_index_entry **out, size_t *n, const char *bytes, size_t len,
                              bale_error **err);

/* config and layers of an image manifest. Layers that must not be redistributed
 * (foreign layers with "urls") are reported with *foreign set, not in *layers. */
int bale_manifest_parse_image(bale_descriptor *config, bale_descriptor **layers, size_t *n,
                              size_t *foreign, const char *bytes, size_t len, bale_error **err);

/* An image manifest read whole: every layer where it sits in "layers", distributable ones
 * and foreign ones apart, and what makes it an artifact. Free with
 * bale_manifest_image_free. */
typedef struct bale_manifest_image {
	bale_descriptor config;
	bale_descriptor *layers; /* distributable layers, bottom first */
	size_t *positions;       /* each one's 0-based position in the manifest's "layers" */
	size_t n_layers;
	bale_descriptor *foreign; /* foreign layers (with "urls"), bottom first */
	size_t *foreign_positions;
	size_t n_foreign;
	char artifact_type[128]; /* "artifactType"; "" when none */
	bool has_subject;        /* "subject": the manifest this one describes */
	bale_digest subject;
} bale_manifest_image;

int bale_manifest_read_image(bale_manifest_image *out, const char *bytes, size_t len,
                             bale_error **err);
void bale_manifest_image_free(bale_manifest_image *m);
/* True when m is an artifact rather than a runnable image: an artifactType, or a config
 * that is not an image config. */
bool bale_manifest_image_is_artifact(const bale_manifest_image *m);

/* A foreign layer names at most this many URLs, each shorter than BALE_MANIFEST_URL_MAX. */
#define BALE_MANIFEST_MAX_URLS 16
#define BALE_MANIFEST_URL_MAX 2048

/* The "urls" of the layer at position in an image manifest's "layers" (a foreign layer),
 * in their order; none for a layer without urls. More than BALE_MANIFEST_MAX_URLS, a URL
 * that is not a string or one too long is refused (BALE_EVERIFY). Free with
 * bale_manifest_urls_free. */
int bale_manifest_layer_urls(char ***out, size_t *n, const char *bytes, size_t len, size_t position,
                             bale_error **err);
void bale_manifest_urls_free(char **urls, size_t n);

/* os / architecture / variant (os.version, os.features) and the created time of an
 * image config. */
int bale_manifest_parse_config(bale_platform *platform, char created[40], const char *bytes,
                               size_t len, bale_error **err);

#endif
