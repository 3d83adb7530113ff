/* Inside k8s/: what the preflight and the pinning run share. */
#ifndef K8S_PRIVATE_H
#define K8S_PRIVATE_H

#include <sqlite3.h>

#include "bale/bundle.h"
#include "bale/error.h"

/* Opens a bundle and its index (read-only, in memory): what it carries, for lookups. Close
 * both (sqlite3_close, bale_bundle_close) in any case. Errors name the bundle. */
int k8s_open_index(bale_bundle_reader **reader, sqlite3 **db, const char *path, bale_error **err);

#endif
