/* Semantic versions in image tags, and the ranges image sets choose them by
 * (docs/image-set.md): "1.27.3", "v1.27.3", "1.28.0-rc.1"; ranges of comparators
 * separated by spaces (all must hold) and alternatives separated by "||": ">=1.27.0
 * <1.28.0", "1.27.x", "~1.27.3" (>=1.27.3 <1.28.0), "^1.27.3" (>=1.27.3 <2.0.0; ^0.y.z
 * stays below 0.(y+1).0), "=1.27.3" or "1.27.3". A prerelease is never in a range: a
 * site does not carry a release candidate by accident. */
#ifndef BALE_SEMVER_H
#define BALE_SEMVER_H

#include <stdbool.h>

#include "bale/error.h"

typedef struct bale_semver {
	long major, minor, patch;
	bool prerelease; /* "-rc.1" and the like; ordered before the release */
	char pre[64];
} bale_semver;

/* A tag as a version: MAJOR.MINOR.PATCH with an optional "v" and optional "-PRE" and
 * "+BUILD". False for anything else ("latest", "1.27", "1.27.3-alpine" is a prerelease). */
bool bale_semver_parse(bale_semver *out, const char *tag);
/* <0, 0, >0 as a orders before, with, after b (semver precedence; build ignored). */
int bale_semver_compare(const bale_semver *a, const bale_semver *b);

typedef struct bale_semver_range bale_semver_range;
/* BALE_EUSAGE naming the part of text that is not a range. */
int bale_semver_range_parse(bale_semver_range **out, const char *text, bale_error **err);
bool bale_semver_range_contains(const bale_semver_range *range, const bale_semver *v);
void bale_semver_range_free(bale_semver_range *range);

#endif
