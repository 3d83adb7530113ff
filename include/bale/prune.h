/* bale prune: what a node store no longer needs, as a plan first (reviewable, written to a
 * file), then exactly that plan, re-checked at the moment it is applied. Only images bale
 * imported (the node ledger says so) are ever candidates; an image a container uses is
 * never removed, whatever the plan says. docs/day-2.md, bale-prune(1). */
#ifndef BALE_PRUNE_H
#define BALE_PRUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/error.h"
#include "bale/store.h"

/* The format of the plan file (docs/day-2.md, "The plan file"). */
#define BALE_PRUNE_PLAN_VERSION 1

typedef struct bale_prune_options {
	const char *store; /* "oci:DIR", "containerd[:SOCKET]", "registry://HOST[/PREFIX]" */
	const bale_store_options *store_opts; /* ctr, namespace, registry options; may be NULL */
	const char *ledger;                   /* the node ledger */
	const char *const *keep_bundles;      /* every image of these bundles stays */
	size_t n_keep_bundles;
	const char *const *keep_manifests; /* every image these manifests name stays */
	size_t n_keep_manifests;
	int keep_newest; /* the newest N images imported per repository */
	/* registry://: the --repository-depth the imports there used (0: whole paths) */
	int repository_depth;
} bale_prune_options;

/* Why an image stays: bits, an image may have several. */
#define BALE_PRUNE_USED 1u      /* a container of the node uses it */
#define BALE_PRUNE_MANIFESTS 2u /* the given manifests name it */
#define BALE_PRUNE_BUNDLE 4u    /* a kept bundle carries it */
#define BALE_PRUNE_NEWEST 8u    /* among the newest imports of its repository */
#define BALE_PRUNE_NOT_BALE 16u /* a name bale did not import (pinned or not) */
#define BALE_PRUNE_CHANGED 32u  /* apply: its names moved since the plan */

typedef struct bale_prune_blob {
	char digest[80];
	int64_t size;
} bale_prune_blob;

/* One image of the store: a root digest and every name the store gives it. */
typedef struct bale_prune_image {
	char digest[80];
	char **names;
	size_t n_names;
	unsigned keep; /* BALE_PRUNE_* bits; 0: removed */
	char *why;     /* for a kept image: the reasons in words ("used by container web") */
	bale_prune_blob *blobs; /* removed: the blobs that go with it (no kept image needs them) */
	size_t n_blobs;
	int64_t bytes; /* removed: their bytes */
} bale_prune_image;

typedef struct bale_prune_plan {
	int version;
	char *path;      /* read from this file (bale_prune_plan_load), else NULL */
	char digest[80]; /* "sha256:…" of that file's bytes, else "" */
	char *store, *ledger, *created;
	char **keep_bundles, **keep_manifests;
	size_t n_keep_bundles, n_keep_manifests;
	int keep_newest;
	int repository_depth;
	bale_prune_image *images; /* removed first, then kept; by first name within each */
	size_t n_images;
	size_t n_removed; /* images[0 … n_removed) are removed */
	size_t n_blobs;   /* blobs the plan removes */
	int64_t bytes;    /* their bytes */
} bale_prune_plan;

/* Reads the store, the ledger, the kept bundles and manifests, and decides. Nothing is
 * changed. A store bale never imported into gives a plan that removes nothing. */
int bale_prune_plan_make(bale_prune_plan **out, const bale_prune_options *opts, bale_error **err);
/* The plan as JSON (the plan file) into *text (malloc'd). */
int bale_prune_plan_json(const bale_prune_plan *plan, char **text, size_t *len, bale_error **err);
/* Reads a plan file: BALE_ENOTFOUND when there is none, BALE_EUSAGE when it is not a
 * plan this bale reads (naming the file and what is wrong). */
int bale_prune_plan_load(bale_prune_plan **out, const char *path, bale_error **err);
void bale_prune_plan_free(bale_prune_plan *plan);
/* "used", "manifests", "bundle", "newest", "not-bale", "changed": the first bit of keep. */
const char *bale_prune_reason_name(unsigned bit);

/* What --apply did. */
typedef struct bale_prune_result {
	size_t images_removed, names_removed, blobs_removed;
	int64_t bytes_freed;
	/* the plan's images a re-check kept (used since, named again, moved), as the plan
	 * made at apply sees them (why says why): they point into now */
	const bale_prune_image **kept;
	size_t n_kept;
	bale_prune_plan *now;
	char note[512]; /* what the store still asks of the user, or "" */
} bale_prune_result;

/* Applies a plan read by bale_prune_plan_load: makes the plan again from the options it
 * records, removes only what both plans remove (an image the new plan keeps, or that has
 * a name the plan did not list, is reported in result->kept and left alone) and records
 * the prune in the ledger. store_opts: ctr, namespace and registry options (NULL:
 * defaults). Returns 0 when it ran (every image of the plan removed when result->n_kept
 * is 0), < 0 on failure. Free the result. */
int bale_prune_apply(const bale_prune_plan *plan, const bale_store_options *store_opts,
                     bale_prune_result *result, bale_error **err);
void bale_prune_result_free(bale_prune_result *result);

#endif
