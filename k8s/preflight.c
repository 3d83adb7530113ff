/* Never-readiness preflight: every container image of the manifests looked up as the
 * kubelet would, against an oci: node store or a bundle's index. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bale/buf.h"
#include "bale/bundle.h"
#include "bale/index_db.h"
#include "bale/json.h"
#include "bale/manifest.h"
#include "bale/preflight.h"
#include "bale/reference.h"
#include "store/ctr.h"

/* One named image of the store or bundle. */
typedef struct named {
	char *name;
	char digest[80];
	char media_type[128];
} named;

typedef struct catalog {
	named *names;
	size_t n;
	store_ctr ctr;  /* containerd: ctr to ask (n_words 0 otherwise) */
	char **content; /* containerd: the digests it holds, sorted */
	size_t n_content;
	const char *dir; /* oci: the layout; NULL for a bundle */
	sqlite3 *db;     /* bundle: its index */
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

static int read_blob(const catalog *c, const char *digest, bale_buf *out, bale_error **err)
{
	if (c->ctr.n_words) {
		const char *args[] = {"content", "get", digest, NULL};
		return store_ctr_run(&c->ctr, args, "content get", out, err);
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", c->dir, digest + 7);
	bale_buf_init(out, BALE_CAP_CONFIG, "blob");
	return bale_buf_read_file(out, path, err);
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool blob_present(const catalog *c, const char *digest)
{
	if (c->ctr.n_words)
		return c->n_content &&
		       bsearch(&digest, c->content, c->n_content, sizeof(char *), by_string);
	char path[4096];
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", c->dir, digest + 7);
	return access(path, F_OK) == 0;
}

static int load_oci(catalog *c, const char *dir, bale_error **err)
{
	char path[4096];
	bale_buf b;
	json_t *doc = NULL;
	c->dir = dir;
	snprintf(path, sizeof(path), "%s/index.json", dir);
	bale_buf_init(&b, 64u << 20, "index.json");
	int rc = bale_buf_read_file(&b, path, err);
	if (rc == 0)
		rc = bale_json_parse(&doc, b.data, b.len, b.cap, path, err);
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(doc, "manifests"), i, d)
	{
		const char *name =
		    bale_json_str(json_object_get(d, "annotations"), "io.containerd.image.name");
		if (rc == 0 && name)
			rc = add_name(c, name, bale_json_str(d, "digest"),
			              bale_json_str(d, "mediaType"), err);
	}
	json_decref(doc);
	bale_buf_free(&b);
	return rc;
}

/* containerd: `ctr images ls` for the names, `ctr content ls -q` for the content. */
static int load_containerd(catalog *c, const char *socket, const bale_store_options *o,
                           bale_error **err)
{
	const char *ls[] = {"images", "ls", NULL}, *content[] = {"content", "ls", "-q", NULL};
	bale_buf out;
	int rc = store_ctr_init(&c->ctr, o ? o->ctr : NULL, socket, o ? o->namespace : NULL, err);
	if (rc < 0)
		return rc;
	if ((rc = store_ctr_run(&c->ctr, ls, "images ls", &out, err)) == 0) {
		char *save = NULL;
		bool header = true;
		for (char *line = strtok_r(out.data, "\n", &save); line && rc == 0;
		     line = strtok_r(NULL, "\n", &save)) {
			char ref[1024], type[256], digest[100];
			if (header || sscanf(line, "%1023s %255s %99s", ref, type, digest) != 3) {
				header = false;
				continue;
			}
			rc = add_name(c, ref, digest, type, err);
		}
	}
	bale_buf_free(&out);
	if (rc == 0 && (rc = store_ctr_run(&c->ctr, content, "content ls", &out, err)) == 0) {
		char *save = NULL;
		for (char *line = strtok_r(out.data, "\n", &save); line && rc == 0;
		     line = strtok_r(NULL, "\n", &save)) {
			char **grown = realloc(c->content, (c->n_content + 1) * sizeof(*grown));
			if (!grown || !(grown[c->n_content] = strdup(line))) {
				if (grown)
					c->content = grown;
				rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
				break;
			}
			c->content = grown;
			c->n_content++;
		}
		if (c->n_content > 1)
			qsort(c->content, c->n_content, sizeof(char *), by_string);
	}
	bale_buf_free(&out);
	return rc < 0 ? bale_error_wrap(err, "containerd at %s", socket) : 0;
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
	const bale_bundle_head *head = NULL;
	int rc = bale_bundle_open(&c->reader, path, err);
	if (rc == 0 && (rc = bale_bundle_read_head(c->reader, &head, err)) == 0 &&
	    (rc = bale_bundle_read_index(c->reader, &head, err)) == 0 &&
	    (rc = bale_index_db_open_bytes(&c->db, head->index_db, head->index_db_len, err)) == 0)
		rc = bale_index_db_query(c->db, "SELECT ref, digest, media_type FROM images",
		                         collect_name, c, err);
	return rc < 0 ? bale_error_wrap(err, "%s", path) : 0;
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
	int rc = read_blob(c, n->digest, &root, err);
	const char *manifest = n->digest;
	bale_buf child;
	bale_buf_init(&child, 1, "manifest");
	if (rc < 0) {
		bale_error_clear(err);
		*status = BALE_PREFLIGHT_INCOMPLETE;
		snprintf(detail, size, "%s is missing", n->digest);
		goto cleanup;
	}
	if (bale_media_type_is_index(n->media_type)) {
		bale_index_entry *e = NULL;
		size_t k = 0, count = 0;
		if ((rc = bale_manifest_parse_index(&e, &count, root.data, root.len, err)) < 0)
			goto cleanup;
		manifest = NULL;
		for (k = 0; k < count && !manifest; k++)
			if (e[k].has_platform && bale_platform_equal(&e[k].platform, platform) &&
			    blob_present(c, e[k].desc.digest.str))
				manifest = e[k].desc.digest.str;
		char found[80] = "";
		if (manifest)
			snprintf(found, sizeof(found), "%s", manifest);
		free(e);
		if (!found[0]) {
			*status = BALE_PREFLIGHT_WRONG_PLATFORM;
			goto cleanup;
		}
		if ((rc = read_blob(c, found, &child, err)) < 0)
			goto cleanup;
	}
	const bale_buf *m = bale_media_type_is_index(n->media_type) ? &child : &root;
	bale_descriptor config, *layers = NULL;
	size_t n_layers = 0;
	if ((rc = bale_manifest_parse_image(&config, &layers, &n_layers, NULL, m->data, m->len,
	                                    err)) < 0)
		goto cleanup;
	if (!blob_present(c, config.digest.str)) {
		*status = BALE_PREFLIGHT_INCOMPLETE;
		snprintf(detail, size, "config %s is missing", config.digest.str);
	}
	for (size_t k = 0; k < n_layers && *status == BALE_PREFLIGHT_OK; k++)
		if (!blob_present(c, layers[k].digest.str)) {
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

int bale_preflight_run(bale_preflight *out, const bale_k8s_set *set, const char *where, bool bundle,
                       const bale_store_options *store_opts, const bale_platform *platform,
                       bale_error **err)
{
	catalog c = {0};
	int rc = 0;
	char detail[300];
	memset(out, 0, sizeof(*out));
	if (bundle)
		rc = load_bundle(&c, where, err);
	else if (strncmp(where, "oci:", 4) == 0)
		rc = load_oci(&c, where + 4, err);
	else if (strcmp(where, "containerd") == 0)
		rc = load_containerd(&c, BALE_DEFAULT_CONTAINERD_SOCKET, store_opts, err);
	else if (strncmp(where, "containerd:", 11) == 0 && where[11])
		rc = load_containerd(&c, where + 11, store_opts, err);
	else
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "preflight reads oci:DIR and containerd[:SOCKET] stores and "
		                    "bundles, not \"%s\"",
		                    where);
	for (size_t i = 0; i < set->n_workloads && rc == 0; i++) {
		const bale_k8s_workload *w = &set->workloads[i];
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
				const named *n = lookup(&c, ref, &mismatch);
				k->ref = strdup(bale_ref_string(ref));
				if (!n)
					k->status = mismatch ? BALE_PREFLIGHT_DIGEST_MISMATCH
					                     : BALE_PREFLIGHT_ABSENT;
				else
					rc = check_content(&c, n, platform, &k->status, detail,
					                   sizeof(detail), err);
			}
			bale_ref_free(ref);
			if (detail[0])
				k->detail = strdup(detail);
			out->n_failing += k->status != BALE_PREFLIGHT_OK;
		}
	}
	for (size_t i = 0; i < c.n; i++)
		free(c.names[i].name);
	free(c.names);
	for (size_t i = 0; i < c.n_content; i++)
		free(c.content[i]);
	free(c.content);
	store_ctr_free(&c.ctr);
	sqlite3_close(c.db);
	bale_bundle_close(c.reader);
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
