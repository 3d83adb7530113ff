/* Writing a bundle: the plan of members, index.db, index.json, the signed
 * bale/manifest.json, then the tar members, each in its own zstd frames. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bale/bundle.h"
#include "bale/fs.h"
#include "bale/hasher.h"
#include "bale/index_db.h"
#include "bale/json.h"
#include "bale/slots.h"
#include "bale/manifest.h"
#include "bale/zst.h"
#include "bundle/bundle_private.h"

#define COPY_CHUNK (1u << 20)

/* The writer holds no image: a plan of thousands of blobs holds what writing each needs. */
typedef struct planned_blob {
	bundle_blob blob;
	bool ready;    /* an index or manifest: in blob_dir from the start, never waited for */
	bool expected; /* a layer a delta leaves out: the site has it */
	size_t image;  /* the first image that uses it */
} planned_blob;

typedef struct plan {
	planned_blob *blobs;
	size_t n, alloc;
	bale_slots *by_digest;                 /* blobs */
	size_t n_expected;                     /* of the blobs, expected at the site */
	int64_t expected_bytes;                /* their sizes */
	const bale_bundle_write_options *opts; /* left_out */
	size_t image;                          /* the image being planned */
} plan;

static const char *planned_digest(const void *items, size_t pos)
{
	return ((const planned_blob *)items)[pos].blob.digest.str;
}

static bool precompressed(const char *media_type)
{
	const char *plus = strrchr(media_type, '+');
	const char *dot = strrchr(media_type, '.');
	const char *suffix = plus ? plus + 1 : dot ? dot + 1 : "";
	return strcmp(suffix, "gzip") == 0 || strcmp(suffix, "zstd") == 0;
}

static int plan_add(plan *p, const bale_descriptor *d, const char *kind, bool ready,
                    bale_error **err)
{
	int rc = 0;
	if (!p->by_digest && (rc = bale_slots_new(&p->by_digest, planned_digest, err)) < 0)
		return rc;
	if (bale_slots_find(p->by_digest, p->blobs, d->digest.str) != SIZE_MAX)
		return 0; /* shared by several images: carried once */
	if (p->n == p->alloc) {
		size_t want = p->alloc ? p->alloc * 2 : 64;
		planned_blob *grown = realloc(p->blobs, want * sizeof(*grown));
		if (!grown)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		p->blobs = grown;
		p->alloc = want;
	}
	bool expected = strcmp(kind, BUNDLE_KIND_LAYER) == 0 && p->opts->left_out &&
	                p->opts->left_out(p->opts->left_out_payload, d);
	p->blobs[p->n] = (planned_blob){.blob = {.digest = d->digest,
	                                         .size = d->size,
	                                         .precompressed = precompressed(d->media_type)},
	                                .ready = ready,
	                                .expected = expected,
	                                .image = p->image};
	p->n_expected += expected;
	p->expected_bytes += expected ? d->size : 0;
	return bale_slots_put(p->by_digest, p->blobs, p->n++, err);
}

/* Image by image, each blob with the first image that uses it, and what a blob refers to
 * before it: an image's configs and layers, then its manifests, then its indexes,
 * deepest first, and its root last. A reader that streams the bundle (an import) has
 * each image whole as soon as its root goes by, so it can land that image while the next
 * ones stream; an export writes the blobs in the order it fetches them. A layer the site
 * has already (a delta's left_out) is planned as expected: listed, not carried. */
static int plan_image(void *payload, size_t i, const bale_image *img, bale_error **err)
{
	plan *p = payload;
	bool index = bale_manifest_type_is_index(img->root.media_type);
	int rc = 0;
	p->image = i;
	for (size_t j = 0; j < img->n_manifests && rc == 0; j++) {
		const bale_image_manifest *m = &img->manifests[j];
		if (!m->selected)
			continue;
		rc = plan_add(p, &m->config, BUNDLE_KIND_CONFIG, false, err);
		for (size_t k = 0; k < m->n_layers && rc == 0; k++)
			rc = plan_add(p, &m->layers[k], BUNDLE_KIND_LAYER, false, err);
		for (size_t k = 0; m->foreign_carried && k < m->n_foreign && rc == 0; k++)
			rc = plan_add(p, &m->foreign[k], BUNDLE_KIND_LAYER, false, err);
		if (rc == 0 && index)
			rc = plan_add(p, &m->desc, BUNDLE_KIND_MANIFEST, true, err);
	}
	for (size_t j = img->n_indexes; j-- > 0 && rc == 0;)
		if (img->indexes[j].selected)
			rc = plan_add(p, &img->indexes[j].desc, BUNDLE_KIND_INDEX, true, err);
	if (rc == 0)
		rc = plan_add(p, &img->root, index ? BUNDLE_KIND_INDEX : BUNDLE_KIND_MANIFEST, true,
		              err);
	return rc;
}

