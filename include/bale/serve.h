/* bale serve: a read-only OCI distribution registry served straight from bundles
 * (docs/bale-serve.1.md). Every bundle's signature is checked when it is opened; each blob
 * is read from the bundle through its seek table and checked against its digest as it
 * streams: a blob whose bytes fail ends its response short, so a client never takes
 * wrong bytes for right ones. */
#ifndef BALE_SERVE_H
#define BALE_SERVE_H

#include <stddef.h>
#include <stdio.h>

#include "bale/error.h"
#include "bale/log.h"
#include "bale/trust.h"

typedef struct bale_serve bale_serve;

typedef struct bale_serve_options {
	const char *listen;      /* "ADDR:PORT" or "[IPv6]:PORT"; port 0: any free one */
	const bale_trust *trust; /* NULL: signatures not checked (--insecure-skip-verify) */
	const bale_log *log;
	unsigned max_connections; /* 0: 64 */
	/* HTTPS with this certificate chain and key (PEM files); both or neither. */
	const char *tls_cert, *tls_key;
	/* Not NULL: a line for each request, in the common log format. */
	FILE *access_log;
} bale_serve_options;

/* Opens the bundles (a later bundle's tags win over an earlier one's) and starts serving.
 * BALE_ETRUST for a bundle the trust set does not cover, BALE_EUSAGE for an address that
 * cannot be bound, a certificate or key that cannot be read, or a bundle that cannot be
 * served (format 1, a volume). opts (trust and access_log too) must outlive the server. */
int bale_serve_start(bale_serve **out, const char *const *bundles, size_t n,
                     const bale_serve_options *opts, bale_error **err);
/* Serves these bundles from now on: they are opened and checked as at the start, then
 * requests that begin later read them while requests under way finish on the old ones.
 * On failure nothing changes. */
int bale_serve_reload(bale_serve *s, const char *const *bundles, size_t n, bale_error **err);
/* The port it listens on. */
int bale_serve_port(const bale_serve *s);
/* Images it serves. */
size_t bale_serve_image_count(bale_serve *s);
/* Stops serving (open connections end) and frees everything. */
void bale_serve_stop(bale_serve *s);

#endif
