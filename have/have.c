/* The have-list itself: a set of blobs (digest, size) and image names, and its file, one
 * JSON value per line (docs/have-list.md) so that a reader takes it line by line however
 * many blobs a site holds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bale/fs.h"
#include "bale/have.h"
#include "bale/json.h"
#include "bale/ref.h"
#include "bale/slots.h"
#include "have/have_private.h"

/* A line holds one image name (at most 4 KiB, as any reference bale takes) or one blob. */
#define LINE_MAX_BYTES ((size_t)8 << 10)
/* More than any site holds; a list past it is refused rather than filling memory. */
#define MAX_ENTRIES ((size_t)10 << 20)

typedef struct have_blob {
	bale_digest digest;
	int64_t size;
} have_blob;

typedef struct have_image {
	char *key; /* "REF DIGEST": an image is listed once per root */
	size_t ref_len;
} have_image;

struct bale_have {
	have_blob *blobs;
	size_t n_blobs, blobs_alloc;
	bale_slots *blob_slots;
	have_image *images;
	size_t n_images, images_alloc;
	bale_slots *image_slots;
	char **from; /* where it was gathered: store specs, bundle files */
	size_t n_from;
	uint64_t bytes;
};

static const char *blob_key(const void *items, size_t pos)
{
	return ((const have_blob *)items)[pos].digest.str;
}

static const char *image_key(const void *items, size_t pos)
{
	return ((const have_image *)items)[pos].key;
}

int bale_have_new(bale_have **out, bale_error **err)
{
	bale_have *h = calloc(1, sizeof(*h));
	int rc = h ? 0 : bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (rc == 0 && (rc = bale_slots_new(&h->blob_slots, blob_key, err)) == 0)
		rc = bale_slots_new(&h->image_slots, image_key, err);
	if (rc < 0) {
		bale_have_free(h);
		return rc;
	}
	*out = h;
	return 0;
}

void bale_have_free(bale_have *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_images; i++)
		free(h->images[i].key);
	for (size_t i = 0; i < h->n_from; i++)
		free(h->from[i]);
	bale_slots_free(h->blob_slots);
	bale_slots_free(h->image_slots);
	free(h->blobs);
	free(h->images);
	free(h->from);
	free(h);
}

static int grow(void **items, size_t *alloc, size_t n, size_t each, bale_error **err)
{
	if (n < *alloc)
		return 0;
	if (n >= MAX_ENTRIES)
		return bale_error_set(err, BALE_EUSAGE, "have-list: more than %zu entries",
		                      MAX_ENTRIES);
	size_t want = *alloc ? *alloc * 2 : 256;
	void *grown = realloc(*items, want * each);
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	*items = grown;
	*alloc = want;
	return 0;
}

int have_add_blob(bale_have *h, const bale_digest *d, int64_t size, bale_error **err)
{
	if (bale_slots_find(h->blob_slots, h->blobs, d->str) != SIZE_MAX)
		return 0;
	int rc = grow((void **)&h->blobs, &h->blobs_alloc, h->n_blobs, sizeof(*h->blobs), err);
	if (rc < 0)
		return rc;
	h->blobs[h->n_blobs] = (have_blob){*d, size};
	if ((rc = bale_slots_put(h->blob_slots, h->blobs, h->n_blobs, err)) < 0)
		return rc;
	h->n_blobs++;
	h->bytes += size > 0 ? (uint64_t)size : 0;
	return 0;
}

int have_add_image(bale_have *h, const char *ref, const bale_digest *root, bale_error **err)
{
	char *key = NULL;
	if (asprintf(&key, "%s %s", ref, root->str) < 0)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	int rc = 0;
	if (bale_slots_find(h->image_slots, h->images, key) != SIZE_MAX)
		goto cleanup;
	if ((rc = grow((void **)&h->images, &h->images_alloc, h->n_images, sizeof(*h->images),
	               err)) < 0)
		goto cleanup;
	h->images[h->n_images] = (have_image){key, strlen(ref)};
	if ((rc = bale_slots_put(h->image_slots, h->images, h->n_images, err)) < 0)
		goto cleanup;
	h->n_images++;
	key = NULL;
cleanup:
	free(key);
	return rc;
}

