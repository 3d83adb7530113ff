/* bale check of a registry store (registry://HOST[/PREFIX]): the images under PREFIX found
 * through the catalog and tag lists, each tag's manifest read by digest, every blob looked
 * up with HEAD and streamed through SHA-256 (bale_registry_fetch into a sink that only hashes).
 * The distribution API cannot list upload sessions, so there are no partials to find.
 * Repair deletes the manifests of damaged names when the registry allows deleting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/hasher.h"
#include "bale/log.h"
#include "bale/ref.h"
#include "bale/registry.h"
#include "bale/sys/sink.h"
#include "store/check_private.h"

typedef struct reg_name {
	char *repo, *reference; /* a tag, or a digest for a digest reference */
} reg_name;

/* A sink that keeps nothing: it hashes what the fetch streams into it. */
typedef struct hash_sink {
	bale_sink base;
	bale_hasher *hasher;
	int64_t received;
} hash_sink;

struct bale_sink_blob {
	hash_sink *s;
};

typedef struct reg_check {
	check_run *run;
	bale_registry *reg;
	bale_registry_options ropts;
	bale_log quiet_log; /* the run's log without per-blob progress */
	char *domain, *prefix;
	check_names names;
	reg_name *where;  /* per name */
	const char *repo; /* the repository being walked */
	hash_sink sink;
	/* Blobs hashed whole already: a registry keeps one copy of a blob's bytes for every
	 * repository, so another repository needs only a HEAD for it. */
	check_digests whole;
} reg_check;

/* ---- the hashing sink ---- */

static int sink_has_blob(bale_sink *sink, const bale_descriptor *desc, bool *out, bale_error **err)
{
	*out = false;
	return 0;
}

static int sink_blob_open(bale_sink *sink, const bale_descriptor *desc, bale_sink_blob **out,
                          bale_error **err)
{
	hash_sink *s = (hash_sink *)sink;
	bale_sink_blob *b = calloc(1, sizeof(*b));
	if (!b)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	b->s = s;
	bale_hasher_reset(s->hasher);
	s->received = 0;
	*out = b;
	return 0;
}

static int sink_blob_write(bale_sink_blob *b, const void *data, size_t len, bale_error **err)
{
	bale_hasher_update(b->s->hasher, data, len);
	b->s->received += (int64_t)len;
	return 0;
}

static int sink_blob_rewind(bale_sink_blob *b, bale_error **err)
{
	bale_hasher_reset(b->s->hasher);
	b->s->received = 0;
	return 0;
}

static int sink_blob_commit(bale_sink_blob *b, bale_error **err)
{
	free(b);
	return 0;
}

static void sink_blob_abort(bale_sink_blob *b)
{
	free(b);
}

static int sink_set_name(bale_sink *sink, const char *ref, const bale_descriptor *root,
                         bale_error **err)
{
	return 0;
}

static int sink_commit(bale_sink *sink, bale_error **err)
{
	return 0;
}

static void sink_free(bale_sink *sink) {}

static const bale_sink_ops hash_sink_ops = {
    .has_blob = sink_has_blob,
    .blob_open = sink_blob_open,
    .blob_write = sink_blob_write,
    .blob_rewind = sink_blob_rewind,
    .blob_commit = sink_blob_commit,
    .blob_abort = sink_blob_abort,
    .set_name = sink_set_name,
    .commit = sink_commit,
    .free = sink_free,
};

/* ---- reading blobs ---- */

static int reg_read(void *ctx, const bale_descriptor *d, bale_buf *out, bale_error **err)
{
	reg_check *c = ctx;
	char media_type[128];
	bale_digest got;
	bale_error *e = NULL;
	int rc =
	    bale_registry_get_manifest(c->reg, c->repo, d->digest.str, out, media_type, &got, &e);
	if (rc == BALE_EVERIFY && out->data) { /* the bytes came: the walk judges them */
		bale_error_free(e);
		return 0;
	}
	if (rc == BALE_EGENERIC) /* a schema 1 manifest, which nothing here reads */
		rc = bale_error_set(err, BALE_EVERIFY, "%s", bale_error_message(e));
	else if (rc < 0 && rc != BALE_ENOTFOUND)
		rc = bale_error_set(err, rc, "%s", bale_error_message(e));
	bale_error_free(e);
	return rc;
}

