/* bale export's engine: the bundle is written while its layers download. Once every
 * image is resolved, a writer thread starts the bundle (head, index.db, manifests from
 * memory) and takes each config and layer as soon as the pull engine has verified it
 * into the cache, so downloading and compressing overlap instead of taking turns. */
#ifndef BALE_EXPORT_H
#define BALE_EXPORT_H

#include <stddef.h>

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

/* Where a bundle carries a static bale for Linux (bale export --with-bale):
 * "bale/bin/linux-ARCH/bale" into member, ARCH as OCI names the architecture its ELF header
 * gives (amd64, arm64, arm, 386, s390x, ppc64le, riscv64). BALE_EUSAGE for a file that is
 * not such an executable, or one that needs a program interpreter: a dynamic build would
 * not run on a node without bale's libraries. */
int bale_export_binary_member(const char *path, char *member, size_t size, bale_error **err);

#endif
