/* Making a prune plan: the store's images (a root digest and its names), each kept for
 * every reason that holds, the rest removed. Only what the ledger says bale imported can
 * go; containerd's CRI names an image it sees "sha256:<config digest>", and such names go
 * with the image they name. */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bale/index_db.h"
#include "bale/bundle.h"
#include "bale/k8s.h"
#include "bale/ledger.h"
#include "bale/node.h"
#include "bale/ref.h"
#include "bale/slots.h"
#include "prune/prune_private.h"

/* ---- images ---- */

bool prune_runtime_alias(const char *name)
{
	return strncmp(name, "sha256:", 7) == 0;
}

int prune_add_name(bale_prune_image *img, const char *name, bale_error **err)
{
	for (size_t i = 0; i < img->n_names; i++)
		if (strcmp(img->names[i], name) == 0)
			return 0;
	char **grown = realloc(img->names, (img->n_names + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	img->names = grown;
	if (!(img->names[img->n_names] = strdup(name)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	img->n_names++;
	return 0;
}

int prune_add_why(bale_prune_image *img, bale_error **err, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	size_t old = img->why ? strlen(img->why) : 0;
	if (img->why && strstr(img->why, text))
		return 0;
	char *grown = realloc(img->why, old + strlen(text) + 3);
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	img->why = grown;
	snprintf(img->why + old, strlen(text) + 3, "%s%s", old ? "; " : "", text);
	return 0;
}

void prune_image_free(bale_prune_image *img)
{
	for (size_t i = 0; i < img->n_names; i++)
		free(img->names[i]);
	free(img->names);
	free(img->why);
	free(img->blobs);
}

static int by_keep_then_name(const void *a, const void *b)
{
	const bale_prune_image *x = a, *y = b;
	if ((x->keep != 0) != (y->keep != 0))
		return x->keep ? 1 : -1;
	return strcmp(x->n_names ? x->names[0] : x->digest, y->n_names ? y->names[0] : y->digest);
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void prune_plan_sort(bale_prune_plan *plan)
{
	for (size_t i = 0; i < plan->n_images; i++)
		if (plan->images[i].n_names > 1)
			qsort(plan->images[i].names, plan->images[i].n_names, sizeof(char *),
			      by_string);
	if (plan->n_images > 1)
		qsort(plan->images, plan->n_images, sizeof(*plan->images), by_keep_then_name);
	plan->n_removed = 0;
	while (plan->n_removed < plan->n_images && !plan->images[plan->n_removed].keep)
		plan->n_removed++;
}

const char *bale_prune_reason_name(unsigned bit)
{
	static const char *const names[] = {"used",   "manifests", "bundle",
	                                    "newest", "not-bale",  "changed"};
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (bit & (1u << i))
			return names[i];
	return "";
}

/* ---- the decision ---- */

/* What the ledger says bale put in the store: (ref, digest) pairs, latest import first. */
typedef struct imported {
	char *ref, *repo, *digest;
	char *pinned_ref; /* REPO@DIGEST: the name bale gives every image it imports */
	int64_t import_id;
} imported;

typedef struct making {
	const bale_prune_options *opts;
	bale_prune_plan *plan;
	bale_node node;
	imported *rows;
	size_t n_rows;
	/* registry://HOST[/PREFIX]: where an image of reference R lands, as the import
	 * names it there (HOST/PREFIX/PATH, PATH the last repository_depth components) */
	char *domain, *prefix;
	bale_slots *by_digest; /* the plan's images by root digest */
	/* the names imports gave: each row's ref and pinned_ref, and an index of them */
	const char **put;
	bale_slots *put_index;
} making;

/* The name an image bale carried as text has in the store (a registry's own name for
 * it; the text itself in a node store), and its repository; false when text is not a
 * reference. */
static bool store_name(const making *m, const char *text, char *name, size_t name_size, char *repo,
                       size_t repo_size)
{
	bale_ref *r = NULL;
	if (bale_ref_parse(&r, text, NULL) < 0)
		return false;
	if (!m->domain) {
		snprintf(name, name_size, "%s", bale_ref_string(r));
		snprintf(repo, repo_size, "%s", bale_ref_name(r));
	} else {
		const char *path = bale_ref_path_tail(bale_ref_path(r), m->opts->repository_depth);
		snprintf(repo, repo_size, "%s/%s%s%s", m->domain, m->prefix ? m->prefix : "",
		         m->prefix ? "/" : "", path);
		snprintf(name, name_size, "%s%s%s", repo, bale_ref_digest(r) ? "@" : ":",
		         bale_ref_digest(r) ? bale_ref_digest(r) : bale_ref_tag(r));
	}
	bale_ref_free(r);
	return true;
}

const char *prune_image_key(const void *items, size_t pos)
{
	return ((const bale_prune_image *)items)[pos].digest;
}

static bale_prune_image *image_at(making *m, const char *digest)
{
	size_t i = bale_slots_find(m->by_digest, m->plan->images, digest);
	return i == SIZE_MAX ? NULL : &m->plan->images[i];
}

/* The image a name (or a digest reference) of the store points at, or NULL. */
static bale_prune_image *image_named(making *m, const char *name)
{
	const bale_node_name *n = bale_node_find(&m->node, name);
	if (n && n->digest[0])
		return image_at(m, n->digest);
	const char *at = strchr(name, '@');
	return at ? image_at(m, at + 1) : NULL;
}

static int add_row(void *payload, const char *ref, const char *digest, int64_t import_id,
                   bale_error **err)
{
	making *m = payload;
	char name[2048], repo[2048];
	if (!store_name(m, ref, name, sizeof(name), repo, sizeof(repo)))
		return 0; /* not a reference bale writes: nothing of ours to match */
	imported *grown = realloc(m->rows, (m->n_rows + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	m->rows = grown;
	imported *row = &m->rows[m->n_rows++];
	memset(row, 0, sizeof(*row));
	row->import_id = import_id;
	row->ref = strdup(name);
	row->repo = strdup(repo);
	row->digest = strdup(digest);
	size_t size = strlen(repo) + strlen(digest) + 2;
	row->pinned_ref = malloc(size);
	if (!row->ref || !row->repo || !row->digest || !row->pinned_ref)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	snprintf(row->pinned_ref, size, "%s@%s", repo, digest);
	return 0;
}

static int by_import_desc(const void *a, const void *b)
{
	const imported *x = a, *y = b;
	return x->import_id < y->import_id ? 1 : x->import_id > y->import_id ? -1 : 0;
}

static int read_ledger(making *m, bale_error **err)
{
	static const char def[] = "containerd:" BALE_DEFAULT_CONTAINERD_SOCKET;
	const char *stores[3] = {m->opts->store, NULL, NULL};
	char oci[PATH_MAX + 8];
	size_t n = 1;
	sqlite3 *db = NULL;
	if (strcmp(m->opts->store, "containerd") == 0)
		stores[n++] = def;
	else if (strcmp(m->opts->store, def) == 0)
		stores[n++] = "containerd";
	else if (strncmp(m->opts->store, "oci:", 4) == 0) {
		char real[PATH_MAX];
		if (realpath(m->opts->store + 4, real) && strcmp(real, m->opts->store + 4) != 0) {
			snprintf(oci, sizeof(oci), "oci:%s", real);
			stores[n++] = oci;
		}
	}
	int rc = bale_ledger_open_readonly(&db, m->opts->ledger, err);
	if (rc == BALE_ENOTFOUND) { /* nothing on record: nothing of bale's to prune */
		bale_error_clear(err);
		return 0;
	}
	if (rc == 0)
		rc = bale_ledger_each_image(db, stores, n, add_row, m, err);
	sqlite3_close(db);
	if (rc == 0 && m->n_rows > 1)
		qsort(m->rows, m->n_rows, sizeof(*m->rows), by_import_desc);
	if (rc == 0 && m->n_rows && !(m->put = calloc(2 * m->n_rows, sizeof(*m->put))))
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; i < m->n_rows && rc == 0; i++) {
		m->put[2 * i] = m->rows[i].ref;
		m->put[2 * i + 1] = m->rows[i].pinned_ref;
		if ((rc = bale_slots_put(m->put_index, m->put, 2 * i, err)) == 0)
			rc = bale_slots_put(m->put_index, m->put, 2 * i + 1, err);
	}
	return rc;
}

static const char *put_key(const void *items, size_t pos)
{
	return ((const char *const *)items)[pos];
}

/* Did an import put this name there? A tag as the ledger lists it, or the digest
 * reference REPO@DIGEST bale names every image by. */
static bool bale_put(const making *m, const char *name)
{
	return m->put && bale_slots_find(m->put_index, m->put, name) != SIZE_MAX;
}

static int group_names(making *m, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < m->node.n_names && rc == 0; i++) {
		const bale_node_name *n = &m->node.names[i];
		if (!n->digest[0])
			continue;
		bale_prune_image *img = image_at(m, n->digest);
		if (!img) {
			bale_prune_plan *p = m->plan;
			bale_prune_image *grown =
			    realloc(p->images, (p->n_images + 1) * sizeof(*grown));
			if (!grown)
				return bale_error_set(err, BALE_EGENERIC, "out of memory");
			p->images = grown;
			img = &p->images[p->n_images];
			memset(img, 0, sizeof(*img));
			snprintf(img->digest, sizeof(img->digest), "%s", n->digest);
			if ((rc = bale_slots_put(m->by_digest, p->images, p->n_images++, err)) < 0)
				return rc;
		}
		rc = prune_add_name(img, n->name, err);
		if (rc < 0 || prune_runtime_alias(n->name))
			continue;
		if (!bale_put(m, n->name)) {
			img->keep |= BALE_PRUNE_NOT_BALE;
			rc = prune_add_why(img, err, "%s %s, which bale did not import",
			                   n->pinned ? "pinned as" : "named", n->name);
		}
	}
	/* An image none of whose names bale put there is not bale's to remove. */
	for (size_t i = 0; i < m->plan->n_images && rc == 0; i++) {
		bale_prune_image *img = &m->plan->images[i];
		bool ours = false;
		for (size_t k = 0; k < img->n_names && !ours; k++)
			ours = !prune_runtime_alias(img->names[k]) && bale_put(m, img->names[k]);
		if (!ours && !(img->keep & BALE_PRUNE_NOT_BALE)) {
			img->keep |= BALE_PRUNE_NOT_BALE;
			rc = prune_add_why(img, err, "no name bale imported");
		}
	}
	return rc;
}

static int keep_used(making *m, bale_error **err)
{
	int rc = 0;
	/* Never remove what a container uses: a container whose image cannot be told could
	 * use any of them. */
	if (m->node.n_unknown) {
		char more[64] = "";
		if (m->node.n_unknown > 1)
			snprintf(more, sizeof(more), " (and %zu more)", m->node.n_unknown - 1);
		return bale_error_set(
		    err, BALE_ESTORE,
		    "%s: container %s%s names no image, in its record or its "
		    "spec's CRI annotations: bale prune removes nothing while it "
		    "cannot tell what every container uses; prune once it is gone",
		    m->opts->store, m->node.unknown[0], more);
	}
	for (size_t i = 0; i < m->node.n_used && rc == 0; i++) {
		bale_prune_image *img = image_named(m, m->node.used[i]);
		if (img) {
			img->keep |= BALE_PRUNE_USED;
			rc =
			    prune_add_why(img, err, "used by a container (as %s)", m->node.used[i]);
		}
	}
	return rc;
}

/* The image a reference as written (in a manifest, in a bundle) names in the store: by
 * its digest, else by its name as the store gives it (and, in a registry store, as
 * written: manifests relocated there name it so already). */
static bale_prune_image *image_for_ref(making *m, const char *text, const char *digest)
{
	char name[2048], repo[2048];
	bale_ref *r = NULL;
	bale_prune_image *img = digest && *digest ? image_at(m, digest) : NULL;
	if (!img && bale_ref_parse(&r, text, NULL) == 0) {
		const char *d = bale_ref_digest(r);
		img = d ? image_at(m, d) : image_named(m, bale_ref_string(r));
		bale_ref_free(r);
	}
	if (!img && m->domain && store_name(m, text, name, sizeof(name), repo, sizeof(repo)))
		img = image_named(m, name);
	return img;
}

static int keep_manifests(making *m, bale_error **err)
{
	bale_k8s_set set = {0};
	int rc = 0;
	for (size_t i = 0; i < m->opts->n_keep_manifests && rc == 0; i++)
		rc = bale_k8s_load(&set, m->opts->keep_manifests[i], err);
	for (size_t w = 0; w < set.n_workloads && rc == 0; w++) {
		const bale_k8s_workload *wl = &set.workloads[w];
		for (size_t c = 0; c < wl->n_containers && rc == 0; c++) {
			const bale_k8s_container *ct = &wl->containers[c];
			bale_prune_image *img =
			    ct->image ? image_for_ref(m, ct->image, NULL) : NULL;
			if (img) {
				img->keep |= BALE_PRUNE_MANIFESTS;
				rc = prune_add_why(img, err, "named by %s/%s (%s:%d)", wl->kind,
				                   wl->name ? wl->name : "?", wl->file, ct->line);
			}
		}
	}
	bale_k8s_set_free(&set);
	return rc;
}

typedef struct bundle_walk {
	making *m;
	const char *path;
	int rc;
	bale_error **err;
} bundle_walk;

static int bundle_row(void *payload, int ncols, const char *const *names, const char *const *values)
{
	bundle_walk *b = payload;
	(void)names;
	if (!values || ncols < 2 || !values[0] || !values[1])
		return 0;
	bale_prune_image *img = image_for_ref(b->m, values[0], values[1]);
	if (img) {
		img->keep |= BALE_PRUNE_BUNDLE;
		if ((b->rc = prune_add_why(img, b->err, "in kept bundle %s", b->path)) < 0)
			return 1;
	}
	return 0;
}

static int keep_bundles(making *m, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < m->opts->n_keep_bundles && rc == 0; i++) {
		bale_bundle_reader *reader = NULL;
		sqlite3 *db = NULL;
		bundle_walk b = {.m = m, .path = m->opts->keep_bundles[i], .err = err};
		if ((rc = bale_index_db_open_bundle(&reader, &db, b.path, err)) < 0) {
			bale_error_wrap(err, "--keep-bundle %s", b.path);
			break;
		}
		rc = bale_index_db_query(db, "SELECT ref, digest FROM images", bundle_row, &b, err);
		if (rc == 0 || b.rc < 0)
			rc = b.rc;
		sqlite3_close(db);
		bale_bundle_close(reader);
	}
	return rc;
}

/* Per repository, the images of its newest N imports (an image imported again counts
 * once, at its latest import): rows are latest first, so an image's rank in its
 * repository is how many other images of it came before. */
typedef struct repo_count {
	const char *repo;
	size_t images;
} repo_count;

static const char *row_image_key(const void *items, size_t pos)
{
	return ((const imported *)items)[pos].pinned_ref;
}

static const char *repo_key(const void *items, size_t pos)
{
	return ((const repo_count *)items)[pos].repo;
}

static int keep_newest(making *m, bale_error **err)
{
	bale_slots *seen = NULL, *by_repo = NULL;
	repo_count *repos = m->n_rows ? calloc(m->n_rows, sizeof(*repos)) : NULL;
	size_t n_repos = 0;
	int rc = 0;
	if (m->n_rows && !repos)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if ((rc = bale_slots_new(&seen, row_image_key, err)) < 0 ||
	    (rc = bale_slots_new(&by_repo, repo_key, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < m->n_rows && rc == 0; i++) {
		const imported *row = &m->rows[i];
		if (bale_slots_find(seen, m->rows, row->pinned_ref) != SIZE_MAX)
			continue; /* imported again earlier: ranked there */
		if ((rc = bale_slots_put(seen, m->rows, i, err)) < 0)
			break;
		size_t r = bale_slots_find(by_repo, repos, row->repo);
		if (r == SIZE_MAX) {
			repos[r = n_repos++] = (repo_count){.repo = row->repo};
			if ((rc = bale_slots_put(by_repo, repos, r, err)) < 0)
				break;
		}
		size_t rank = repos[r].images++;
		bale_prune_image *img =
		    rank < (size_t)m->opts->keep_newest ? image_at(m, row->digest) : NULL;
		if (img) {
			img->keep |= BALE_PRUNE_NEWEST;
			rc = prune_add_why(img, err, "among the newest %d of %s",
			                   m->opts->keep_newest, row->repo);
		}
	}
cleanup:
	bale_slots_free(seen);
	bale_slots_free(by_repo);
	free(repos);
	return rc;
}

static int copy_list(char ***out, size_t *n, const char *const *list, size_t count,
                     bale_error **err)
{
	*n = 0;
	if (!count)
		return 0;
	if (!(*out = calloc(count, sizeof(**out))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (; *n < count; (*n)++)
		if (!((*out)[*n] = strdup(list[*n])))
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
	return 0;
}

static int plan_header(bale_prune_plan *p, const bale_prune_options *o, bale_error **err)
{
	char now[32] = "";
	struct tm tm;
	time_t t = time(NULL);
	if (gmtime_r(&t, &tm))
		strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	p->version = BALE_PRUNE_PLAN_VERSION;
	p->keep_newest = o->keep_newest;
	p->repository_depth = o->repository_depth;
	if (!(p->store = strdup(o->store)) || !(p->ledger = strdup(o->ledger)) ||
	    !(p->created = strdup(now)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	int rc = copy_list(&p->keep_bundles, &p->n_keep_bundles, o->keep_bundles, o->n_keep_bundles,
	                   err);
	return rc < 0 ? rc
	              : copy_list(&p->keep_manifests, &p->n_keep_manifests, o->keep_manifests,
	                          o->n_keep_manifests, err);
}

int bale_prune_plan_make(bale_prune_plan **out, const bale_prune_options *opts, bale_error **err)
{
	making m = {.opts = opts};
	int rc = 0;
	*out = NULL;
	if (opts->keep_newest < 0)
		return bale_error_set(err, BALE_EUSAGE, "--keep-newest: want 0 or more");
	if (!(m.plan = calloc(1, sizeof(*m.plan))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if ((strncmp(opts->store, "registry://", 11) == 0 &&
	     (rc = bale_store_registry_location(opts->store + 11, &m.domain, &m.prefix, err)) <
	         0) ||
	    (rc = bale_slots_new(&m.by_digest, prune_image_key, err)) < 0 ||
	    (rc = bale_slots_new(&m.put_index, put_key, err)) < 0 ||
	    (rc = plan_header(m.plan, opts, err)) < 0 ||
	    (rc = bale_node_read(&m.node, opts->store, opts->store_opts, err)) < 0 ||
	    (rc = read_ledger(&m, err)) < 0 || (rc = group_names(&m, err)) < 0 ||
	    (rc = keep_used(&m, err)) < 0 || (rc = keep_manifests(&m, err)) < 0 ||
	    (rc = keep_bundles(&m, err)) < 0 || (rc = keep_newest(&m, err)) < 0)
		goto cleanup;
	prune_plan_sort(m.plan);
	if ((rc = prune_plan_blobs(m.plan, opts->store_opts, err)) < 0)
		goto cleanup;
	*out = m.plan;
	m.plan = NULL;
cleanup:
	bale_prune_plan_free(m.plan);
	bale_node_free(&m.node);
	for (size_t i = 0; i < m.n_rows; i++) {
		free(m.rows[i].ref);
		free(m.rows[i].repo);
		free(m.rows[i].digest);
		free(m.rows[i].pinned_ref);
	}
	free(m.rows);
	free(m.put);
	bale_slots_free(m.put_index);
	free(m.domain);
	free(m.prefix);
	bale_slots_free(m.by_digest);
	return rc;
}

void bale_prune_plan_free(bale_prune_plan *plan)
{
	if (!plan)
		return;
	for (size_t i = 0; i < plan->n_images; i++)
		prune_image_free(&plan->images[i]);
	for (size_t i = 0; i < plan->n_keep_bundles; i++)
		free(plan->keep_bundles[i]);
	for (size_t i = 0; i < plan->n_keep_manifests; i++)
		free(plan->keep_manifests[i]);
	free(plan->keep_bundles);
	free(plan->keep_manifests);
	free(plan->images);
	free(plan->path);
	free(plan->store);
	free(plan->ledger);
	free(plan->created);
	free(plan);
}
