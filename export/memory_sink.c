#include "export/memory_sink.h"

#include <stdlib.h>

struct bale_sink_blob {
	bale_digest digest;
	bale_buf buf;
	bool committed;
	struct bale_sink_blob *next;
};

typedef struct memory_sink {
	bale_sink base;
	size_t cap;
	bale_sink_blob *blobs;
} memory_sink;

static int mem_has(bale_sink *s, const bale_descriptor *d, bool *out, bale_error **err)
{
	*out = memory_sink_get(s, &d->digest) != NULL;
	return 0;
}

static int mem_open(bale_sink *s, const bale_descriptor *d, bale_sink_blob **out, bale_error **err)
{
	memory_sink *m = (memory_sink *)s;
	bale_sink_blob *b = calloc(1, sizeof(*b));
	if (!b)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	b->digest = d->digest;
	bale_buf_init(&b->buf, m->cap, "image config");
	b->next = m->blobs;
	m->blobs = b;
	*out = b;
	return 0;
}

static int mem_write(bale_sink_blob *b, const void *data, size_t len, bale_error **err)
{
	return bale_buf_append(&b->buf, data, len, err);
}

static int mem_rewind(bale_sink_blob *b, bale_error **err)
{
	bale_buf_reset(&b->buf);
	return 0;
}

static int mem_commit(bale_sink_blob *b, bale_error **err)
{
	b->committed = true;
	return 0;
}

/* The entry stays on the list, uncommitted and empty: freed with the sink. */
static void mem_abort(bale_sink_blob *b)
{
	bale_buf_free(&b->buf);
}

static int mem_set_name(bale_sink *s, const char *ref, const bale_descriptor *root,
                        bale_error **err)
{
	return 0;
}

static int mem_commit_all(bale_sink *s, bale_error **err)
{
	return 0;
}

static void mem_free(bale_sink *s)
{
	memory_sink *m = (memory_sink *)s;
	for (bale_sink_blob *b = m->blobs, *next; b; b = next) {
		next = b->next;
		bale_buf_free(&b->buf);
		free(b);
	}
	free(m);
}

static const bale_sink_ops memory_ops = {
    .has_blob = mem_has,
    .blob_open = mem_open,
    .blob_write = mem_write,
    .blob_rewind = mem_rewind,
    .blob_commit = mem_commit,
    .blob_abort = mem_abort,
    .set_name = mem_set_name,
    .commit = mem_commit_all,
    .free = mem_free,
};

int memory_sink_new(bale_sink **out, size_t cap, bale_error **err)
{
	memory_sink *m = calloc(1, sizeof(*m));
	if (!m)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	m->base.ops = &memory_ops;
	m->cap = cap;
	*out = &m->base;
	return 0;
}

const bale_buf *memory_sink_get(bale_sink *s, const bale_digest *digest)
{
	memory_sink *m = (memory_sink *)s;
	for (bale_sink_blob *b = m->blobs; b; b = b->next)
		if (b->committed && bale_digest_equal(&b->digest, digest))
			return &b->buf;
	return NULL;
}
