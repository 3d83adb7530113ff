/* The containerd store: images handed to containerd's own importer as an OCI image tar
 * streamed into `ctr images import` (docs/containerd.md says why). Content the node
 * already has is not sent. The commit lands each image on its own: content streams take
 * the content of all of them, held by their digest references and not unpacked (a stream
 * ends early when an image is named and no unpack runs, so that containerd unpacks it
 * while the next images stream); the runnable ones are unpacked, and only the images
 * that made it get their tags and labels. An image that fails loses the names and the
 * content this run gave it, and nothing else; a run whose content stream fails has all
 * of it removed again. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bale/buf.h"
#include "bale/fs.h"
#include "bale/hasher.h"
#include "bale/json.h"
#include "bale/manifest.h"
#include "bale/ref.h"
#include "bale/store.h"
#include "bale/sys/sink.h"
#include "store/containerd_private.h"
#include "store/ctr.h"

#define COPY_CHUNK (256u << 10)

struct bale_sink_blob {
	ctr_store *s;
	bale_descriptor desc;
	bool direct; /* streaming as a tar member now; otherwise spooled to spool_fd */
	int spool_fd;
	bool keep; /* a manifest or index: its bytes are kept (kept) */
	bale_buf bytes;
};

/* ---- the tar stream ---- */

static la_ssize_t to_ctr(struct archive *a, void *payload, const void *data, size_t len)
{
	ctr_store *s = payload;
	if (bale_fs_write_all(s->in_fd, data, len) < 0) {
		archive_set_error(a, errno, "ctr stopped reading");
		return -1;
	}
	return (la_ssize_t)len;
}

static int stream_error(ctr_store *s, const char *what, bale_error **err)
{
	s->broken = true;
	return bale_error_set(err, BALE_ESTORE, "containerd at %s: %s: %s", s->ctr.socket, what,
	                      archive_error_string(s->a) ? archive_error_string(s->a) : "failed");
}

/* `ctr images import [--no-unpack] [--platform…] -` reading the tar we write. */
static int start_stream(ctr_store *s, bool unpack, bale_error **err)
{
	if (s->a)
		return 0;
	const char *args[8];
	size_t n = 0;
	args[n++] = "images";
	args[n++] = "import";
	if (!unpack)
		args[n++] = "--no-unpack";
	if (s->platform_flag)
		args[n++] = s->platform_flag;
	args[n++] = "-";
	args[n] = NULL;
	int rc = store_ctr_spawn(&s->ctr, args, &s->in_fd, &s->child, &s->out_fd, err);
	if (rc < 0)
		return rc;
	if (!(s->a = archive_write_new()))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	archive_write_set_format_pax_restricted(s->a);
	archive_write_add_filter_none(s->a);
	archive_write_set_bytes_per_block(s->a, 0);
	if (archive_write_open(s->a, s, NULL, to_ctr, NULL) != ARCHIVE_OK)
		return stream_error(s, "tar", err);
	return 0;
}

static int member_begin(ctr_store *s, const char *path, int64_t size, bale_error **err)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_size(e, size);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, time(NULL), 0);
	int ar = archive_write_header(s->a, e);
	archive_entry_free(e);
	return ar == ARCHIVE_OK ? 0 : stream_error(s, path, err);
}

static int member_data(ctr_store *s, const void *data, size_t len, bale_error **err)
{
	if (len && archive_write_data(s->a, data, len) != (la_ssize_t)len)
		return stream_error(s, "blob data", err);
	return 0;
}

static int member_end(ctr_store *s, bale_error **err)
{
	return archive_write_finish_entry(s->a) == ARCHIVE_OK ? 0 : stream_error(s, "tar", err);
}