int bale_bundle_images_each(const bale_bundle_images *images, bale_bundle_image_step step,
                            void *payload, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < images->n && rc == 0; i++) {
		bale_image *img = NULL;
		if ((rc = images->load(images->payload, i, &img, err)) == 0)
			rc = step(payload, i, img, err);
		bale_image_free(img);
	}
	return rc;
}

static int plan_blobs(plan *p, const bale_bundle_images *images, bale_error **err)
{
	size_t n = images->n;
	int rc = bale_bundle_images_each(images, plan_image, p, err);
	/* what a reader refuses (bundle/reader.c), a writer does not write */
	if (rc == 0 && (p->n > BUNDLE_MAX_MEMBERS || n > BUNDLE_MAX_MEMBERS))
		rc =
		    bale_error_set(err, BALE_EUSAGE,
		                   "%zu images with %zu blobs: more than the %u a bundle may hold; "
		                   "split them over several bundles",
		                   n, p->n, BUNDLE_MAX_MEMBERS);
	return rc;
}

static void utc_now(char out[32], time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int random_id(char out[33], bale_error **err)
{
	unsigned char raw[16];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return bale_error_set(err, BALE_EGENERIC, "no randomness for a bundle id");
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

static json_t *file_entry(const char *path, const bale_digest *d, int64_t size)
{
	return json_pack("{s:s,s:s,s:I}", "path", path, "digest", d->str, "size", (json_int_t)size);
}

typedef struct head_files {
	bale_digest index_db_digest;
	int64_t index_db_size;
	char *index_json_path; /* written beside the output, as index.db is */
	bale_digest index_json_digest;
	int64_t index_json_size;
	bale_descriptor *extras; /* of opts->extras, hashed before the bundle is started */
} head_files;

static const char oci_layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

/* ---- index.json, written as jansson would print the whole document, one entry at a
 * time into a file beside the output: neither a tree of every image (about 1 KiB each in
 * jansson) nor its text (about 300 bytes each) is held ---- */

/* Prints v (taken) as json_dumps prints it with flags, inside a value nested depth levels
 * deep in a document printed with JSON_INDENT(2): every line after its first indented as
 * its place there. */
static int put_json(FILE *f, json_t *v, size_t flags, int depth)
{
	char *text = v ? json_dumps(v, flags) : NULL;
	json_decref(v);
	if (!text)
		return -1;
	for (const char *c = text; *c; c++) {
		fputc(*c, f);
		if (*c == '\n')
			fprintf(f, "%*s", 2 * depth, "");
	}
	free(text);
	return 0;
}

/* bale/manifest.json of format 2: what the signature covers, and the digest and size of
 * every other member but the blobs, which bale/index.db lists (with their archive order).
 * Its size does not grow with the images. A delta is format 3: format 2 and how much it
 * leaves for the site to have. */
static int build_manifest(char **out, size_t *len, const bale_bundle_write_options *opts,
                          const plan *p, const char *bundle_id, const char *created,
                          const head_files *h, int volume, int volumes, bale_error **err)
{
	bale_digest layout;
	bale_digest_of(&layout, oci_layout, sizeof(oci_layout) - 1);
	json_t *root = json_object();
	json_object_set_new(root, "formatVersion",
	                    json_integer(volume          ? BALE_BUNDLE_FORMAT_VOLUME
	                                 : p->n_expected ? BALE_BUNDLE_FORMAT_DELTA
	                                                 : BALE_BUNDLE_FORMAT_PLAIN));
	json_object_set_new(root, "bundleId", json_string(bundle_id));
	json_object_set_new(root, "created", json_string(created));
	json_object_set_new(root, "tool", json_string("bale " BALE_VERSION));
	json_object_set_new(root, "signer",
	                    opts->key ? json_string(bale_key_id(opts->key)) : json_null());
	json_t *files = json_pack(
	    "[o,o,o]", file_entry(BALE_BUNDLE_INDEX_DB, &h->index_db_digest, h->index_db_size),
	    file_entry("oci-layout", &layout, sizeof(oci_layout) - 1),
	    file_entry("index.json", &h->index_json_digest, h->index_json_size));
	for (size_t i = 0; i < opts->n_extras; i++)
		json_array_append_new(files, file_entry(opts->extras[i].member,
		                                        &h->extras[i].digest, h->extras[i].size));
	json_object_set_new(root, "files", files);
	if (volume)
		json_object_set_new(root, "volume",
		                    json_pack("{s:i,s:i}", "number", volume, "count", volumes));
	if (p->n_expected)
		json_object_set_new(root, "delta",
		                    json_pack("{s:I,s:I}", "expectedBlobs",
		                              (json_int_t)p->n_expected, "expectedBytes",
		                              (json_int_t)p->expected_bytes));
	char *text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	size_t tl = text ? strlen(text) : 0;
	/* A trailing newline: the file reads well with cat and signs the same everywhere. */
	char *withnl = text ? realloc(text, tl + 2) : NULL;
	if (!withnl) {
		free(text);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	withnl[tl] = '\n';
	withnl[tl + 1] = '\0';
	*out = withnl;
	*len = tl + 1;
	return 0;
}

/* index.json of the OCI layout at path: one descriptor per image, named as containerd
 * names. */
static int index_json_entry(void *payload, size_t i, const bale_image *img, bale_error **err)
{
	FILE *f = payload;
	json_t *d = json_pack("{s:s,s:s,s:I}", "mediaType", img->root.media_type, "digest",
	                      img->root.digest.str, "size", (json_int_t)img->root.size);
	json_object_set_new(d, "annotations",
	                    json_pack("{s:s,s:s}", "io.containerd.image.name", img->ref,
	                              "org.opencontainers.image.ref.name", img->ref));
	if (i)
		fputc(',', f);
	return put_json(f, d, JSON_COMPACT, 0) < 0
	           ? bale_error_set(err, BALE_EGENERIC, "index.json: out of memory")
	           : 0;
}

static int build_index_json(const char *path, const bale_bundle_images *images, bale_error **err)
{
	FILE *f = fopen(path, "wxe");
	if (!f)
		return bale_error_set_errno(err, BALE_EGENERIC, errno, "create %s", path);
	/* as bale_json_dump prints {"schemaVersion": 2, "manifests": [...]} */
	fputs("{\"schemaVersion\":2,\"manifests\":[", f);
	int rc = bale_bundle_images_each(images, index_json_entry, f, err);
	fputs("]}", f);
	int saved = ferror(f) ? EIO : 0;
	if (fclose(f) != 0 && !saved)
		saved = errno;
	if (rc == 0 && saved)
		rc = bale_error_set_errno(err, BALE_EGENERIC, saved, "write %s", path);
	return rc;
}

static int hash_file(bale_digest *out, int64_t *size, const char *path, bale_error **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bale_error_set_errno(err, BALE_EGENERIC, errno, "open %s", path);
	int rc = bale_hasher_read_fd(fd, out, size, BALE_EGENERIC, path, err);
	close(fd);
	return rc;
}

/* ---- the tar stream ---- */

/* Layers a registry serves compressed (gzip, zstd) do not shrink again: their frames use
 * a level so fast that zstd stores them (10 GB/s on a gzip layer; level 3: 0.5 GB/s). */
#define LEVEL_PRECOMPRESSED (-1000)
/* Members that still shrink are compressed by every core from this size on. Below it one
 * thread does (index.db of 2,000 images: 6.5 MB at level 3 in about 20 ms), and zstd's
 * worker contexts, which hold memory as far as a frame fills them, stay unused. */
#define PARALLEL_MEMBER ((int64_t)32 << 20)

typedef struct tar_out {
	struct archive *a;
	bale_zst_writer *zst;
	int threads;           /* compressing a large member */
	int level;             /* for members that can still shrink */
	bale_error *write_err; /* what the zstd writer said, for libarchive's callback */
	time_t mtime;
	char *buf;
} tar_out;

static la_ssize_t tar_write_cb(struct archive *a, void *payload, const void *data, size_t len)
{
	tar_out *t = payload;
	if (bale_zst_writer_write(t->zst, data, len, &t->write_err) < 0) {
		archive_set_error(a, EIO, "compressing the bundle failed");
		return -1;
	}
	return (la_ssize_t)len;
}

static int tar_error(tar_out *t, const char *what, bale_error **err)
{
	if (t->write_err) {
		int code = bale_error_code(t->write_err);
		bale_error_set(err, code, "%s", bale_error_message(t->write_err));
		bale_error_clear(&t->write_err);
		return bale_error_wrap(err, "%s", what);
	}
	return bale_error_set(err, BALE_EGENERIC, "%s: %s", what, archive_error_string(t->a));
}

/* Starts a member in a fresh zstd frame, at level (a zstd level). */
static int member_begin(tar_out *t, const char *path, int64_t size, int level, bale_error **err)
{
	int rc = bale_zst_writer_end_frame(t->zst, err);
	if (rc == 0)
		rc = bale_zst_writer_set_level(t->zst, level, err);
	if (rc == 0)
		rc = bale_zst_writer_set_workers(
		    t->zst, level > 0 && size >= PARALLEL_MEMBER ? t->threads : 0, err);
	if (rc < 0)
		return rc;
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_size(e, size);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, t->mtime, 0);
	int ar = archive_write_header(t->a, e);
	archive_entry_free(e);
	return ar == ARCHIVE_OK ? 0 : tar_error(t, path, err);
}

static int member_data(tar_out *t, const char *path, const void *data, size_t len, bale_error **err)
{
	if (len && archive_write_data(t->a, data, len) != (la_ssize_t)len)
		return tar_error(t, path, err);
	return 0;
}

static int member_end(tar_out *t, const char *path, bale_error **err)
{
	/* Pads the member now, so the padding stays in this member's frame. */
	return archive_write_finish_entry(t->a) == ARCHIVE_OK ? 0 : tar_error(t, path, err);
}

static int member_bytes(tar_out *t, const char *path, const void *data, size_t len,
                        bale_error **err)
{
	int rc = member_begin(t, path, (int64_t)len, t->level, err);
	if (rc == 0)
		rc = member_data(t, path, data, len, err);
	if (rc == 0)
		rc = member_end(t, path, err);
	return rc;
}

/* Copies a file into a member, checking it against the digest and size it must have
 * (only the size when `checked`: its bytes were hashed as this process wrote them). A
 * part (part != 0) is want->size bytes of the file from offset. BALE_EVERIFY when the
 * file is not what it must be. */
static int member_file(tar_out *t, const char *path, const char *source, int part, int64_t offset,
                       const bale_descriptor *want, int level, bool checked, bale_error **err)
{
	int rc = 0, fd = open(source, O_RDONLY | O_CLOEXEC);
	int64_t done = 0;
	bale_hasher *h = NULL;
	if (fd < 0)
		return bale_error_set_errno(err, errno == ENOENT ? BALE_ENOTFOUND : BALE_EGENERIC,
		                            errno, "%s", source);
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if ((!checked && (rc = bale_hasher_new(&h, err)) < 0) ||
	    (rc = member_begin(t, path, want->size, level, err)) < 0)
		goto cleanup;
	for (;;) {
		/* a whole file is read past its size, to find it larger than it should be */
		size_t room = part && want->size - done < COPY_CHUNK ? (size_t)(want->size - done)
		                                                     : COPY_CHUNK;
		ssize_t got = room ? pread(fd, t->buf, room, offset + done) : 0;
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "read %s", source);
			goto cleanup;
		}
		if (got == 0)
			break;
		if (done + got > want->size) {
			rc = bale_error_set(err, BALE_EVERIFY, "%s: larger than its %lld bytes",
			                    source, (long long)want->size);
			goto cleanup;
		}
		if (!checked)
			bale_hasher_update(h, t->buf, (size_t)got);
		if ((rc = member_data(t, path, t->buf, (size_t)got, err)) < 0)
			goto cleanup;
		done += got;
	}
	bale_digest got_digest = want->digest;
	if (!checked)
		bale_hasher_final(h, &got_digest);
	if (done != want->size || !bale_digest_equal(&got_digest, &want->digest)) {
		rc = bale_error_set(err, BALE_EVERIFY, "%s: content is not %s (got %s, %lld bytes)",
		                    source, want->digest.str, got_digest.str, (long long)done);
		goto cleanup;
	}
	rc = member_end(t, path, err);
cleanup:
	bale_hasher_free(h);
	close(fd);
	return rc;
}

