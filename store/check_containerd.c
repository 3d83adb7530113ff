/* bale check of a containerd store, through ctr as the containerd store itself
 * (docs/containerd.md): names from `ctr images ls`, content streamed from `ctr content get`
 * through SHA-256, interrupted ingests from `ctr content active`.
 *
 * ctr has no command to abort an ingest, nor one to tell whether a writer holds it. Both
 * come from resuming it with `ctr content ingest REF`: containerd locks an ingest while a
 * writer has it open, so a resume that cannot get it within a few seconds means a live
 * writer (left alone); one fed an impossible digest and no bytes fails without changing
 * anything (the probe); one fed no bytes and no digest commits what the ingest holds as a
 * blob nothing references, which containerd's garbage collector then removes (the repair). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bale/fs.h"
#include "bale/hasher.h"
#include "bale/log.h"
#include "store/check_private.h"
#include "store/ctr.h"

/* How long a resume waits for an ingest a writer holds: containerd answers at once when
 * nobody does (it hashes what the ingest holds first: seconds for a large one). */
#define PROBE_TIMEOUT "10s"
/* A digest nothing hashes to: a resume expecting it never commits. */
#define IMPOSSIBLE_DIGEST "sha256:0000000000000000000000000000000000000000000000000000000000000000"

typedef struct ctr_check {
	check_run *run;
	store_ctr ctr;
	check_names names;
	char **content; /* `ctr content ls -q`, sorted */
	size_t n_content;
	bale_hasher *hasher;
	char *chunk;
	bool collect_garbage;  /* repair committed ingests: ask containerd to collect them */
	check_digests kept;    /* repair: what the remaining names need */
	check_digests removed; /* repair: blobs removed already */
} ctr_check;

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ctr_has(void *ctx, const bale_digest *d)
{
	const ctr_check *c = ctx;
	const char *key = d->str;
	return c->n_content &&
	       bsearch(&key, c->content, c->n_content, sizeof(char *), by_string) != NULL;
}

/* ---- content get, streamed ---- */

typedef struct stream_target {
	bale_buf *buf;       /* a manifest: kept (capped) */
	bale_hasher *hasher; /* a blob: hashed */
	int64_t size;
} stream_target;

/* `ctr content get DIGEST` into t. BALE_ENOTFOUND when containerd has no bytes for it;
 * BALE_EVERIFY for a manifest larger than any may be. */
