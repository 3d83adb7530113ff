/* Inside bale prune: the plan's images as they are built (plan.c), the blobs each
 * reaches (blobs.c), the plan file (plan_file.c) and the apply (apply.c). */
#ifndef PRUNE_PRIVATE_H
#define PRUNE_PRIVATE_H

#include "bale/prune.h"

/* containerd's CRI names each image it sees "sha256:<config digest>": such a name is the
 * runtime's alias of an image, neither bale's nor anyone's to keep it by. */
bool prune_runtime_alias(const char *name);
/* The root digest of images[pos] (bale_slots_key_fn): plans index their images by it. */
const char *prune_image_key(const void *items, size_t pos);
/* Adds a copy of name to img's names (once). */
int prune_add_name(bale_prune_image *img, const char *name, bale_error **err);
/* Appends "; " and the printf text to img->why. */
int prune_add_why(bale_prune_image *img, bale_error **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void prune_image_free(bale_prune_image *img);
/* Sorts images: removed first, then kept, by first name within each; sets n_removed. */
void prune_plan_sort(bale_prune_plan *plan);

/* Fills the blobs of every removed image: what it reaches in the store that no kept
 * image reaches, each blob under the first removed image that reaches it; and the
 * plan's totals. */
int prune_plan_blobs(bale_prune_plan *plan, const bale_store_options *store_opts, bale_error **err);

#endif
