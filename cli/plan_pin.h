/* bale plan --pin: manifests rewritten with every image pinned from a bundle. */
#ifndef BALE_CLI_PLAN_PIN_H
#define BALE_CLI_PLAN_PIN_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "bale/error.h"

typedef struct plan_pin_request {
	const char *bundle;
	const char **paths; /* files, directories, "-" */
	size_t n_paths;
	const char *output; /* NULL: stdout; a directory when any path is one, else a file */
	bool force;         /* replace output files that exist */
} plan_pin_request;

/* Pins everything in memory first: nothing is written unless every image pinned. */
int plan_pin(const plan_pin_request *req, bale_error **err);

/* The digest the bundle's index records for a normalized reference; "" when none. */
int plan_bundle_digest(sqlite3 *db, const char *ref, char digest[80], bale_error **err);

#endif