static int reg_hash(void *ctx, const bale_descriptor *d, check_blob *out, bale_error **err)
{
	reg_check *c = ctx;
	bale_registry_head head;
	bale_registry_fetch *fetch = NULL;
	bale_error *e = NULL;
	int rc = bale_registry_head_blob(c->reg, c->repo, &d->digest, &head, err);
	if (rc < 0 || !head.found)
		return rc;
	out->found = true;
	out->size = head.size;
	if (head.size >= 0 && head.size != d->size) /* the size says enough */
		return 0;
	if (check_digests_has(&c->whole, &d->digest)) {
		out->hashed = true;
		out->digest = d->digest;
		out->size = d->size;
		return 0;
	}
	if ((rc = bale_registry_fetch_new(&fetch, 1, &c->quiet_log, err)) < 0 ||
	    (rc = bale_registry_fetch_add(fetch, c->reg, c->repo, d, &c->sink.base, err)) < 0)
		goto cleanup;
	rc = bale_registry_fetch_run(fetch, &e);
	bale_registry_fetch_free(fetch); /* aborts the blob of a failed run: the hash stays */
	fetch = NULL;
	if (rc == 0 || rc == BALE_EVERIFY) { /* EVERIFY: bytes that hash to something else */
		bale_hasher_final(c->sink.hasher, &out->digest);
		out->hashed = true;
		out->size = c->sink.received;
		rc = 0;
		/* ... or more bytes than HEAD said, which the fetch refused past the size */
		if (bale_digest_equal(&out->digest, &d->digest) && bale_error_code(e) != 0)
			rc = bale_error_set(err, BALE_EVERIFY, "%s", bale_error_message(e));
		else if (bale_digest_equal(&out->digest, &d->digest))
			rc = check_digests_add(&c->whole, &d->digest, err);
	} else if (rc == BALE_ENOTFOUND) { /* gone between HEAD and GET */
		out->found = false;
		rc = 0;
	} else {
		rc = bale_error_set(err, rc, "%s", bale_error_message(e));
	}
cleanup:
	bale_registry_fetch_free(fetch);
	bale_error_free(e);
	return rc;
}

/* Reading the store: name i's repository is where its manifests are. */
static void reg_enter(void *ctx, size_t i)
{
	reg_check *c = ctx;
	c->repo = c->where[i].repo;
}

static check_source reg_source(reg_check *c)
{
	return (check_source){
	    .ctx = c, .read = reg_read, .hash = reg_hash, .scope = c->repo, .enter = reg_enter};
}

/* ---- names ---- */

