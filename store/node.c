/* A node store as its runtime keeps it (bale/node.h): names, pins, the images containers
 * use, the runtime's version. containerd is read through ctr, as the store and bale check
 * read it (docs/containerd.md); an oci: layout through its index.json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/check.h"
#include "bale/json.h"
#include "bale/node.h"
#include "store/ctr.h"
#include "store/store_private.h"
#include "store/oci_layout.h"

#define PINNED_LABEL "io.cri-containerd.pinned=pinned"
/* `ctr containers info`: a container's record and its OCI spec. */
#define BALE_CAP_CTR_INFO (16u << 20)

static int add_name(bale_node *n, const char *name, const char *digest, bool pinned,
                    bale_error **err)
{
	bale_node_name *grown = realloc(n->names, (n->n_names + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	n->names = grown;
	bale_node_name *e = &n->names[n->n_names];
	memset(e, 0, sizeof(*e));
	if (!(e->name = strdup(name)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	snprintf(e->digest, sizeof(e->digest), "%s", digest && strlen(digest) < 80 ? digest : "");
	e->pinned = pinned;
	n->n_names++;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const bale_node_name *)a)->name, ((const bale_node_name *)b)->name);
}

/* ---- oci: ---- */

static int read_oci(bale_node *n, const char *dir, bale_error **err)
{
	json_t *index = NULL, *entry;
	size_t i;
	int rc = store_oci_read_layout_index(&index, dir, err);
	json_array_foreach(json_object_get(index, "manifests"), i, entry)
	{
		const char *name = store_oci_entry_name(entry);
		if (rc == 0 && name)
			rc = add_name(n, name, bale_json_str(entry, "digest"), false, err);
	}
	json_decref(index);
	return rc;
}

/* ---- containerd ---- */

/* The words of a line (at most max), split on blanks, in place. */
static size_t words(char *line, char **out, size_t max)
{
	size_t n = 0;
	for (char *save = NULL, *w = strtok_r(line, " \t", &save); w && n < max;
	     w = strtok_r(NULL, " \t", &save))
		out[n++] = w;
	return n;
}

static bool has_label(const char *labels, const char *label)
{
	size_t len = strlen(label);
	for (const char *p = labels; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, label, len) == 0 && (p[len] == ',' || p[len] == '\0'))
			return true;
	return false;
}

/* Each line of what `ctr ARGS` printed after its header, to fn. */
static int each_row(const store_ctr *ctr, const char *const *args, const char *what,
                    int (*fn)(bale_node *, char *, bale_error **), bale_node *n, bale_error **err)
{
	bale_buf out;
	int rc = store_ctr_run(ctr, args, what, &out, err);
	char *save = NULL;
	bool header = true;
	for (char *line = rc == 0 && out.data ? strtok_r(out.data, "\n", &save) : NULL;
	     line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
		if (!header)
			rc = fn(n, line, err);
		header = false;
	}
	bale_buf_free(&out);
	return rc;
}

/* REF TYPE DIGEST SIZE UNIT PLATFORMS LABELS */
static int image_row(bale_node *n, char *line, bale_error **err)
{
	char *w[16];
	size_t k = words(line, w, 16);
	if (k < 3 || strncmp(w[2], "sha256:", 7) != 0)
		return 0;
	return add_name(n, w[0], w[2], k >= 7 && has_label(w[k - 1], PINNED_LABEL), err);
}

