/* What verify/verify.c and verify/parts.c share: the members the signed manifest lists,
 * and the check of the members after the head, cut into parts for every core. */
#ifndef BALE_VERIFY_PRIVATE_H
#define BALE_VERIFY_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "bale/bundle.h"
#include "bale/error.h"
#include "bale/log.h"

/* What the manifest says one member must be. */
typedef struct verify_expected {
	char *path;
	bale_digest digest;
	int64_t size;
	bool seen; /* read with the head (index.db) or by one of the parts */
} verify_expected;

/* Every member after the head, sorted by path; read-only while the parts run. */
typedef struct verify_expectations {
	verify_expected *items;
	size_t n;
	/* The sizes of the members after bale/index.db in archive order, where the parts are
	 * cut. */
	int64_t *sizes;
	size_t n_sizes;
} verify_expectations;

/* Sorts the expectations by path, as verify_expected_find looks them up. */
void verify_expectations_sort(verify_expectations *e);
/* The member expected at path, NULL when none is. */
verify_expected *verify_expected_find(const verify_expectations *e, const char *path);

/* What the members checked add up to. */
typedef struct verify_tally {
	int64_t members;
	int64_t bytes;
} verify_tally;

/* Below this many bytes a part costs more (a thread, a reader of its own) than it saves. */
#define VERIFY_MIN_PART_BYTES ((uint64_t)8 << 20)

/* Checks every member after the head of r (its head and index.db read): each listed,
 * once, with its size and digest; nothing missing; only zero padding after the archive;
 * every frame against the file's check. A bundle of format 2 whose members can be cut at
 * frame starts is checked in parts, one thread each, up to one per core and none under
 * min_part_bytes (VERIFY_MIN_PART_BYTES; 0: no floor, as tests cut tiny bundles); any
 * other (a format 1 file, whose one digest is serial, or one that does not cut where its
 * list says) in one pass. BALE_EVERIFY naming the first bad member in archive order. */
int verify_members(bale_bundle_reader *r, const char *path, verify_expectations *e,
                   uint64_t min_part_bytes, verify_tally *tally, const bale_log *log,
                   bale_error **err);

#endif
