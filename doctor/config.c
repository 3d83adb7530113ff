/* The node's configurations as the kubelet and containerd read them: the
 * KubeletConfiguration (YAML, through core's bounded reader) and containerd's config.toml
 * (the CRI plugin's section of config version 2 and 3), with their defaults where they
 * say nothing. A file that is missing or malformed is a fact for the checks to report,
 * not an error: the doctor goes on with the defaults. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "bale/buf.h"
#include "bale/doctor.h"
#include "bale/yaml.h"
#include "doctor/toml.h"

/* ---- files ---- */

/* The file's bytes; *missing when it does not exist, *problem (malloc'd) when it cannot
 * be read. Only out of memory is an error. */
static int read_config(bale_buf *b, const char *path, bool *missing, char **problem,
                       bale_error **err)
{
	bale_error *why = NULL;
	*missing = false;
	bale_buf_init(b, BALE_DOCTOR_CONFIG_CAP, path);
	if (bale_buf_read_file(b, path, &why) == 0)
		return 0;
	FILE *probe = fopen(path, "r");
	int errnum = errno;
	if (probe)
		fclose(probe);
	if (!probe && errnum == ENOENT)
		*missing = true;
	else if (!(*problem = strdup(bale_error_message(why))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	bale_error_free(why);
	return 0;
}

/* A parse error becomes the problem the checks report; out of memory stays an error. */
static int keep_problem(char **problem, int rc, bale_error **why, bale_error **err)
{
	const char *message = *why ? bale_error_message(*why) : "malformed";
	int out = 0;
	if (rc == BALE_EGENERIC)
		out = bale_error_set(err, BALE_EGENERIC, "%s", message);
	else if (rc < 0 && !(*problem = strdup(message)))
		out = bale_error_set(err, BALE_EGENERIC, "out of memory");
	bale_error_free(*why);
	*why = NULL;
	return out;
}

/* ---- the kubelet ---- */

static void kubelet_defaults(bale_doctor_kubelet *k)
{
	k->gc_high = 85;
	k->gc_low = 80;
	k->runtime_request_timeout = 120;
	k->hard_imagefs = (bale_doctor_threshold){.set = true, .percent = 15, .bytes = -1};
	k->hard_nodefs = (bale_doctor_threshold){.set = true, .percent = 10, .bytes = -1};
}

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
		    memcmp(k->data.scalar.value, key, k->data.scalar.length) == 0)
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int read_percent(yaml_node_t *n, const char *key, int *out, const char *name,
                        bale_error **err)
{
	const char *s = scalar(n);
	char *end = NULL;
	if (!n)
		return 0;
	long v = s ? strtol(s, &end, 10) : -1;
	if (!s || !*s || *end || v < 0 || v > 100)
		return bale_error_set(err, BALE_EUSAGE, "%s: %s: want a percentage from 0 to 100",
		                      name, key);
	*out = (int)v;
	return 0;
}

/* evictionHard or evictionSoft: the two signals of images' filesystems. */
static int read_eviction(yaml_document_t *doc, yaml_node_t *map, const char *key,
                         bale_doctor_threshold *imagefs, bale_doctor_threshold *nodefs,
                         const char *name, bale_error **err)
{
	yaml_node_t *signals = map_get(doc, map, key);
	int rc = 0;
	if (!signals)
		return 0;
	if (signals->type != YAML_MAPPING_NODE)
		return bale_error_set(err, BALE_EUSAGE, "%s: %s: want a map of signals", name, key);
	/* Any signal given replaces every default (the kubelet sets the others to 0). */
	*imagefs = (bale_doctor_threshold){0};
	*nodefs = (bale_doctor_threshold){0};
	const char *image = scalar(map_get(doc, signals, "imagefs.available"));
	const char *node = scalar(map_get(doc, signals, "nodefs.available"));
	if (image && (rc = bale_doctor_parse_threshold(image, imagefs, err)) < 0)
		return bale_error_wrap(err, "%s: %s: imagefs.available", name, key);
	if (node && (rc = bale_doctor_parse_threshold(node, nodefs, err)) < 0)
		return bale_error_wrap(err, "%s: %s: nodefs.available", name, key);
	return 0;
}

static int kubelet_document(bale_doctor_kubelet *k, yaml_document_t *doc, const char *name,
                            bale_error **err)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	int rc = 0;
	if (!root || root->type != YAML_MAPPING_NODE)
		return bale_error_set(err, BALE_EUSAGE, "%s: not a KubeletConfiguration", name);
	const char *kind = scalar(map_get(doc, root, "kind"));
	if (kind && strcmp(kind, "KubeletConfiguration") != 0)
		return bale_error_set(err, BALE_EUSAGE, "%s: kind %s, not KubeletConfiguration",
		                      name, kind);
	const char *timeout = scalar(map_get(doc, root, "runtimeRequestTimeout"));
	if ((rc = read_percent(map_get(doc, root, "imageGCHighThresholdPercent"),
	                       "imageGCHighThresholdPercent", &k->gc_high, name, err)) < 0 ||
	    (rc = read_percent(map_get(doc, root, "imageGCLowThresholdPercent"),
	                       "imageGCLowThresholdPercent", &k->gc_low, name, err)) < 0)
		return rc;
	if (timeout &&
	    (rc = bale_doctor_parse_duration(timeout, &k->runtime_request_timeout, err)) < 0)
		return bale_error_wrap(err, "%s: runtimeRequestTimeout", name);
	if ((rc = read_eviction(doc, root, "evictionHard", &k->hard_imagefs, &k->hard_nodefs, name,
	                        err)) < 0)
		return rc;
	return read_eviction(doc, root, "evictionSoft", &k->soft_imagefs, &k->soft_nodefs, name,
	                     err);
}

