/* A sink that keeps small verified blobs (image configs) in memory, by digest, so the
 * pull engine can read them and hand them on without fetching them twice. */
#ifndef BALE_MEMORY_SINK_H
#define BALE_MEMORY_SINK_H

#include "bale/buf.h"
#include "bale/sink.h"

/* Each blob is refused past cap bytes. */
int memory_sink_new(bale_sink **out, size_t cap, bale_error **err);
/* The committed bytes of a blob, or NULL. */
const bale_buf *memory_sink_get(bale_sink *sink, const bale_digest *digest);

#endif
