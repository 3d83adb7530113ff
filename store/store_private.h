/* store/: what the store kinds and bale check's reading of them share. */
#ifndef STORE_PRIVATE_H
#define STORE_PRIVATE_H

#include "bale/error.h"
#include "bale/registry.h"

/* BALE_EUSAGE for a store spec of no kind bale knows; an address that may carry a
 * password ("…@…") is not repeated. */
int store_unknown_spec(const char *spec, bale_error **err);

/* A manifest just pushed to repository by digest (desc, its bytes): when it names a
 * subject and the registry lacks the referrers API, it joins the image index under the
 * tag sha256-<hex of the subject> (made when missing), as the distribution spec asks of
 * a client (store/referrers_tag.c). Nothing for a manifest without a subject. */
int store_link_referrer(bale_registry *reg, const char *repository, const bale_descriptor *desc,
                        const char *bytes, size_t len, bale_error **err);

#endif
