/* Node stores: where imported or pulled images end up. Each store is a bale_sink. */
#ifndef BALE_STORE_H
#define BALE_STORE_H

#include <stdbool.h>

#include "bale/error.h"
#include "bale/log.h"
#include "bale/platform.h"
#include "bale/registry.h"
#include "bale/sink.h"

/* The embedded default store. */
#define BALE_DEFAULT_STORE "oci:/var/lib/bale/store"

/* Settings of node stores beyond their spec; NULL means the defaults. */
typedef struct bale_store_options {
	const char *namespace;              /* containerd: default "k8s.io" */
	const char *ctr;                    /* containerd: the ctr command, default "ctr";
	                                       words split on spaces ("k3s ctr") */
	bool pin;                           /* containerd: label images pinned for the CRI */
	const bale_platform_set *platforms; /* containerd: what ctr imports and unpacks */
	const bale_log *log;
	const bale_registry_options *registry; /* registry://: auth, TLS, retries */
	/* registry://: keep the last N components of each repository path (0: all of them),
	 * for registries that take fewer levels; two repositories that would meet are
	 * refused. */
	int repository_depth;
} bale_store_options;

#define BALE_DEFAULT_CONTAINERD_SOCKET "/run/containerd/containerd.sock"
#define BALE_DEFAULT_NAMESPACE "k8s.io"

/* Opens a node store from its spec: "oci:DIR" or "containerd[:SOCKET]". Node stores
 * never show a run that failed: oci: stages blobs until commit, containerd gets image
 * names only at commit and loses the content of a run that fails. */
int bale_store_open(bale_sink **out, const char *spec, bale_error **err);
int bale_store_open_with(bale_sink **out, const char *spec, const bale_store_options *opts,
                         bale_error **err);

/* Splits a registry store's location ("HOST[:PORT][/PREFIX]", after "registry://") into
 * its host and prefix (trailing slashes dropped; *prefix NULL when none). Credentials have
 * no place in an address that logs and ledgers repeat: "USER:PASS@HOST" is refused, without
 * echoing it (BALE_EUSAGE; give them with --creds HOST=USER:PASS). Free both. */
int bale_store_registry_location(const char *location, char **domain, char **prefix,
                                 bale_error **err);

/* A site registry, registry://HOST[:PORT][/PREFIX] without the scheme: images go to
 * HOST/PREFIX/<path of their reference>, with the given auth and TLS settings. */
int bale_store_registry_open(bale_sink **out, const char *location,
                             const bale_registry_options *ropts, int repository_depth,
                             bale_error **err);

/* containerd through its own importer: the content is streamed as an OCI image tar into
 * `ctr images import` (no temporary copy), see docs/containerd.md. */
int bale_store_containerd_open(bale_sink **out, const char *socket, const bale_store_options *opts,
                               bale_error **err);

/* The containerd store lands each image on its own and unpacks what it takes; a registry
 * store leaves foreign layers at their urls (BALE_SINK_* traits, sink.h). */

/* Blobs wait in a staging directory until commit; a run that does not commit leaves
 * the store as it was. Without it (a content cache) blobs land at once, so an
 * interrupted run keeps what it verified. */
#define BALE_STORE_STAGED 1u
/* A content cache that every reader re-verifies: blobs are not fsynced, since one a crash
 * tore is caught by its digest on the next read and fetched again. */
#define BALE_STORE_CACHE 2u

/* An OCI image layout directory (created when missing). Blobs are written under a
 * temporary name, fsynced and renamed; index.json is replaced atomically under a lock,
 * so several bale processes can write one store. Each image name is recorded with the
 * annotations org.opencontainers.image.ref.name and io.containerd.image.name. */
int bale_store_oci_open(bale_sink **out, const char *dir, unsigned flags, bale_error **err);

/* What an export's content cache (an oci: layout, BALE_STORE_CACHE) holds. */
typedef struct bale_store_cache_usage {
	int64_t blobs, bytes; /* blob files there (after a prune: left) */
	int64_t names;        /* images index.json names */
	int64_t oldest;       /* the oldest blob's modification time (Unix seconds); 0: none */
	int64_t pruned_blobs, pruned_bytes;
} bale_store_cache_usage;

/* The cache at dir, counted; with prune_older_than >= 0, first pruned of every blob last
 * written more than that many seconds ago (0: every blob), and of the names whose root
 * blob went with them. A blob pruned is fetched again by the next export that needs it. A
 * missing dir is an empty cache. */
int bale_store_cache_count(const char *dir, int64_t prune_older_than, bale_store_cache_usage *out,
                           bale_error **err);

/* A private content cache for one run, in a fresh directory under $TMPDIR: manifests and
 * configs wait there instead of in memory, and every read of them is verified again.
 * bale_sink_free removes the directory and everything in it. */
int bale_store_scratch_open(bale_sink **out, bale_error **err);

#endif
