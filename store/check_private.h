/* Inside bale check: one run's findings and summary, the walk from an image's root that
 * every store kind shares, and the per-kind entry points (check_oci.c,
 * check_containerd.c, check_registry.c). */
#ifndef BALE_CHECK_PRIVATE_H
#define BALE_CHECK_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bale/buf.h"
#include "bale/check.h"
#include "bale/digest.h"
#include "bale/sink.h"

/* Reads and hashes blobs in this many bytes at a time: never a whole layer in memory. */
#define CHECK_CHUNK (256u << 10)

/* A set of digests (sorted, for bsearch). */
typedef struct check_digests {
	bale_digest *items;
	size_t n, alloc;
} check_digests;

int check_digests_add(check_digests *s, const bale_digest *d, bale_error **err);
bool check_digests_has(const check_digests *s, const bale_digest *d);
void check_digests_free(check_digests *s);

/* What a store holds under a digest, as hashing it found. */
typedef struct check_blob {
	bool found;
	int64_t size;       /* bytes the store has */
	bool hashed;        /* digest is set (the size matched, so the bytes were hashed) */
	bale_digest digest; /* what they hash to */
} check_blob;

/* The read side of one store kind, as the walk needs it. */
typedef struct check_source {
	void *ctx;
	/* The bytes of a manifest or index, at most BALE_CAP_MANIFEST, unverified (the walk
	 * checks them). BALE_ENOTFOUND when the store does not have it. */
	int (*read)(void *ctx, const bale_descriptor *d, bale_buf *out, bale_error **err);
	/* A blob streamed through SHA-256 (when its size is the descriptor's). */
	int (*hash)(void *ctx, const bale_descriptor *d, check_blob *out, bale_error **err);
	/* Cheap presence test. Set where an index's children may be absent: node stores
	 * keep the platforms that were imported, not every platform of an index. NULL: every
	 * child is needed (a registry refuses an index whose children it lacks). */
	bool (*has)(void *ctx, const bale_digest *d);
	/* Where a blob lives, for messages ("blobs/sha256/…"); NULL when nothing to say. */
	void (*where)(void *ctx, const bale_digest *d, char *out, size_t size);
	/* Blobs are kept per scope (a registry's repository): results are remembered per
	 * scope and digest. NULL: one scope. */
	const char *scope;
	/* Reading a store (bale_check_view_enter): the reads that follow are of name i (a
	 * registry keeps blobs per repository). NULL: every name reads alike. */
	void (*enter)(void *ctx, size_t i);
} check_source;

typedef struct check_item check_item;
typedef struct check_run check_run;

/* One named image of a store. */
typedef struct check_name {
	char *ref;             /* as the store names it */
	bale_descriptor root;  /* root.digest.str[0] == '\0': the store could not say */
	bool checked, damaged; /* walked; found damage */
	bool dropped;          /* repair removed the name */
} check_name;

/* The names of a store, owned. */
typedef struct check_names {
	check_name *items;
	size_t n;
} check_names;

int check_names_add(check_names *names, const char *ref, const bale_descriptor *root,
                    bale_error **err);
void check_names_free(check_names *names);

/* The run: options, summary, and what was found. */
/* BALE_ENOTFOUND naming the first --image that no name of the store matched. */
int check_all_found(const check_run *run, bale_error **err);
const bale_check_options *check_opts(const check_run *run);
bale_check_summary *check_summary(check_run *run);

/* What the walk concluded about one blob: a blob shared by several images (or named
 * twice, as containerd names repo:tag and repo@digest) is read and hashed once. */
typedef struct check_verdict {
	char *key;   /* "[scope@]sha256:…" */
	int problem; /* a bale_check_problem, or -1 when whole */
	char *detail;
} check_verdict;

/* The verdict kept under key, or NULL; valid until the next check_verdict_add. */
const check_verdict *check_verdict_get(const check_run *run, const char *key);
int check_verdict_add(check_run *run, const char *key, int problem, const char *detail,
                      bale_error **err);
const bale_log *check_log(const check_run *run);

/* Is ref among --image (always true without --image)? Marks the match, so that an --image
 * no name matched is reported at the end. */
bool check_wanted(check_run *run, const char *ref);

/* Walks one image from its root: every manifest read and verified, every blob hashed.
 * Findings are added to the run; name->damaged says whether there were any. */
int check_walk(check_run *run, const check_source *src, check_name *name, bale_error **err);

/* Adds the digest of every blob reachable from root that can be read (manifests are read,
 * blobs not hashed) to set: what a remaining name needs, so repair keeps it. */
int check_collect(const check_source *src, const bale_descriptor *root, check_digests *set,
                  bale_error **err);

/* Adds a finding (*out, when out is not NULL). ref, digest and path may be NULL; the
 * detail is printf-style. Fails only when out of memory. */
int check_add(check_run *run, check_item **out, bale_error **err, bale_check_problem problem,
              const char *ref, const char *object, const char *digest, const char *path,
              const char *fmt, ...) __attribute__((format(printf, 9, 10)));
/* Repair's verdict on a finding: repaired or not, and what was done or why not. */
void check_set_repair(check_item *item, bool repaired, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The findings so far, to repair them. */
size_t check_count(const check_run *run);
check_item *check_at(check_run *run, size_t i);
const bale_check_finding *check_item_finding(const check_item *item);
/* A blob the walk found damaged (present, but with the wrong bytes): repair may remove it
 * once no remaining name needs it. */
bool check_item_damaged_blob(const check_item *item, bale_digest *out);

/* bale_check_read_store: the kind lists its names, then hands them and its read side to
 * the caller instead of checking (no walk, no partials, no repair). */
bool check_reading(const check_run *run);
/* Walks every name not checked yet; when reading (check_reading), calls the caller with
 * the view instead, and what it returns is kept by the run (it becomes
 * bale_check_read_store's result), so the kind closes its store as after a check. */
int check_names_walk(check_run *run, const check_source *src, check_names *names, bale_error **err);

/* The store kinds. location is the spec without "oci:", "containerd:",
 * "registry://". */
int check_oci(check_run *run, const char *dir, bale_error **err);

/* An oci: store's index.json rewritten (atomically, only when it changes) without the
 * entries drop() chooses; what every remaining entry reaches, read through src, is added
 * to kept, and *dropped counts the entries removed. The caller holds the store lock. */
typedef bool (*check_drop_fn)(void *payload, json_t *entry);
int check_oci_drop_entries(const char *dir, check_drop_fn drop, void *payload,
                           const check_source *src, check_digests *kept, size_t *dropped,
                           bale_error **err);
int check_containerd(check_run *run, const char *socket, bale_error **err);
int check_registry(check_run *run, const char *location, bale_error **err);

#endif
