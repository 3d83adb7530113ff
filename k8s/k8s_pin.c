#include "bale/k8s_pin.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "bale/buf.h"
#include "bale/k8s.h"
#include "bale/yaml.h"

static bool is_container_list(const char *key)
{
	return strcmp(key, "containers") == 0 || strcmp(key, "initContainers") == 0 ||
	       strcmp(key, "ephemeralContainers") == 0;
}

static const char *scalar(yaml_document_t *doc, int id)
{
	yaml_node_t *n = yaml_document_get_node(doc, id);
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int set_scalar(yaml_node_t *n, const char *value, bale_error **err)
{
	size_t len = strlen(value);
	yaml_char_t *copy = malloc(len + 1);
	if (!copy)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	memcpy(copy, value, len + 1);
	free(n->data.scalar.value);
	n->data.scalar.value = copy;
	n->data.scalar.length = len;
	n->data.scalar.style = YAML_ANY_SCALAR_STYLE;
	return 0;
}

/* The pin function and what it could not pin: "FILE:LINE: why", "; " between. */
typedef struct pinning {
	bale_pin_fn pin;
	void *payload;
	const char *policy; /* the imagePullPolicy every container gets */
	bale_buf missing;
	size_t n_missing;
	int code; /* of the first of them */
} pinning;

/* One container mapping: its image pinned, its pull policy pg->policy. An image the pin
 * function cannot pin (BALE_ENOTFOUND) is noted and left, so that every one is named. */
static int pin_container(yaml_document_t *doc, int id, const char *path, pinning *pg,
                         bale_error **err)
{
	yaml_node_t *m = yaml_document_get_node(doc, id);
	bool has_policy = false;
	int rc = 0;
	if (!m || m->type != YAML_MAPPING_NODE)
		return 0;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
	     p < m->data.mapping.pairs.top && rc == 0; p++) {
		const char *key = scalar(doc, p->key);
		yaml_node_t *v = yaml_document_get_node(doc, p->value);
		if (!key || !v || v->type != YAML_SCALAR_NODE)
			continue;
		if (strcmp(key, "image") == 0) {
			char *pinned = NULL;
			bale_error *why = NULL;
			rc =
			    pg->pin(pg->payload, (const char *)v->data.scalar.value, &pinned, &why);
			if (rc == BALE_ENOTFOUND) {
				bale_buf_appendf(&pg->missing, NULL, "%s%s:%zu: %s",
				                 pg->n_missing ? "; " : "", path,
				                 v->start_mark.line + 1, bale_error_message(why));
				pg->n_missing++;
				bale_error_free(why);
				rc = 0;
				continue;
			}
			if (rc < 0) {
				if (err && !*err)
					*err = why;
				else
					bale_error_free(why);
				bale_error_wrap(err, "%s:%zu", path, v->start_mark.line + 1);
				break;
			}
			rc = set_scalar(v, pinned, err);
			free(pinned);
		} else if (strcmp(key, "imagePullPolicy") == 0) {
			has_policy = true;
			rc = set_scalar(v, pg->policy, err);
		}
	}
	m = yaml_document_get_node(doc, id); /* adding nodes may move the node array */
	if (rc == 0 && !has_policy) {
		int k = yaml_document_add_scalar(doc, NULL, (yaml_char_t *)"imagePullPolicy", -1,
		                                 YAML_ANY_SCALAR_STYLE);
		int v = yaml_document_add_scalar(doc, NULL, (yaml_char_t *)pg->policy, -1,
		                                 YAML_ANY_SCALAR_STYLE);
		if (!k || !v || !yaml_document_append_mapping_pair(doc, id, k, v))
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	return rc;
}

/* Every container list anywhere in the document (pods, templates, Lists alike). */
static int walk(yaml_document_t *doc, int id, const char *path, pinning *pg, int depth,
                bale_error **err)
{
	yaml_node_t *n = yaml_document_get_node(doc, id);
	int rc = 0;
	if (!n || depth > 64)
		return 0;
	if (n->type == YAML_SEQUENCE_NODE) {
		size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
		for (size_t i = 0; i < count && rc == 0; i++) {
			n = yaml_document_get_node(doc, id);
			rc = walk(doc, n->data.sequence.items.start[i], path, pg, depth + 1, err);
		}
		return rc;
	}
	if (n->type != YAML_MAPPING_NODE)
		return 0;
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	for (size_t i = 0; i < count && rc == 0; i++) {
		n = yaml_document_get_node(doc, id);
		yaml_node_pair_t pair = n->data.mapping.pairs.start[i];
		const char *key = scalar(doc, pair.key);
		yaml_node_t *v = yaml_document_get_node(doc, pair.value);
		if (key && v && v->type == YAML_SEQUENCE_NODE && is_container_list(key)) {
			size_t items =
			    (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
			for (size_t k = 0; k < items && rc == 0; k++) {
				v = yaml_document_get_node(doc, pair.value);
				rc = pin_container(doc, v->data.sequence.items.start[k], path, pg,
				                   err);
			}
		} else {
			rc = walk(doc, pair.value, path, pg, depth + 1, err);
		}
	}
	return rc;
}

static int write_out(void *data, unsigned char *buffer, size_t size)
{
	return fwrite(buffer, 1, size, data) == size;
}

int bale_k8s_pin_text(const char *name, const char *text, size_t len, FILE *out, bale_pin_fn pin,
                      void *payload, const char *pull_policy, bale_error **err)
{
	int rc = 0;
	bale_yaml_stream *stream = NULL;
	yaml_emitter_t emitter;
	bool emitter_ready = false;
	pinning pg = {
	    .pin = pin, .payload = payload, .policy = pull_policy ? pull_policy : "Never"};
	bale_buf_init(&pg.missing, 1u << 20, "images not pinned");
	/* Untrusted YAML: bale/yaml.h's bounds on depth, nodes and aliases. */
	if ((rc = bale_yaml_stream_new(&stream, name, text, len, err)) < 0) {
		bale_buf_free(&pg.missing);
		return rc;
	}
	if (!yaml_emitter_initialize(&emitter)) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	emitter_ready = true;
	yaml_emitter_set_output(&emitter, write_out, out);
	yaml_emitter_set_unicode(&emitter, 1);
	yaml_emitter_set_width(&emitter, -1);
	if (!yaml_emitter_open(&emitter)) {
		rc = bale_error_set(err, BALE_EGENERIC, "%s: cannot write output", name);
		goto cleanup;
	}
	for (;;) {
		yaml_document_t doc;
		if ((rc = bale_yaml_stream_next(stream, &doc, err)) < 0)
			goto cleanup;
		if (rc == 0)
			break;
		if (!yaml_document_get_root_node(&doc)) { /* (bale/yaml.h never makes one) */
			yaml_document_delete(&doc);
			continue;
		}
		rc = walk(&doc, 1, name, &pg, 0, err);
		if (rc < 0) {
			yaml_document_delete(&doc);
			goto cleanup;
		}
		doc.start_implicit = 0;                   /* a --- between documents */
		if (!yaml_emitter_dump(&emitter, &doc)) { /* dump frees the document */
			rc = bale_error_set(err, BALE_EGENERIC,
			                    "%s: cannot write the pinned document", name);
			goto cleanup;
		}
	}
	if (!yaml_emitter_close(&emitter) || !yaml_emitter_flush(&emitter))
		rc = bale_error_set(err, BALE_EGENERIC, "%s: cannot write output", name);
	if (rc == 0 && pg.n_missing)
		rc = bale_error_set(err, BALE_ENOTFOUND, "%s", pg.missing.data);
cleanup:
	bale_buf_free(&pg.missing);
	bale_yaml_stream_free(stream);
	if (emitter_ready)
		yaml_emitter_delete(&emitter);
	return rc;
}

int bale_k8s_pin_file(const char *path, FILE *out, bale_pin_fn pin, void *payload,
                      const char *pull_policy, bale_error **err)
{
	int rc = 0;
	bale_buf in;
	bale_buf_init(&in, BALE_K8S_CAP, path);
	FILE *f = strcmp(path, "-") == 0 ? stdin : NULL;
	if (f) {
		char chunk[65536];
		size_t got;
		while (rc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
			rc = bale_buf_append(&in, chunk, got, err);
		if (rc == 0)
			rc = bale_buf_append(&in, "", 0, err);
	} else {
		rc = bale_buf_read_file(&in, path, err);
	}
	if (rc == 0)
		rc = bale_k8s_pin_text(path, in.data ? in.data : "", in.len, out, pin, payload,
		                       pull_policy, err);
	bale_buf_free(&in);
	return rc;
}
