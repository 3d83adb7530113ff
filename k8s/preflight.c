/* Never-readiness preflight: every container image of the manifests looked up as the
 * kubelet would, against an oci: node store or a bundle's index. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/buf.h"
#include "bale/bundle.h"
#include "bale/check.h"
#include "bale/index_db.h"
#include "bale/manifest.h"
#include "bale/preflight.h"
#include "bale/ref.h"

/* One named image of the store or bundle. */
typedef struct named {
	char *name;
	char digest[80];
	char media_type[128];
} named;

typedef struct catalog {
	named *names;
	size_t n;
	bale_check_view *store; /* a node store, while bale_check_read_store reads it */
	sqlite3 *db;            /* a bundle: its index */
	bale_bundle_reader *reader;
} catalog;

static int add_name(catalog *c, const char *name, const char *digest, const char *media_type,
                    bale_error **err)
{
	named *grown = realloc(c->names, (c->n + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	c->names = grown;
	named *n = &c->names[c->n];
	memset(n, 0, sizeof(*n));
	snprintf(n->digest, sizeof(n->digest), "%s", digest ? digest : "");
	snprintf(n->media_type, sizeof(n->media_type), "%s", media_type ? media_type : "");
	if (!(n->name = strdup(name ? name : "")))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	c->n++;
	return 0;
}

/* The names of a node store; one it records no usable digest for is no image to start. */
static int load_store(catalog *c, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < bale_check_view_count(c->store) && rc == 0; i++) {
		const bale_descriptor *root = bale_check_view_root(c->store, i);
		if (root->digest.str[0])
			rc = add_name(c, bale_check_view_name(c->store, i), root->digest.str,
			              root->media_type, err);
	}
	return rc;
}

/* The root a store name points at (load_store kept only names with a usable digest). */
static int read_root(const catalog *c, const named *n, bale_buf *out, bale_error **err)
{
	bale_descriptor d = {.size = -1};
	snprintf(d.media_type, sizeof(d.media_type), "%s", n->media_type);
	int rc = bale_digest_parse(&d.digest, n->digest, err);
	if (rc < 0) {
		bale_buf_init(out, 1, "manifest");
		return rc;
	}
	return bale_check_view_read(c->store, &d, out, err);
}

static int collect_name(void *payload, int ncols, const char *const *names,
                        const char *const *values)
{
	if (!values)
		return 0;
	return add_name(payload, values[0], values[1], values[2], NULL) < 0 ? -1 : 0;
}

static int load_bundle(catalog *c, const char *path, bale_error **err)
{
	int rc = bale_index_db_open_bundle(&c->reader, &c->db, path, err);
	if (rc == 0 &&
	    (rc = bale_index_db_query(c->db, "SELECT ref, digest, media_type FROM images",
	                              collect_name, c, err)) < 0)
		bale_error_wrap(err, "%s", path);
	return rc;
}

/* "linux/amd64"-style platform of the carried manifests of a bundle image. */
typedef struct platform_hit {
	const bale_platform *want;
	bool found, any;
} platform_hit;

static int match_platform(void *payload, int ncols, const char *const *names,
                          const char *const *values)
{
	platform_hit *h = payload;
	bale_platform p;
	if (!values || !values[0] || !values[1])
		return 0;
	h->any = true;
	if (bale_platform_from_fields(&p, values[0], values[1], values[2], NULL) == 0 &&
	    bale_platform_equal(&p, h->want))
		h->found = true;
	return 0;
}

/* Is the named image usable on this platform, with all its content? */
static int check_content(const catalog *c, const named *n, const bale_platform *platform,
                         bale_preflight_status *status, char *detail, size_t size, bale_error **err)
{
	*status = BALE_PREFLIGHT_OK;
	if (c->db) { /* a bundle carries what its index says it carries */
		platform_hit h = {platform, false, false};
		char *sql =
		    sqlite3_mprintf("SELECT os, architecture, variant FROM image_platforms p "
		                    "JOIN images i ON i.id = p.image_id WHERE i.ref = %Q AND "
		                    "p.carried = 1",
		                    n->name);
		if (!sql)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		int rc = bale_index_db_query(c->db, sql, match_platform, &h, err);
		sqlite3_free(sql);
		if (rc == 0 && h.any && !h.found)
			*status = BALE_PREFLIGHT_WRONG_PLATFORM;
		return rc;
	}
	bale_buf root;
	int rc = read_root(c, n, &root, err);
	const bale_descriptor *manifest = NULL;
	bale_buf child;
	bale_buf_init(&child, 1, "manifest");
	if (rc < 0) {
		bale_error_clear(err);
		*status = BALE_PREFLIGHT_INCOMPLETE;
		snprintf(detail, size, "%s is missing", n->digest);
		goto cleanup;
	}
	if (bale_manifest_type_is_index(n->media_type)) {
		bale_index_entry *e = NULL;
		size_t k = 0, count = 0;
		if ((rc = bale_manifest_parse_index(&e, &count, root.data, root.len, err)) < 0)
			goto cleanup;
		for (k = 0; k < count && !manifest; k++)
			if (e[k].has_platform && bale_platform_matches(platform, &e[k].platform) &&
			    bale_check_view_has(c->store, &e[k].desc.digest))
				manifest = &e[k].desc;
		if (!manifest)
			*status = BALE_PREFLIGHT_WRONG_PLATFORM;
		else
			rc = bale_check_view_read(c->store, manifest, &child, err);
		free(e);
		if (rc < 0 || !manifest)
			goto cleanup;
	}
	const bale_buf *m = bale_manifest_type_is_index(n->media_type) ? &child : &root;
	bale_descriptor config, *layers = NULL;
	size_t n_layers = 0;
	if ((rc = bale_manifest_parse_image(&config, &layers, &n_layers, NULL, m->data, m->len,
	                                    err)) < 0)
		goto cleanup;
	if (!bale_check_view_has(c->store, &config.digest)) {
		*status = BALE_PREFLIGHT_INCOMPLETE;
		snprintf(detail, size, "config %s is missing", config.digest.str);
	}
	for (size_t k = 0; k < n_layers && *status == BALE_PREFLIGHT_OK; k++)
		if (!bale_check_view_has(c->store, &layers[k].digest)) {
			*status = BALE_PREFLIGHT_INCOMPLETE;
			snprintf(detail, size, "layer %s is missing", layers[k].digest.str);
		}
	free(layers);
cleanup:
	bale_buf_free(&root);
	bale_buf_free(&child);
	return rc;
}

/* The kubelet's lookup: by digest when the image pins one, else by name. */
static const named *lookup(const catalog *c, const bale_ref *ref, bool *digest_mismatch)
{
	const char *digest = bale_ref_digest(ref);
	*digest_mismatch = false;
	for (size_t i = 0; i < c->n; i++) {
		bale_ref *have = NULL;
		if (bale_ref_parse(&have, c->names[i].name, NULL) < 0)
			continue;
		bool same_repo = strcmp(bale_ref_name(have), bale_ref_name(ref)) == 0;
		bool same_tag = bale_ref_tag(ref) && bale_ref_tag(have) &&
		                strcmp(bale_ref_tag(ref), bale_ref_tag(have)) == 0;
		bale_ref_free(have);
		if (!same_repo)
			continue;
		if (digest && strcmp(c->names[i].digest, digest) == 0)
			return &c->names[i];
		if (!digest && same_tag)
			return &c->names[i];
		if (digest && same_tag)
			*digest_mismatch = true;
	}
	return NULL;
}

static const char *const status_names[] = {
    "ok", "absent", "wrong-platform", "digest-mismatch", "incomplete", "bad-reference"};

const char *bale_preflight_status_name(bale_preflight_status s)
{
	return status_names[s];
}

/* One run: the checks of every container against the catalog. */
typedef struct preflight_run {
	catalog c;
	const bale_k8s_set *set;
	const bale_platform *platform;
	bale_preflight *out;
} preflight_run;

static int check_all(preflight_run *r, bale_error **err)
{
	bale_preflight *out = r->out;
	char detail[300];
	int rc = 0;
	for (size_t i = 0; i < r->set->n_workloads && rc == 0; i++) {
		const bale_k8s_workload *w = &r->set->workloads[i];
		for (size_t j = 0; j < w->n_containers && rc == 0; j++) {
			const bale_k8s_container *ct = &w->containers[j];
			bale_preflight_check *grown =
			    realloc(out->checks, (out->n_checks + 1) * sizeof(*grown));
			if (!grown) {
				rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
				break;
			}
			out->checks = grown;
			bale_preflight_check *k = &out->checks[out->n_checks++];
			memset(k, 0, sizeof(*k));
			k->workload = w;
			k->container = ct;
			detail[0] = '\0';
			bale_ref *ref = NULL;
			if (!ct->image || bale_ref_parse(&ref, ct->image, NULL) < 0) {
				k->status = BALE_PREFLIGHT_BAD_REFERENCE;
			} else {
				bool mismatch = false;
				const named *n = lookup(&r->c, ref, &mismatch);
				k->ref = strdup(bale_ref_string(ref));
				if (!n)
					k->status = mismatch ? BALE_PREFLIGHT_DIGEST_MISMATCH
					                     : BALE_PREFLIGHT_ABSENT;
				else
					rc = check_content(&r->c, n, r->platform, &k->status,
					                   detail, sizeof(detail), err);
			}
			bale_ref_free(ref);
			if (detail[0])
				k->detail = strdup(detail);
			out->n_failing += k->status != BALE_PREFLIGHT_OK;
		}
	}
	return rc;
}

/* A node store is read while bale_check_read_store holds it open. */
static int read_store(void *payload, bale_check_view *view, bale_error **err)
{
	preflight_run *r = payload;
	r->c.store = view;
	int rc = load_store(&r->c, err);
	if (rc == 0)
		rc = check_all(r, err);
	r->c.store = NULL;
	return rc;
}

static void run_free(preflight_run *r)
{
	for (size_t i = 0; i < r->c.n; i++)
		free(r->c.names[i].name);
	free(r->c.names);
	sqlite3_close(r->c.db);
	bale_bundle_close(r->c.reader);
}

int bale_preflight_run(bale_preflight *out, const bale_k8s_set *set, const char *where, bool bundle,
                       const bale_store_options *store_opts, const bale_platform *platform,
                       bale_error **err)
{
	preflight_run r = {.set = set, .platform = platform, .out = out};
	int rc = 0;
	memset(out, 0, sizeof(*out));
	if (bundle) {
		if ((rc = load_bundle(&r.c, where, err)) == 0)
			rc = check_all(&r, err);
	} else if (strncmp(where, "oci:", 4) == 0 || strcmp(where, "containerd") == 0 ||
	           (strncmp(where, "containerd:", 11) == 0 && where[11])) {
		rc = bale_check_read_store(where, store_opts, read_store, &r, err);
	} else {
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "preflight reads oci:DIR and containerd[:SOCKET] stores and "
		                    "bundles, not \"%s\"",
		                    where);
	}
	run_free(&r);
	if (rc < 0)
		bale_preflight_free(out);
	return rc;
}

int bale_preflight_run_view(bale_preflight *out, const bale_k8s_set *set, bale_check_view *view,
                            const bale_platform *platform, bale_error **err)
{
	preflight_run r = {.set = set, .platform = platform, .out = out};
	memset(out, 0, sizeof(*out));
	int rc = read_store(&r, view, err);
	run_free(&r);
	if (rc < 0)
		bale_preflight_free(out);
	return rc;
}

void bale_preflight_free(bale_preflight *p)
{
	for (size_t i = 0; i < p->n_checks; i++) {
		free(p->checks[i].ref);
		free(p->checks[i].detail);
	}
	free(p->checks);
	memset(p, 0, sizeof(*p));
}
