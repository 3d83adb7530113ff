/* bale import: a verified bundle into a node store. Trust first (the signature before
 * anything is read), then only the chosen images and platforms: every blob they need is
 * re-hashed as it streams into the store, members nobody needs are skipped through the
 * seek table, and names appear only when all content is in (the store commits once). */
#ifndef BALE_IMPORT_H
#define BALE_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/error.h"
#include "bale/log.h"
#include "bale/platform.h"
#include "bale/sink.h"
#include "bale/trust.h"

typedef struct bale_import_options {
	const char *bundle;
	const bale_trust *trust;            /* NULL: --insecure-skip-verify */
	const char *const *images;          /* --image REF…: only these (any spelling) */
	size_t n_images;                    /* 0: every image of the bundle */
	const bale_platform_set *platforms; /* NULL: the host's platform */
	const bale_log *log;
} bale_import_options;

typedef struct bale_imported_image {
	char *ref;
	char digest[80];
	char *platforms; /* "linux/amd64,linux/arm64/v8"; "" for a single-manifest image */
} bale_imported_image;

typedef struct bale_import_result {
	char bundle_id[65];
	char bundle_digest[80]; /* the bundle's data digest (its digest frame) */
	char signer[BALE_KEY_ID_LEN + 1];
	bool signature_checked;
	int64_t blobs_written, blobs_present, bytes_written;
	bale_imported_image *images;
	size_t n_images;
} bale_import_result;

int bale_import_bundle(const bale_import_options *opts, bale_sink *store, bale_import_result *out,
                       bale_error **err);
void bale_import_result_free(bale_import_result *r);

#endif