static int push(char ***list, size_t *n, const char *text, bale_error **err)
{
	char **grown = realloc(*list, (*n + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	*list = grown;
	if (!(grown[*n] = strdup(text)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	(*n)++;
	return 0;
}

/* CONTAINER IMAGE RUNTIME; "-" when the container record names no image (containerd's CRI
 * leaves it empty on some versions): kept aside as unknown, for container_image. */
static int container_row(bale_node *n, char *line, bale_error **err)
{
	char *w[4];
	if (words(line, w, 4) < 2)
		return 0;
	if (strcmp(w[1], "-") == 0)
		return push(&n->unknown, &n->n_unknown, w[0], err);
	return push(&n->used, &n->n_used, w[1], err);
}

/* The CRI's annotations of a container's spec that name its image: the image's id
 * (sha256:<config digest>, a name containerd's CRI gives every image) and the name the
 * pod gave. */
static const char *const CRI_IMAGE_ANNOTATIONS[] = {"io.kubernetes.cri.image-ref",
                                                    "io.kubernetes.cri.image-name"};

/* A container whose record names no image: `ctr containers info` shows its spec, whose
 * CRI annotations name it. *found false when nothing does. */
static int container_image(bale_node *n, const store_ctr *ctr, const char *id, bool *found,
                           bale_error **err)
{
	const char *args[] = {"containers", "info", id, NULL};
	bale_buf out;
	json_t *info = NULL;
	int rc = store_ctr_run(ctr, args, "containers info", &out, err);
	*found = false;
	if (rc == 0)
		rc = bale_json_parse(&info, out.data ? out.data : "", out.len, BALE_CAP_CTR_INFO,
		                     "ctr containers info", err);
	json_t *annotations = json_object_get(json_object_get(info, "Spec"), "annotations");
	for (size_t i = 0; rc == 0 && i < sizeof(CRI_IMAGE_ANNOTATIONS) / sizeof(char *); i++) {
		const char *image = bale_json_str(annotations, CRI_IMAGE_ANNOTATIONS[i]);
		if (image && *image) {
			rc = push(&n->used, &n->n_used, image, err);
			*found = true;
		}
	}
	json_decref(info);
	bale_buf_free(&out);
	return rc;
}

/* "Server:" then "  Version:  1.6.20~ds1" */
static int server_version(bale_node *n, const store_ctr *ctr, bale_error **err)
{
	const char *args[] = {"version", NULL};
	bale_buf out;
	int rc = store_ctr_run(ctr, args, "version", &out, err);
	const char *server = rc == 0 && out.data ? strstr(out.data, "Server:") : NULL;
	const char *v = server ? strstr(server, "Version:") : NULL;
	if (v) {
		v += strlen("Version:");
		v += strspn(v, " \t");
		if (!(n->version = strndup(v, strcspn(v, " \t\n"))))
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	bale_buf_free(&out);
	return rc;
}

static int read_containerd(bale_node *n, const char *socket, const bale_store_options *opts,
                           bale_error **err)
{
	store_ctr ctr;
	const char *images[] = {"images", "ls", NULL}, *containers[] = {"containers", "ls", NULL};
	int rc = store_ctr_init(&ctr, opts ? opts->ctr : NULL, socket,
	                        opts ? opts->namespace : NULL, err);
	if (rc < 0)
		return rc;
	if ((rc = server_version(n, &ctr, err)) == 0 &&
	    (rc = each_row(&ctr, images, "images ls", image_row, n, err)) == 0)
		rc = each_row(&ctr, containers, "containers ls", container_row, n, err);
	/* What the container records leave out, their specs may say. */
	size_t left = 0;
	for (size_t i = 0; i < n->n_unknown; i++) {
		bool found = false;
		if (rc == 0)
			rc = container_image(n, &ctr, n->unknown[i], &found, err);
		if (rc == 0 && !found)
			n->unknown[left++] = n->unknown[i];
		else
			free(n->unknown[i]);
	}
	n->n_unknown = left;
	store_ctr_free(&ctr);
	return rc;
}

/* ---- registry:// ---- */

/* Every tag under the store's prefix and what it resolves to, read as bale check reads
 * the registry (its catalog and tag lists). */
static int registry_view(void *payload, bale_check_view *v, bale_error **err)
{
	bale_node *n = payload;
	int rc = 0;
	for (size_t i = 0; i < bale_check_view_count(v) && rc == 0; i++)
		rc = add_name(n, bale_check_view_name(v, i), bale_check_view_root(v, i)->digest.str,
		              false, err);
	return rc;
}

/* ---- the store ---- */

int bale_node_read(bale_node *out, const char *spec, const bale_store_options *opts,
                   bale_error **err)
{
	static const char *const kinds[] = {"oci", "containerd", "registry"};
	store_kind kind = STORE_OCI;
	const char *where = NULL;
	int rc;
	memset(out, 0, sizeof(*out));
	if ((rc = store_spec_parse(spec, &kind, &where, err)) < 0)
		return rc;
	if (!(out->kind = strdup(kinds[kind])))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (kind == STORE_OCI)
		rc = read_oci(out, where, err);
	else if (kind == STORE_CONTAINERD)
		rc = read_containerd(out, where, opts, err);
	else
		rc = bale_check_read_store(spec, opts, registry_view, out, err);
	if (rc < 0) {
		bale_node_free(out);
		return bale_error_wrap(err, "store %s", spec);
	}
	if (out->n_names > 1)
		qsort(out->names, out->n_names, sizeof(*out->names), by_name);
	return 0;
}

const bale_node_name *bale_node_find(const bale_node *node, const char *name)
{
	bale_node_name key = {.name = (char *)name};
	if (!node->n_names)
		return NULL;
	return bsearch(&key, node->names, node->n_names, sizeof(key), by_name);
}

void bale_node_free(bale_node *node)
{
	if (!node)
		return;
	for (size_t i = 0; i < node->n_names; i++)
		free(node->names[i].name);
	for (size_t i = 0; i < node->n_used; i++)
		free(node->used[i]);
	for (size_t i = 0; i < node->n_unknown; i++)
		free(node->unknown[i]);
	free(node->unknown);
	free(node->names);
	free(node->used);
	free(node->kind);
	free(node->version);
	memset(node, 0, sizeof(*node));
}
