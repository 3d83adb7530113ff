/* The containerd store: images handed to containerd's own importer as an OCI image tar
 * streamed into `ctr images import` (docs/containerd.md says why). Content the node
 * already has is not sent; names come only with the index.json that ends the stream;
 * a run that fails has its streamed content removed again. */
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
#include "bale/json.h"
#include "bale/manifest.h"
#include "bale/ref.h"
#include "bale/store.h"
#include "bale/sys/sink.h"
#include "store/ctr.h"

#define COPY_CHUNK (256u << 10)

typedef struct named {
	char *ref;
	bale_descriptor root;
} named;

typedef struct ctr_store {
	bale_sink base;
	store_ctr ctr;
	bool pin;
	char *platform_flag; /* --platform=… or --all-platforms, or NULL (ctr's default) */
	char **present;      /* digests containerd had when we started, sorted */
	size_t n_present;
	/* the import stream */
	pid_t child;
	int in_fd, out_fd;
	struct archive *a;
	bale_sink_blob *active; /* the blob whose tar member is open */
	bale_sink_blob **queue; /* spooled blobs, committed, waiting for their turn */
	size_t n_queue;
	char **sent; /* digests streamed this run: removed again if it fails */
	size_t n_sent;
	named *names;
	size_t n_names;
	bool broken, committed;
	char *buf;
	const bale_log *log;
} ctr_store;

