/* Resolved images on disk (see pull/pull_private.h). An image is written as its bale_image
 * record, its manifests' records, each manifest's arrays, its indexes' records and its
 * three names, in that order. The records keep the pointers they had in memory: only
 * whether one was NULL is read back, and the array or name it pointed to follows. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bale/buf.h"
#include "bale/fs.h"
#include "pull/pull_private.h"

/* The largest image written: an index of thousands of manifests, each of many layers. */
#define SPILL_CAP_IMAGE (256u << 20)

struct pull_spill {
	int fd;
	pthread_mutex_t mu; /* guards end */
	uint64_t end;
};

int pull_spill_new(pull_spill **out, bale_error **err)
{
	pull_spill *s = calloc(1, sizeof(*s));
	if (!s)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	int rc =
	    bale_fs_temp_unnamed(&s->fd, BALE_EGENERIC, "temporary file for resolved images", err);
	if (rc < 0) {
		free(s);
		return rc;
	}
	pthread_mutex_init(&s->mu, NULL);
	*out = s;
	return 0;
}

void pull_spill_free(pull_spill *s)
{
	if (!s)
		return;
	close(s->fd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int put_array(bale_buf *b, const void *array, size_t n, size_t size, bale_error **err)
{
	return array && n ? bale_buf_append(b, array, n * size, err) : 0;
}

static int put_name(bale_buf *b, const char *name, bale_error **err)
{
	return name ? bale_buf_append(b, name, strlen(name) + 1, err) : 0;
}

static int encode(bale_buf *b, const bale_image *img, bale_error **err)
{
	int rc = bale_buf_append(b, img, sizeof(*img), err);
	if (rc == 0)
		rc = put_array(b, img->manifests, img->n_manifests, sizeof(*img->manifests), err);
	for (size_t i = 0; i < img->n_manifests && rc == 0; i++) {
		const bale_image_manifest *m = &img->manifests[i];
		if ((rc = put_array(b, m->layers, m->n_layers, sizeof(*m->layers), err)) < 0 ||
		    (rc = put_array(b, m->positions, m->n_layers, sizeof(*m->positions), err)) <
		        0 ||
		    (rc = put_array(b, m->foreign, m->n_foreign, sizeof(*m->foreign), err)) < 0)
			break;
		rc = put_array(b, m->foreign_positions, m->n_foreign, sizeof(*m->foreign_positions),
		               err);
	}
	if (rc == 0)
		rc = put_array(b, img->indexes, img->n_indexes, sizeof(*img->indexes), err);
	if (rc == 0 && (rc = put_name(b, img->ref, err)) == 0 &&
	    (rc = put_name(b, img->domain, err)) == 0)
		rc = put_name(b, img->repository, err);
	return rc;
}

int pull_spill_put(pull_spill *s, const bale_image *img, pull_spilled *at, bale_error **err)
{
	bale_buf b;
	bale_buf_init(&b, SPILL_CAP_IMAGE, "resolved image");
	int rc = encode(&b, img, err);
	if (rc == 0) {
		pthread_mutex_lock(&s->mu);
		*at = (pull_spilled){.offset = s->end, .size = b.len};
		s->end += b.len;
		pthread_mutex_unlock(&s->mu);
		size_t done = 0;
		while (done < b.len) {
			ssize_t w =
			    pwrite(s->fd, b.data + done, b.len - done, (off_t)(at->offset + done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				rc = bale_error_set_errno(
				    err, BALE_EGENERIC, w < 0 ? errno : ENOSPC,
				    "%s: write to the temporary file of resolved "
				    "images (TMPDIR)",
				    img->ref);
				break;
			}
			done += (size_t)w;
		}
	}
	free(b.data); /* descriptors and names, nothing secret */
	return rc;
}

/* Reads the bytes of an image back, one array or name at a time. */
typedef struct cursor {
	const char *at;
	size_t left;
	bool failed; /* out of memory, or the record ends before what it says follows */
} cursor;

/* A malloc'd copy of the next n * size bytes when present; NULL for none. */
static void *take(cursor *c, bool present, size_t n, size_t size)
{
	if (!present || n == 0 || c->failed)
		return NULL;
	size_t len = n * size;
	void *copy = len / size == n && len <= c->left ? malloc(len) : NULL;
	if (!copy) {
		c->failed = true;
		return NULL;
	}
	memcpy(copy, c->at, len);
	c->at += len;
	c->left -= len;
	return copy;
}

static char *take_name(cursor *c, bool present)
{
	const char *end = present && !c->failed ? memchr(c->at, '\0', c->left) : NULL;
	c->failed |= present && !end;
	return end ? take(c, true, (size_t)(end - c->at) + 1, 1) : NULL;
}

/* Makes the image's pointers anew, from what follows its record. Each pointer is set
 * (to a copy or NULL) before the image counts what it points to, so bale_image_free
 * frees what was made when c->failed says the rest was not. */
static void decode(cursor *c, bale_image *img)
{
	bool has_indexes = img->indexes, has_ref = img->ref, has_domain = img->domain,
	     has_repository = img->repository;
	size_t n = img->n_manifests, n_indexes = img->n_indexes;
	bale_image_manifest *ms = take(c, img->manifests, n, sizeof(*ms));
	img->manifests = ms;
	img->n_manifests = img->n_indexes = 0;
	img->indexes = NULL;
	img->ref = img->domain = img->repository = NULL;
	for (size_t i = 0; ms && i < n; i++) {
		bale_image_manifest *m = &ms[i];
		bool layers = m->layers, positions = m->positions, foreign = m->foreign,
		     foreign_positions = m->foreign_positions;
		m->layers = take(c, layers, m->n_layers, sizeof(*m->layers));
		m->positions = take(c, positions, m->n_layers, sizeof(*m->positions));
		m->foreign = take(c, foreign, m->n_foreign, sizeof(*m->foreign));
		m->foreign_positions =
		    take(c, foreign_positions, m->n_foreign, sizeof(*m->foreign_positions));
		img->n_manifests = i + 1;
	}
	img->indexes = take(c, has_indexes, n_indexes, sizeof(*img->indexes));
	img->n_indexes = img->indexes ? n_indexes : 0;
	img->ref = take_name(c, has_ref);
	img->domain = take_name(c, has_domain);
	img->repository = take_name(c, has_repository);
}

int pull_spill_get(pull_spill *s, const pull_spilled *at, bale_image **out, bale_error **err)
{
	char *bytes = malloc(at->size ? at->size : 1);
	bale_image *img = NULL;
	size_t done = 0;
	int rc = 0;
	while (bytes && done < at->size) {
		ssize_t r = pread(s->fd, bytes + done, at->size - done, (off_t)(at->offset + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = bale_error_set_errno(
			    err, BALE_EGENERIC, r < 0 ? errno : EIO,
			    "read back a resolved image from its temporary file");
			goto cleanup;
		}
		done += (size_t)r;
	}
	if (!bytes || at->size < sizeof(*img) || !(img = malloc(sizeof(*img))))
		goto failed;
	memcpy(img, bytes, sizeof(*img));
	cursor c = {.at = bytes + sizeof(*img), .left = at->size - sizeof(*img)};
	decode(&c, img);
	if (c.failed || !img->ref)
		goto failed;
	*out = img;
	img = NULL;
	goto cleanup;
failed: /* the file is this process's own: what it holds is whole unless memory ran out */
	rc = bale_error_set(err, BALE_EGENERIC, "read back a resolved image: out of memory");
cleanup:
	bale_image_free(img);
	free(bytes);
	return rc;
}
