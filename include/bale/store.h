/* Node stores: where imported or pulled images end up. Each store is a bale_sink. */
#ifndef BALE_STORE_H
#define BALE_STORE_H

#include "bale/error.h"
#include "bale/sink.h"

/* The embedded default store. */
#define BALE_DEFAULT_STORE "oci:/var/lib/bale/store"

/* Opens a store from its spec: "oci:DIR". */
int bale_store_open(bale_sink **out, const char *spec, bale_error **err);

/* An OCI image layout directory (created when missing). Blobs are written under a
 * temporary name, fsynced and renamed; index.json is replaced atomically under a lock,
 * so several bale processes can write one store. Each image name is recorded with the
 * annotations org.opencontainers.image.ref.name and io.containerd.image.name. */
int bale_store_oci_open(bale_sink **out, const char *dir, bale_error **err);

#endif
