/* Bundles (docs/design.md §5, docs/bundle-format.md): one NAME.tar.zst a courier carries
 * into an offline site. A tar in the Zstandard seekable format, members in this order:
 *   bale/manifest.json, bale/manifest.json.sig, bale/index.db, oci-layout, index.json,
 *   blobs/sha256/<hex> (each once, image by image, what a blob refers to before it).
 * Every member starts a new zstd frame, so the head (metadata) is read without touching
 * the layers. bale/manifest.json lists the SHA-256 and size of every other member, so
 * the one signature over its bytes covers the whole bundle. */
#ifndef BALE_BUNDLE_H
#define BALE_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/error.h"
#include "bale/image.h"
#include "bale/key.h"
#include "bale/log.h"

/* Read: 1 to 4 (docs/bundle-format.md, "Versioning"). Written: 2 (a check per zstd
 * frame), 3 for a delta (format 2 whose index.db also lists blobs it leaves out, for the
 * site to have: a reader of format 2 would take them for missing members), 4 for each
 * volume of a bundle cut for media (its members are in index.db's volume_members). */
#define BALE_BUNDLE_FORMAT_VERSION 4
#define BALE_BUNDLE_FORMAT_OLDEST 1
#define BALE_BUNDLE_FORMAT_PLAIN 2
#define BALE_BUNDLE_FORMAT_DELTA 3
#define BALE_BUNDLE_FORMAT_VOLUME 4
/* Volumes of a set: NAME.001.tar.zst to NAME.999.tar.zst. */
#define BALE_BUNDLE_MAX_VOLUMES 999
/* Members (and images) a bundle may list: what a reader holds is bounded by it. */
#define BALE_BUNDLE_MAX_MEMBERS 500000u
#define BALE_BUNDLE_MANIFEST "bale/manifest.json"
#define BALE_BUNDLE_SIGNATURE "bale/manifest.json.sig"
#define BALE_BUNDLE_INDEX_DB "bale/index.db"

/* ---- writing ---- */

/* The images a bundle is written from, read one at a time as the writer needs them (bale
 * export reads them back from where its pull keeps them): load gives image i of n, the
 * caller's to free (bale_image_free). */
typedef struct bale_bundle_images {
	size_t n;
	/* Some images are attachments of others (bale_image's attachment_kind): index.db is
	 * written with its referrers table (schema version 5). */
	bool attachments;
	/* Some images were chosen by an image set's rules (bale_image's rule): index.db
	 * records which (table image_rules, schema version 6). */
	bool rules;
	int (*load)(void *payload, size_t i, bale_image **out, bale_error **err);
	void *payload;
} bale_bundle_images;

/* Calls step on each image of images in turn (i from 0), each loaded, then freed. */
typedef int (*bale_bundle_image_step)(void *payload, size_t i, const bale_image *img,
                                      bale_error **err);
int bale_bundle_images_each(const bale_bundle_images *images, bale_bundle_image_step step,
                            void *payload, bale_error **err);

/* A file a bundle carries besides images (bale export --with-bale: the static bale at
 * "bale/bin/linux-ARCH/bale"): member is its path in the archive, source the file. */
typedef struct bale_bundle_extra {
	const char *member;
	const char *source;
} bale_bundle_extra;

typedef struct bale_bundle_write_options {
	const char *output;   /* NAME.tar.zst; appears only when complete */
	bool force;           /* replace an existing output */
	const bale_key *key;  /* NULL: unsigned bundle */
	int level;            /* zstd level; 0: 3 */
	int threads;          /* zstd workers; 0: one per core */
	const char *blob_dir; /* where configs and layers are: an OCI layout's blobs/sha256 */
	const bale_log *log;
	/* Not NULL while blobs are still arriving in blob_dir (bale export writes as it
	 * downloads): called before a blob is read, returns once it is there, or an error
	 * when it never will be. *checked: this process hashed the file's bytes against the
	 * digest as it wrote them, so the writer copies them without hashing them again. */
	int (*wait_blob)(void *payload, const bale_digest *blob, bool *checked, bale_error **err);
	void *wait_payload;
	/* Not NULL for a delta: true for a layer the site has already (its have-list), which
	 * the bundle then lists as expected at the site instead of carrying it. Indexes,
	 * manifests and configs are always carried. */
	bool (*left_out)(void *payload, const bale_descriptor *layer);
	void *left_out_payload;
	/* Not 0: cut the bundle into volumes of at most this many bytes, each a bundle of
	 * its own, written as output's NAME.001.tar.zst, NAME.002.tar.zst, … (see
	 * bale_bundle_volume_name); the blobs are all read before the first is written. */
	int64_t volume_size;
	/* Carried after the blobs, in every volume of a set, and listed in
	 * bale/manifest.json's "files" (so signed and verified as the head's files are). */
	const bale_bundle_extra *extras;
	size_t n_extras;
} bale_bundle_write_options;

