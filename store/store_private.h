/* store/: what the store kinds and bale check's reading of them share. */
#ifndef STORE_PRIVATE_H
#define STORE_PRIVATE_H

#include "bale/error.h"
#include "bale/registry.h"

/* The kinds of node store a spec names. */
typedef enum store_kind { STORE_OCI, STORE_CONTAINERD, STORE_REGISTRY } store_kind;

/* The kind of store spec names and where it is: "oci:DIR" (the directory),
 * "containerd[:SOCKET]" (the socket, the default one when none), "registry://LOCATION"
 * (HOST[:PORT][/PREFIX], checked when opened). BALE_EUSAGE for a spec of no kind bale
 * knows; an address that may carry a password ("…@…") is not repeated. */
int store_spec_parse(const char *spec, store_kind *kind, const char **where, bale_error **err);

/* A manifest just pushed to repository by digest (desc, its bytes): when it names a
 * subject and the registry lacks the referrers API, it joins the image index under the
 * tag sha256-<hex of the subject> (made when missing), as the distribution spec asks of
 * a client (store/referrers_tag.c). Nothing for a manifest without a subject. */
int store_link_referrer(bale_registry *reg, const char *repository, const bale_descriptor *desc,
                        const char *bytes, size_t len, bale_error **err);

#endif