/* A planned blob as a member of its own, whole. */
static bundle_member whole_member(const planned_blob *b)
{
	return (bundle_member){.blob = &b->blob,
	                       .size = b->blob.size,
	                       .digest = b->blob.digest,
	                       .ready = b->ready,
	                       .image = b->image};
}

static int write_tar(int fd, const bale_bundle_write_options *opts, const plan *p,
                     const bundle_member *members, size_t n_members, const char *manifest,
                     size_t manifest_len, const char *signature, const char *index_db_path,
                     const head_files *h, time_t mtime, bale_error **err)
{
	int rc = 0;
	char member[128], source[4096];
	tar_out t = {.mtime = mtime, .level = opts->level > 0 ? opts->level : 3};
	int threads = opts->threads > 0 ? opts->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	t.threads = threads;
	if ((rc = bale_zst_writer_new(&t.zst, fd, t.level, threads, 0, err)) < 0)
		goto cleanup;
	t.a = archive_write_new();
	t.buf = malloc(COPY_CHUNK);
	if (!t.a || !t.buf) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	/* ustar where it fits, pax headers only for what ustar cannot say; no blocking, so
	 * each member's bytes reach the compressor as they are written. */
	archive_write_set_format_pax_restricted(t.a);
	archive_write_add_filter_none(t.a);
	archive_write_set_bytes_per_block(t.a, 0);
	if (archive_write_open(t.a, &t, NULL, tar_write_cb, NULL) != ARCHIVE_OK) {
		rc = tar_error(&t, "tar", err);
		goto cleanup;
	}
	if ((rc = member_bytes(&t, BALE_BUNDLE_MANIFEST, manifest, manifest_len, err)) < 0)
		goto cleanup;
	if (signature &&
	    (rc = member_bytes(&t, BALE_BUNDLE_SIGNATURE, signature, strlen(signature), err)) < 0)
		goto cleanup;
	bale_descriptor db = {.digest = h->index_db_digest, .size = h->index_db_size};
	bale_descriptor index_json = {.digest = h->index_json_digest, .size = h->index_json_size};
	if ((rc = member_file(&t, BALE_BUNDLE_INDEX_DB, index_db_path, 0, 0, &db, t.level, false,
	                      err)) < 0 ||
	    (rc = member_bytes(&t, "oci-layout", oci_layout, sizeof(oci_layout) - 1, err)) < 0 ||
	    (rc = member_file(&t, "index.json", h->index_json_path, 0, 0, &index_json, t.level,
	                      false, err)) < 0)
		goto cleanup;
	/* A volume's members, or the plan's carried blobs one after the other (a single
	 * bundle holds no list of its thousands of members) */
	for (size_t i = 0; members ? i < n_members : i < p->n; i++) {
		if (!members && p->blobs[i].expected)
			continue;
		bundle_member one = members ? (bundle_member){0} : whole_member(&p->blobs[i]);
		const bundle_member *m = members ? &members[i] : &one;
		const bale_digest *blob = &m->blob->digest;
		bale_descriptor want = {.digest = m->digest, .size = m->size};
		bale_bundle_member_path(member, sizeof(member), blob, m->part);
		snprintf(source, sizeof(source), "%s/%s", opts->blob_dir, bale_digest_hex(blob));
		int level = m->blob->precompressed ? LEVEL_PRECOMPRESSED : t.level;
		bool wait = opts->wait_blob && !m->ready, checked = m->checked;
		if ((wait && (rc = opts->wait_blob(opts->wait_payload, blob, &checked, err)) < 0))
			goto cleanup;
		rc = member_file(&t, member, source, m->part, m->offset, &want, level,
		                 checked && !m->part, err);
		if (rc < 0 && err && *err && bale_error_code(*err) == BALE_EVERIFY) {
			/* A content-addressed file that no longer matches its name is worth
			 * nothing: removed, so the next run fetches it again instead of failing
			 * forever. */
			unlink(source);
			bale_error_wrap(err, "removed from the cache (run the export again to "
			                     "fetch it anew)");
		}
		if (rc < 0)
			goto cleanup;
	}
	/* then what the bundle carries besides images (bale itself), checked as it is copied */
	for (size_t i = 0; i < opts->n_extras && rc == 0; i++)
		rc = member_file(&t, opts->extras[i].member, opts->extras[i].source, 0, 0,
		                 &h->extras[i], t.level, false, err);
	if (rc < 0)
		goto cleanup;
	if (archive_write_close(t.a) != ARCHIVE_OK) {
		rc = tar_error(&t, "tar", err);
		goto cleanup;
	}
	rc = bale_zst_writer_finish(t.zst, err);
cleanup:
	if (t.a)
		archive_write_free(t.a);
	bale_zst_writer_free(t.zst);
	bale_error_free(t.write_err);
	free(t.buf);
	return rc;
}

