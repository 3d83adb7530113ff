/* bale serve: a read-only OCI distribution registry served straight from bundles
 * (docs/bale-serve.1.md). Every bundle's signature is checked when it is opened; each blob
 * is read from the bundle through its seek table and checked against its digest as it
 * streams: a blob whose bytes fail ends its response short, so a client never takes
 * wrong bytes for right ones. */
#ifndef BALE_SERVE_H
#define BALE_SERVE_H

#include <stddef.h>

#include "bale/error.h"
#include "bale/log.h"
#include "bale/trust.h"

typedef struct bale_serve bale_serve;

typedef struct bale_serve_options {
	const char *listen;      /* "ADDR:PORT" (IPv4); port 0: any free one */
	const bale_trust *trust; /* NULL: signatures not checked (--insecure-skip-verify) */
	const bale_log *log;
	unsigned max_connections; /* 0: 64 */
} bale_serve_options;

/* Opens the bundles (a later bundle's tags win over an earlier one's) and starts serving.
 * BALE_ETRUST for a bundle the trust set does not cover, BALE_EUSAGE for an address that
 * cannot be bound or a bundle that cannot be served (format 1, a volume). */
int bale_serve_start(bale_serve **out, const char *const *bundles, size_t n,
                     const bale_serve_options *opts, bale_error **err);
/* The port it listens on. */
int bale_serve_port(const bale_serve *s);
/* Images and blobs it serves. */
size_t bale_serve_image_count(const bale_serve *s);
/* Stops serving (open connections end) and frees everything. */
void bale_serve_stop(bale_serve *s);

#endif
