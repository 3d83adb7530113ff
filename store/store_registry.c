/* The registry store (registry://HOST[:PORT][/PREFIX]): images pushed to a site registry
 * for sites whose nodes pull from one. An image docker.io/library/nginx:1.25 lands at
 * HOST/PREFIX/library/nginx:1.25. Blobs are checked for and uploaded once, then mounted
 * into every other repository that needs them; manifests go by digest, children first,
 * and tags last, so the registry names nothing whose content is not there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/buf.h"
#include "bale/manifest.h"
#include "bale/ref.h"
#include "bale/registry.h"
#include "bale/store.h"
#include "bale/sys/sink.h"
#include "store/store_private.h"

typedef struct entry {
	bale_descriptor desc;
	bool manifest; /* kept aside and PUT as a manifest, not uploaded as a blob */
	char **repos;  /* repositories whose images need it */
	bool *there;   /* per repository: the registry has it */
	size_t n_repos;
	bool arrived; /* a manifest: its bytes wait in the store's spool */
} entry;

typedef struct image_name {
	char *ref, *repo, *tag; /* tag NULL for a digest-only reference */
	bale_descriptor root;
} image_name;

typedef struct reg_store {
	bale_sink base;
	bale_registry *reg;
	char *domain, *prefix;
	int depth; /* of each repository path kept (0: all) */
	/* The source path each target repository came from, to refuse two that meet. */
	struct origin {
		char *repo, *from;
	} * origins;
	size_t n_origins;
	entry *entries;
	size_t n_entries, alloc;
	image_name *names;
	size_t n_names;
	/* Manifests wait here until commit (they go after every blob, tags last): on disk, not
	 * in memory, whatever their number and size. Made on first use. */
	bale_sink *spool;
} reg_store;

struct bale_sink_blob {
	reg_store *s;
	entry *e;
	bale_registry_upload *upload; /* a blob */
	bale_buf buf;                 /* a manifest */
};

static entry *find(reg_store *s, const bale_digest *d)
{
	for (size_t i = 0; i < s->n_entries; i++)
		if (bale_digest_equal(&s->entries[i].desc.digest, d))
			return &s->entries[i];
	return NULL;
}

/* The repository on the site registry for an image reference, and its tag. */
static int target(reg_store *s, const char *text, char **repo, char **tag, bale_error **err)
{
	bale_ref *ref = NULL;
	int rc = bale_ref_parse(&ref, text, err);
	if (rc < 0)
		return rc;
	const char *path = bale_ref_path_tail(bale_ref_path(ref), s->depth);
	size_t n = strlen(path) + (s->prefix ? strlen(s->prefix) : 0) + 2;
	if ((*repo = malloc(n)))
		snprintf(*repo, n, "%s%s%s", s->prefix ? s->prefix : "", s->prefix ? "/" : "",
		         path);
	*tag = bale_ref_tag(ref) ? strdup(bale_ref_tag(ref)) : NULL;
	if (!*repo || (bale_ref_tag(ref) && !*tag))
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	bool known = false; /* the same repository from the same path: recorded already */
	for (size_t i = 0; rc == 0 && s->depth && i < s->n_origins && !known; i++) {
		if (strcmp(s->origins[i].repo, *repo) != 0)
			continue;
		known = strcmp(s->origins[i].from, bale_ref_path(ref)) == 0;
		if (!known)
			rc = bale_error_set(
			    err, BALE_EUSAGE,
			    "registry %s: %s and %s would both be %s with a repository "
			    "depth of %d; import them with a greater one",
			    s->domain, s->origins[i].from, bale_ref_path(ref), *repo, s->depth);
	}
	if (rc == 0 && s->depth && !known) {
		struct origin *grown = realloc(s->origins, (s->n_origins + 1) * sizeof(*grown));
		if (grown) {
			s->origins = grown;
			grown[s->n_origins] =
			    (struct origin){strdup(*repo), strdup(bale_ref_path(ref))};
		}
		if (!grown || !grown[s->n_origins].repo || !grown[s->n_origins].from) {
			if (grown) {
				free(grown[s->n_origins].repo);
				free(grown[s->n_origins].from);
			}
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		} else {
			s->n_origins++;
		}
	}
	if (rc < 0) {
		free(*repo);
		free(*tag);
		*repo = *tag = NULL;
	}
	bale_ref_free(ref);
	return rc;
}