/* A config for index.db's labels, read from blob_dir and checked against its digest. */
static int read_config(void *payload, const bale_descriptor *desc, bale_buf *out, bale_error **err)
{
	const bale_bundle_write_options *opts = payload;
	char path[4096];
	bale_digest got;
	snprintf(path, sizeof(path), "%s/%s", opts->blob_dir, bale_digest_hex(&desc->digest));
	bale_buf_reset(out);
	int rc = bale_buf_read_file(out, path, err);
	if (rc < 0)
		return rc;
	bale_digest_of(&got, out->data, out->len);
	if ((int64_t)out->len != desc->size || !bale_digest_equal(&got, &desc->digest))
		return bale_error_set(err, BALE_EVERIFY, "%s: content is not %s (got %s)", path,
		                      desc->digest.str, got.str);
	return 0;
}

/* Removes the partial bundles that killed exports to the same output left beside it
 * (not those of exports still running: they hold their temporaries locked). Leftovers
 * that cannot be removed only cost disk space, so that is a warning, not a failure. */
static void sweep_temporaries(const bale_bundle_write_options *opts)
{
	size_t files = 0;
	uint64_t bytes = 0;
	bale_error *err = NULL;
	if (bale_fs_temp_sweep(opts->output, &files, &bytes, &err) < 0)
		bale_log_printf(opts->log, BALE_LOG_WARN, "temporaries of %s left: %s",
		                opts->output, bale_error_message(err));
	if (files)
		bale_log_printf(
		    opts->log, BALE_LOG_INFO,
		    "removed %zu temporary file%s of interrupted exports to %s (%.1f MB)", files,
		    files == 1 ? "" : "s", opts->output, (double)bytes / 1e6);
	bale_error_free(err);
}

