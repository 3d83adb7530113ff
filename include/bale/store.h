/* Node stores: where imported or pulled images end up. Each store is a bale_sink. */
#ifndef BALE_STORE_H
#define BALE_STORE_H

#include "bale/error.h"
#include "bale/sink.h"

/* The embedded default store. */
#define BALE_DEFAULT_STORE "oci:/var/lib/bale/store"

/* Opens a node store from its spec: "oci:DIR". Node stores are staged: nothing of a
 * run that fails shows in the store. */
int bale_store_open(bale_sink **out, const char *spec, bale_error **err);

/* Blobs wait in a staging directory until commit; a run that does not commit leaves
 * the store as it was. Without it (a content cache) blobs land at once, so an
 * interrupted run keeps what it verified. */
#define BALE_STORE_STAGED 1u

/* An OCI image layout directory (created when missing). Blobs are written under a
 * temporary name, fsynced and renamed; index.json is replaced atomically under a lock,
 * so several bale processes can write one store. Each image name is recorded with the
 * annotations org.opencontainers.image.ref.name and io.containerd.image.name. */
int bale_store_oci_open(bale_sink **out, const char *dir, unsigned flags, bale_error **err);

#endif