static int remember_sent(ctr_store *s, const bale_digest *d, bale_error **err)
{
	char **grown = realloc(s->sent, (s->n_sent + 1) * sizeof(*grown));
	if (!grown || !(grown[s->n_sent] = strdup(d->str))) {
		if (grown)
			s->sent = grown;
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	s->sent = grown;
	s->n_sent++;
	return 0;
}

static void blob_path(char *out, size_t size, const bale_descriptor *d)
{
	snprintf(out, size, "blobs/sha256/%s", bale_digest_hex(&d->digest));
}

/* A spooled blob, verified and committed, appended when the stream is free. */
static int append_spooled(ctr_store *s, bale_sink_blob *b, bale_error **err)
{
	char path[128];
	int rc = 0;
	blob_path(path, sizeof(path), &b->desc);
	if (lseek(b->spool_fd, 0, SEEK_SET) < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "spooled blob %s",
		                            b->desc.digest.str);
	if ((rc = member_begin(s, path, b->desc.size, err)) < 0)
		return rc;
	for (;;) {
		ssize_t n = read(b->spool_fd, s->buf, COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return bale_error_set_errno(err, BALE_ESTORE, errno, "spooled blob %s",
			                            b->desc.digest.str);
		if (n == 0)
			break;
		if ((rc = member_data(s, s->buf, (size_t)n, err)) < 0)
			return rc;
	}
	if ((rc = member_end(s, err)) < 0)
		return rc;
	return remember_sent(s, &b->desc.digest, err);
}

static void blob_free(bale_sink_blob *b)
{
	if (b->spool_fd >= 0)
		close(b->spool_fd);
	bale_buf_free(&b->bytes);
	free(b);
}

/* A committed manifest or index: its bytes move to s->kept. */
static void keep_bytes(ctr_store *s, bale_sink_blob *b)
{
	if (!b->keep || b->bytes.len != (size_t)b->desc.size)
		return;
	kept *grown = realloc(s->kept, (s->n_kept + 1) * sizeof(*grown));
	if (!grown)
		return; /* read back from containerd instead */
	s->kept = grown;
	s->kept[s->n_kept].digest = b->desc.digest;
	s->kept[s->n_kept++].bytes = b->bytes;
	bale_buf_init(&b->bytes, 1, "manifest");
}

static int flush_queue(ctr_store *s, bale_error **err)
{
	int rc = 0;
	while (s->n_queue && !s->active && rc == 0) {
		bale_sink_blob *b = s->queue[0];
		memmove(s->queue, s->queue + 1, (s->n_queue - 1) * sizeof(*s->queue));
		s->n_queue--;
		if ((rc = append_spooled(s, b, err)) == 0)
			keep_bytes(s, b);
		blob_free(b);
	}
	return rc;
}

/* ---- sink operations ---- */

int ctrd_by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ctrd_has_blob(bale_sink *sink, const bale_descriptor *desc, bool *out, bale_error **err)
{
	ctr_store *s = (ctr_store *)sink;
	const char *key = desc->digest.str;
	*out = s->n_present &&
	       bsearch(&key, s->present, s->n_present, sizeof(char *), ctrd_by_string) != NULL;
	for (size_t i = 0; !*out && i < s->n_sent; i++)
		*out = strcmp(s->sent[i], key) == 0;
	return 0;
}

/* `ctr content get` of a blob the node has, hashed as it streams: containerd checked it
 * when it took it, but its files may have changed since. */
static int ctr_blob_check(bale_sink *sink, const bale_descriptor *desc, bool *whole,
                          bale_error **err)
{
	ctr_store *s = (ctr_store *)sink;
	const char *args[] = {"content", "get", desc->digest.str, NULL};
	bale_digest got;
	bale_buf said;
	int64_t size = 0;
	pid_t pid;
	int out_fd = -1, err_fd = -1;
	int rc = ctrd_has_blob(sink, desc, whole, err);
	if (rc < 0 || !*whole)
		return rc;
	*whole = false;
	if ((rc = store_ctr_spawn_reader(&s->ctr, args, -1, &pid, &out_fd, &err_fd, err)) < 0)
		return rc;
	rc = bale_hasher_read_fd(out_fd, &got, &size, BALE_ESTORE, "ctr content get", err);
	close(out_fd);
	bale_buf_init(&said, 1, "ctr output");
	int waited = store_ctr_wait(pid, err_fd, "content get", &said, rc < 0 ? NULL : err);
	bale_buf_free(&said);
	if (rc == 0 && waited == 0)
		*whole = size == desc->size && bale_digest_equal(&got, &desc->digest);
	return rc < 0 ? rc : waited;
}

static int ctr_blob_open(bale_sink *sink, const bale_descriptor *desc, bale_sink_blob **out,
                         bale_error **err)
{
	ctr_store *s = (ctr_store *)sink;
	int rc = 0;
	char path[128];
	if (s->broken)
		return bale_error_set(err, BALE_ESTORE, "containerd at %s: import already failed",
		                      s->ctr.socket);
	bale_sink_blob *b = calloc(1, sizeof(*b));
	if (!b)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	b->s = s;
	b->desc = *desc;
	b->spool_fd = -1;
	b->keep = (bale_manifest_type_is_index(desc->media_type) ||
	           bale_manifest_type_is_manifest(desc->media_type)) &&
	          desc->size >= 0 && desc->size <= (int64_t)BALE_CAP_MANIFEST;
	bale_buf_init(&b->bytes, BALE_CAP_MANIFEST, "manifest");
	/* The content goes in without unpacking: what containerd cannot unpack (charts,
	 * signatures, SBOMs) is stored all the same, and an image that fails to unpack
	 * fails alone, later. */
	if ((rc = start_stream(s, false, err)) < 0)
		goto cleanup;
	if (!s->active) { /* straight into the stream: the usual case, no copy */
		blob_path(path, sizeof(path), desc);
		if ((rc = member_begin(s, path, desc->size, err)) < 0)
			goto cleanup;
		b->direct = true;
		s->active = b;
	} else { /* another blob is streaming (parallel pulls): wait on disk */
		const char *dir = getenv("TMPDIR");
		b->spool_fd =
		    open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (b->spool_fd < 0)
			rc = bale_error_set_errno(err, BALE_ESTORE, errno, "spool blob %s",
			                          desc->digest.str);
	}
cleanup:
	if (rc < 0)
		blob_free(b);
	else
		*out = b;
	return rc;
}

static int ctr_blob_write(bale_sink_blob *b, const void *data, size_t len, bale_error **err)
{
	if (b->keep && bale_buf_append(&b->bytes, data, len, NULL) < 0)
		b->keep = false; /* larger than it said: its commit will be refused anyway */
	if (b->direct)
		return member_data(b->s, data, len, err);
	if (bale_fs_write_all(b->spool_fd, data, len) < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "spool blob %s",
		                            b->desc.digest.str);
	return 0;
}

static int ctr_blob_rewind(bale_sink_blob *b, bale_error **err)
{
	if (b->direct) { /* bytes already in containerd's hands cannot be taken back */
		b->s->broken = true;
		return bale_error_set(err, BALE_ESTORE,
		                      "blob %s: cannot start over once streamed to containerd",
		                      b->desc.digest.str);
	}
	bale_buf_reset(&b->bytes);
	if (ftruncate(b->spool_fd, 0) < 0 || lseek(b->spool_fd, 0, SEEK_SET) < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "spool blob %s",
		                            b->desc.digest.str);
	return 0;
}

static int ctr_blob_commit(bale_sink_blob *b, bale_error **err)
{
	ctr_store *s = b->s;
	int rc = 0;
	if (b->direct) {
		s->active = NULL;
		if ((rc = member_end(s, err)) == 0 &&
		    (rc = remember_sent(s, &b->desc.digest, err)) == 0)
			keep_bytes(s, b);
		blob_free(b);
		return rc < 0 ? rc : flush_queue(s, err);
	}
	bale_sink_blob **grown = realloc(s->queue, (s->n_queue + 1) * sizeof(*grown));
	if (!grown) {
		blob_free(b);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	s->queue = grown;
	s->queue[s->n_queue++] = b;
	return flush_queue(s, err);
}

static void ctr_blob_abort(bale_sink_blob *b)
{
	if (b->direct) { /* a half member is in the stream: this import cannot end well */
		b->s->active = NULL;
		b->s->broken = true;
	}
	blob_free(b);
}

/* repo@sha256:… for a name: pods may pin a digest, and the kubelet looks that up as is
 * (ctr's own --digests would invent "import-DATE@…" names instead). */
static void digest_name(char *out, size_t size, const char *ref, const bale_digest *d)
{
	const char *at = strchr(ref, '@');
	const char *colon = strrchr(ref, ':'), *slash = strrchr(ref, '/');
	size_t repo_len =
	    at ? (size_t)(at - ref)
	       : (colon && (!slash || colon > slash) ? (size_t)(colon - ref) : strlen(ref));
	snprintf(out, size, "%.*s@%s", (int)repo_len, ref, d->str);
}

static int pipeline_step(ctr_store *s, bale_error **err);

static int ctr_set_name(bale_sink *sink, const char *ref, const bale_descriptor *root,
                        bale_error **err)
{
	ctr_store *s = (ctr_store *)sink;
	/* The name goes into the stream's index.json and to ctr: a normalized reference. */
	if (bale_ref_check_name(ref, err) < 0)
		return bale_error_wrap(err, "containerd");
	named *grown = realloc(s->names, (s->n_names + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	s->names = grown;
	named *n = &s->names[s->n_names];
	memset(n, 0, sizeof(*n));
	if (!(n->ref = strdup(ref)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	n->root = *root;
	digest_name(n->by_digest, sizeof(n->by_digest), ref, &root->digest);
	s->n_names++;
	return pipeline_step(s, err);
}

/* ---- names containerd had ---- */

int ctrd_push_string(char ***list, size_t *n, const char *text, size_t len, bale_error **err)
{
	char **grown = realloc(*list, (*n + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	*list = grown;
	if (!(grown[*n] = strndup(text, len)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	(*n)++;
	return 0;
}

/* Every image name in the namespace before this commit: those are never removed. */
static int load_names(ctr_store *s, bale_error **err)
{
	const char *args[] = {"images", "ls", "-q", NULL};
	bale_buf out;
	int rc = store_ctr_run(&s->ctr, args, "images ls", &out, err);
	for (char *line = out.data, *next; rc == 0 && line && *line; line = next) {
		next = strchr(line, '\n');
		size_t len = next ? (size_t)(next - line) : strlen(line);
		next = next ? next + 1 : NULL;
		if (len)
			rc = ctrd_push_string(&s->had_names, &s->n_had_names, line, len, err);
	}
	bale_buf_free(&out);
	if (s->n_had_names > 1)
		qsort(s->had_names, s->n_had_names, sizeof(char *), ctrd_by_string);
	s->had_names_loaded = rc == 0;
	return rc;
}

static bool had_name(const ctr_store *s, const char *name)
{
	return s->n_had_names &&
	       bsearch(&name, s->had_names, s->n_had_names, sizeof(char *), ctrd_by_string) != NULL;
}

/* Removes a name this run created; a name containerd had before is left alone. */
void ctrd_remove_name(ctr_store *s, const char *name)
{
	if (!s->had_names_loaded || had_name(s, name))
		return;
	const char *args[] = {"images", "rm", name, NULL};
	bale_buf out;
	bale_error *ignored = NULL;
	store_ctr_run(&s->ctr, args, "images rm", &out, &ignored); /* best effort */
	bale_error_free(ignored);
	bale_buf_free(&out);
}

/* ---- the index.json that ends a stream ---- */

bool ctrd_gives(const named *n, int which)
{
	switch (which) {
	case GIVE_HOLDING:
		return n->state == NAME_PENDING && !n->held;
	case GIVE_UNPACK:
		return n->state == NAME_PENDING && n->held && n->runnable;
	default:
		return n->state == NAME_LANDED;
	}
}

static json_t *name_descriptor(const bale_descriptor *d, const char *name)
{
	json_t *o = json_pack("{s:s,s:s,s:I}", "mediaType", d->media_type, "digest", d->digest.str,
	                      "size", (json_int_t)d->size);
	json_object_set_new(o, "annotations",
	                    json_pack("{s:s,s:s}", "io.containerd.image.name", name,
	                              "org.opencontainers.image.ref.name", name));
	return o;
}

/* index.json of the stream, annotated as containerd's importer reads names. */
static int write_index(ctr_store *s, int which, bale_error **err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	json_t *list = json_array();
	for (size_t i = 0; i < s->n_names; i++) {
		const named *n = &s->names[i];
		if (!ctrd_gives(n, which))
			continue;
		if (which == GIVE_LANDED && strcmp(n->by_digest, n->ref) != 0)
			json_array_append_new(list, name_descriptor(&n->root, n->ref));
		json_array_append_new(list, name_descriptor(&n->root, n->by_digest));
	}
	json_t *index = json_pack("{s:i,s:o}", "schemaVersion", 2, "manifests", list);
	char *text = NULL;
	size_t len = 0;
	int rc = bale_json_dump(&text, &len, index, err);
	json_decref(index);
	if (rc == 0 && (rc = member_begin(s, "oci-layout", sizeof(layout) - 1, err)) == 0 &&
	    (rc = member_data(s, layout, sizeof(layout) - 1, err)) == 0 &&
	    (rc = member_end(s, err)) == 0 &&
	    (rc = member_begin(s, "index.json", (int64_t)len, err)) == 0 &&
	    (rc = member_data(s, text, len, err)) == 0)
		rc = member_end(s, err);
	free(text);
	return rc;
}

/* Ends the open stream's input with its index.json; ctr goes on with it. */
static int end_stream(ctr_store *s, int which, bale_error **err)
{
	int rc = 0;
	if ((rc = flush_queue(s, err)) < 0 || (rc = write_index(s, which, err)) < 0)
		return rc;
	if (archive_write_close(s->a) != ARCHIVE_OK)
		return stream_error(s, "tar", err);
	archive_write_free(s->a);
	s->a = NULL;
	close(s->in_fd);
	s->in_fd = -1;
	return 0;
}

/* Ends the open stream with its index.json and waits for ctr; *out: what it printed. */
static int finish_stream(ctr_store *s, int which, bale_buf *out, bale_error **err)
{
	int rc = 0;
	bale_buf_init(out, 1, "ctr output");
	if ((rc = end_stream(s, which, err)) < 0)
		return rc;
	pid_t pid = s->child;
	s->child = 0;
	rc = store_ctr_wait(pid, s->out_fd, "images import", out, err);
	s->out_fd = -1;
	return rc;
}

/* A stream of names alone: their content is in containerd already. */
int ctrd_names_stream(ctr_store *s, bool unpack, int which, bale_buf *out, bale_error **err)
{
	int rc = start_stream(s, unpack, err);
	if (rc < 0) {
		bale_buf_init(out, 1, "ctr output");
		return rc;
	}
	return finish_stream(s, which, out, err);
}

int ctrd_names_stream_start(ctr_store *s, bool unpack, int which, pid_t *child, int *out_fd,
                            bale_error **err)
{
	int rc = start_stream(s, unpack, err);
	if (rc == 0)
		rc = end_stream(s, which, err);
	if (rc < 0)
		return rc;
	*child = s->child;
	*out_fd = s->out_fd;
	s->child = 0;
	s->out_fd = -1;
	return 0;
}

/* ---- unpacking while the content streams ---- */

/* Sorts the images named and not sorted yet (what they use, whether they run); an image
 * that cannot be read fails on its own. */
static void walk_new(ctr_store *s)
{
	for (size_t i = 0; i < s->n_names; i++) {
		named *n = &s->names[i];
		bale_error *e = NULL;
		if (n->walked || n->state != NAME_PENDING)
			continue;
		n->walked = true;
		if (ctrd_walk_image(s, n, &e) < 0)
			ctrd_fail_image(n, bale_error_code(e), "", bale_error_message(e));
		bale_error_free(e);
	}
}

/* Does every blob the open stream carried belong to an image named so far? Then ending
 * it with their digest references holds all of it; otherwise the rest would be left to
 * containerd's garbage collector once ctr ends. What images use only grows, so the blobs
 * found covered once are not looked at again: an import names every image after its
 * last blob, and each name would otherwise scan the whole stream again. */
static bool stream_covered(ctr_store *s)
{
	for (; s->stream_covered < s->n_sent; s->stream_covered++) {
		const char *digest = s->sent[s->stream_covered];
		bool used = false;
		for (size_t i = 0; !used && i < s->n_names; i++)
			for (size_t u = 0; !used && u < s->names[i].n_uses; u++)
				used = strcmp(s->names[i].uses[u], digest) == 0;
		if (!used)
			return false;
	}
	return true;
}

/* The content stream so far ends with the digest references of the images it carried,
 * which now hold their content; the runnable ones can be unpacked. */
static int hold_named(ctr_store *s, bale_error **err)
{
	bale_buf out;
	int rc = 0;
	if ((!s->had_names_loaded && (rc = load_names(s, err)) < 0) ||
	    (rc = finish_stream(s, GIVE_HOLDING, &out, err)) < 0) {
		bale_buf_free(&out);
		s->broken = true;
		return rc;
	}
	bale_buf_free(&out);
	walk_new(s); /* those named while an unpack ran */
	for (size_t i = 0; i < s->n_names; i++) {
		named *n = &s->names[i];
		if (ctrd_gives(n, GIVE_HOLDING))
			n->held = true;
		if (n->held && n->state == NAME_PENDING && !n->runnable)
			n->state = NAME_LANDED; /* content with names: nothing to unpack */
	}
	s->stream_covered = s->n_sent;
	return 0;
}

/* After an image is named: containerd unpacks images while the next ones stream. When no
 * unpack runs, the open content stream is ended (the images it carried all named) and
 * an unpack of its runnable images starts; the content that follows goes into a new
 * stream. The unpack stream names nothing but digest references, like the content. */
static int pipeline_step(ctr_store *s, bale_error **err)
{
	bool runnable = false;
	ctrd_unpack_reap(s, false);
	if (s->unpack_child > 0 || !s->a || s->broken || s->active || s->n_queue)
		return 0;
	walk_new(s);
	for (size_t i = 0; i < s->n_names; i++)
		runnable |= ctrd_gives(&s->names[i], GIVE_HOLDING) && s->names[i].runnable;
	if (!runnable || !stream_covered(s))
		return 0;
	int rc = hold_named(s, err);
	if (rc == 0) {
		s->cuts++;
		bale_error *e = NULL; /* an unpack that did not start fails its images */
		ctrd_unpack_start(s, &e);
		bale_error_free(e);
	}
	return rc;
}

/* Waits up to about ms milliseconds for ctr to exit; true when it has. */
static bool child_exited(pid_t child, int ms)
{
	for (int waited = 0;; waited += 20) {
		pid_t r = waitpid(child, NULL, WNOHANG);
		if (r == child || (r < 0 && errno != EINTR))
			return true;
		if (waited >= ms)
			return false;
		nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
	}
}

/* A run that did not commit: stop ctr, then remove what it wrote of ours, so the node
 * keeps exactly the content and names it had. ctr is first left to fail on the cut stream
 * by itself: then it releases its lease and half-written ingest. Killed, it leaves both
 * behind for a day, and the next import of the same blob resumes that ingest, which
 * containerd may later collect (seen as a missing layer after a refused import). */
static void rollback(ctr_store *s)
{
	if (s->child > 0) {
		if (s->in_fd >= 0)
			close(s->in_fd);
		s->in_fd = -1;
		if (!child_exited(s->child, 10000)) {
			kill(s->child, SIGTERM);
			while (waitpid(s->child, NULL, 0) < 0 && errno == EINTR)
				;
		}
		s->child = 0;
	}
	ctrd_unpack_reap(s, true);
	if (s->cuts) { /* images unpacked meanwhile: their names, the CRI's too, go */
		for (size_t i = 0; i < s->n_names; i++)
			s->names[i].state = NAME_FAILED; /* why: the run's error */
		ctrd_drop_failed(s);
	}
	for (size_t i = 0; i < s->n_names; i++)
		ctrd_remove_name(s, s->names[i].by_digest);
	for (size_t i = 0; i < s->n_sent; i++) {
		const char *args[] = {"content", "rm", s->sent[i], NULL};
		bale_buf out;
		bale_error *ignored = NULL;
		store_ctr_run(&s->ctr, args, "content rm", &out, &ignored); /* best effort */
		bale_error_free(ignored);
		bale_buf_free(&out);
	}
	s->rolled_back = true;
}

static int ctr_commit(bale_sink *sink, bale_error **err)
{
	ctr_store *s = (ctr_store *)sink;
	bale_buf out;
	int rc = 0;
	size_t failed = 0;
	const named *first = NULL;
	bale_buf_init(&out, 1, "ctr output");
	if (s->broken || s->active)
		return bale_error_set(err, BALE_ESTORE, "containerd at %s: import incomplete",
		                      s->ctr.socket);
	if (!s->n_names && !s->a)
		return 0;
	/* Nothing new to send and every name already there as it should be: a re-import
	 * is one `ctr images ls`. */
	if (!s->a && !s->cuts) {
		bool done = false;
		if ((rc = ctrd_names_in_place(s, &done, err)) < 0)
			goto cleanup;
		if (done) {
			for (size_t i = 0; i < s->n_names; i++)
				s->names[i].state = NAME_LANDED;
			s->committed = true;
			goto cleanup;
		}
	}
	/* 1. The content of every image, held by its digest reference, not unpacked (what
	 * an earlier stream carried is held already; some of it may be unpacked). */
	bool holding = false;
	for (size_t i = 0; i < s->n_names; i++)
		holding |= ctrd_gives(&s->names[i], GIVE_HOLDING);
	if ((holding || s->a) &&
	    ((rc = start_stream(s, false, err)) < 0 || (rc = hold_named(s, err)) < 0)) {
		s->broken = true;
		rollback(s);
		goto cleanup;
	}
	s->committed = true; /* from here on, whatever fails is undone image by image */
	/* 2. Unpacking, for the images that run; the others are content with names. */
	ctrd_unpack_images(s);
	ctrd_drop_failed(s);
	/* 3. The tags and labels of the images that landed. */
	bool any = false;
	for (size_t i = 0; i < s->n_names; i++)
		any |= s->names[i].state == NAME_LANDED;
	bale_buf_free(&out);
	if (any && ((rc = ctrd_names_stream(s, false, GIVE_LANDED, &out, err)) < 0 ||
	            (rc = ctrd_label_landed(s, err)) < 0))
		goto cleanup;
cleanup:
	for (size_t i = 0; i < s->n_names; i++) {
		named *n = &s->names[i];
		if (rc < 0 && !n->why) /* the run's own error is theirs */
			ctrd_fail_image(n, bale_error_code(*err), "", bale_error_message(*err));
		if (n->state == NAME_FAILED && !failed++)
			first = n;
	}
	if (rc == 0 && failed)
		rc = bale_error_set(err, BALE_ESTORE,
		                    "%zu of %zu images did not land (the others did): %s", failed,
		                    s->n_names, bale_error_message(first->why));
	bale_buf_free(&out);
	if (rc < 0)
		bale_error_wrap(err, "containerd at %s", s->ctr.socket);
	return rc;
}

static void ctr_free(bale_sink *sink)
{
	ctr_store *s = (ctr_store *)sink;
	if (!s->committed && !s->rolled_back && (s->a || s->n_sent))
		rollback(s);
	if (s->a)
		archive_write_free(s->a);
	if (s->in_fd >= 0)
		close(s->in_fd);
	if (s->out_fd >= 0)
		close(s->out_fd);
	ctrd_unpack_reap(s, true);
	for (size_t i = 0; i < s->n_queue; i++)
		blob_free(s->queue[i]);
	free(s->queue);
	for (size_t i = 0; i < s->n_sent; i++)
		free(s->sent[i]);
	free(s->sent);
	for (size_t i = 0; i < s->n_present; i++)
		free(s->present[i]);
	free(s->present);
	for (size_t i = 0; i < s->n_names; i++) {
		named *n = &s->names[i];
		for (size_t u = 0; u < n->n_uses; u++)
			free(n->uses[u]);
		free(n->uses);
		bale_error_free(n->why);
		free(n->ref);
	}
	free(s->names);
	for (size_t i = 0; i < s->n_had_names; i++)
		free(s->had_names[i]);
	free(s->had_names);
	for (size_t i = 0; i < s->n_kept; i++)
		bale_buf_free(&s->kept[i].bytes);
	free(s->kept);
	for (size_t i = 0; i < s->n_sources; i++) {
		free(s->sources[i].digest);
		free(s->sources[i].labels);
	}
	free(s->sources);
	bale_platform_set_free(s->host);
	store_ctr_free(&s->ctr);
	free(s->platform_flag);
	free(s->buf);
	free(s);
}

static const bale_error *ctr_image_error(const bale_sink *sink, const char *ref)
{
	const ctr_store *s = (const ctr_store *)sink;
	for (size_t i = 0; i < s->n_names; i++)
		if (strcmp(s->names[i].ref, ref) == 0 && s->names[i].state == NAME_FAILED)
			return s->names[i].why;
	return NULL;
}

static const bale_sink_ops ctr_ops = {
    .has_blob = ctrd_has_blob,
    .blob_check = ctr_blob_check,
    .blob_open = ctr_blob_open,
    .blob_write = ctr_blob_write,
    .blob_rewind = ctr_blob_rewind,
    .blob_commit = ctr_blob_commit,
    .blob_abort = ctr_blob_abort,
    .set_name = ctr_set_name,
    .commit = ctr_commit,
    .free = ctr_free,
    .traits = BALE_SINK_LANDS_EACH | BALE_SINK_UNPACKS,
    .image_error = ctr_image_error,
};

/* What containerd holds already, and the distribution sources of its blobs: one
 * `ctr content ls`, whose lines are "DIGEST<tabs>SIZE<tabs>AGE<tabs>LABELS". */
static int load_present(ctr_store *s, bale_error **err)
{
	const char *args[] = {"content", "ls", NULL};
	bale_buf out;
	int rc = store_ctr_run(&s->ctr, args, "content ls", &out, err);
	for (char *line = out.data, *next; rc == 0 && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "sha256:", 7) != 0)
			continue;
		size_t dl = strcspn(line, "\t ");
		if ((rc = ctrd_push_string(&s->present, &s->n_present, line, dl, err)) < 0)
			break;
		const char *labels = strrchr(line, '\t');
		if (labels && strstr(labels, "containerd.io/distribution.source.")) {
			line[dl] = '\0';
			rc = ctrd_remember_source(s, line, labels + 1, err);
		}
	}
	bale_buf_free(&out);
	if (s->n_present > 1)
		qsort(s->present, s->n_present, sizeof(char *), ctrd_by_string);
	return rc;
}

int bale_store_containerd_open(bale_sink **out, const char *socket, const bale_store_options *opts,
                               bale_error **err)
{
	int rc = 0;
	ctr_store *s = calloc(1, sizeof(*s));
	if (!s)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	s->base.ops = &ctr_ops;
	s->in_fd = s->out_fd = s->unpack_out = -1;
	s->pin = opts->pin;
	s->log = opts->log;
	if ((rc = store_ctr_init(&s->ctr, opts->ctr, socket, opts->namespace, err)) < 0)
		goto cleanup;
	if (!(s->buf = malloc(COPY_CHUNK))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	const bale_platform_set *set = opts->platforms;
	if (set && bale_platform_set_is_all(set)) {
		s->platform_flag = strdup("--all-platforms");
	} else if (set && bale_platform_set_count(set) == 1) {
		char one[64], flag[80];
		snprintf(flag, sizeof(flag), "--platform=%s",
		         bale_platform_format(bale_platform_set_at(set, 0), one, sizeof(one)));
		s->platform_flag = strdup(flag);
	} else if (set && bale_platform_set_count(set) > 1) {
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "containerd imports one platform or all of them, not a list");
		goto cleanup;
	}
	if (!set && (rc = bale_platform_set_parse(&s->host, NULL, err)) < 0)
		goto cleanup;
	s->platforms = set ? set : s->host;
	rc = load_present(s, err);
cleanup:
	if (rc < 0) {
		bale_error_wrap(err, "containerd at %s", socket);
		ctr_free(&s->base);
	} else {
		*out = &s->base;
	}
	return rc;
}
