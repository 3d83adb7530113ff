/* The oci:DIR layout as its store (store_oci.c) writes it, shared with the code that reads
 * and repairs it (check_oci.c): one lock protocol, one way to read index.json. */
#ifndef STORE_OCI_LAYOUT_H
#define STORE_OCI_LAYOUT_H

#include <jansson.h>

#include "bale/buf.h"
#include "bale/error.h"

#define STORE_OCI_REF_NAME "org.opencontainers.image.ref.name"
#define STORE_OCI_CONTAINERD_NAME "io.containerd.image.name"
#define STORE_OCI_INDEX_CAP (64u << 20)
/* DIR/.bale-staging-XXXXXX: a run's blobs until its commit, flocked while it lives. */
#define STORE_OCI_STAGING_PREFIX ".bale-staging-"
/* DIR/blobs/sha256/.<hex>.partial-XXXXXX: a blob being written where O_TMPFILE is not
 * available, flocked while its writer lives. */
#define STORE_OCI_PARTIAL_MARK ".partial-"

/* Locks the store directory (index.json is replaced by rename, so the lock lives on the
 * directory itself). Returns the locked descriptor (close it to unlock), or -1 with errno
 * set. Every name that a dead writer may leave is made while this lock is held, so whoever
 * holds it sees a live writer's leftovers already locked by that writer. */
int store_oci_lock(const char *dir);
/* index.json parsed, and its bytes in *text (to tell whether a rewrite changes it); a
 * missing index.json is an empty one. */
int store_oci_load_index(json_t **out, bale_buf *text, const char *path, bale_error **err);
/* index.json of the layout at dir, parsed; BALE_ESTORE "DIR is not an OCI image layout"
 * when it has none (readers of a store, unlike its writers, never make one). */
int store_oci_read_layout_index(json_t **out, const char *dir, bale_error **err);
/* The name of an index.json entry, as the store writes it; unnamed entries go by digest. */
const char *store_oci_entry_name(json_t *entry);
/* Removes a staging directory and what is in it. */
void store_oci_remove_staging(const char *dir);

#endif
