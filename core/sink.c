#include "bale/sink.h"

/* Writes a small, already verified blob (a manifest or config held in memory). */
int bale_sink_put_bytes(bale_sink *sink, const bale_descriptor *desc, const void *data, size_t len,
                        bale_error **err)
{
	bool have = false;
	bale_sink_blob *blob = NULL;
	int rc = sink->ops->has_blob(sink, desc, &have, err);
	if (rc < 0 || have)
		return rc;
	if ((rc = sink->ops->blob_open(sink, desc, &blob, err)) < 0)
		return rc;
	if ((rc = sink->ops->blob_write(blob, data, len, err)) < 0) {
		sink->ops->blob_abort(blob);
		return rc;
	}
	return sink->ops->blob_commit(blob, err);
}

int bale_sink_blob_for(bale_sink *sink, const bale_descriptor *desc, const char *ref,
                       bale_error **err)
{
	return sink->ops->blob_for ? sink->ops->blob_for(sink, desc, ref, err) : 0;
}

int bale_sink_read(bale_sink *sink, const bale_descriptor *desc, bale_buf *out, bale_error **err)
{
	if (!sink || !sink->ops->blob_read)
		return BALE_ENOTFOUND;
	return sink->ops->blob_read(sink, desc, out, err);
}

void bale_sink_free(bale_sink *sink)
{
	if (sink)
		sink->ops->free(sink);
}