/* The carried blobs, whole, in bundle order. */
static int carried_members(const plan *p, bundle_member **out, size_t *n, bale_error **err)
{
	bundle_member *m = calloc(p->n ? p->n : 1, sizeof(*m));
	if (!m)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++)
		if (!p->blobs[i].expected)
			m[k++] = whole_member(&p->blobs[i]);
	*out = m;
	*n = k;
	return 0;
}

/* bale/index.db at path: the images, each blob's place (or expected at the site), and in
 * a volume set where each volume's members are. */
typedef struct index_db_rows {
	bale_index_db *db;
	const bale_index_bundle_info *info;
	const bale_bundle_write_options *opts; /* read_config's */
} index_db_rows;

static int index_db_image(void *payload, size_t i, const bale_image *img, bale_error **err)
{
	index_db_rows *x = payload;
	(void)i;
	return bale_index_db_add_image(x->db, img, x->info->created, read_config, (void *)x->opts,
	                               err);
}

static int build_index_db(const char *path, const bale_bundle_write_options *opts, const plan *p,
                          const bale_bundle_images *images, const bale_index_bundle_info *info,
                          const bundle_member *members, size_t n_members, bale_error **err)
{
	index_db_rows x = {.info = info, .opts = opts};
	int rc = bale_index_db_create(&x.db, path, info, err);
	bale_index_db *db = x.db;
	if (rc == 0)
		rc = bale_bundle_images_each(images, index_db_image, &x, err);
	for (size_t i = 0, member = 0; i < p->n && rc == 0; i++)
		rc = p->blobs[i].expected ? bale_index_db_expect(db, &p->blobs[i].blob.digest, err)
		                          : bale_index_db_set_member(db, &p->blobs[i].blob.digest,
		                                                     (int64_t)member++, err);
	for (size_t i = 0, position = 0; info->volumes && i < n_members && rc == 0; i++) {
		const bundle_member *m = &members[i];
		position = i && m->volume != members[i - 1].volume ? 0 : position;
		rc = bale_index_db_add_volume_member(db, m->volume, (int64_t)position++,
		                                     &m->blob->digest, m->part, m->offset, m->size,
		                                     &m->digest, err);
	}
	if (rc == 0)
		rc = bale_index_db_finish(db, err);
	bale_index_db_free(db);
	return rc;
}

