/* Internals shared by the bundle writer and reader. */
#ifndef BALE_BUNDLE_PRIVATE_H
#define BALE_BUNDLE_PRIVATE_H

#include <stdbool.h>

/* Caps on the head members of a bundle read from untrusted media. */
#define BUNDLE_CAP_MANIFEST (256u << 20)
#define BUNDLE_CAP_SIGNATURE (16u << 10)
#define BUNDLE_CAP_INDEX_DB (1024u << 20)

/* Kinds of blob, in the order the bundle carries them. */
#define BUNDLE_KIND_INDEX "index"
#define BUNDLE_KIND_MANIFEST "manifest"
#define BUNDLE_KIND_CONFIG "config"
#define BUNDLE_KIND_LAYER "layer"

/* A member path bale accepts: relative, no "." or ".." components, no empty ones. */
bool bundle_path_is_safe(const char *path);

#endif