static int content_get(ctr_check *c, const bale_digest *d, stream_target *t, bale_error **err)
{
	const char *args[] = {"content", "get", d->str, NULL};
	bale_buf said;
	pid_t pid;
	int out_fd = -1, err_fd = -1, rc = 0;
	bool too_large = false;
	bale_buf_init(&said, 1, "ctr output");
	if ((rc = store_ctr_spawn_reader(&c->ctr, args, -1, &pid, &out_fd, &err_fd, err)) < 0)
		return rc;
	for (;;) {
		ssize_t n = read(out_fd, c->chunk, CHECK_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		t->size += n;
		if (t->hasher)
			bale_hasher_update(t->hasher, c->chunk, (size_t)n);
		else if (bale_buf_append(t->buf, c->chunk, (size_t)n, NULL) < 0)
			too_large = true;
		if (too_large)
			break;
	}
	close(out_fd); /* ctr, should it still write, stops at once */
	rc = store_ctr_wait(pid, err_fd, "content get", &said, err);
	if (rc < 0 && said.data && strstr(said.data, "not found")) {
		bale_error_clear(err);
		rc = BALE_ENOTFOUND;
	} else if (too_large) {
		bale_error_clear(err);
		rc = bale_error_set(err, BALE_EVERIFY, "larger than a manifest may be (%zu bytes)",
		                    t->buf->cap);
	}
	bale_buf_free(&said);
	return rc;
}

static int ctr_read(void *ctx, const bale_descriptor *d, bale_buf *out, bale_error **err)
{
	ctr_check *c = ctx;
	stream_target t = {.buf = out};
	if (!ctr_has(c, &d->digest))
		return BALE_ENOTFOUND;
	int rc = content_get(c, &d->digest, &t, err);
	if (rc == 0 && !out->data)
		rc = bale_buf_append(out, "", 0, err);
	return rc;
}

static int ctr_hash(void *ctx, const bale_descriptor *d, check_blob *out, bale_error **err)
{
	ctr_check *c = ctx;
	stream_target t = {.hasher = c->hasher};
	if (!ctr_has(c, &d->digest))
		return 0; /* not found */
	bale_hasher_reset(c->hasher);
	int rc = content_get(c, &d->digest, &t, err);
	if (rc < 0)
		return rc;
	out->found = true;
	out->size = t.size;
	out->hashed = true;
	bale_hasher_final(c->hasher, &out->digest);
	return 0;
}

static check_source ctr_source(ctr_check *c)
{
	return (check_source){.ctx = c, .read = ctr_read, .hash = ctr_hash, .has = ctr_has};
}

/* ---- names and content ---- */

/* What `ctr ARGS…` prints on its standard output alone: ctr logs warnings on its error
 * output (a name whose content is gone makes `images ls` complain), never to be read as
 * lines of a listing. */
static int ctr_stdout(ctr_check *c, const char *const *args, const char *what, bale_buf *out,
                      bale_error **err)
{
	bale_buf said;
	pid_t pid;
	int out_fd = -1, err_fd = -1;
	bool too_large = false;
	bale_buf_init(out, 64u << 20, what);
	bale_buf_init(&said, 1, "ctr output");
	int rc = store_ctr_spawn_reader(&c->ctr, args, -1, &pid, &out_fd, &err_fd, err);
	if (rc < 0)
		return rc;
	for (;;) {
		ssize_t n = read(out_fd, c->chunk, CHECK_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (too_large = bale_buf_append(out, c->chunk, (size_t)n, NULL) < 0))
			break;
	}
	close(out_fd);
	rc = store_ctr_wait(pid, err_fd, what, &said, err);
	if (rc == 0 && too_large)
		rc = bale_error_set(err, BALE_ESTORE, "ctr %s: more than %zu bytes of output", what,
		                    out->cap);
	if (rc == 0)
		rc = bale_buf_append(out, "", 0, err); /* a string, even when empty */
	bale_buf_free(&said);
	return rc;
}

/* The lines of `ctr ARGS…` after its header (or every line, for -q), each split into
 * its first three words. */
typedef int (*line_fn)(ctr_check *c, const char *w1, const char *w2, const char *w3,
                       bale_error **err);

static int each_line(ctr_check *c, const char *const *args, const char *what, bool header,
                     line_fn fn, bale_error **err)
{
	bale_buf out;
	int rc = ctr_stdout(c, args, what, &out, err);
	char *save = NULL;
	for (char *line = rc == 0 ? strtok_r(out.data, "\n", &save) : NULL; line && rc == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		char w1[1024], w2[256] = "", w3[100] = "";
		if (header) {
			header = false;
			continue;
		}
		if (sscanf(line, "%1023s %255s %99s", w1, w2, w3) >= 1)
			rc = fn(c, w1, w2, w3, err);
	}
	bale_buf_free(&out);
	return rc;
}

static int add_name(ctr_check *c, const char *ref, const char *type, const char *digest,
                    bale_error **err)
{
	bale_descriptor root = {.size = -1}; /* ctr prints sizes rounded: the digest decides */
	bale_error *bad = NULL;
	if (!check_wanted(c->run, ref))
		return 0;
	snprintf(root.media_type, sizeof(root.media_type), "%.127s", type);
	bool usable = bale_digest_parse(&root.digest, digest, &bad) == 0;
	int rc = check_names_add(&c->names, ref, &root, err);
	if (rc == 0 && !usable) {
		check_name *n = &c->names.items[c->names.n - 1];
		n->checked = n->damaged = true;
		rc = check_add(c->run, NULL, err, BALE_CHECK_UNREADABLE, ref, "index", NULL, NULL,
		               "unreadable: containerd names it with %s", bale_error_message(bad));
	}
	bale_error_free(bad);
	return rc;
}

static int add_content(ctr_check *c, const char *digest, const char *unused1, const char *unused2,
                       bale_error **err)
{
	if (strncmp(digest, "sha256:", 7) != 0)
		return 0;
	char **grown = realloc(c->content, (c->n_content + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	c->content = grown;
	if (!(c->content[c->n_content] = strdup(digest)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	c->n_content++;
	return 0;
}

static int load(ctr_check *c, bale_error **err)
{
	const char *images[] = {"images", "ls", NULL}, *content[] = {"content", "ls", "-q", NULL};
	int rc = each_line(c, images, "images ls", true, add_name, err);
	if (rc == 0)
		rc = each_line(c, content, "content ls", false, add_content, err);
	if (c->n_content > 1)
		qsort(c->content, c->n_content, sizeof(char *), by_string);
	return rc < 0 ? rc : check_all_found(c->run, err);
}

/* ---- interrupted ingests ---- */

/* Resumes an ingest: ctr content ingest REF with input from in_fd (-1: none) and, when
 * set, the digest it must commit to. *held: a live writer has it. */
static int resume_ingest(ctr_check *c, const char *ref, int in_fd, const char *expect, bool *held,
                         bool *committed, bale_error **err)
{
	const char *args[12];
	size_t n = 0;
	bale_buf said;
	pid_t pid;
	int out_fd = -1, err_fd = -1;
	args[n++] = "--timeout";
	args[n++] = PROBE_TIMEOUT;
	args[n++] = "content";
	args[n++] = "ingest";
	if (expect) {
		args[n++] = "--expected-digest";
		args[n++] = expect;
	}
	args[n++] = ref;
	args[n] = NULL;
	*held = *committed = false;
	bale_buf_init(&said, 1, "ctr output");
	int rc = store_ctr_spawn_reader(&c->ctr, args, in_fd, &pid, &out_fd, &err_fd, err);
	if (rc < 0)
		return rc;
	while (read(out_fd, c->chunk, CHECK_CHUNK) > 0) /* it prints nothing; drain anyway */
		;
	close(out_fd);
	bale_error *e = NULL;
	*committed = store_ctr_wait(pid, err_fd, "content ingest", &said, &e) == 0;
	*held = !*committed && said.data &&
	        (strstr(said.data, "deadline exceeded") || strstr(said.data, "locked"));
	if (!*committed && !*held && said.data && strstr(said.data, "connection refused"))
		rc = bale_error_set(err, BALE_ESTORE, "%s", bale_error_message(e));
	bale_error_free(e);
	bale_buf_free(&said);
	return rc;
}

static int repair_ingest(ctr_check *c, check_item *item, const char *ref, bale_error **err)
{
	bool held = false, committed = false;
	/* An empty regular file: the resume seeks past what the ingest holds, adds nothing,
	 * and commits it (a pipe or /dev/null cannot seek, and the resume would fail). */
	int fd = -1;
	int rc = bale_fs_temp_unnamed(&fd, BALE_ESTORE, "temporary file", err);
	if (rc < 0)
		return rc;
	rc = resume_ingest(c, ref, fd, NULL, &held, &committed, err);
	close(fd);
	if (rc < 0)
		return rc;
	if (committed) {
		c->collect_garbage = true;
		check_set_repair(
		    item, true,
		    "removed (committed as a blob nothing references, which containerd "
		    "collects)");
	} else {
		check_set_repair(item, false, "%s",
		                 held ? "a writer holds it now"
		                      : "containerd refused to resume it");
	}
	return 0;
}

static int add_ingest(ctr_check *c, const char *ref, const char *size, const char *unused,
                      bale_error **err)
{
	bool held = false, committed = false;
	check_item *item = NULL;
	int rc = resume_ingest(c, ref, -1, IMPOSSIBLE_DIGEST, &held, &committed, err);
	if (rc < 0 || committed) /* committed: an empty ingest, whole and gone now */
		return rc;
	if (held) {
		bale_log_printf(check_log(c->run), BALE_LOG_DEBUG,
		                "ingest %s: held by a running writer, left alone", ref);
		return 0;
	}
	if ((rc = check_add(c->run, &item, err, BALE_CHECK_PARTIAL, NULL, "ingest", NULL, ref,
	                    "partial file of an interrupted ingest, no running writer holds it "
	                    "(%s)",
	                    size)) < 0)
		return rc;
	return check_opts(c->run)->repair ? repair_ingest(c, item, ref, err) : 0;
}

/* A lease deleted with --sync runs containerd's garbage collector at once. */
static int collect_garbage(ctr_check *c, bale_error **err)
{
	const char *create[] = {"leases", "create", NULL};
	bale_buf out;
	int rc = store_ctr_run(&c->ctr, create, "leases create", &out, err);
	char id[128] = "";
	if (rc == 0 && sscanf(out.data ? out.data : "", "%127s", id) == 1) {
		const char *rm[] = {"leases", "rm", "--sync", id, NULL};
		bale_buf_free(&out);
		rc = store_ctr_run(&c->ctr, rm, "leases rm", &out, err);
	}
	bale_buf_free(&out);
	return rc;
}

/* ---- repair ---- */

/* Removes a damaged blob, or the record of one whose bytes are gone (missing). */
static const char *remove_blob(ctr_check *c, const bale_digest *d, const check_digests *kept,
                               bool missing)
{
	const char *args[] = {"content", "rm", d->str, NULL};
	bale_buf out;
	bale_error *e = NULL;
	if (check_digests_has(kept, d))
		return "blob kept: a remaining name needs it";
	if (check_digests_has(&c->removed, d))
		return missing ? "containerd's record of it removed" : "damaged blob removed";
	if (!ctr_has(c, d))
		return NULL;
	int rc = store_ctr_run(&c->ctr, args, "content rm", &out, &e);
	bale_buf_free(&out);
	bale_error_free(e);
	if (rc < 0)
		return "blob kept: containerd would not remove it";
	if (check_digests_add(&c->removed, d, NULL) < 0)
		return "removed (out of memory to say so again)";
	check_summary(c->run)->blobs_removed++;
	return missing ? "containerd's record of it removed" : "damaged blob removed";
}

/* A name repair leaves: what it needs is kept. */
static int keep_remaining(ctr_check *c, const char *ref, const char *type, const char *digest,
                          bale_error **err)
{
	bale_descriptor root = {.size = -1};
	check_source src = ctr_source(c);
	if (bale_digest_parse(&root.digest, digest, NULL) < 0)
		return 0;
	snprintf(root.media_type, sizeof(root.media_type), "%.127s", type);
	return check_collect(&src, &root, &c->kept, err);
}

/* The damaged name a finding belongs to. */
static const check_name *name_of(const ctr_check *c, const bale_check_finding *f)
{
	for (size_t i = 0; f->ref && i < c->names.n; i++)
		if (strcmp(c->names.items[i].ref, f->ref) == 0)
			return &c->names.items[i];
	return NULL;
}

static int repair(ctr_check *c, bale_error **err)
{
	const char *ls[] = {"images", "ls", NULL};
	bale_buf out;
	char **refusal = calloc(c->names.n + 1, sizeof(*refusal));
	int rc = 0;
	if (!refusal)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; i < c->names.n && rc == 0; i++) {
		check_name *n = &c->names.items[i];
		const char *args[] = {"images", "rm", n->ref, NULL};
		bale_error *e = NULL;
		if (!n->damaged)
			continue;
		if (store_ctr_run(&c->ctr, args, "images rm", &out, &e) == 0) {
			n->dropped = true;
			check_summary(c->run)->names_dropped++;
		} else if (!(refusal[i] = strdup(bale_error_message(e)))) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		}
		bale_error_free(e);
		bale_buf_free(&out);
	}
	/* What the names left need: never removed, whatever was found. */
	if (rc == 0)
		rc = each_line(c, ls, "images ls", true, keep_remaining, err);
	for (size_t i = 0; i < check_count(c->run) && rc == 0; i++) {
		check_item *it = check_at(c->run, i);
		const bale_check_finding *f = check_item_finding(it);
		const check_name *n = name_of(c, f);
		bale_digest d;
		const char *blob = NULL;
		if (f->problem == BALE_CHECK_PARTIAL || !n)
			continue;
		if (!n->dropped) {
			check_set_repair(it, false, "%s", refusal[n - c->names.items]);
			continue;
		}
		/* Wrong bytes, or a record whose bytes are gone: either keeps a later import
		 * from sending the blob again, since containerd says it has it. */
		if (check_item_damaged_blob(it, &d))
			blob = remove_blob(c, &d, &c->kept, false);
		else if (f->problem == BALE_CHECK_MISSING && f->digest &&
		         bale_digest_parse(&d, f->digest, NULL) == 0 && ctr_has(c, &d))
			blob = remove_blob(c, &d, &c->kept, true);
		check_set_repair(it, true, "name dropped%s%s", blob ? ", " : "", blob ? blob : "");
	}
	for (size_t i = 0; i < c->names.n; i++)
		free(refusal[i]);
	free(refusal);
	return rc;
}

/* ---- the check ---- */

int check_containerd(check_run *run, const char *socket, bale_error **err)
{
	ctr_check c = {.run = run};
	const bale_store_options *o = check_opts(run)->store;
	const char *active[] = {"content", "active", NULL};
	check_source src;
	bool any = false;
	int rc = store_ctr_init(&c.ctr, o ? o->ctr : NULL, socket, o ? o->namespace : NULL, err);
	if (rc < 0)
		return bale_error_wrap(err, "containerd at %s", socket);
	src = ctr_source(&c);
	if (!(c.chunk = malloc(CHECK_CHUNK))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = bale_hasher_new(&c.hasher, err)) < 0 || (rc = load(&c, err)) < 0)
		goto cleanup;
	if ((rc = check_names_walk(run, &src, &c.names, err)) < 0 || check_reading(run))
		goto cleanup;
	if (rc == 0 && !check_opts(run)->n_images) /* --image: those images, nothing else */
		rc = each_line(&c, active, "content active", true, add_ingest, err);
	for (size_t i = 0; i < c.names.n; i++)
		any |= c.names.items[i].damaged;
	if (rc == 0 && check_opts(run)->repair && any)
		rc = repair(&c, err);
	if (rc == 0 && c.collect_garbage)
		rc = collect_garbage(&c, err);
cleanup:
	if (rc < 0)
		bale_error_wrap(err, "containerd at %s", socket);
	check_names_free(&c.names);
	for (size_t i = 0; i < c.n_content; i++)
		free(c.content[i]);
	free(c.content);
	check_digests_free(&c.removed);
	check_digests_free(&c.kept);
	bale_hasher_free(c.hasher);
	free(c.chunk);
	store_ctr_free(&c.ctr);
	return rc;
}
