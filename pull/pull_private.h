/* The pull engine's selection of manifests (pull/select.c), apart so that it can be
 * tested on trees made by hand. */
#ifndef BALE_PULL_PRIVATE_H
#define BALE_PULL_PRIVATE_H

#include "bale/error.h"
#include "bale/image.h"
#include "bale/platform.h"

/* After the walk, before any manifest is fetched: marks the runnable manifests of the
 * wanted platforms, and the artifacts whose subject (as the index names it) is carried,
 * or names nothing of this tree. BALE_ENOTFOUND, naming the platforms the image has
 * ("linux/s390x and one without a platform"), when it has runnable manifests and none
 * is wanted; an image of artifacts only is carried whole. */
int pull_select_platforms(bale_image *img, const bale_platform_set *want, bale_error **err);

/* Once the selected manifests are read: drops the artifacts whose own "subject" is an image
 * of this tree that is left out, and marks the child indexes above what is carried. */
void pull_select_loaded(bale_image *img, const bale_platform_set *want);

#endif