struct bale_sink_blob {
	ctr_store *s;
	bale_descriptor desc;
	bool direct; /* streaming as a tar member now; otherwise spooled to spool_fd */
	int spool_fd;
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

static int start_stream(ctr_store *s, bale_error **err)
{
	if (s->a)
		return 0;
	const char *args[8];
	size_t n = 0;
	args[n++] = "images";
	args[n++] = "import";
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
	free(b);
}

static int flush_queue(ctr_store *s, bale_error **err)
{
	int rc = 0;
	while (s->n_queue && !s->active && rc == 0) {
		bale_sink_blob *b = s->queue[0];
		memmove(s->queue, s->queue + 1, (s->n_queue - 1) * sizeof(*s->queue));
		s->n_queue--;
		rc = append_spooled(s, b, err);
		blob_free(b);
	}
	return rc;
}

/* ---- sink operations ---- */

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ctr_has_blob(bale_sink *sink, const bale_descriptor *desc, bool *out, bale_error **err)
{
	ctr_store *s = (ctr_store *)sink;
	const char *key = desc->digest.str;
	*out = s->n_present &&
	       bsearch(&key, s->present, s->n_present, sizeof(char *), by_string) != NULL;
	for (size_t i = 0; !*out && i < s->n_sent; i++)
		*out = strcmp(s->sent[i], key) == 0;
	return 0;
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
	if ((rc = start_stream(s, err)) < 0)
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
		if ((rc = member_end(s, err)) == 0)
			rc = remember_sent(s, &b->desc.digest, err);
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
	if (!(s->names[s->n_names].ref = strdup(ref)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	s->names[s->n_names++].root = *root;
	return 0;
}

/* repo@sha256:… for a name: pods may pin a digest, and the kubelet looks that up as is
 * (ctr's own --digests would invent "import-DATE@…" names instead). */
static void digest_name(char *out, size_t size, const named *n)
{
	const char *ref = n->ref;
	const char *at = strchr(ref, '@');
	const char *colon = strrchr(ref, ':'), *slash = strrchr(ref, '/');
	size_t repo_len =
	    at ? (size_t)(at - ref)
	       : (colon && (!slash || colon > slash) ? (size_t)(colon - ref) : strlen(ref));
	snprintf(out, size, "%.*s@%s", (int)repo_len, ref, n->root.digest.str);
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

/* index.json of the stream: every name and its digest name, annotated as containerd's
 * importer reads them. */
static int write_index(ctr_store *s, bale_error **err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	json_t *list = json_array();
	char by_digest[1024];
	for (size_t i = 0; i < s->n_names; i++) {
		json_array_append_new(list, name_descriptor(&s->names[i].root, s->names[i].ref));
		digest_name(by_digest, sizeof(by_digest), &s->names[i]);
		if (strcmp(by_digest, s->names[i].ref) != 0)
			json_array_append_new(list, name_descriptor(&s->names[i].root, by_digest));
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

/* The labels a kubelet's CRI looks for: managed, and pinned against image GC. */
static int label_images(ctr_store *s, bale_error **err)
{
	int rc = 0;
	char by_digest[1024];
	for (size_t i = 0; i < s->n_names && rc == 0; i++) {
		const char *ref = s->names[i].ref;
		digest_name(by_digest, sizeof(by_digest), &s->names[i]);
		const char *names[2] = {ref, by_digest};
		for (size_t k = 0; k < 2 && rc == 0; k++) {
			if (k == 1 && strcmp(ref, by_digest) == 0)
				break;
			const char *args[] = {"images",
			                      "label",
			                      names[k],
			                      "io.cri-containerd.image=managed",
			                      s->pin ? "io.cri-containerd.pinned=pinned" : NULL,
			                      NULL};
			bale_buf out;
			rc = store_ctr_run(&s->ctr, args, "images label", &out, err);
			bale_buf_free(&out);
		}
	}
	return rc;
}

/* Does `ctr images ls` show every name and digest name at its digest, with the labels
 * this import would set? */
static int names_in_place(ctr_store *s, bool *out, bale_error **err)
{
	const char *args[] = {"images", "ls", NULL};
	bale_buf list;
	char by_digest[1024], want[2048];
	int rc = store_ctr_run(&s->ctr, args, "images ls", &list, err);
	*out = rc == 0;
	for (size_t i = 0; rc == 0 && *out && i < s->n_names; i++) {
		digest_name(by_digest, sizeof(by_digest), &s->names[i]);
		const char *names[2] = {s->names[i].ref, by_digest};
		for (size_t k = 0; k < 2 && *out; k++) {
			/* a line "NAME TYPE DIGEST …": find it by its start */
			snprintf(want, sizeof(want), "\n%s ", names[k]);
			const char *line = strstr(list.data, want);
			const char *end = line ? strchr(line + 1, '\n') : NULL;
			size_t len = line ? (end ? (size_t)(end - line) : strlen(line)) : 0;
			char row[4096];
			snprintf(row, sizeof(row), "%.*s",
			         (int)(len < sizeof(row) ? len : sizeof(row) - 1),
			         line ? line : "");
			*out = line && strstr(row, s->names[i].root.digest.str) &&
			       strstr(row, "io.cri-containerd.image=managed") &&
			       (!s->pin || strstr(row, "io.cri-containerd.pinned=pinned"));
		}
	}
	bale_buf_free(&list);
	return rc;
}

/* ctr's importer labels an index only with the children of the platform it imported,
 * which leaves the platforms imported before unreferenced: containerd's garbage
 * collector then deletes them. Our own reference labels on the index (a key ctr never
 * writes) keep every child the node holds. */
static int protect_children(ctr_store *s, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < s->n_names && rc == 0; i++) {
		const bale_descriptor *root = &s->names[i].root;
		if (!bale_manifest_type_is_index(root->media_type))
			continue;
		const char *get[] = {"content", "get", root->digest.str, NULL};
		bale_buf bytes;
		bale_index_entry *children = NULL;
		size_t n = 0;
		if ((rc = store_ctr_run(&s->ctr, get, "content get", &bytes, err)) == 0)
			rc = bale_manifest_parse_index(&children, &n, bytes.data, bytes.len, err);
		bale_buf_free(&bytes);
		const char *args[40] = {"content", "label", root->digest.str};
		char labels[32][136];
		size_t na = 3;
		for (size_t k = 0; rc == 0 && k < n && na < 3 + 32; k++) {
			bool held = false;
			ctr_has_blob(&s->base, &children[k].desc, &held, NULL);
			if (!held)
				continue;
			snprintf(labels[na - 3], sizeof(labels[0]),
			         "containerd.io/gc.ref.content.bale.%.16s=%s",
			         bale_digest_hex(&children[k].desc.digest),
			         children[k].desc.digest.str);
			args[na] = labels[na - 3];
			na++;
		}
		args[na] = NULL;
		free(children);
		if (rc == 0 && na > 3) {
			bale_buf out;
			rc = store_ctr_run(&s->ctr, args, "content label", &out, err);
			bale_buf_free(&out);
		}
	}
	return rc;
}

static int ctr_commit(bale_sink *sink, bale_error **err)
{
	ctr_store *s = (ctr_store *)sink;
	bale_buf out;
	int rc = 0;
	bale_buf_init(&out, 1, "ctr output");
	if (s->broken || s->active)
		return bale_error_set(err, BALE_ESTORE, "containerd at %s: import incomplete",
		                      s->ctr.socket);
	if (!s->n_names && !s->a)
		return 0;
	/* Nothing new to send and every name already there as it should be: a re-import
	 * is one `ctr images ls`. */
	if (!s->a) {
		bool done = false;
		if ((rc = names_in_place(s, &done, err)) < 0 || done) {
			s->committed = done;
			goto cleanup;
		}
	}
	if ((rc = start_stream(s, err)) < 0 || (rc = flush_queue(s, err)) < 0 ||
	    (rc = write_index(s, err)) < 0)
		goto cleanup;
	if (archive_write_close(s->a) != ARCHIVE_OK) {
		rc = stream_error(s, "tar", err);
		goto cleanup;
	}
	close(s->in_fd);
	s->in_fd = -1;
	pid_t pid = s->child;
	s->child = 0;
	rc = store_ctr_wait(pid, s->out_fd, "images import", &out, err);
	s->out_fd = -1;
	if (rc < 0) {
		s->broken = true;
		goto cleanup;
	}
	s->committed = true;
	if ((rc = protect_children(s, err)) == 0)
		rc = label_images(s, err);
cleanup:
	bale_buf_free(&out);
	if (rc < 0)
		bale_error_wrap(err, "containerd at %s", s->ctr.socket);
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
 * keeps exactly the content it had. ctr is first left to fail on the cut stream by
 * itself: then it releases its lease and half-written ingest. Killed, it leaves both
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
	for (size_t i = 0; i < s->n_sent; i++) {
		const char *args[] = {"content", "rm", s->sent[i], NULL};
		bale_buf out;
		bale_error *ignored = NULL;
		store_ctr_run(&s->ctr, args, "content rm", &out, &ignored); /* best effort */
		bale_error_free(ignored);
		bale_buf_free(&out);
	}
}

static void ctr_free(bale_sink *sink)
{
	ctr_store *s = (ctr_store *)sink;
	if (!s->committed && (s->a || s->n_sent))
		rollback(s);
	if (s->a)
		archive_write_free(s->a);
	if (s->in_fd >= 0)
		close(s->in_fd);
	if (s->out_fd >= 0)
		close(s->out_fd);
	for (size_t i = 0; i < s->n_queue; i++)
		blob_free(s->queue[i]);
	free(s->queue);
	for (size_t i = 0; i < s->n_sent; i++)
		free(s->sent[i]);
	free(s->sent);
	for (size_t i = 0; i < s->n_present; i++)
		free(s->present[i]);
	free(s->present);
	for (size_t i = 0; i < s->n_names; i++)
		free(s->names[i].ref);
	free(s->names);
	store_ctr_free(&s->ctr);
	free(s->platform_flag);
	free(s->buf);
	free(s);
}

static const bale_sink_ops ctr_ops = {
    .has_blob = ctr_has_blob,
    .blob_open = ctr_blob_open,
    .blob_write = ctr_blob_write,
    .blob_rewind = ctr_blob_rewind,
    .blob_commit = ctr_blob_commit,
    .blob_abort = ctr_blob_abort,
    .set_name = ctr_set_name,
    .commit = ctr_commit,
    .free = ctr_free,
};

/* What containerd holds already: one `ctr content ls -q`. */
static int load_present(ctr_store *s, bale_error **err)
{
	const char *args[] = {"content", "ls", "-q", NULL};
	bale_buf out;
	int rc = store_ctr_run(&s->ctr, args, "content ls", &out, err);
	for (char *line = out.data, *next; rc == 0 && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "sha256:", 7) != 0)
			continue;
		char **grown = realloc(s->present, (s->n_present + 1) * sizeof(*grown));
		if (!grown || !(grown[s->n_present] = strdup(line))) {
			if (grown)
				s->present = grown;
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			break;
		}
		s->present = grown;
		s->n_present++;
	}
	bale_buf_free(&out);
	if (s->n_present > 1)
		qsort(s->present, s->n_present, sizeof(char *), by_string);
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
	s->in_fd = s->out_fd = -1;
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
