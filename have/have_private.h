/* have/: the set's entry points for the sources that fill it (have_sources.c). */
#ifndef HAVE_PRIVATE_H
#define HAVE_PRIVATE_H

#include "bale/have.h"

int have_add_blob(bale_have *h, const bale_digest *d, int64_t size, bale_error **err);
int have_add_image(bale_have *h, const char *ref, const bale_digest *root, bale_error **err);
/* Records where the list was gathered (a store spec, a bundle), once each. */
int have_add_from(bale_have *h, const char *where, bale_error **err);

#endif
