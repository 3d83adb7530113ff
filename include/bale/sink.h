/* The content sink: the one seam between whoever produces image content (the pull
 * engine, a bundle reader) and whoever keeps it (a bundle writer, a node store).
 *
 * A producer opens a blob, streams bytes into it, and commits it only after it has
 * checked the bytes against their digest; the sink then makes it durable under its
 * digest. Blobs are committed children first (layers and configs, then manifests, then
 * indexes), and an image name is set only once all of its content is committed, so a
 * store never shows a name whose content is incomplete. */
#ifndef BALE_SINK_H
#define BALE_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/buf.h"
#include "bale/digest.h"
#include "bale/error.h"

typedef struct bale_descriptor {
	char media_type[128];
	bale_digest digest;
	int64_t size;
} bale_descriptor;

/* Opaque to callers; a sink's operations are in bale/sys/sink.h, for implementations. */
typedef struct bale_sink bale_sink;
typedef struct bale_sink_blob bale_sink_blob; /* one blob being written */

/* *out = true when the sink already holds the blob (the producer skips it). */
int bale_sink_has_blob(bale_sink *sink, const bale_descriptor *desc, bool *out, bale_error **err);
/* Does the sink hold the blob whole? Its bytes re-read and hashed where the sink can be
 * read (an OCI layout, containerd), has_blob otherwise. */
int bale_sink_blob_check(bale_sink *sink, const bale_descriptor *desc, bool *whole,
                         bale_error **err);
/* Opens a blob for writing. The blob belongs to sink: every bale_sink_blob_* call below
 * takes the sink it was opened on, and it ends with exactly one commit or abort. */
int bale_sink_blob_open(bale_sink *sink, const bale_descriptor *desc, bale_sink_blob **out,
                        bale_error **err);
int bale_sink_blob_write(bale_sink *sink, bale_sink_blob *blob, const void *data, size_t len,
                         bale_error **err);
/* Drops what was written so far (a resumed transfer had to start over). */
int bale_sink_blob_rewind(bale_sink *sink, bale_sink_blob *blob, bale_error **err);
/* The producer has verified size and digest; makes the blob durable. Frees blob. */
int bale_sink_blob_commit(bale_sink *sink, bale_sink_blob *blob, bale_error **err);
/* Discards the blob; nothing of it remains. Frees blob. */
void bale_sink_blob_abort(bale_sink *sink, bale_sink_blob *blob);
/* Names an image: ref (normalized) -> root descriptor (index or manifest). */
int bale_sink_set_name(bale_sink *sink, const char *ref, const bale_descriptor *root,
                       bale_error **err);
/* Makes every name set so far visible at once. */
int bale_sink_commit(bale_sink *sink, bale_error **err);
/* Frees the sink (NULL: nothing). */
void bale_sink_free(bale_sink *sink);

/* Writes a small blob already verified and held in memory, unless the sink has it. */
int bale_sink_put_bytes(bale_sink *sink, const bale_descriptor *desc, const void *data, size_t len,
                        bale_error **err);
/* The bytes of a small blob the sink holds, checked against desc: BALE_ENOTFOUND when it
 * does not hold it, cannot be read, or is NULL. */
int bale_sink_read(bale_sink *sink, const bale_descriptor *desc, bale_buf *out, bale_error **err);
/* The image named ref needs this blob: called before the blob is offered, for every
 * image that needs it (a registry keeps blobs per repository; other sinks do nothing). */
int bale_sink_blob_for(bale_sink *sink, const bale_descriptor *desc, const char *ref,
                       bale_error **err);
/* Traits of a sink, for the producers that act on them. */
/* Lands each image on its own (containerd): a commit may fail for some images and name
 * the others (bale_sink_image_error tells which); other sinks name all or none. */
#define BALE_SINK_LANDS_EACH 1u
/* Unpacks what it takes (containerd): it needs every layer of a manifest, foreign ones
 * too. */
#define BALE_SINK_UNPACKS 2u
/* Keeps manifests that point at their foreign layers' urls and never takes those layers,
 * as the registry they came from did (a registry store). */
#define BALE_SINK_LEAVES_FOREIGN 4u

/* The sink's BALE_SINK_* traits; 0 for a NULL sink. */
unsigned bale_sink_traits(const bale_sink *sink);
/* After a commit that failed on a BALE_SINK_LANDS_EACH sink: why the image named ref did
 * not land, or NULL when it did (or the sink is not one of these). */
const bale_error *bale_sink_image_error(const bale_sink *sink, const char *ref);
/* Whether the sink can tell its free space; a producer that cannot use the answer
 * otherwise skips the work of counting what it would need. */
bool bale_sink_tells_space(const bale_sink *sink);
/* The bytes the sink can still take (the free space of the file system it writes to);
 * *where names it. UINT64_MAX and *where = NULL when the sink cannot tell. */
int bale_sink_space(bale_sink *sink, uint64_t *avail, const char **where, bale_error **err);
/* Refuses, before anything is written, `need` more bytes than the sink has room for
 * (BALE_ESTORE naming where, what needs them, and both sizes). A sink that cannot tell
 * (no space op) takes anything. */
int bale_sink_check_space(bale_sink *sink, uint64_t need, const char *what, bale_error **err);

#endif
