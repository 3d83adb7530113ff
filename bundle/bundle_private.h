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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/bundle.h"

/* A blob the writer carries: what writing it needs of its descriptor. */
typedef struct bundle_blob {
	bale_digest digest;
	int64_t size;
	bool precompressed; /* gzip or zstd already: framed at a fast level */
} bundle_blob;

/* One blob member of a bundle file: a whole blob, or a part of one (a volume set cuts a
 * blob larger than a volume into parts, docs/bundle-format.md "Volumes"). */
typedef struct bundle_member {
	const bundle_blob *blob;
	int part;           /* 0: the whole blob; k >= 1: its k-th part */
	int64_t offset;     /* of the part in the blob */
	int64_t size;       /* of the member's data */
	bale_digest digest; /* of these bytes (a whole blob's is its own) */
	bool ready;         /* an index or manifest: in blob_dir from the start */
	bool checked;       /* hashed as this process downloaded it (wait_blob said so) */
	int volume;         /* 1… in a volume set, 0 in a single bundle */
	size_t image;       /* the first image that uses the blob (packing keeps images whole) */
} bundle_member;

/* The most bytes a member of size data bytes takes in a bundle file, framing included:
 * what a volume's budget is counted in. */
int64_t bundle_member_bound(int64_t size);

/* Cuts the members (whole blobs in bundle order) into volumes of at most budget bytes of
 * bound each: an image's blobs stay in one volume when they fit in one, and a blob larger
 * than a volume is cut into parts (their digests read from blob_dir). *out (malloc'd)
 * gets the members in volume order, *volumes how many. */
int bundle_volumes_cut(const bundle_member *in, size_t n, int64_t budget, const char *blob_dir,
                       bundle_member **out, size_t *n_out, int *volumes, bale_error **err);

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