/* A volume size: bytes, or with K, M, G or T (KiB, MiB, GiB, TiB: "700M", "4480M",
 * "4G"), or a medium: cd (700 MiB), dvd (4480 MiB), dvd-dl (8100 MiB), bd25 (23800 MiB),
 * bd50 (47600 MiB). BALE_EUSAGE for anything else or less than 1 MiB. */
int bale_bundle_volume_size_parse(const char *text, int64_t *out, bale_error **err);
/* A blob's member: "blobs/sha256/<hex>", or for part k (1…) of a blob a volume set cut,
 * "blobs/sha256/<hex>.part<k>". */
void bale_bundle_member_path(char *out, size_t size, const bale_digest *blob, int part);
/* The file of volume k (1…) of a set written to output ("DIR/NAME.tar.zst" ->
 * "DIR/NAME.001.tar.zst"; a name without ".tar.zst" gets ".001.tar.zst" appended).
 * malloc'd; NULL when out of memory. */
char *bale_bundle_volume_name(const char *output, int k);

/* Writes a bundle of the images (resolved, their configs and layers pulled into
 * blob_dir). Indexes and manifests come from the images themselves; every blob is
 * hashed again as it is written, but for those wait_blob says were checked as they
 * were downloaded. */
int bale_bundle_write(const bale_bundle_write_options *opts, const bale_bundle_images *images,
                      bale_error **err);

/* ---- reading ---- */

typedef struct bale_bundle_reader bale_bundle_reader;

/* The metadata at the head of a bundle. */
typedef struct bale_bundle_head {
	char *manifest; /* bale/manifest.json, exact bytes (NUL-terminated) */
	size_t manifest_len;
	char *signature; /* bale/manifest.json.sig text, NULL when absent */
	char *index_db;  /* bale/index.db bytes, once bale_bundle_read_index has run */
	size_t index_db_len;
} bale_bundle_head;

typedef enum bale_member_type {
	BALE_MEMBER_FILE,
	BALE_MEMBER_DIR,
	BALE_MEMBER_LINK, /* symbolic or hard link */
	BALE_MEMBER_OTHER /* device, fifo, ... */
} bale_member_type;

typedef struct bale_bundle_member {
	const char *path; /* valid until the next call */
	int64_t size;
	bale_member_type type;
} bale_bundle_member;

int bale_bundle_open(bale_bundle_reader **out, const char *path, bale_error **err);
/* Reads bale/manifest.json and its signature; must be called first. The reader stops
 * at bale/index.db, so its bytes are read only once the signature has been checked.
 * The head belongs to the reader. */
int bale_bundle_read_head(bale_bundle_reader *r, const bale_bundle_head **out, bale_error **err);
/* Reads bale/index.db into the head (after bale_bundle_read_head), once its tar header
 * gives the size bale/manifest.json lists for it: a bigger member is refused before any of
 * it is decompressed. BALE_EVERIFY. */
int bale_bundle_read_index(bale_bundle_reader *r, const bale_bundle_head **out, bale_error **err);
/* The same with the size bale/manifest.json lists, when the caller has it. */
int bale_bundle_read_index_sized(bale_bundle_reader *r, int64_t size, const bale_bundle_head **out,
                                 bale_error **err);

/* ---- bale/manifest.json, typed: what bale verify, bale import and bale ls read of it;
 * its strings belong to the manifest ---- */

/* One image it lists, as the bundle gives it: only types are checked (bale ls shows a
 * bundle before anyone checked it; bale verify holds the names to what bale writes). A
 * field that is absent or not a string is NULL. */
typedef struct bale_bundle_image {
	const char *ref; /* normalized, as docker and containerd name it */
	const char *registry;
	const char *repository;
	const char *digest; /* the root: an index or a manifest */
	const char *media_type;
	int64_t size;                 /* -1 when absent */
	const char *const *platforms; /* carried: "linux/arm64/v8", "unknown" */
	size_t n_platforms;
	const char *const *platforms_left_out;
	size_t n_platforms_left_out;
} bale_bundle_image;

/* A member of "files" (bale/index.db, oci-layout, index.json). */
typedef struct bale_bundle_file {
	const char *path; /* relative, without "." or ".." components */
	bale_digest digest;
	int64_t size;
} bale_bundle_file;

/* A member of "blobs", stored as blobs/sha256/<hex of digest>. */
typedef struct bale_bundle_blob {
	bale_digest digest;
	int64_t size;
	const char *media_type; /* "" when absent */
	const char *kind;       /* index, manifest, config or layer; NULL when absent */
} bale_bundle_blob;

