/* export/: the delta's choice of layers (delta.c) and the site policy's check (policy.c),
 * for the engine (export.c). */
#ifndef EXPORT_PRIVATE_H
#define EXPORT_PRIVATE_H

#include <stdbool.h>

#include "bale/bundle.h"
#include "bale/have.h"
#include "bale/image.h"
#include "bale/policy.h"
#include "bale/pull.h"

typedef struct export_delta export_delta;

/* The layers of images that have lists, unless a digest is also carried as something
 * else (a root, index, manifest or config). */
int export_delta_new(export_delta **out, const bale_have *have, const bale_bundle_images *images,
                     bale_error **err);
void export_delta_free(export_delta *x);
/* Is the blob left out? (false for a NULL delta) */
bool export_delta_skips(const export_delta *x, const bale_digest *d);
/* The bundle writer's left_out callback; payload is the delta. */
bool export_delta_left_out(void *payload, const bale_descriptor *layer);

/* Every image the pull resolved that was asked for (not an attachment), held to policy
 * with the cosign signatures it brought. BALE_ETRUST naming each refused image and why. */
int export_policy_check(bale_pull *pull, const bale_policy *policy, bale_error **err);

#endif