int have_add_from(bale_have *h, const char *where, bale_error **err)
{
	for (size_t i = 0; i < h->n_from; i++)
		if (strcmp(h->from[i], where) == 0)
			return 0;
	char **grown = realloc(h->from, (h->n_from + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	h->from = grown;
	if (!(h->from[h->n_from] = strdup(where)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	h->n_from++;
	return 0;
}

bool bale_have_blob(const bale_have *h, const bale_digest *d, int64_t size)
{
	size_t i = bale_slots_find(h->blob_slots, h->blobs, d->str);
	return i != SIZE_MAX && h->blobs[i].size == size;
}

size_t bale_have_blob_count(const bale_have *h)
{
	return h->n_blobs;
}

size_t bale_have_image_count(const bale_have *h)
{
	return h->n_images;
}

uint64_t bale_have_bytes(const bale_have *h)
{
	return h->bytes;
}

/* ---- the file ---- */

static int write_line(FILE *f, json_t *v)
{
	int rc = v ? json_dumpf(v, f, JSON_COMPACT) : -1;
	json_decref(v);
	return rc == 0 && fputc('\n', f) != EOF ? 0 : -1;
}

static int write_lines(const bale_have *h, FILE *f)
{
	char created[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *from = json_array();
	for (size_t i = 0; i < h->n_from; i++)
		json_array_append_new(from, json_string(h->from[i]));
	int rc = write_line(f, json_pack("{s:i,s:s,s:s,s:o,s:I,s:I,s:I}", "haveList",
	                                 BALE_HAVE_FORMAT_VERSION, "tool", "bale " BALE_VERSION,
	                                 "created", created, "from", from, "images",
	                                 (json_int_t)h->n_images, "blobs", (json_int_t)h->n_blobs,
	                                 "bytes", (json_int_t)h->bytes));
	for (size_t i = 0; i < h->n_images && rc == 0; i++) {
		const have_image *im = &h->images[i];
		rc = fprintf(f, "{\"image\":") < 0 ? -1 : 0;
		json_t *ref = json_stringn(im->key, im->ref_len);
		if (rc == 0 && (!ref || json_dumpf(ref, f, JSON_ENCODE_ANY) != 0))
			rc = -1;
		json_decref(ref);
		if (rc == 0 && fprintf(f, ",\"digest\":\"%s\"}\n", im->key + im->ref_len + 1) < 0)
			rc = -1;
	}
	for (size_t i = 0; i < h->n_blobs && rc == 0; i++)
		if (fprintf(f, "{\"blob\":\"%s\",\"size\":%lld}\n", h->blobs[i].digest.str,
		            (long long)h->blobs[i].size) < 0)
			rc = -1;
	return rc;
}

int bale_have_write(const bale_have *h, const char *path, bale_error **err)
{
	if (strcmp(path, "-") == 0) {
		if (write_lines(h, stdout) < 0 || fflush(stdout) != 0)
			return bale_error_set_errno(err, BALE_EGENERIC, errno,
			                            "write standard output");
		return 0;
	}
	int fd = -1, rc = 0;
	char *tmp = NULL, *dir = NULL;
	FILE *f = NULL;
	if ((rc = bale_fs_temp_create(path, 0644, BALE_EGENERIC, &fd, &tmp, err)) < 0)
		return rc;
	/* written through a copy of fd: fd keeps the temporary's lock until it is renamed */
	int copy = dup(fd);
	if (copy >= 0 && !(f = fdopen(copy, "w")))
		close(copy);
	if (!f || write_lines(h, f) < 0 || fflush(f) != 0 || fsync(fd) < 0) {
		rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "write %s", tmp);
		goto cleanup;
	}
	if (rename(tmp, path) < 0) {
		rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "rename %s to %s", tmp, path);
		goto cleanup;
	}
	free(tmp);
	tmp = NULL;
	char *slash = (dir = strdup(path)) ? strrchr(dir, '/') : NULL;
	if (slash)
		*slash = '\0';
	rc = bale_fs_fsync_dir(slash ? (*dir ? dir : "/") : ".", err);
cleanup:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
	free(tmp);
	free(dir);
	return rc;
}

/* One line of the file, parsed into the set. */
static int read_entry(bale_have *h, const char *line, size_t len, const char *path, size_t lineno,
                      bale_error **err)
{
	json_t *v = NULL;
	int rc = bale_json_parse(&v, line, len, LINE_MAX_BYTES, "have-list line", err);
	if (rc < 0)
		return bale_error_wrap(err, "%s:%zu", path, lineno);
	const char *blob = json_string_value(json_object_get(v, "blob"));
	const char *image = json_string_value(json_object_get(v, "image"));
	const char *digest = json_string_value(json_object_get(v, "digest"));
	json_t *size = json_object_get(v, "size");
	bale_digest d;
	if (blob && json_is_integer(size) && json_integer_value(size) >= 0) {
		if ((rc = bale_digest_parse(&d, blob, err)) == 0)
			rc = have_add_blob(h, &d, json_integer_value(size), err);
	} else if (image && digest) {
		if ((rc = bale_ref_check_name(image, err)) == 0 &&
		    (rc = bale_digest_parse(&d, digest, err)) == 0)
			rc = have_add_image(h, image, &d, err);
	} else {
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "neither {\"blob\", \"size\"} nor {\"image\", \"digest\"}");
	}
	json_decref(v);
	return rc < 0 ? bale_error_wrap(err, "%s:%zu", path, lineno) : 0;
}

/* The first line: {"haveList": 1, …}. */
static int read_header(bale_have *h, const char *line, size_t len, const char *path,
                       bale_error **err)
{
	json_t *v = NULL;
	int rc = bale_json_parse(&v, line, len, LINE_MAX_BYTES, "have-list header", err);
	if (rc < 0)
		return bale_error_wrap(err, "%s", path);
	json_t *version = json_object_get(v, "haveList");
	if (!json_is_integer(version)) {
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "%s: not a have-list (its first line has no \"haveList\"; "
		                    "make one with bale have)",
		                    path);
	} else if (json_integer_value(version) != BALE_HAVE_FORMAT_VERSION) {
		rc = bale_error_set(err, BALE_EFORMAT,
		                    "%s: have-list format %lld; this bale reads format %d "
		                    "(upgrade bale, or make the list with this one)",
		                    path, (long long)json_integer_value(version),
		                    BALE_HAVE_FORMAT_VERSION);
	}
	json_t *from = json_object_get(v, "from");
	for (size_t i = 0; rc == 0 && i < json_array_size(from); i++)
		if (json_is_string(json_array_get(from, i)))
			rc = have_add_from(h, json_string_value(json_array_get(from, i)), err);
	json_decref(v);
	return rc;
}

int bale_have_read(bale_have *h, const char *path, bale_error **err)
{
	bool in = strcmp(path, "-") == 0;
	FILE *f = in ? stdin : fopen(path, "re");
	if (!f)
		return bale_error_set_errno(err, errno == ENOENT ? BALE_ENOTFOUND : BALE_EUSAGE,
		                            errno, "have-list %s", path);
	const char *name = in ? "standard input" : path;
	/* read into a fixed buffer: a hostile file's endless line costs no memory */
	char *line = malloc(LINE_MAX_BYTES + 2);
	size_t lineno = 0;
	int rc = line ? 0 : bale_error_set(err, BALE_EGENERIC, "out of memory");
	while (rc == 0 && fgets(line, (int)LINE_MAX_BYTES + 2, f)) {
		size_t len = strlen(line);
		lineno++;
		if (len > LINE_MAX_BYTES && line[len - 1] != '\n') {
			rc =
			    bale_error_set(err, BALE_EUSAGE, "%s:%zu: a line longer than %zu bytes",
			                   name, lineno, LINE_MAX_BYTES);
			break;
		}
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (lineno == 1)
			rc = read_header(h, line, len, name, err);
		else if (len > 0)
			rc = read_entry(h, line, len, name, lineno, err);
	}
	if (rc == 0 && ferror(f))
		rc = bale_error_set_errno(err, BALE_EUSAGE, errno, "read %s", name);
	if (rc == 0 && lineno == 0)
		rc = bale_error_set(err, BALE_EUSAGE, "%s: empty, not a have-list", name);
	free(line);
	if (!in)
		fclose(f);
	return rc;
}