typedef struct bale_bundle_manifest {
	int format_version;    /* BALE_BUNDLE_FORMAT_OLDEST to _VERSION: no other is read */
	const char *bundle_id; /* hex; NULL when absent, as the strings below */
	const char *created;   /* RFC 3339 UTC */
	const char *tool;
	const char *signer; /* key id; NULL for an unsigned bundle */
	const bale_bundle_image *images;
	size_t n_images;
	const bale_bundle_file *files;
	size_t n_files;
	const bale_bundle_blob *blobs;
	size_t n_blobs;
	/* Format 3 (a delta): the blobs left out for the site to have, as "delta" counts them
	 * (index.db lists them); 0 for other formats. */
	int64_t expected_blobs, expected_bytes;
	/* Format 4: this volume's number (1…) and how many the set has; 0 for other formats. */
	int volume, volumes;
} bale_bundle_manifest;

/* Parses bale/manifest.json within the limits of docs/bundle-format.md (its size, the
 * members and images it lists, its JSON values and depth, each counted before it is
 * built) and checks its shape: the format version this bale reads (first: a newer one may
 * differ in the rest), a "files" and a "blobs" list, every entry with a sha256 digest, a
 * size and a safe path. Nothing else is held to anything: that is the signature's and
 * bale verify's work. BALE_EVERIFY naming the file. */
int bale_bundle_manifest_parse(bale_bundle_manifest **out, const char *data, size_t len,
                               bale_error **err);
void bale_bundle_manifest_free(bale_bundle_manifest *m);
/* The entry of "files" for path (the last when it is listed twice), NULL when none. */
const bale_bundle_file *bale_bundle_manifest_file(const bale_bundle_manifest *m, const char *path);
/* The bundle's bale/manifest.json (reading the head when that has not been done), parsed
 * once by bale_bundle_manifest_parse and kept by the reader. Its signature is not
 * checked here: bale_verify_head checks it on the raw bytes before it asks for this. */
int bale_bundle_read_manifest(bale_bundle_reader *r, const bale_bundle_manifest **out,
                              bale_error **err);
/* A member path bale accepts: relative, no "." or ".." components, no empty ones. */
bool bale_bundle_path_is_safe(const char *path);

/* Next member: 1 and *out filled, or 0 at the end of the archive. */
int bale_bundle_next(bale_bundle_reader *r, bale_bundle_member *out, bale_error **err);
/* Data of the current member; *got = 0 at its end. */
int bale_bundle_read(bale_bundle_reader *r, void *buf, size_t len, size_t *got, bale_error **err);

/* Streams the current member (named path) through SHA-256, handing each chunk to copy
 * when it is not NULL, and checks it against want: no byte past want->size, then size
 * and digest. BALE_EVERIFY naming path and both digests on a mismatch. */
typedef int (*bale_member_copy_fn)(void *payload, const void *data, size_t len, bale_error **err);
int bale_bundle_check_member(bale_bundle_reader *r, const char *path, const bale_descriptor *want,
                             bale_member_copy_fn copy, void *payload, bale_error **err);
/* Asks for the whole-file check at the end of the archive: the digest over every
 * compressed byte (bale verify). Readers that skip members (import of some images) do
 * without it: every blob they take is checked against its own digest. */
void bale_bundle_check_whole_file(bale_bundle_reader *r);
/* The digest the bundle records for its compressed data (checked when the whole file
 * is read with bale_bundle_check_whole_file): an id of the exact file for ledgers. */
void bale_bundle_data_digest(const bale_bundle_reader *r, bale_digest *out);
/* ---- reading a part of the members, so that bale verify checks them on every core ---- */

/* Opens path to read the members from decompressed offset `from`, where a frame and (for
 * the part to make sense) a member's tar header start, up to offset `to` (UINT64_MAX: the
 * end of the archive). bale_bundle_open is the part from 0 to the end. BALE_EUSAGE when no
 * frame starts at from. */
int bale_bundle_open_part(bale_bundle_reader **out, const char *path, uint64_t from, uint64_t to,
                          bale_error **err);
/* Ends the part an open reader reads at `to`: bale_bundle_next returns 0 once the members
 * read end there or beyond, without the end-of-archive checks. */
void bale_bundle_stop_at(bale_bundle_reader *r, uint64_t to);
/* Decompressed offset where the members read so far end (header, data and padding of a
 * member read to its end). After bale_bundle_next returned 0 at a stop, it equals the stop
 * when the part's members ended exactly there. */
uint64_t bale_bundle_position(const bale_bundle_reader *r);
/* Holds every frame of the part read so far to the file's frame check (format 2; frames
 * loaded were checked as they were). The last part's frames are checked at the end of the
 * archive when bale_bundle_check_whole_file was asked for. */
int bale_bundle_check_part(bale_bundle_reader *r, bale_error **err);
bool bale_bundle_frame_starts_at(const bale_bundle_reader *r, uint64_t offset);
/* The file's bundle format as its framing says (1 or 2). */
int bale_bundle_format(const bale_bundle_reader *r);
/* Compressed size of the bundle file. */
uint64_t bale_bundle_file_size(const bale_bundle_reader *r);
void bale_bundle_close(bale_bundle_reader *r);

#endif
