/* Image references, parsed and normalized exactly as docker and containerd do
 * (distribution/reference): the kubelet looks images up by the normalized name.
 *   nginx                -> docker.io/library/nginx:latest
 *   nginx:1.25           -> docker.io/library/nginx:1.25
 *   index.docker.io/x/y  -> docker.io/x/y:latest
 *   host:5000/r:t        -> host:5000/r:t
 *   r@sha256:<64 hex>    -> docker.io/library/r@sha256:... (no tag added)
 *   r:t@sha256:<64 hex>  -> both kept
 * Malformed input is refused with BALE_EUSAGE and a message that names the offending
 * character and its 1-based position. */
#ifndef BALE_REFERENCE_H
#define BALE_REFERENCE_H

#include "bale/error.h"

typedef struct bale_ref bale_ref;

int bale_ref_parse(bale_ref **out, const char *text, bale_error **err);
/* An image name as bale writes it into bundles and stores: a reference in its normalized
 * form, nothing else (no path of a file system, no control character). The one check
 * bale verify, the import engine and every store apply to names a bundle or a caller
 * hands them. BALE_EVERIFY naming the (quoted) name and what is wrong with it. */
int bale_ref_check_name(const char *name, bale_error **err);
void bale_ref_free(bale_ref *ref);

/* "docker.io", "ghcr.io", "host:5000", "[::1]:5000" */
const char *bale_ref_domain(const bale_ref *ref);
/* The last depth components of a repository path ("library/nginx", 1: "nginx"); the
 * whole path when depth is 0 or covers it. A pointer into path. */
const char *bale_ref_path_tail(const char *path, int depth);
/* Path inside the registry: "library/nginx" */
const char *bale_ref_path(const bale_ref *ref);
/* "docker.io/library/nginx" */
const char *bale_ref_name(const bale_ref *ref);
/* Tag, or NULL for a digest-only reference. */
const char *bale_ref_tag(const bale_ref *ref);
/* "sha256:<hex>", or NULL. */
const char *bale_ref_digest(const bale_ref *ref);
/* Full normalized string: name[:tag][@digest] */
const char *bale_ref_string(const bale_ref *ref);
/* Host to contact for the registry API: "registry-1.docker.io" for docker.io,
 * otherwise the domain. */
const char *bale_ref_api_host(const bale_ref *ref);
/* What a manifest GET asks for: the digest when there is one (a pinned reference
 * resolves to its digest whatever the tag says now, as with docker), else the tag. */
const char *bale_ref_lookup(const bale_ref *ref);

#endif
