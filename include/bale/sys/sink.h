/* The content sink's operations, for code that implements a sink (a node store, the
 * export's arrivals sink, a test double), not for code that only feeds one: callers go
 * through the bale_sink_* functions of bale/sink.h, which also know which operations are
 * optional. An implementation embeds struct bale_sink first in its own struct, points
 * ops at a static table, and casts back in each operation. */
#ifndef BALE_SYS_SINK_H
#define BALE_SYS_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/buf.h"
#include "bale/error.h"
#include "bale/sink.h"

typedef struct bale_sink_ops {
	/* *out = true when the sink already holds the blob (the producer skips it). */
	int (*has_blob)(bale_sink *sink, const bale_descriptor *desc, bool *out, bale_error **err);
	int (*blob_open)(bale_sink *sink, const bale_descriptor *desc, bale_sink_blob **out,
	                 bale_error **err);
	int (*blob_write)(bale_sink_blob *blob, const void *data, size_t len, bale_error **err);
	/* Drops what was written so far (a resumed transfer had to start over). */
	int (*blob_rewind)(bale_sink_blob *blob, bale_error **err);
	/* The producer has verified size and digest; make the blob durable. Frees blob. */
	int (*blob_commit)(bale_sink_blob *blob, bale_error **err);
	/* Discards the blob; nothing of it remains. Frees blob. */
	void (*blob_abort)(bale_sink_blob *blob);
	/* Names an image: ref (normalized) -> root descriptor (index or manifest). */
	int (*set_name)(bale_sink *sink, const char *ref, const bale_descriptor *root,
	                bale_error **err);
	/* Makes every name set so far visible at once. */
	int (*commit)(bale_sink *sink, bale_error **err);
	void (*free)(bale_sink *sink);
	/* Optional: re-reads a blob the sink holds and hashes it; *whole when it holds it
	 * with desc's size and digest. Without it, has_blob answers (a registry, which
	 * checks what it is given). */
	int (*blob_check)(bale_sink *sink, const bale_descriptor *desc, bool *whole,
	                  bale_error **err);
	/* Optional (NULL when the sink cannot be read): the bytes of a small blob the sink
	 * holds, checked against desc. BALE_ENOTFOUND when it does not hold it. */
	int (*blob_read)(bale_sink *sink, const bale_descriptor *desc, bale_buf *out,
	                 bale_error **err);
	/* Optional: the image named ref needs this blob. Called before the blob is offered,
	 * for every image that needs it: a registry keeps blobs per repository. */
	int (*blob_for)(bale_sink *sink, const bale_descriptor *desc, const char *ref,
	                bale_error **err);
	/* Optional: the bytes the sink can still take (the free space of the file system it
	 * writes to), so a producer refuses up front what would not fit; *where names it. */
	int (*space)(bale_sink *sink, uint64_t *avail, const char **where, bale_error **err);
	/* What kind of keeper it is: BALE_SINK_* traits (sink.h). */
	unsigned traits;
	/* Optional, for BALE_SINK_LANDS_EACH: after a commit that failed, why the image named
	 * ref did not land, or NULL when it did. The error belongs to the sink. */
	const bale_error *(*image_error)(const bale_sink *sink, const char *ref);
} bale_sink_ops;

struct bale_sink {
	const bale_sink_ops *ops;
};

#endif
