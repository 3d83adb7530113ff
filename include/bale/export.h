/* bale export's engine: the bundle is written while its layers download. Once every
 * image is resolved, a writer thread starts the bundle (head, index.db, manifests from
 * memory) and takes each config and layer as soon as the pull engine has verified it
 * into the cache, so downloading and compressing overlap instead of taking turns. */
#ifndef BALE_EXPORT_H
#define BALE_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "bale/bundle.h"
#include "bale/error.h"
#include "bale/have.h"
#include "bale/policy.h"
#include "bale/pull.h"
#include "bale/sink.h"

/* Resolves refs, fetches their content into cache (an OCI layout whose blobs are in
 * opts->blob_dir) and writes the bundle opts describes. The first error wins: a failed
 * download is reported as such, not as the bundle it left unwritten. With have (not
 * NULL) the bundle is a delta: the layers the site has are neither downloaded nor
 * carried, only listed as expected at the site (docs/site-cycle.md). With policy (not
 * NULL), every image asked for must be admitted by it with the cosign signatures it
 * brought (--referrers), checked before the bundle is started: BALE_ETRUST otherwise. */
int bale_export(bale_pull *pull, const char *const *refs, size_t n, bale_sink *cache,
                const bale_have *have, const bale_policy *policy,
                const bale_bundle_write_options *opts, bale_error **err);

/* What bale export --dry-run finds: the layers it would download (each once), those the
 * cache holds already, those a have-list says the site holds; images resolved, and
 * references that could not be. */
typedef struct bale_export_dry_report {
	size_t images, failed;
	int64_t download_blobs, download_bytes;
	int64_t cached_blobs, cached_bytes;
	int64_t site_blobs, site_bytes;
} bale_export_dry_report;

/* Called for each image resolved, in order, with the bytes of layers it adds to the
 * download (those no image before it shares). */
typedef int (*bale_export_dry_image_fn)(void *payload, const bale_image *img, int64_t adds,
                                        bale_error **err);

/* Resolves refs as bale_export does (indexes, manifests and configs are fetched into
 * cache) and downloads no layer: calls each for every image that resolves and fills out.
 * When some references cannot be resolved, the others are still told, and the error
 * names every one that failed (its code, as bale_export's). */
int bale_export_dry_run(bale_pull *pull, const char *const *refs, size_t n, bale_sink *cache,
                        const bale_have *have, bale_export_dry_image_fn each, void *payload,
                        bale_export_dry_report *out, bale_error **err);

/* Where a bundle carries a static bale for Linux (bale export --with-bale):
 * "bale/bin/linux-ARCH/bale" into member, ARCH as OCI names the architecture its ELF header
 * gives (amd64, arm64, arm, 386, s390x, ppc64le, riscv64). BALE_EUSAGE for a file that is
 * not such an executable, or one that needs a program interpreter: a dynamic build would
 * not run on a node without bale's libraries. */
int bale_export_binary_member(const char *path, char *member, size_t size, bale_error **err);

#endif
