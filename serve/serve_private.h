/* serve/: what the registry's HTTP side (http.c) asks of the bundles it serves
 * (catalog.c). */
#ifndef SERVE_PRIVATE_H
#define SERVE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/buf.h"
#include "bale/bundle.h"
#include "bale/serve.h"

typedef struct serve_catalog serve_catalog;

/* A blob of a bundle: where its member starts in the archive, and what it must be. */
typedef struct serve_blob {
	bale_digest digest;
	int64_t size;
	uint64_t offset; /* decompressed offset of its tar header */
	size_t bundle;
} serve_blob;

int serve_catalog_open(serve_catalog **out, const char *const *bundles, size_t n,
                       const bale_trust *trust, bale_error **err);
void serve_catalog_free(serve_catalog *c);
size_t serve_catalog_images(const serve_catalog *c);

/* Does a repository of that name exist (an image path, as images.repository says)? */
bool serve_catalog_has_repository(serve_catalog *c, const char *name);
/* The blob of digest text, NULL when no bundle carries it. */
const serve_blob *serve_catalog_blob(serve_catalog *c, const char *digest);
/* The root of name:tag in the latest bundle that has it: its blob, or NULL. */
const serve_blob *serve_catalog_tag(serve_catalog *c, const char *name, const char *tag);
/* The media type index.db records for a blob ("" when none) and whether it is an index or
 * manifest. */
void serve_catalog_describe(serve_catalog *c, const serve_blob *b, char media_type[128],
                            bool *manifest);
/* JSON lists for tags/list and _catalog. */
int serve_catalog_tags(serve_catalog *c, const char *name, bale_buf *out, bale_error **err);
int serve_catalog_repositories(serve_catalog *c, bale_buf *out, bale_error **err);
/* Streams the blob's bytes to copy, checked against its digest as they go (a mismatch is
 * BALE_EVERIFY after the bytes up to it). */
int serve_catalog_read(serve_catalog *c, const serve_blob *b, bale_member_copy_fn copy,
                       void *payload, bale_error **err);

#endif