/* A volume set reads every blob before it starts: the cut needs the parts' digests. */
static int wait_all(const bale_bundle_write_options *opts, bundle_member *m, size_t n,
                    bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		if (opts->wait_blob && !m[i].ready &&
		    (rc = opts->wait_blob(opts->wait_payload, &m[i].blob->digest, &m[i].checked,
		                          err)) == 0)
			m[i].ready = true;
	return rc;
}

/* The most bytes a volume's head and trailer take: its manifest, signature, index.db,
 * oci-layout and index.json, what it carries besides images, the seek table and the end
 * of the archive. */
static int64_t head_bound(int64_t index_db, int64_t index_json, const head_files *h,
                          size_t n_extras)
{
	int64_t bound = bundle_member_bound(64 << 10) * 3 + bundle_member_bound(index_db) +
	                bundle_member_bound(index_json) + (64 << 10);
	for (size_t i = 0; i < n_extras; i++)
		bound += bundle_member_bound(h->extras[i].size);
	return bound;
}

/* The extras' digests and sizes, for the manifest; each is hashed again as it is copied. */
static int hash_extras(head_files *h, const bale_bundle_write_options *opts, bale_error **err)
{
	int rc = 0;
	if (!opts->n_extras)
		return 0;
	if (!(h->extras = calloc(opts->n_extras, sizeof(*h->extras))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; i < opts->n_extras && rc == 0; i++)
		rc = hash_file(&h->extras[i].digest, &h->extras[i].size, opts->extras[i].source,
		               err);
	return rc;
}

/* One file of the set (the bundle, or volume k of volumes) with its members. */
typedef struct out_file {
	char *path, *tmp;
	int fd;
} out_file;

static int write_file(out_file *f, const bale_bundle_write_options *opts, const plan *p,
                      const bundle_member *members, size_t n, const char *bundle_id,
                      const char *created, const char *db_path, const head_files *h, int volume,
                      int volumes, time_t now, bale_error **err)
{
	char *manifest = NULL, *signature = NULL;
	size_t manifest_len = 0;
	int rc = 0;
	if ((rc = build_manifest(&manifest, &manifest_len, opts, p, bundle_id, created, h, volume,
	                         volumes, err)) < 0)
		goto cleanup;
	if (opts->key &&
	    (rc = bale_key_sign(&signature, opts->key, manifest, manifest_len, err)) < 0)
		goto cleanup;
	if (signature) { /* one line of base64, as `base64 -d` reads it */
		size_t sl = strlen(signature);
		char *line = realloc(signature, sl + 2);
		if (!line) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
		signature = line;
		signature[sl] = '\n';
		signature[sl + 1] = '\0';
	}
	if ((rc = write_tar(f->fd, opts, p, members, n, manifest, manifest_len, signature, db_path,
	                    h, now, err)) < 0)
		goto cleanup;
	if (fsync(f->fd) < 0)
		rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "write %s", f->tmp);
cleanup:
	free(manifest);
	free(signature);
	return rc;
}

