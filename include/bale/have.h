/* Have-lists (docs/have-list.md): what a site already holds — every image name with its
 * root digest, every blob with its size — gathered from node stores and from bundles the
 * site received, written to a small file that travels back to the export machine, where
 * `bale export --have` leaves those blobs out of the next bundle (a delta). */
#ifndef BALE_HAVE_H
#define BALE_HAVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/digest.h"
#include "bale/error.h"
#include "bale/store.h"

/* The version of the format this bale writes; it reads it and no other. */
#define BALE_HAVE_FORMAT_VERSION 1

typedef struct bale_have bale_have;

int bale_have_new(bale_have **out, bale_error **err);
void bale_have_free(bale_have *h);

/* Adds what the store at spec ("oci:DIR", "containerd[:SOCKET]",
 * "registry://HOST[/PREFIX]") holds: each name and the blobs it reaches that the store has
 * (its root, child indexes and manifests, their configs and layers). A name whose
 * manifests cannot be read adds its name and what was read. BALE_ESTORE when the store
 * cannot be opened or listed (a registry: its own codes too). */
int bale_have_add_store(bale_have *h, const char *spec, const bale_store_options *opts,
                        bale_error **err);

/* Adds what the bundle at path carries: its images and the blobs that are members of it
 * (not those a delta only expects). Its index is held to the digest its manifest gives;
 * the signature is not checked (a have-list only leaves blobs out of a later bundle, and
 * the import of that bundle checks the node holds them). */
int bale_have_add_bundle(bale_have *h, const char *path, bale_error **err);

/* Adds a have-list file ("-": standard input). BALE_EFORMAT for a newer format version,
 * BALE_EUSAGE for anything that is not a have-list, naming the line. */
int bale_have_read(bale_have *h, const char *path, bale_error **err);

/* Writes the list to path atomically ("-": standard output). */
int bale_have_write(const bale_have *h, const char *path, bale_error **err);

/* Does the site hold the blob with this digest and size? */
bool bale_have_blob(const bale_have *h, const bale_digest *d, int64_t size);

size_t bale_have_blob_count(const bale_have *h);
size_t bale_have_image_count(const bale_have *h);
/* The bytes of the blobs listed. */
uint64_t bale_have_bytes(const bale_have *h);

#endif