/* A name to check: HOST/REPO:TAG (or @DIGEST). --image names come checked already. */
static int add_name(reg_check *c, const char *repo, const char *reference, bale_error **err)
{
	char ref[2048];
	bale_descriptor unknown = {.size = -1};
	snprintf(ref, sizeof(ref), "%s/%s%s%s", c->domain, repo, strchr(reference, ':') ? "@" : ":",
	         reference);
	if (!check_opts(c->run)->n_images && !check_wanted(c->run, ref))
		return 0;
	reg_name *grown = realloc(c->where, (c->names.n + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	c->where = grown;
	reg_name *w = &c->where[c->names.n];
	w->repo = strdup(repo);
	w->reference = strdup(reference);
	if (!w->repo || !w->reference) {
		free(w->repo);
		free(w->reference);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	int rc = check_names_add(&c->names, ref, &unknown, err);
	if (rc < 0) {
		free(w->repo);
		free(w->reference);
	}
	return rc;
}

/* Is repo under PREFIX (every repository without one)? */
static bool under_prefix(const reg_check *c, const char *repo)
{
	size_t n = c->prefix ? strlen(c->prefix) : 0;
	return !n || (strncmp(repo, c->prefix, n) == 0 && repo[n] == '/');
}

static int add_repository(reg_check *c, const char *repo, bale_error **err)
{
	char **tags = NULL;
	size_t n = 0;
	int rc = bale_registry_tags(c->reg, repo, &tags, &n, err);
	if (rc == BALE_ENOTFOUND) { /* listed, but emptied since: nothing to check */
		bale_error_clear(err);
		return 0;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = add_name(c, repo, tags[i], err);
	bale_registry_list_free(tags, n);
	return rc;
}

/* Does the registry have this tag (or digest) in repo? */
static int have_reference(reg_check *c, const char *repo, const char *reference, bool *there,
                          bale_error **err)
{
	char **tags = NULL;
	size_t n = 0;
	bale_registry_head head;
	int rc = 0;
	*there = false;
	if (strchr(reference, ':')) {
		if ((rc = bale_registry_head_manifest(c->reg, repo, reference, &head, err)) == 0)
			*there = head.found;
		return rc;
	}
	rc = bale_registry_tags(c->reg, repo, &tags, &n, err);
	if (rc == BALE_ENOTFOUND) { /* no such repository */
		bale_error_clear(err);
		rc = 0;
	}
	for (size_t k = 0; k < n && !*there; k++)
		*there = strcmp(tags[k], reference) == 0;
	bale_registry_list_free(tags, n);
	return rc;
}

/* --image: each must name a tag (or digest) the registry has under PREFIX. */
static int add_wanted(reg_check *c, bale_error **err)
{
	const bale_check_options *o = check_opts(c->run);
	int rc = 0;
	for (size_t i = 0; i < o->n_images && rc == 0; i++) {
		bale_ref *ref = NULL;
		bool there = false;
		if ((rc = bale_ref_parse(&ref, o->images[i], err)) < 0)
			break;
		const char *repo = bale_ref_path(ref);
		const char *reference =
		    bale_ref_digest(ref) ? bale_ref_digest(ref) : bale_ref_tag(ref);
		if (strcmp(bale_ref_domain(ref), c->domain) != 0 || !under_prefix(c, repo))
			rc = bale_error_set(err, BALE_ENOTFOUND,
			                    "%s: not an image of registry://%s%s%s",
			                    bale_ref_string(ref), c->domain, c->prefix ? "/" : "",
			                    c->prefix ? c->prefix : "");
		else if ((rc = have_reference(c, repo, reference, &there, err)) == 0 && !there)
			rc = bale_error_set(err, BALE_ENOTFOUND,
			                    "%s: the store has no image of that name",
			                    bale_ref_string(ref));
		if (rc == 0)
			rc = add_name(c, repo, reference, err);
		bale_ref_free(ref);
	}
	return rc;
}

static int load_names(reg_check *c, bale_error **err)
{
	char **repos = NULL;
	size_t n = 0;
	if (check_opts(c->run)->n_images)
		return add_wanted(c, err);
	int rc = bale_registry_catalog(c->reg, &repos, &n, err);
	if (rc < 0)
		return bale_error_wrap(err, "the registry does not list its repositories: name the "
		                            "images to check with --image");
	for (size_t i = 0; i < n && rc == 0; i++)
		if (under_prefix(c, repos[i]))
			rc = add_repository(c, repos[i], err);
	bale_registry_list_free(repos, n);
	return rc;
}

/* The root of a name: what its tag resolves to now. */
static int resolve(reg_check *c, size_t i, bool *found, bale_error **err)
{
	check_name *n = &c->names.items[i];
	const reg_name *w = &c->where[i];
	bale_registry_head head;
	int rc = bale_registry_head_manifest(c->reg, w->repo, w->reference, &head, err);
	*found = rc == 0 && head.found;
	if (!*found)
		return rc;
	n->root.size = head.size;
	snprintf(n->root.media_type, sizeof(n->root.media_type), "%s", head.media_type);
	if (head.has_digest) {
		n->root.digest = head.digest;
		return 0;
	}
	/* No Docker-Content-Digest: the bytes of the tag say what it resolves to. */
	bale_buf bytes;
	char media_type[128];
	bale_buf_init(&bytes, BALE_CAP_MANIFEST, "manifest");
	rc = bale_registry_get_manifest(c->reg, w->repo, w->reference, &bytes, media_type,
	                                &n->root.digest, err);
	bale_buf_free(&bytes);
	return rc;
}

/* Reading the store: every name resolved to its root (a tag the registry cannot serve
 * has none), then the caller reads (check_names_walk). */
static int read_names(reg_check *c, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < c->names.n && rc == 0; i++) {
		bool found = false;
		if ((rc = resolve(c, i, &found, err)) == 0 && !found)
			c->names.items[i].root.digest.str[0] = '\0';
	}
	c->repo = c->names.n ? c->where[0].repo : NULL;
	check_source src = reg_source(c);
	return rc < 0 ? rc : check_names_walk(c->run, &src, &c->names, err);
}

static int walk_names(reg_check *c, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < c->names.n && rc == 0; i++) {
		check_name *n = &c->names.items[i];
		bool found = false;
		if ((rc = resolve(c, i, &found, err)) < 0)
			break;
		c->repo = c->where[i].repo;
		check_source src = reg_source(c);
		if (found) {
			rc = check_walk(c->run, &src, n, err);
			continue;
		}
		/* Listed, yet not served: the manifest's bytes are gone from the storage. */
		check_summary(c->run)->images++;
		check_summary(c->run)->damaged_images++;
		n->checked = n->damaged = true;
		rc =
		    check_add(c->run, NULL, err, BALE_CHECK_MISSING, n->ref, "manifest", NULL, NULL,
		              "missing: the registry lists the tag but cannot serve its manifest");
	}
	return rc;
}

/* ---- repair ---- */

static int repair(reg_check *c, bale_error **err)
{
	bale_registry *del = NULL;
	bale_registry_options o = c->ropts;
	char **refusal = calloc(c->names.n + 1, sizeof(*refusal));
	int rc = 0;
	o.delete_access = true; /* tokens scoped "pull,delete" */
	if (!refusal)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if ((rc = bale_registry_open(&del, c->domain, &o, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < c->names.n && rc == 0; i++) {
		check_name *n = &c->names.items[i];
		bale_error *e = NULL;
		if (!n->damaged)
			continue;
		/* By digest where known: distribution deletes manifests by digest only, and
		 * every tag on it goes with it (they name the same damaged content). */
		const char *reference =
		    n->root.digest.str[0] ? n->root.digest.str : c->where[i].reference;
		int d = bale_registry_delete_manifest(del, c->where[i].repo, reference, &e);
		if (d == 0 || d == BALE_ENOTFOUND) {
			n->dropped = true;
			check_summary(c->run)->names_dropped += d == 0;
		} else if (!(refusal[i] = strdup(bale_error_message(e)))) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		}
		bale_error_free(e);
	}
	for (size_t k = 0; k < check_count(c->run) && rc == 0; k++) {
		check_item *it = check_at(c->run, k);
		const bale_check_finding *f = check_item_finding(it);
		bale_digest d;
		for (size_t i = 0; i < c->names.n; i++) {
			if (!f->ref || strcmp(f->ref, c->names.items[i].ref) != 0)
				continue;
			if (!c->names.items[i].dropped)
				check_set_repair(it, false, "%s",
				                 refusal[i] ? refusal[i] : "not deleted");
			else if (check_item_damaged_blob(it, &d))
				check_set_repair(
				    it, true,
				    "name dropped (manifest deleted); the damaged bytes stay "
				    "in the registry's storage, which only its operator can "
				    "replace");
			else
				check_set_repair(it, true, "name dropped (manifest deleted)");
			break;
		}
	}
cleanup:
	for (size_t i = 0; i < c->names.n; i++)
		free(refusal[i]);
	free(refusal);
	bale_registry_free(del);
	return rc;
}

/* ---- the check ---- */

static int parse_location(reg_check *c, const char *location, bale_error **err)
{
	return bale_store_registry_location(location, &c->domain, &c->prefix, err);
}

int check_registry(check_run *run, const char *location, bale_error **err)
{
	reg_check c = {.run = run};
	const bale_store_options *so = check_opts(run)->store;
	const bale_log *log = check_log(run);
	bool any = false;
	int rc = parse_location(&c, location, err);
	if (rc < 0) /* the address is not repeated: it may hold a password */
		return rc;
	if (so && so->registry)
		c.ropts = *so->registry;
	else
		bale_registry_options_init(&c.ropts);
	if (log) {
		c.quiet_log = *log;
		c.quiet_log.progress = NULL;
	}
	c.sink.base.ops = &hash_sink_ops;
	if (rc < 0 || (rc = bale_hasher_new(&c.sink.hasher, err)) < 0 ||
	    (rc = bale_registry_open(&c.reg, c.domain, &c.ropts, err)) < 0 ||
	    (rc = bale_registry_ping(c.reg, err)) < 0 || (rc = load_names(&c, err)) < 0 ||
	    (rc = check_reading(run) ? read_names(&c, err) : walk_names(&c, err)) < 0)
		goto cleanup;
	check_summary(run)->partials_unlisted = true;
	for (size_t i = 0; i < c.names.n; i++)
		any |= c.names.items[i].damaged;
	if (check_opts(run)->repair && any)
		rc = repair(&c, err);
cleanup:
	if (rc < 0)
		bale_error_wrap(err, "store registry://%s", location);
	for (size_t i = 0; i < c.names.n; i++) {
		free(c.where[i].repo);
		free(c.where[i].reference);
	}
	free(c.where);
	check_names_free(&c.names);
	check_digests_free(&c.whole);
	bale_registry_free(c.reg);
	bale_hasher_free(c.sink.hasher);
	free(c.domain);
	free(c.prefix);
	return rc;
}
