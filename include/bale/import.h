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
	/* Tags move forward only: an image the node ledger says a newer bundle set in this
	 * store to another digest is skipped (reported in skipped), unless allow_downgrade.
	 * NULL ledger: no check. store: the store as the ledger records it. */
	const char *ledger;
	const char *store;
	bool allow_downgrade;
	/* A volume set (bundle format 4): the volumes given, bundle among them (NULL: bundle
	 * alone), and the directory their blobs wait in until their images are whole
	 * (kept across imports; a set's own subdirectory goes once all its images land). */
	const char *const *volumes;
	size_t n_volumes;
	const char *staging;
} bale_import_options;

typedef struct bale_imported_image {
	char *ref;
	char digest[80];
	char *platforms; /* "linux/amd64,linux/arm64/v8"; "" for a single-manifest image */
} bale_imported_image;

/* An image of the bundle that did not land, and why (one line). */
typedef struct bale_import_problem {
	char *ref;
	char digest[80];
	char *message;
} bale_import_problem;

typedef struct bale_import_result {
	char bundle_id[65];
	char bundle_digest[80]; /* the bundle's data digest (its digest frame) */
	char signer[BALE_KEY_ID_LEN + 1];
	bool signature_checked;
	int64_t blobs_written, blobs_present, bytes_written;
	char bundle_created[40];     /* as its manifest says; "" when it does not */
	bale_imported_image *images; /* the images that landed */
	size_t n_images;
	bale_import_problem *skipped; /* left as they were: a newer bundle set them */
	size_t n_skipped;
	bale_import_problem *failed; /* refused by the store; the others landed */
	size_t n_failed;
	/* A volume set: images whose content a volume not given yet holds ("waits for
	 * volumes 2,3"); named nowhere, their blobs staged. */
	bale_import_problem *waiting;
	size_t n_waiting;
} bale_import_result;

/* On a store that lands images one by one (BALE_SINK_LANDS_EACH), a failure of some
 * images returns their store's error with out->images the ones that landed and
 * out->failed the others; any other failure leaves out->images empty. */
int bale_import_bundle(const bale_import_options *opts, bale_sink *store, bale_import_result *out,
                       bale_error **err);
void bale_import_result_free(bale_import_result *r);

#endif
