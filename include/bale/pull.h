/* The pull engine: resolves references against registries, picks platforms, and
 * streams every manifest and blob of the chosen images into a content sink (a node
 * store or a bundle writer), several blobs at once. */
#ifndef BALE_PULL_H
#define BALE_PULL_H

#include <stddef.h>

#include "bale/buf.h"
#include "bale/error.h"
#include "bale/image.h"
#include "bale/log.h"
#include "bale/platform.h"
#include "bale/registry.h"
#include "bale/sink.h"

typedef enum bale_pull_referrers {
	BALE_PULL_REFERRERS_NONE = 0,
	BALE_PULL_REFERRERS_SIGNATURES,
	BALE_PULL_REFERRERS_ALL,
} bale_pull_referrers;

typedef struct bale_pull_options {
	bale_registry_options registry;
	const bale_platform_set *platforms; /* NULL: the host platform */
	int max_parallel;                   /* blob transfers at once; 0: default */
	const bale_log *log;
	/* Where verified indexes, manifests and configs wait while the pull runs: the engine
	 * keeps none of their bytes in memory, only descriptors, and reads them back when
	 * they are needed (bale_pull_read). A content cache that can read blobs back (bale
	 * export's); NULL: a temporary directory of the pull's own under $TMPDIR (else
	 * /tmp), removed with the pull. */
	bale_sink *keep;
	/* Fetch the foreign (non-distributable) layers of the carried manifests from their
	 * urls and carry them like any layer (bale export --include-foreign-layers);
	 * otherwise they are left to the node's runtime, with a warning. */
	bool foreign_layers;
	/* What else each image brings from its registry (bale export --referrers): nothing,
	 * its signatures (cosign's .sig tags, and referrers that are signatures), or every
	 * attachment (cosign's .sig, .att and .sbom tags, every referrer). Each becomes an
	 * image of the run of its own, named by its tag or digest (bale_image's
	 * attachment_kind says what it is). */
	bale_pull_referrers referrers;
} bale_pull_options;

typedef struct bale_pull bale_pull;

int bale_pull_new(bale_pull **out, const bale_pull_options *opts, bale_error **err);
void bale_pull_free(bale_pull *pull);

/* The platforms to carry of one image (the plan's, from where its workloads may run),
 * instead of opts.platforms, when ref (in any spelling) is resolved later: "linux/arm64",
 * "all", or NULL for the run's; and rule (NULL for none), what chose it, which the image
 * keeps (bale_image's rule). BALE_EUSAGE for a reference or platform list bale cannot
 * read. */
int bale_pull_want(bale_pull *pull, const char *ref, const char *platforms, const char *rule,
                   bale_error **err);
/* How many images were chosen by a rule (bale_pull_want). */
size_t bale_pull_rule_count(const bale_pull *pull);

/* Resolves a reference: fetches and verifies the root and the selected platforms'
 * manifests and configs (nothing is written). BALE_ENOTFOUND when no requested
 * platform is present. The image is the caller's (bale_image_free), not one of the
 * pull's images. */
int bale_pull_resolve(bale_pull *pull, const char *ref, bale_image **out, bale_error **err);

/* Resolves every reference, then streams all their content into the sink, names each
 * image and commits the sink. Nothing is named unless everything arrived verified. */
int bale_pull_images(bale_pull *pull, const char *const *refs, size_t n, bale_sink *sink,
                     bale_error **err);

/* The two halves of bale_pull_images, for a caller that acts in between (bale export
 * starts its bundle once every image is resolved): resolve every reference, with the
 * configs (read from sink when it holds them); then fetch what was resolved into sink. */
int bale_pull_resolve_all(bale_pull *pull, const char *const *refs, size_t n, bale_sink *sink,
                          bale_error **err);
int bale_pull_fetch(bale_pull *pull, bale_sink *sink, bale_error **err);

/* The verified bytes of an index, manifest or config the pull resolved, read back from
 * where it keeps them and checked against desc again. BALE_ENOTFOUND when it holds no
 * such blob. */
int bale_pull_read(bale_pull *pull, const bale_descriptor *desc, bale_buf *out, bale_error **err);

/* The images resolved, in the order asked (a reference asked twice counts once). */
size_t bale_pull_image_count(const bale_pull *pull);
/* Keeps img (image i, changed by the caller) in place of what the pull held: later
 * loads, and the bundle writer, see the change. Not while another thread loads it. */
int bale_pull_image_store(bale_pull *pull, size_t i, const bale_image *img, bale_error **err);
/* The tags of repository ("HOST/PATH"), through the pull's own registry client (every
 * page, bale_registry_tags). The list is the caller's (bale_registry_list_free). */
int bale_pull_tags(bale_pull *pull, const char *repository, char ***tags, size_t *n,
                   bale_error **err);
/* The digest ref resolves to, asked with HEAD ("" when the registry does not say). */
int bale_pull_digest(bale_pull *pull, const char *ref, char digest[80], bale_error **err);

/* Whether image i resolved: after bale_pull_resolve_all failed for some references, the
 * others are still there to load. */
bool bale_pull_image_resolved(const bale_pull *pull, size_t i);
/* How many references the last bale_pull_resolve_all could not resolve (every one of
 * them is in its error). */
size_t bale_pull_failed_count(const bale_pull *pull);
/* How many of them are attachments found beside the images asked for. */
size_t bale_pull_attachment_count(const bale_pull *pull);
/* Image i (below bale_pull_image_count), read back from where the pull keeps it: the
 * pull holds no resolved image in memory, so its memory stays flat for any number of
 * images. *out is the caller's (bale_image_free). Safe from several threads. */
int bale_pull_image_load(bale_pull *pull, size_t i, bale_image **out, bale_error **err);

#endif
