/* A node store as its runtime keeps it, for the node's day 2 (bale prune, bale doctor):
 * every name with its root digest and whether it is pinned, the images the runtime's
 * containers use, the runtime's version; and the removal of names, then of the content
 * no remaining name needs. The content itself is read through bale_check_read_store. */
#ifndef BALE_NODE_H
#define BALE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/digest.h"
#include "bale/error.h"
#include "bale/store.h"

typedef struct bale_node_name {
	char *name;      /* as the store names it */
	char digest[80]; /* its root, "sha256:…"; "" when the store records none */
	bool pinned;     /* containerd: labelled io.cri-containerd.pinned=pinned */
} bale_node_name;

typedef struct bale_node {
	char *kind;            /* "oci", "containerd", "registry" */
	char *version;         /* containerd: the server's version ("1.6.20"); NULL otherwise */
	bale_node_name *names; /* sorted by name */
	size_t n_names;
	/* containerd: the image of every container of the namespace, running or not, as the
	 * container names it (a name or a digest reference; for a container whose record
	 * names none, as the CRI's annotations of its spec name it: the image's id
	 * "sha256:…" and the pod's name for it); none for other stores */
	char **used;
	size_t n_used;
	/* containerd: the containers nothing names an image for (their ids) */
	char **unknown;
	size_t n_unknown;
} bale_node;

/* Reads the store given by spec ("oci:DIR", "containerd[:SOCKET]" with ctr and namespace
 * from opts, "registry://HOST[/PREFIX]" with the registry options of opts). A registry's
 * names are its tags under PREFIX ("HOST/REPO:TAG", from its catalog, as bale check
 * lists them); it has no containers. BALE_ESTORE when the store cannot be read (a
 * registry: its own codes too). */
int bale_node_read(bale_node *out, const char *spec, const bale_store_options *opts,
                   bale_error **err);
void bale_node_free(bale_node *node);
/* The name, or NULL. */
const bale_node_name *bale_node_find(const bale_node *node, const char *name);

/* What to remove: names first, then each listed blob that no remaining name needs. */
typedef struct bale_node_removal {
	const char *const *names;
	size_t n_names;
	const bale_descriptor *blobs;
	size_t n_blobs;
} bale_node_removal;

typedef struct bale_node_removed {
	size_t names;      /* names removed (a registry: manifests deleted) */
	size_t blobs;      /* listed blobs this removal took from the store */
	int64_t bytes;     /* their bytes */
	size_t blobs_kept; /* listed blobs still there: a remaining name needs them, or the
	                      store keeps them until its own garbage collection */
	char note[512];    /* what the user still has to do, or "" */
} bale_node_removed;

/* Removes the names and then the blobs no remaining name needs, under the store's own
 * rules: oci: under the store lock, index.json replaced atomically, then the blobs no
 * name of the new index reaches; containerd: `ctr images rm --sync` (containerd's
 * garbage collector drops what nothing references, its unpacked snapshots too);
 * registry: each name ("HOST/REPO:TAG" or "HOST/REPO@DIGEST") deleted by the digest it
 * resolves to, where the registry allows it (every tag on that digest in REPO goes too);
 * the blobs stay until the registry's garbage collector runs (out->note says so).
 * A name already gone is not an error. */
int bale_node_remove(const char *spec, const bale_store_options *opts, const bale_node_removal *r,
                     bale_node_removed *out, bale_error **err);

#endif