int bale_doctor_kubelet_parse(bale_doctor_kubelet *out, const char *name, const char *text,
                              size_t len, bale_error **err)
{
	bale_yaml_stream *s = NULL;
	yaml_document_t doc;
	bale_error *why = NULL;
	int rc = 0, got = 0;
	if (!out->file) {
		memset(out, 0, sizeof(*out));
		kubelet_defaults(out);
	}
	out->found = true;
	if ((rc = bale_yaml_stream_new(&s, name, text, len, &why)) == 0 &&
	    (got = rc = bale_yaml_stream_next(s, &doc, &why)) == 1) {
		rc = kubelet_document(out, &doc, name, &why);
		bale_yaml_document_delete(&doc);
	}
	if (rc == 0 && got == 0)
		rc = bale_error_set(&why, BALE_EUSAGE, "%s: empty", name);
	bale_yaml_stream_free(s);
	return keep_problem(&out->problem, rc < 0 ? rc : 0, &why, err);
}

int bale_doctor_kubelet_read(bale_doctor_kubelet *out, const char *path, bale_error **err)
{
	bale_buf b;
	bool missing = false;
	memset(out, 0, sizeof(*out));
	kubelet_defaults(out);
	if (!(out->file = strdup(path)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	int rc = read_config(&b, path, &missing, &out->problem, err);
	if (rc == 0 && !missing && !out->problem)
		rc = bale_doctor_kubelet_parse(out, path, b.data ? b.data : "", b.len, err);
	bale_buf_free(&b);
	return rc;
}

void bale_doctor_kubelet_free(bale_doctor_kubelet *k)
{
	free(k->file);
	free(k->problem);
	memset(k, 0, sizeof(*k));
}

/* ---- containerd ---- */

/* The CRI plugin's sections: config version 3 splits images from the runtime; version 2
 * has them under io.containerd.grpc.v1.cri; version 1 under "cri". */
typedef struct cri_paths {
	const char *images[3]; /* where snapshotter, discard_unpacked_layers and
	                          image_pull_progress_timeout live */
	size_t n_images;
} cri_paths;

static const cri_paths cri_sections[] = {
    {{"plugins", "io.containerd.cri.v1.images"}, 2},
    {{"plugins", "io.containerd.grpc.v1.cri", "containerd"}, 3},
    {{"plugins", "cri", "containerd"}, 3},
};

/* A key of one of the CRI sections, the first found; the registry and the pull timeout
 * sit beside "containerd" in version 2, not under it. */
static const doctor_toml_value *cri_get(const doctor_toml *t, const char *key, bool top)
{
	for (size_t i = 0; i < sizeof(cri_sections) / sizeof(*cri_sections); i++) {
		const char *path[6] = {0};
		size_t n = cri_sections[i].n_images;
		if (top && n == 3)
			n = 2; /* io.containerd.grpc.v1.cri itself */
		memcpy(path, cri_sections[i].images, n * sizeof(*path));
		path[n++] = key;
		if (strcmp(key, "config_path") == 0) {
			path[n - 1] = "registry";
			path[n++] = key;
		}
		const doctor_toml_value *v = doctor_toml_get(t, path, n);
		if (v)
			return v;
	}
	return NULL;
}

static int take_string(char **out, const doctor_toml_value *v, bale_error **err)
{
	if (!v || v->kind != DOCTOR_TOML_STRING)
		return 0;
	free(*out);
	if (!(*out = strdup(v->str)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	return 0;
}

static int containerd_values(bale_doctor_containerd *c, const doctor_toml *t, const char *name,
                             bale_error **err)
{
	static const char *const version_key[] = {"version"}, *const root_key[] = {"root"};
	const doctor_toml_value *version = doctor_toml_get(t, version_key, 1);
	const doctor_toml_value *discard = cri_get(t, "discard_unpacked_layers", false);
	const doctor_toml_value *timeout = cri_get(t, "image_pull_progress_timeout", true);
	int rc = 0;
	if (version && version->kind == DOCTOR_TOML_INT)
		c->version = (long)version->integer;
	if ((rc = take_string(&c->root, doctor_toml_get(t, root_key, 1), err)) < 0 ||
	    (rc = take_string(&c->config_path, cri_get(t, "config_path", true), err)) < 0 ||
	    (rc = take_string(&c->snapshotter, cri_get(t, "snapshotter", false), err)) < 0)
		return rc;
	c->discard_unpacked_layers =
	    discard && discard->kind == DOCTOR_TOML_BOOL && discard->boolean;
	if (timeout && timeout->kind == DOCTOR_TOML_STRING &&
	    (rc = bale_doctor_parse_duration(timeout->str, &c->pull_progress_timeout, err)) < 0)
		return bale_error_wrap(err, "%s:%d: image_pull_progress_timeout", name,
		                       timeout->line);
	return 0;
}

static int containerd_defaults(bale_doctor_containerd *c, const char *path, bale_error **err)
{
	memset(c, 0, sizeof(*c));
	c->version = 1;
	c->pull_progress_timeout = 300;
	c->file = strdup(path);
	c->root = strdup(BALE_DOCTOR_CONTAINERD_ROOT);
	if (!c->file || !c->root)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	return 0;
}

int bale_doctor_containerd_parse(bale_doctor_containerd *out, const char *name, const char *text,
                                 size_t len, bale_error **err)
{
	doctor_toml t;
	bale_error *why = NULL;
	int rc = 0;
	if (!out->file && (rc = containerd_defaults(out, name, err)) < 0)
		return rc;
	out->found = true;
	if ((rc = doctor_toml_parse(&t, name, text, len, &why)) == 0) {
		rc = containerd_values(out, &t, name, &why);
		doctor_toml_free(&t);
	}
	return keep_problem(&out->problem, rc, &why, err);
}

int bale_doctor_containerd_read(bale_doctor_containerd *out, const char *path, bale_error **err)
{
	bale_buf b;
	bool missing = false;
	int rc = containerd_defaults(out, path, err);
	if (rc < 0)
		return rc;
	rc = read_config(&b, path, &missing, &out->problem, err);
	if (rc == 0 && !missing && !out->problem)
		rc = bale_doctor_containerd_parse(out, path, b.data ? b.data : "", b.len, err);
	bale_buf_free(&b);
	return rc;
}

void bale_doctor_containerd_free(bale_doctor_containerd *c)
{
	free(c->file);
	free(c->problem);
	free(c->root);
	free(c->config_path);
	free(c->snapshotter);
	memset(c, 0, sizeof(*c));
}
