/* Internals shared by the bundle writer, the reader and bale/manifest.json's parser. */
#ifndef BALE_BUNDLE_PRIVATE_H
#define BALE_BUNDLE_PRIVATE_H

/* Caps on the head members of a bundle read from untrusted media (docs/bundle-format.md,
 * "Limits"). A bundle of 10,000 single-platform images has about 100,000 members and a
 * 20 MB bale/manifest.json (about 200 bytes a member as bale writes it). */
#define BUNDLE_CAP_MANIFEST (160u << 20)
#define BUNDLE_CAP_SIGNATURE (16u << 10)
#define BUNDLE_CAP_INDEX_DB (1024u << 20)
/* Members bale/manifest.json may list ("files" and "blobs"); reading the head holds about
 * 1.4 KiB for each (jansson's parse, its typed entry, what to expect of each member). */
#define BUNDLE_MAX_MEMBERS BALE_BUNDLE_MAX_MEMBERS
/* JSON values in bale/manifest.json (bale/json.h counts them): 9 a member, 20 to 40 an
 * image, with room to spare. */
#define BUNDLE_MAX_MANIFEST_VALUES (16u * BUNDLE_MAX_MEMBERS)
/* Zero padding allowed after the tar end-of-archive marker (bale writes none; tar pads
 * to its record size). Anything more is refused before it is decompressed. */
#define BUNDLE_MAX_TRAILER (1u << 20)

/* Kinds of blob, in the order the bundle carries them. */
#define BUNDLE_KIND_INDEX "index"
#define BUNDLE_KIND_MANIFEST "manifest"
#define BUNDLE_KIND_CONFIG "config"
#define BUNDLE_KIND_LAYER "layer"

#include <stddef.h>

#include "bale/bundle.h"

/* The entry of bale/manifest.json's "files" for bale/index.db (path, digest and size as
 * bale_bundle_manifest_parse reads them), found without building the document, whose
 * images and blobs take about 1 KiB each in jansson: 1 and *out filled (out->path is
 * BALE_BUNDLE_INDEX_DB); 0 when the document differs from what bale writes in any of this
 * (another format version, "files" absent, repeated, not a list jansson reads, no valid
 * entry for bale/index.db). Then the caller parses it whole, which says what is wrong. */
int bundle_manifest_index_entry(const char *data, size_t len, bale_bundle_file *out);
/* What bale/manifest.json lists for bale/index.db (head read): found in its raw text when
 * it is laid out as bale writes it, else from the whole parse (which says what is wrong).
 * BALE_EVERIFY when it lists nothing for it. */
int bundle_index_entry(bale_bundle_reader *r, const bale_bundle_head *head, bale_bundle_file *out,
                       bale_error **err);

#endif