static int reg_blob_for(bale_sink *sink, const bale_descriptor *desc, const char *ref,
                        bale_error **err)
{
	reg_store *s = (reg_store *)sink;
	char *repo = NULL, *tag = NULL;
	int rc = target(s, ref, &repo, &tag, err);
	free(tag);
	if (rc < 0)
		return rc;
	entry *e = find(s, &desc->digest);
	if (!e) {
		if (s->n_entries == s->alloc) {
			size_t want = s->alloc ? s->alloc * 2 : 64;
			entry *grown = realloc(s->entries, want * sizeof(*grown));
			if (!grown) {
				free(repo);
				return bale_error_set(err, BALE_EGENERIC, "out of memory");
			}
			s->entries = grown;
			s->alloc = want;
		}
		e = &s->entries[s->n_entries++];
		memset(e, 0, sizeof(*e));
		e->desc = *desc;
		e->manifest = bale_manifest_type_is_index(desc->media_type) ||
		              bale_manifest_type_is_manifest(desc->media_type);
	}
	for (size_t i = 0; i < e->n_repos; i++)
		if (strcmp(e->repos[i], repo) == 0) {
			free(repo);
			return 0;
		}
	char **repos = realloc(e->repos, (e->n_repos + 1) * sizeof(*repos));
	bool *there = realloc(e->there, (e->n_repos + 1) * sizeof(*there));
	if (repos)
		e->repos = repos;
	if (there)
		e->there = there;
	if (!repos || !there) {
		free(repo);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	e->repos[e->n_repos] = repo;
	e->there[e->n_repos++] = false;
	return 0;
}

/* What the registry has already, asked once per repository. A blob anywhere on the
 * registry need not travel again: it is mounted where it is missing. */
static int reg_has_blob(bale_sink *sink, const bale_descriptor *desc, bool *out, bale_error **err)
{
	reg_store *s = (reg_store *)sink;
	entry *e = find(s, &desc->digest);
	int rc = 0;
	*out = false;
	if (!e)
		return bale_error_set(err, BALE_EGENERIC, "registry store: no image names blob %s",
		                      desc->digest.str);
	bool all = true;
	for (size_t i = 0; i < e->n_repos && rc == 0; i++) {
		if (!e->there[i])
			rc = e->manifest
			         ? bale_registry_manifest_exists(s->reg, e->repos[i], &desc->digest,
			                                         &e->there[i], err)
			         : bale_registry_blob_exists(s->reg, e->repos[i], desc,
			                                     &e->there[i], err);
		*out |= e->there[i];
		all &= e->there[i];
	}
	/* A manifest must be PUT into each repository that lacks it: it needs its bytes. */
	if (e->manifest)
		*out = all;
	return rc;
}

static int reg_blob_open(bale_sink *sink, const bale_descriptor *desc, bale_sink_blob **out,
                         bale_error **err)
{
	reg_store *s = (reg_store *)sink;
	entry *e = find(s, &desc->digest);
	if (!e)
		return bale_error_set(err, BALE_EGENERIC, "registry store: no image names blob %s",
		                      desc->digest.str);
	bale_sink_blob *b = calloc(1, sizeof(*b));
	if (!b)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	b->s = s;
	b->e = e;
	bale_buf_init(&b->buf, BALE_CAP_MANIFEST, "manifest");
	int rc = e->manifest
	             ? 0
	             : bale_registry_upload_begin(&b->upload, s->reg, e->repos[0], desc, err);
	if (rc < 0)
		free(b);
	else
		*out = b;
	return rc;
}

static int reg_blob_write(bale_sink_blob *b, const void *data, size_t len, bale_error **err)
{
	return b->upload ? bale_registry_upload_write(b->upload, data, len, err)
	                 : bale_buf_append(&b->buf, data, len, err);
}

static int reg_blob_rewind(bale_sink_blob *b, bale_error **err)
{
	if (b->upload)
		return bale_error_set(err, BALE_ESTORE,
		                      "blob %s: an upload cannot start over once bytes are sent",
		                      b->e->desc.digest.str);
	bale_buf_reset(&b->buf);
	return 0;
}

static void blob_free(bale_sink_blob *b)
{
	bale_registry_upload_free(b->upload);
	bale_buf_free(&b->buf);
	free(b);
}

static int reg_blob_commit(bale_sink_blob *b, bale_error **err)
{
	int rc = 0;
	reg_store *s = b->s;
	if (b->upload) {
		if ((rc = bale_registry_upload_finish(b->upload, err)) == 0)
			b->e->there[0] = true;
	} else if ((s->spool || (rc = bale_store_scratch_open(&s->spool, err)) == 0) &&
	           (rc = bale_sink_put_bytes(s->spool, &b->e->desc, b->buf.data, b->buf.len,
	                                     err)) == 0) {
		b->e->arrived = true;
	}
	blob_free(b);
	return rc;
}

static void reg_blob_abort(bale_sink_blob *b)
{
	blob_free(b);
}

static int reg_set_name(bale_sink *sink, const char *ref, const bale_descriptor *root,
                        bale_error **err)
{
	reg_store *s = (reg_store *)sink;
	if (bale_ref_check_name(ref, err) < 0)
		return bale_error_wrap(err, "registry %s", s->domain);
	image_name *grown = realloc(s->names, (s->n_names + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	s->names = grown;
	image_name *n = &s->names[s->n_names];
	memset(n, 0, sizeof(*n));
	n->root = *root;
	int rc = target(s, ref, &n->repo, &n->tag, err);
	if (rc == 0 && !(n->ref = strdup(ref)))
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	s->n_names++; /* freed with the store either way */
	return rc;
}

/* Blobs missing in some repository are mounted from one that has them. */
static int mount_missing(reg_store *s, bale_error **err)
{
	for (size_t i = 0; i < s->n_entries; i++) {
		entry *e = &s->entries[i];
		ssize_t from = -1;
		for (size_t k = 0; k < e->n_repos && from < 0; k++)
			if (e->there[k])
				from = (ssize_t)k;
		for (size_t k = 0; !e->manifest && from >= 0 && k < e->n_repos; k++) {
			if (e->there[k])
				continue;
			bool mounted = false;
			int rc = bale_registry_blob_mount(s->reg, e->repos[k], e->repos[from],
			                                  &e->desc, &mounted, err);
			if (rc < 0)
				return rc;
			if (!mounted)
				return bale_error_set(
				    err, BALE_ESTORE,
				    "%s: the registry declined to mount %s from %s into %s",
				    s->domain, e->desc.digest.str, e->repos[from], e->repos[k]);
			e->there[k] = true;
		}
	}
	return 0;
}

/* PUTs a manifest the registry lacks in repo (children before their index). */
static int put_manifest(reg_store *s, entry *e, size_t k, const char *ref, bale_error **err)
{
	if (e->there[k])
		return 0;
	if (!e->arrived)
		return bale_error_set(err, BALE_ESTORE, "%s: manifest %s never arrived", ref,
		                      e->desc.digest.str);
	bale_buf bytes;
	bale_buf_init(&bytes, BALE_CAP_MANIFEST, "manifest");
	int rc = bale_sink_read(s->spool, &e->desc, &bytes, err);
	if (rc == 0)
		rc = bale_registry_put_manifest(s->reg, e->repos[k], e->desc.digest.str,
		                                e->desc.media_type, bytes.data, bytes.len, err);
	bale_buf_free(&bytes);
	if (rc == BALE_EVERIFY && bale_manifest_type_is_index(e->desc.media_type))
		return bale_error_wrap(
		    err,
		    "%s: the registry refuses the index, most likely because the "
		    "bundle carries only some of its platforms (a registry wants "
		    "every platform of an index: import a bundle exported with all "
		    "of them)",
		    ref);
	if (rc == 0)
		e->there[k] = true;
	return rc;
}

static int push_image(reg_store *s, image_name *n, bale_error **err)
{
	int rc = 0;
	entry *root = find(s, &n->root.digest);
	if (!root)
		return bale_error_set(err, BALE_ESTORE, "%s: no root manifest", n->ref);
	size_t k = 0;
	while (k < root->n_repos && strcmp(root->repos[k], n->repo) != 0)
		k++;
	if (k == root->n_repos)
		return bale_error_set(err, BALE_ESTORE, "%s: root not planned for %s", n->ref,
		                      n->repo);
	/* Children first: the manifests this repository needs other than the root, then its
	 * child indexes in the order they came (deepest first). */
	for (int indexes = 0; indexes < 2; indexes++)
		for (size_t i = 0; i < s->n_entries && rc == 0; i++) {
			entry *e = &s->entries[i];
			if (!e->manifest || e == root ||
			    bale_manifest_type_is_index(e->desc.media_type) != (indexes == 1))
				continue;
			for (size_t j = 0; j < e->n_repos && rc == 0; j++)
				if (strcmp(e->repos[j], n->repo) == 0)
					rc = put_manifest(s, e, j, n->ref, err);
		}
	if (rc == 0)
		rc = put_manifest(s, root, k, n->ref, err);
	if (rc == 0 && !n->tag && root->arrived) { /* a referrer, named by its digest */
		bale_buf bytes;
		bale_buf_init(&bytes, BALE_CAP_MANIFEST, "manifest");
		if ((rc = bale_sink_read(s->spool, &root->desc, &bytes, err)) == 0)
			rc = store_link_referrer(s->reg, n->repo, &root->desc, bytes.data,
			                         bytes.len, err);
		bale_buf_free(&bytes);
	}
	if (rc < 0 || !n->tag)
		return rc;
	/* The tag last; the root's bytes come from the registry when they did not travel. */
	bale_buf bytes;
	bale_buf_init(&bytes, BALE_CAP_MANIFEST, "manifest");
	if (root->arrived) {
		rc = bale_sink_read(s->spool, &root->desc, &bytes, err);
	} else {
		char media_type[128];
		bale_digest d;
		rc = bale_registry_get_manifest(s->reg, n->repo, root->desc.digest.str, &bytes,
		                                media_type, &d, err);
	}
	if (rc == 0)
		rc = bale_registry_put_manifest(s->reg, n->repo, n->tag, root->desc.media_type,
		                                bytes.data, bytes.len, err);
	bale_buf_free(&bytes);
	return rc;
}

static int reg_commit(bale_sink *sink, bale_error **err)
{
	reg_store *s = (reg_store *)sink;
	int rc = mount_missing(s, err);
	for (size_t i = 0; i < s->n_names && rc == 0; i++)
		rc = push_image(s, &s->names[i], err);
	return rc < 0 ? bale_error_wrap(err, "registry %s", s->domain) : 0;
}

static void reg_free(bale_sink *sink)
{
	reg_store *s = (reg_store *)sink;
	for (size_t i = 0; i < s->n_entries; i++) {
		for (size_t k = 0; k < s->entries[i].n_repos; k++)
			free(s->entries[i].repos[k]);
		free(s->entries[i].repos);
		free(s->entries[i].there);
	}
	free(s->entries);
	for (size_t i = 0; i < s->n_names; i++) {
		free(s->names[i].ref);
		free(s->names[i].repo);
		free(s->names[i].tag);
	}
	free(s->names);
	for (size_t i = 0; i < s->n_origins; i++) {
		free(s->origins[i].repo);
		free(s->origins[i].from);
	}
	free(s->origins);
	bale_sink_free(s->spool);
	bale_registry_free(s->reg);
	free(s->domain);
	free(s->prefix);
	free(s);
}

static const bale_sink_ops reg_ops = {
    .has_blob = reg_has_blob,
    .blob_open = reg_blob_open,
    .blob_write = reg_blob_write,
    .blob_rewind = reg_blob_rewind,
    .blob_commit = reg_blob_commit,
    .blob_abort = reg_blob_abort,
    .set_name = reg_set_name,
    .commit = reg_commit,
    .free = reg_free,
    .blob_for = reg_blob_for,
    .traits = BALE_SINK_LEAVES_FOREIGN,
};

int bale_store_registry_open(bale_sink **out, const char *location,
                             const bale_registry_options *ropts, int repository_depth,
                             bale_error **err)
{
	int rc = 0;
	reg_store *s = calloc(1, sizeof(*s));
	if (!s)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	s->base.ops = &reg_ops;
	s->depth = repository_depth;
	if ((rc = bale_store_registry_location(location, &s->domain, &s->prefix, err)) < 0) {
		reg_free(&s->base); /* the address is not repeated: it may hold a password */
		return rc;
	}
	bale_registry_options o = *ropts;
	o.push = true;
	if ((rc = bale_registry_open(&s->reg, s->domain, &o, err)) < 0 ||
	    (rc = bale_registry_ping(s->reg, err)) < 0)
		goto cleanup;
cleanup:
	if (rc < 0) {
		bale_error_wrap(err, "store registry://%s", location);
		reg_free(&s->base);
	} else {
		*out = &s->base;
	}
	return rc;
}
