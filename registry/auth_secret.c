/* Kubernetes image pull Secrets (kubernetes.io/dockerconfigjson and the older
 * kubernetes.io/dockercfg), read from --pull-secret files and from the manifests bale plans
 * for, as the kubelet reads them: only their auths, never a helper they name. */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "bale/buf.h"
#include "bale/yaml.h"
#include "registry/auth_private.h"

#define TYPE_DOCKERCONFIGJSON "kubernetes.io/dockerconfigjson"
#define TYPE_DOCKERCFG "kubernetes.io/dockercfg"

static yaml_node_t *ymap_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	size_t klen = strlen(key);
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == klen &&
		    memcmp(k->data.scalar.value, key, klen) == 0)
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

static bool yscalar_is(const yaml_node_t *n, const char *s)
{
	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
	       memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

static bool yscalar_ends_with(const yaml_node_t *n, const char *s)
{
	size_t len = strlen(s);
	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length >= len &&
	       memcmp(n->data.scalar.value + n->data.scalar.length - len, s, len) == 0;
}

/* One Secret (other kinds and types are skipped). A credential found when *out is already
 * set is dropped: the file is still checked to the end. */
static int secret_lookup(bale_credential **out, size_t *n_secrets, yaml_document_t *doc,
                         yaml_node_t *obj, const char *path, const reg_auth_want *w,
                         bale_error **err)
{
	int rc = 0;
	char *decoded = NULL;
	json_t *config = NULL;
	bale_credential *found = NULL;
	char name[254];
	bale_buf source;
	bale_buf_init(&source, 8192, "credential source");

	if (!yscalar_is(ymap_get(doc, obj, "kind"), "Secret"))
		return 0;
	yaml_node_t *type = ymap_get(doc, obj, "type");
	bool legacy = yscalar_is(type, TYPE_DOCKERCFG);
	if (!legacy && !yscalar_is(type, TYPE_DOCKERCONFIGJSON))
		return 0;
	(*n_secrets)++;
	const char *key = legacy ? ".dockercfg" : ".dockerconfigjson";
	yaml_node_t *n = ymap_get(doc, ymap_get(doc, obj, "metadata"), "name");
	if (n && n->type == YAML_SCALAR_NODE)
		reg_auth_printable(name, sizeof(name), (const char *)n->data.scalar.value,
		                   n->data.scalar.length);
	else
		reg_auth_printable(name, sizeof(name), "(unnamed)", strlen("(unnamed)"));

	/* stringData wins over data, as when the API server merges them. */
	const char *content;
	size_t content_len;
	yaml_node_t *plain = ymap_get(doc, ymap_get(doc, obj, "stringData"), key);
	yaml_node_t *encoded = ymap_get(doc, ymap_get(doc, obj, "data"), key);
	if (plain && plain->type == YAML_SCALAR_NODE) {
		content = (const char *)plain->data.scalar.value;
		content_len = plain->data.scalar.length;
	} else if (encoded && encoded->type == YAML_SCALAR_NODE) {
		if ((rc = reg_auth_base64_decode(&decoded, &content_len,
		                                 (const char *)encoded->data.scalar.value,
		                                 encoded->data.scalar.length, err)) < 0) {
			bale_error_wrap(err, "%s: Secret %s: %s in data", path, name, key);
			goto cleanup;
		}
		content = decoded;
	} else {
		rc = bale_error_set(err, BALE_EUSAGE, "%s: Secret %s: no %s in data or stringData",
		                    path, name, key);
		goto cleanup;
	}
	if ((rc = bale_buf_appendf(&source, err, "pull secret %s (Secret %s)", path, name)) < 0)
		goto cleanup;
	if ((rc = reg_auth_json_load(&config, content, content_len, BALE_EUSAGE, err)) < 0 ||
	    (rc = reg_auth_config_lookup(&found, config, legacy, false, source.data, w, err)) < 0) {
		bale_error_wrap(err, "%s: Secret %s: %s", path, name, key);
		goto cleanup;
	}
	if (!*out) {
		*out = found;
		found = NULL;
	}
cleanup:
	bale_auth_credential_free(found);
	reg_auth_json_wipe_decref(config);
	reg_auth_cleanse_free(decoded);
	bale_buf_free(&source);
	return rc;
}

static int document_lookup(bale_credential **out, size_t *n_secrets, yaml_document_t *doc,
                           size_t index, const char *path, const reg_auth_want *w, bale_error **err)
{
	int rc;
	yaml_node_t *root = yaml_document_get_root_node(doc);
	if (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)
		return 0; /* an empty document between two "---" */
	if (root->type != YAML_MAPPING_NODE)
		return bale_error_set(err, BALE_EUSAGE,
		                      "%s: document %zu is not a Kubernetes object", path, index);
	/* `kubectl get secrets -o yaml` wraps them in a List (SecretList from the API). */
	if (!yscalar_ends_with(ymap_get(doc, root, "kind"), "List"))
		return secret_lookup(out, n_secrets, doc, root, path, w, err);
	yaml_node_t *items = ymap_get(doc, root, "items");
	if (!items || (items->type == YAML_SCALAR_NODE && items->data.scalar.length == 0))
		return 0;
	if (items->type != YAML_SEQUENCE_NODE)
		return bale_error_set(err, BALE_EUSAGE, "%s: document %zu: items is not a list",
		                      path, index);
	for (yaml_node_item_t *i = items->data.sequence.items.start;
	     i < items->data.sequence.items.top; i++) {
		yaml_node_t *item = yaml_document_get_node(doc, *i);
		if (!item || item->type != YAML_MAPPING_NODE)
			return bale_error_set(
			    err, BALE_EUSAGE, "%s: document %zu: item %zu is not an object", path,
			    index, (size_t)(i - items->data.sequence.items.start) + 1);
		if ((rc = secret_lookup(out, n_secrets, doc, item, path, w, err)) < 0)
			return rc;
	}
	return 0;
}

int reg_auth_secret_text_lookup(bale_credential **out, const char *path, const char *text,
                                size_t len, const reg_auth_want *w, bale_error **err)
{
	size_t n_secrets = 0;
	bale_yaml_stream *stream = NULL;
	/* Untrusted YAML: bale/yaml.h's bounds on depth, nodes and aliases. */
	int rc = bale_yaml_stream_new(&stream, path, text, len, err);
	for (size_t index = 1; rc == 0; index++) {
		yaml_document_t doc;
		if ((rc = bale_yaml_stream_next(stream, &doc, err)) <= 0)
			break;
		rc = yaml_document_get_root_node(&doc)
		         ? document_lookup(out, &n_secrets, &doc, index, path, w, err)
		         : 0;
		/* libyaml frees scalars without wiping them; a Secret's data is the secret. */
		bale_yaml_document_delete(&doc);
	}
	if (rc == 0 && n_secrets == 0)
		rc = bale_error_set(
		    err, BALE_EUSAGE,
		    "%s: no Secret of type " TYPE_DOCKERCONFIGJSON " or " TYPE_DOCKERCFG, path);
	bale_yaml_stream_free(stream);
	if (rc < 0 && *out) {
		bale_auth_credential_free(*out);
		*out = NULL;
	}
	return rc;
}

int reg_auth_secret_file_lookup(bale_credential **out, const char *path, const reg_auth_want *w,
                                bale_error **err)
{
	int rc = 0;
	bale_buf buf;
	bale_buf_init(&buf, BALE_CAP_AUTHFILE, "pull secret");
	if (access(path, F_OK) < 0)
		rc = bale_error_set_errno(err, errno == ENOENT ? BALE_ENOTFOUND : BALE_EUSAGE,
		                          errno, "%s", path);
	else if ((rc = bale_buf_read_file(&buf, path, err)) == 0)
		rc = reg_auth_secret_text_lookup(out, path, buf.data, buf.len, w, err);
	bale_buf_free(&buf);
	return rc;
}

int bale_auth_check(const bale_auth_options *opts, bale_error **err)
{
	/* A domain no Secret names (.invalid is reserved): every file is read to the end. */
	const reg_auth_want nobody = {"bale.invalid", ""};
	bale_credential *found = NULL;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < opts->n_pull_secrets; i++)
		rc = reg_auth_secret_file_lookup(&found, opts->pull_secrets[i], &nobody, err);
	for (size_t i = 0; rc == 0 && i < opts->n_manifest_secrets; i++)
		rc = reg_auth_secret_text_lookup(
		    &found, opts->manifest_secrets[i].where, opts->manifest_secrets[i].text,
		    strlen(opts->manifest_secrets[i].text), &nobody, err);
	bale_auth_credential_free(found);
	return rc;
}
