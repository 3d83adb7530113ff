#include "bale/sink.h"

#include <stdio.h>

#include "bale/sys/sink.h"

int bale_sink_has_blob(bale_sink *sink, const bale_descriptor *desc, bool *out, bale_error **err)
{
	return sink->ops->has_blob(sink, desc, out, err);
}

int bale_sink_blob_check(bale_sink *sink, const bale_descriptor *desc, bool *whole,
                         bale_error **err)
{
	if (!sink->ops->blob_check)
		return sink->ops->has_blob(sink, desc, whole, err);
	return sink->ops->blob_check(sink, desc, whole, err);
}

int bale_sink_blob_open(bale_sink *sink, const bale_descriptor *desc, bale_sink_blob **out,
                        bale_error **err)
{
	return sink->ops->blob_open(sink, desc, out, err);
}

int bale_sink_blob_write(bale_sink *sink, bale_sink_blob *blob, const void *data, size_t len,
                         bale_error **err)
{
	return sink->ops->blob_write(blob, data, len, err);
}

int bale_sink_blob_rewind(bale_sink *sink, bale_sink_blob *blob, bale_error **err)
{
	return sink->ops->blob_rewind(blob, err);
}

int bale_sink_blob_commit(bale_sink *sink, bale_sink_blob *blob, bale_error **err)
{
	return sink->ops->blob_commit(blob, err);
}

void bale_sink_blob_abort(bale_sink *sink, bale_sink_blob *blob)
{
	sink->ops->blob_abort(blob);
}

int bale_sink_set_name(bale_sink *sink, const char *ref, const bale_descriptor *root,
                       bale_error **err)
{
	return sink->ops->set_name(sink, ref, root, err);
}

int bale_sink_commit(bale_sink *sink, bale_error **err)
{
	return sink->ops->commit(sink, err);
}

/* Writes a small, already verified blob (a manifest or config held in memory). */
int bale_sink_put_bytes(bale_sink *sink, const bale_descriptor *desc, const void *data, size_t len,
                        bale_error **err)
{
	bool have = false;
	bale_sink_blob *blob = NULL;
	int rc = bale_sink_has_blob(sink, desc, &have, err);
	if (rc < 0 || have)
		return rc;
	if ((rc = bale_sink_blob_open(sink, desc, &blob, err)) < 0)
		return rc;
	if ((rc = bale_sink_blob_write(sink, blob, data, len, err)) < 0) {
		bale_sink_blob_abort(sink, blob);
		return rc;
	}
	return bale_sink_blob_commit(sink, blob, err);
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

unsigned bale_sink_traits(const bale_sink *sink)
{
	return sink ? sink->ops->traits : 0;
}

const bale_error *bale_sink_image_error(const bale_sink *sink, const char *ref)
{
	return sink && sink->ops->image_error ? sink->ops->image_error(sink, ref) : NULL;
}

bool bale_sink_tells_space(const bale_sink *sink)
{
	return sink && sink->ops->space;
}

int bale_sink_space(bale_sink *sink, uint64_t *avail, const char **where, bale_error **err)
{
	if (!bale_sink_tells_space(sink)) {
		*avail = UINT64_MAX;
		*where = NULL;
		return 0;
	}
	return sink->ops->space(sink, avail, where, err);
}

/* "12.3 GB" (decimal units, as df -H and the CLI show sizes). */
static const char *human(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = {"bytes", "kB", "MB", "GB", "TB", "PB", "EB"};
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1000 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu bytes", (unsigned long long)bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

int bale_sink_check_space(bale_sink *sink, uint64_t need, const char *what, bale_error **err)
{
	uint64_t avail = 0;
	const char *where = NULL;
	char a[32], b[32];
	if (!bale_sink_tells_space(sink) || need == 0)
		return 0;
	int rc = bale_sink_space(sink, &avail, &where, err);
	if (rc < 0 || need <= avail)
		return rc;
	return bale_error_set(err, BALE_ESTORE,
	                      "%s need %s (%llu bytes) but %s has %s free: refused before a "
	                      "byte is written; free some space or choose another place",
	                      what, human(a, sizeof(a), need), (unsigned long long)need,
	                      where ? where : "the destination", human(b, sizeof(b), avail));
}