/* Every file in place at once, once all are written and synced. */
static int publish(out_file *files, size_t n, const bale_bundle_write_options *opts,
                   bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (opts->force ? rename(files[i].tmp, files[i].path) < 0
		                : renameat2(AT_FDCWD, files[i].tmp, AT_FDCWD, files[i].path,
		                            RENAME_NOREPLACE) < 0) {
			rc =
			    bale_error_set_errno(err, errno == EEXIST ? BALE_EUSAGE : BALE_EGENERIC,
			                         errno, "rename to %s", files[i].path);
			break;
		}
		free(files[i].tmp);
		files[i].tmp = NULL;
	}
	char *dir = rc == 0 ? strdup(opts->output) : NULL;
	if (rc == 0 && !dir)
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (rc == 0)
		rc = bale_fs_fsync_dir(dirname(dir), err);
	free(dir);
	return rc;
}

int bale_bundle_write(const bale_bundle_write_options *opts, const bale_bundle_images *images,
                      bale_error **err)
{
	size_t n = images->n;
	int rc = 0, volumes = 1;
	plan p = {.opts = opts};
	head_files h = {0};
	char *db_path = NULL;
	char bundle_id[33], created[32];
	time_t now = time(NULL);
	bundle_member *carried = NULL, *members = NULL;
	size_t n_carried = 0, n_members = 0, n_files = 0;
	out_file *files = NULL;
	bool cut = opts->volume_size > 0;
	/* The output's temporary, held under a lock until the end, so no other export's sweep
	 * takes it or its companions (the head's files, the volumes: "TMP.index.db",
	 * "TMP.001"), and the next export's sweep removes them if this one is killed. */
	int anchor_fd = -1;
	char *anchor = NULL;

	sweep_temporaries(opts);
	utc_now(created, now);
	if ((rc = random_id(bundle_id, err)) < 0 || (rc = plan_blobs(&p, images, err)) < 0 ||
	    (cut && (rc = carried_members(&p, &carried, &n_carried, err)) < 0) ||
	    (rc = bale_fs_temp_create(opts->output, 0644, BALE_EGENERIC, &anchor_fd, &anchor,
	                              err)) < 0)
		goto cleanup;
	if (asprintf(&db_path, "%s.index.db", anchor) < 0 ||
	    asprintf(&h.index_json_path, "%s.index.json", anchor) < 0) {
		db_path = h.index_json_path = NULL;
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	bale_index_bundle_info info = {.bundle_id = bundle_id,
	                               .created = created,
	                               .tool_version = BALE_VERSION,
	                               .signer_key_id = opts->key ? bale_key_id(opts->key) : NULL,
	                               .volumes = cut,
	                               .referrers = images->attachments,
	                               .rules = images->rules};
	if ((rc = build_index_json(h.index_json_path, images, err)) < 0 ||
	    (rc = hash_file(&h.index_json_digest, &h.index_json_size, h.index_json_path, err)) <
	        0 ||
	    (rc = hash_extras(&h, opts, err)) < 0)
		goto cleanup;
	if (cut) {
		/* The volumes' budget leaves room for the head: an index.db without the volume
		 * rows, and a generous 512 bytes for each row to come. */
		if ((rc = wait_all(opts, carried, n_carried, err)) < 0 ||
		    (rc = build_index_db(db_path, opts, &p, images, &info, NULL, 0, err)) < 0 ||
		    (rc = hash_file(&h.index_db_digest, &h.index_db_size, db_path, err)) < 0)
			goto cleanup;
		unlink(db_path);
		int64_t total = 0;
		for (size_t i = 0; i < n_carried; i++)
			total += carried[i].size;
		/* a row a blob, and one more for each part: at most one cut a volume */
		int64_t rows = (int64_t)n_carried + total / (opts->volume_size / 2) + 16;
		int64_t head =
		    head_bound(h.index_db_size + 512 * rows, h.index_json_size, &h, opts->n_extras);
		if (opts->volume_size - head < ((int64_t)1 << 20)) {
			rc = bale_error_set(
			    err, BALE_EUSAGE,
			    "volumes of %lld bytes leave no room beside the index of "
			    "%zu images (%lld bytes of head): use larger volumes",
			    (long long)opts->volume_size, n, (long long)head);
			goto cleanup;
		}
		if ((rc = bundle_volumes_cut(carried, n_carried, opts->volume_size - head,
		                             opts->blob_dir, &members, &n_members, &volumes, err)) <
		    0)
			goto cleanup;
		if (volumes > BALE_BUNDLE_MAX_VOLUMES) {
			rc = bale_error_set(
			    err, BALE_EUSAGE,
			    "%d volumes, more than the %d a set may have: use larger "
			    "volumes",
			    volumes, BALE_BUNDLE_MAX_VOLUMES);
			goto cleanup;
		}
	}
	if ((rc = build_index_db(db_path, opts, &p, images, &info, members, n_members, err)) < 0 ||
	    (rc = hash_file(&h.index_db_digest, &h.index_db_size, db_path, err)) < 0)
		goto cleanup;
	if (!(files = calloc((size_t)volumes, sizeof(*files)))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	for (n_files = 0; n_files < (size_t)volumes; n_files++) {
		out_file *f = &files[n_files];
		f->fd = -1;
		f->path = cut ? bale_bundle_volume_name(opts->output, (int)n_files + 1)
		              : strdup(opts->output);
		if (!f->path) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
		if (!opts->force && access(f->path, F_OK) == 0) {
			rc = bale_error_set(err, BALE_EUSAGE,
			                    "%s exists (use --force to replace it)", f->path);
			n_files++;
			goto cleanup;
		}
		if (!cut) { /* the bundle is the output's temporary itself */
			f->tmp = anchor;
			f->fd = anchor_fd;
			anchor = NULL;
			anchor_fd = -1;
		} else if (asprintf(&f->tmp, "%s.%03zu", anchor, n_files + 1) < 0) {
			f->tmp = NULL;
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			n_files++;
			goto cleanup;
		} else if ((f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) <
		           0) {
			rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "create %s", f->tmp);
			n_files++;
			goto cleanup;
		}
	}
	for (size_t k = 0, from = 0; k < n_files && rc == 0; k++) {
		size_t to = from;
		while (to < n_members && (!cut || members[to].volume == (int)k + 1))
			to++;
		rc = write_file(&files[k], opts, &p, members ? members + from : NULL, to - from,
		                bundle_id, created, db_path, &h, cut ? (int)k + 1 : 0,
		                cut ? volumes : 0, now, err);
		from = to;
	}
	if (rc == 0)
		rc = publish(files, n_files, opts, err);
cleanup:
	for (size_t i = 0; files && i < n_files; i++) {
		if (files[i].fd >= 0)
			close(files[i].fd);
		if (files[i].tmp)
			unlink(files[i].tmp);
		free(files[i].tmp);
		free(files[i].path);
	}
	free(files);
	if (db_path)
		unlink(db_path);
	if (h.index_json_path)
		unlink(h.index_json_path);
	if (anchor) /* a volume set's placeholder, or a bundle that did not make it */
		unlink(anchor);
	if (anchor_fd >= 0)
		close(anchor_fd);
	free(anchor);
	free(db_path);
	free(h.index_json_path);
	free(h.extras);
	free(carried);
	free(members);
	free(p.blobs);
	bale_slots_free(p.by_digest);
	return rc;
}
