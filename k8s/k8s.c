#include "bale/k8s.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "bale/buf.h"
#include "bale/fs.h"
#include "bale/yaml.h"

/* Deeper than any real manifest tree or Secret; bounds the recursion on nested directories
 * and in writing a Secret back (bale/yaml.h already refuses alias cycles). */
#define MAX_DEPTH 64
/* The API server refuses objects over about 1.5 MB; the rest is room for re-quoting, and
 * the cap stops aliases from expanding a small Secret into a huge text. */
#define SECRET_TEXT_CAP (4u << 20)

/* Where each workload kind keeps its pod spec. */
struct workload_kind {
	const char *kind;
	const char *spec[6]; /* keys from the object down, NULL-terminated */
};

static const struct workload_kind workload_kinds[] = {
    {"Pod", {"spec", NULL}},
    {"Deployment", {"spec", "template", "spec", NULL}},
    {"ReplicaSet", {"spec", "template", "spec", NULL}},
    {"StatefulSet", {"spec", "template", "spec", NULL}},
    {"DaemonSet", {"spec", "template", "spec", NULL}},
    {"Job", {"spec", "template", "spec", NULL}},
    {"ReplicationController", {"spec", "template", "spec", NULL}},
    {"CronJob", {"spec", "jobTemplate", "spec", "template", "spec", NULL}},
};

static const char *const container_lists[] = {"containers", "initContainers",
                                              "ephemeralContainers"};

static int oom(bale_error **err)
{
	return bale_error_set(err, BALE_EGENERIC, "out of memory");
}

/* libyaml counts lines from 0; editors and findings count from 1. */
static int line_of(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

static bool yscalar_is(const yaml_node_t *n, const char *s)
{
	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
	       memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

/* `key:`, `key: ~` and `key: null` all mean unset to the API server. */
static bool ynull(const yaml_node_t *n)
{
	if (!n)
		return true;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return n->data.scalar.length == 0 || yscalar_is(n, "~") || yscalar_is(n, "null") ||
	       yscalar_is(n, "Null") || yscalar_is(n, "NULL");
}

/* The value under key in a mapping (NULL when map is not one or has no such key); the
 * key's own node in *key_out when asked, for its line. */
static yaml_node_t *ymap_get(yaml_document_t *doc, yaml_node_t *map, const char *key,
                             yaml_node_t **key_out)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		if (yscalar_is(k, key)) {
			if (key_out)
				*key_out = k;
			return yaml_document_get_node(doc, p->value);
		}
	}
	return NULL;
}

static yaml_node_t *ypath(yaml_document_t *doc, yaml_node_t *n, const char *const *keys)
{
	for (; n && *keys; keys++)
		n = ymap_get(doc, n, *keys, NULL);
	return n;
}

/* *out = the scalar's text, or NULL when n is missing, null or not a scalar. */
static int ystrdup(char **out, const yaml_node_t *n, bale_error **err)
{
	*out = NULL;
	if (!n || n->type != YAML_SCALAR_NODE || ynull(n))
		return 0;
	*out = strndup((const char *)n->data.scalar.value, n->data.scalar.length);
	return *out ? 0 : oom(err);
}

/* metadata.name, else generateName (Jobs made by tools often have only that), else "":
 * consumers print the name, so it is never NULL. */
static int object_name(char **out, yaml_document_t *doc, yaml_node_t *meta, bale_error **err)
{
	int rc = ystrdup(out, ymap_get(doc, meta, "name", NULL), err);
	if (rc == 0 && !*out)
		rc = ystrdup(out, ymap_get(doc, meta, "generateName", NULL), err);
	if (rc == 0 && !*out && !(*out = strdup("")))
		rc = oom(err);
	return rc;
}

/* Arrays grow by doubling: an array of n elements always has slots(n) allocated. */
static size_t slots(size_t n)
{
	size_t s = 4;
	while (s < n)
		s *= 2;
	return n ? s : 0;
}

/* The array with room for element n (zeroed), or NULL when out of memory (arr intact). */
static void *grow(void *arr, size_t n, size_t size)
{
	if (n == slots(n)) {
		size_t want = slots(n + 1);
		if (want > SIZE_MAX / size)
			return NULL;
		void *p = realloc(arr, want * size);
		if (!p)
			return NULL;
		arr = p;
	}
	memset((char *)arr + n * size, 0, size);
	return arr;
}

/* imagePullSecrets: [{name: x}, ...]; entries without a name are skipped, as the kubelet
 * does. */
static int pull_secret_names(char ***names, size_t *n, yaml_document_t *doc, yaml_node_t *seq,
                             bale_error **err)
{
	int rc;
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return 0;
	for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
	     i++) {
		char *name = NULL;
		yaml_node_t *ref = ymap_get(doc, yaml_document_get_node(doc, *i), "name", NULL);
		if ((rc = ystrdup(&name, ref, err)) < 0)
			return rc;
		if (!name)
			continue;
		char **p = grow(*names, *n, sizeof(**names));
		if (!p) {
			free(name);
			return oom(err);
		}
		*names = p;
		(*names)[(*n)++] = name;
	}
	return 0;
}

static int add_containers(bale_k8s_workload *w, yaml_document_t *doc, yaml_node_t *spec,
                          const char *list, bale_error **err)
{
	int rc;
	yaml_node_t *seq = ymap_get(doc, spec, list, NULL);
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return 0;
	for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
	     i++) {
		yaml_node_t *c = yaml_document_get_node(doc, *i);
		if (!c || c->type != YAML_MAPPING_NODE)
			continue;
		bale_k8s_container *p = grow(w->containers, w->n_containers, sizeof(*p));
		if (!p)
			return oom(err);
		w->containers = p;
		/* Counted at once so that a failure below still frees what was filled in. */
		bale_k8s_container *out = &w->containers[w->n_containers++];
		yaml_node_t *image = ymap_get(doc, c, "image", NULL);
		out->list = list;
		out->line = line_of(image && !ynull(image) ? image : c);
		if ((rc = ystrdup(&out->name, ymap_get(doc, c, "name", NULL), err)) < 0 ||
		    (rc = ystrdup(&out->image, image, err)) < 0 ||
		    (rc = ystrdup(&out->pull_policy, ymap_get(doc, c, "imagePullPolicy", NULL),
		                  err)) < 0)
			return rc;
	}
	return 0;
}

static const char *const arch_names[BALE_K8S_N_ARCHS] = {"amd64",   "arm64", "arm",     "386",
                                                         "ppc64le", "s390x", "riscv64", "mips64le"};
static const char *const os_names[BALE_K8S_N_OSES] = {"linux", "windows"};

const char *bale_k8s_arch_name(int i)
{
	return i >= 0 && i < BALE_K8S_N_ARCHS ? arch_names[i] : NULL;
}

const char *bale_k8s_os_name(int i)
{
	return i >= 0 && i < BALE_K8S_N_OSES ? os_names[i] : NULL;
}

/* The bit of a label's value among names (0 for a value bale does not know: no node of a
 * known kind has it). */
static unsigned value_bit(const yaml_node_t *v, const char *const *names, int n)
{
	for (int i = 0; v && v->type == YAML_SCALAR_NODE && i < n; i++)
		if (yscalar_is(v, names[i]))
			return 1u << i;
	return 0;
}

/* Which of the two placement labels key is: 1 arch, 2 os, 0 another. */
static int placement_label(const yaml_node_t *key)
{
	if (yscalar_is(key, "kubernetes.io/arch") || yscalar_is(key, "beta.kubernetes.io/arch"))
		return 1;
	if (yscalar_is(key, "kubernetes.io/os") || yscalar_is(key, "beta.kubernetes.io/os"))
		return 2;
	return 0;
}

/* One matchExpressions entry on a placement label, narrowing *archs or *oses. */
static void narrow(yaml_document_t *doc, yaml_node_t *expr, unsigned *archs, unsigned *oses)
{
	int label = placement_label(ymap_get(doc, expr, "key", NULL));
	yaml_node_t *op = ymap_get(doc, expr, "operator", NULL);
	yaml_node_t *values = ymap_get(doc, expr, "values", NULL);
	const char *const *names = label == 1 ? arch_names : os_names;
	int n = label == 1 ? BALE_K8S_N_ARCHS : BALE_K8S_N_OSES;
	unsigned *mask = label == 1 ? archs : oses, bits = 0;
	if (!label)
		return;
	for (yaml_node_item_t *it = values && values->type == YAML_SEQUENCE_NODE
	                                ? values->data.sequence.items.start
	                                : NULL;
	     it && it < values->data.sequence.items.top; it++)
		bits |= value_bit(yaml_document_get_node(doc, *it), names, n);
	if (yscalar_is(op, "In"))
		*mask &= bits;
	else if (yscalar_is(op, "NotIn"))
		*mask &= ~bits;
	else if (yscalar_is(op, "DoesNotExist")) /* every node has both labels */
		*mask = 0;
}

/* The pod spec's nodeSelector and required nodeAffinity, as the scheduler reads them. */
static void read_placement(bale_k8s_workload *w, yaml_document_t *doc, yaml_node_t *spec)
{
	yaml_node_t *selector = ymap_get(doc, spec, "nodeSelector", NULL);
	static const char *const required[] = {"affinity", "nodeAffinity",
	                                       "requiredDuringSchedulingIgnoredDuringExecution",
	                                       "nodeSelectorTerms", NULL};
	yaml_node_t *terms = ypath(doc, spec, required);
	w->archs = BALE_K8S_ALL_ARCHS;
	w->oses = BALE_K8S_ALL_OSES;
	for (yaml_node_pair_t *p = selector && selector->type == YAML_MAPPING_NODE
	                               ? selector->data.mapping.pairs.start
	                               : NULL;
	     p && p < selector->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		yaml_node_t *v = yaml_document_get_node(doc, p->value);
		int label = placement_label(k);
		if (label == 1)
			w->archs &= value_bit(v, arch_names, BALE_K8S_N_ARCHS);
		else if (label == 2)
			w->oses &= value_bit(v, os_names, BALE_K8S_N_OSES);
	}
	if (!terms || terms->type != YAML_SEQUENCE_NODE ||
	    terms->data.sequence.items.start == terms->data.sequence.items.top)
		return;
	unsigned any_archs = 0, any_oses = 0; /* terms are ORed */
	for (yaml_node_item_t *t = terms->data.sequence.items.start;
	     t < terms->data.sequence.items.top; t++) {
		yaml_node_t *exprs =
		    ymap_get(doc, yaml_document_get_node(doc, *t), "matchExpressions", NULL);
		unsigned archs = BALE_K8S_ALL_ARCHS, oses = BALE_K8S_ALL_OSES;
		for (yaml_node_item_t *e = exprs && exprs->type == YAML_SEQUENCE_NODE
		                               ? exprs->data.sequence.items.start
		                               : NULL;
		     e && e < exprs->data.sequence.items.top; e++)
			narrow(doc, yaml_document_get_node(doc, *e), &archs, &oses);
		any_archs |= archs;
		any_oses |= oses;
	}
	w->archs &= any_archs;
	w->oses &= any_oses;
}

static int add_workload(bale_k8s_set *set, yaml_document_t *doc, yaml_node_t *obj,
                        const struct workload_kind *wk, int line, const char *file,
                        bale_error **err)
{
	int rc;
	bale_k8s_workload *p = grow(set->workloads, set->n_workloads, sizeof(*p));
	if (!p)
		return oom(err);
	set->workloads = p;
	bale_k8s_workload *w = &set->workloads[set->n_workloads++];
	yaml_node_t *meta = ymap_get(doc, obj, "metadata", NULL);
	w->line = line;
	if (!(w->kind = strdup(wk->kind)) || !(w->file = strdup(file)))
		return oom(err);
	if ((rc = object_name(&w->name, doc, meta, err)) < 0 ||
	    (rc = ystrdup(&w->namespace, ymap_get(doc, meta, "namespace", NULL), err)) < 0)
		return rc;

	yaml_node_t *spec = ypath(doc, obj, wk->spec);
	w->archs = BALE_K8S_ALL_ARCHS;
	w->oses = BALE_K8S_ALL_OSES;
	if (!spec || spec->type != YAML_MAPPING_NODE)
		return 0; /* a workload with no pod spec runs nothing */
	read_placement(w, doc, spec);
	for (size_t i = 0; i < sizeof(container_lists) / sizeof(container_lists[0]); i++)
		if ((rc = add_containers(w, doc, spec, container_lists[i], err)) < 0)
			return rc;
	if ((rc = pull_secret_names(&w->pull_secrets, &w->n_pull_secrets, doc,
	                            ymap_get(doc, spec, "imagePullSecrets", NULL), err)) < 0)
		return rc;
	/* serviceAccount is the deprecated spelling; the API server still honours it when
	 * serviceAccountName is unset. */
	if ((rc = ystrdup(&w->service_account, ymap_get(doc, spec, "serviceAccountName", NULL),
	                  err)) < 0)
		return rc;
	if (!w->service_account &&
	    (rc = ystrdup(&w->service_account, ymap_get(doc, spec, "serviceAccount", NULL), err)) <
	        0)
		return rc;
	return 0;
}

static int add_service_account(bale_k8s_set *set, yaml_document_t *doc, yaml_node_t *obj, int line,
                               const char *file, bale_error **err)
{
	int rc;
	bale_k8s_service_account *p =
	    grow(set->service_accounts, set->n_service_accounts, sizeof(*p));
	if (!p)
		return oom(err);
	set->service_accounts = p;
	bale_k8s_service_account *sa = &set->service_accounts[set->n_service_accounts++];
	yaml_node_t *meta = ymap_get(doc, obj, "metadata", NULL);
	sa->line = line;
	if (!(sa->file = strdup(file)))
		return oom(err);
	if ((rc = object_name(&sa->name, doc, meta, err)) < 0 ||
	    (rc = ystrdup(&sa->namespace, ymap_get(doc, meta, "namespace", NULL), err)) < 0)
		return rc;
	return pull_secret_names(&sa->pull_secrets, &sa->n_pull_secrets, doc,
	                         ymap_get(doc, obj, "imagePullSecrets", NULL), err);
}

static int emit_write(void *data, unsigned char *buffer, size_t size)
{
	return bale_buf_append(data, buffer, size, NULL) == 0;
}

/* 1 on success, as libyaml counts; aliases come out expanded (the loader resolved them). */
static int emit_node(yaml_emitter_t *em, yaml_document_t *doc, yaml_node_t *n, int depth)
{
	yaml_event_t ev;
	if (!n || depth > MAX_DEPTH)
		return 0;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		/* Implicit tags and the original style: a quoted "1.0" stays a string. */
		return yaml_scalar_event_initialize(&ev, NULL, n->tag, n->data.scalar.value,
		                                    (int)n->data.scalar.length, 1, 1,
		                                    n->data.scalar.style) &&
		       yaml_emitter_emit(em, &ev);
	case YAML_SEQUENCE_NODE:
		if (!yaml_sequence_start_event_initialize(&ev, NULL, n->tag, 1,
		                                          YAML_ANY_SEQUENCE_STYLE) ||
		    !yaml_emitter_emit(em, &ev))
			return 0;
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     i < n->data.sequence.items.top; i++)
			if (!emit_node(em, doc, yaml_document_get_node(doc, *i), depth + 1))
				return 0;
		return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev);
	case YAML_MAPPING_NODE:
		if (!yaml_mapping_start_event_initialize(&ev, NULL, n->tag, 1,
		                                         YAML_ANY_MAPPING_STYLE) ||
		    !yaml_emitter_emit(em, &ev))
			return 0;
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++)
			if (!emit_node(em, doc, yaml_document_get_node(doc, p->key), depth + 1) ||
			    !emit_node(em, doc, yaml_document_get_node(doc, p->value), depth + 1))
				return 0;
		return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev);
	default:
		return 0;
	}
}

/* The object as a YAML document of its own: a List item comes out as a plain Secret, and
 * JSON input as YAML, which bale_auth's pull-secret reader takes either way. */
static int emit_object(char **out, yaml_document_t *doc, yaml_node_t *obj, bale_error **err)
{
	int rc = 0;
	yaml_emitter_t em;
	yaml_event_t ev;
	bale_buf text;
	bale_buf_init(&text, SECRET_TEXT_CAP, "Secret");

	*out = NULL;
	if (!yaml_emitter_initialize(&em))
		return oom(err);
	yaml_emitter_set_output(&em, emit_write, &text);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1); /* no folding of long base64 lines */
	if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
	    !yaml_emitter_emit(&em, &ev) ||
	    !yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ||
	    !yaml_emitter_emit(&em, &ev) || !emit_node(&em, doc, obj, 0) ||
	    !yaml_document_end_event_initialize(&ev, 1) || !yaml_emitter_emit(&em, &ev) ||
	    !yaml_stream_end_event_initialize(&ev) || !yaml_emitter_emit(&em, &ev) ||
	    !yaml_emitter_flush(&em)) {
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "cannot write it back as YAML (nested over %d levels or larger "
		                    "than %u bytes)",
		                    MAX_DEPTH, SECRET_TEXT_CAP);
		goto cleanup;
	}
	if (!(*out = bale_buf_detach(&text, NULL)))
		rc = oom(err);
cleanup:
	/* The emitter's buffers held the Secret's data. */
	if (em.buffer.start)
		OPENSSL_cleanse(em.buffer.start, (size_t)(em.buffer.end - em.buffer.start));
	yaml_emitter_delete(&em);
	bale_buf_free(&text);
	return rc;
}

static int add_secret(bale_k8s_set *set, yaml_document_t *doc, yaml_node_t *obj, int line,
                      const char *file, bale_error **err)
{
	int rc;
	bale_k8s_secret *p = grow(set->secrets, set->n_secrets, sizeof(*p));
	if (!p)
		return oom(err);
	set->secrets = p;
	bale_k8s_secret *s = &set->secrets[set->n_secrets++];
	yaml_node_t *meta = ymap_get(doc, obj, "metadata", NULL);
	s->line = line;
	if (!(s->file = strdup(file)))
		return oom(err);
	if ((rc = object_name(&s->name, doc, meta, err)) < 0 ||
	    (rc = ystrdup(&s->namespace, ymap_get(doc, meta, "namespace", NULL), err)) < 0 ||
	    (rc = ystrdup(&s->type, ymap_get(doc, obj, "type", NULL), err)) < 0)
		return rc;
	/* The API server's default. */
	if (!s->type && !(s->type = strdup("Opaque")))
		return oom(err);
	if ((rc = emit_object(&s->text, doc, obj, err)) < 0)
		return bale_error_wrap(err, "%s:%d: Secret %s", file, line, s->name);
	return 0;
}

/* One object; a List's items when it is one (`kubectl get -o yaml` output, DeploymentList
 * from the API). Items that are Lists again are not a thing kubectl makes: skipped. */
/* A Node: its labels say what the scheduler matches, status.nodeInfo what it runs. */
static void add_node(bale_k8s_set *set, yaml_document_t *doc, yaml_node_t *obj)
{
	static const char *const info[] = {"status", "nodeInfo", NULL};
	yaml_node_t *labels = ypath(doc, obj, (const char *const[]){"metadata", "labels", NULL});
	yaml_node_t *arch = ymap_get(doc, labels, "kubernetes.io/arch", NULL);
	yaml_node_t *os = ymap_get(doc, labels, "kubernetes.io/os", NULL);
	if (!arch)
		arch = ymap_get(doc, ypath(doc, obj, info), "architecture", NULL);
	if (!os)
		os = ymap_get(doc, ypath(doc, obj, info), "operatingSystem", NULL);
	set->n_nodes++;
	set->node_archs |= value_bit(arch, arch_names, BALE_K8S_N_ARCHS);
	set->node_oses |= value_bit(os, os_names, BALE_K8S_N_OSES);
}

/* A node inventory written by hand: a YAML list of "os/arch[/variant]". */
static void add_node_list(bale_k8s_set *set, yaml_document_t *doc, yaml_node_t *seq)
{
	for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
	     i++) {
		yaml_node_t *n = yaml_document_get_node(doc, *i);
		if (!n || n->type != YAML_SCALAR_NODE)
			continue;
		char text[96];
		snprintf(text, sizeof(text), "%.*s", (int)n->data.scalar.length,
		         (const char *)n->data.scalar.value);
		char *arch = strchr(text, '/'), *variant = arch ? strchr(arch + 1, '/') : NULL;
		if (!arch)
			continue;
		*arch++ = '\0';
		if (variant)
			*variant = '\0';
		set->n_nodes++;
		for (int k = 0; k < BALE_K8S_N_OSES; k++)
			set->node_oses |= strcmp(text, os_names[k]) == 0 ? 1u << k : 0;
		for (int k = 0; k < BALE_K8S_N_ARCHS; k++)
			set->node_archs |= strcmp(arch, arch_names[k]) == 0 ? 1u << k : 0;
	}
}

static int add_object(bale_k8s_set *set, yaml_document_t *doc, yaml_node_t *obj, bool in_list,
                      const char *file, bale_error **err)
{
	int rc;
	yaml_node_t *kind_key = NULL;
	yaml_node_t *kind = ymap_get(doc, obj, "kind", &kind_key);
	if (!kind || kind->type != YAML_SCALAR_NODE)
		return 0; /* not a Kubernetes object: values.yaml, kustomization.yaml, ... */
	int line = line_of(kind_key);
	size_t len = kind->data.scalar.length;
	if (len >= 4 && memcmp(kind->data.scalar.value + len - 4, "List", 4) == 0) {
		yaml_node_t *items = ymap_get(doc, obj, "items", NULL);
		if (in_list || !items || items->type != YAML_SEQUENCE_NODE)
			return 0;
		for (yaml_node_item_t *i = items->data.sequence.items.start;
		     i < items->data.sequence.items.top; i++) {
			yaml_node_t *item = yaml_document_get_node(doc, *i);
			if (item && item->type == YAML_MAPPING_NODE &&
			    (rc = add_object(set, doc, item, true, file, err)) < 0)
				return rc;
		}
		return 0;
	}
	for (size_t i = 0; i < sizeof(workload_kinds) / sizeof(workload_kinds[0]); i++)
		if (yscalar_is(kind, workload_kinds[i].kind))
			return add_workload(set, doc, obj, &workload_kinds[i], line, file, err);
	if (yscalar_is(kind, "Secret"))
		return add_secret(set, doc, obj, line, file, err);
	if (yscalar_is(kind, "ServiceAccount"))
		return add_service_account(set, doc, obj, line, file, err);
	if (yscalar_is(kind, "Node"))
		add_node(set, doc, obj);
	return 0;
}

/* Every document of one YAML (or JSON) stream, read within bale/yaml.h's bounds. */
static int load_text(bale_k8s_set *set, const char *file, const char *text, size_t len,
                     bale_error **err)
{
	bale_yaml_stream *stream = NULL;
	int rc = bale_yaml_stream_new(&stream, file, text, len, err);
	while (rc == 0) {
		yaml_document_t doc;
		if ((rc = bale_yaml_stream_next(stream, &doc, err)) <= 0)
			break;
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		/* Empty documents (a bare `---`, comments only) and non-objects are not
		 * manifests. */
		rc = root && root->type == YAML_MAPPING_NODE
		         ? add_object(set, &doc, root, false, file, err)
		         : 0;
		if (root && root->type == YAML_SEQUENCE_NODE)
			add_node_list(set, &doc, root);
		/* libyaml frees scalars without wiping them; Secrets pass through here. */
		bale_yaml_document_delete(&doc);
	}
	bale_yaml_stream_free(stream);
	return rc;
}

static int load_fd(bale_k8s_set *set, int fd, const char *name, bale_error **err)
{
	int rc = 0;
	struct stat st;
	char chunk[65536];
	bale_buf b;
	bale_buf_init(&b, BALE_K8S_CAP, name);

	/* Refuse a regular file before reading it; pipes are counted as they come. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uintmax_t)st.st_size > BALE_K8S_CAP) {
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "%s: %ju bytes is over the %u byte limit for manifests", name,
		                    (uintmax_t)st.st_size, BALE_K8S_CAP);
		goto cleanup;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "read %s", name);
			goto cleanup;
		}
		if (n == 0)
			break;
		if ((size_t)n > BALE_K8S_CAP - b.len) {
			rc = bale_error_set(err, BALE_EUSAGE,
			                    "%s: over the %u byte limit for manifests", name,
			                    BALE_K8S_CAP);
			goto cleanup;
		}
		if ((rc = bale_buf_append(&b, chunk, (size_t)n, err)) < 0)
			goto cleanup;
	}
	rc = load_text(set, name, b.data ? b.data : "", b.len, err);
cleanup:
	OPENSSL_cleanse(chunk, sizeof(chunk));
	bale_buf_free(&b);
	return rc;
}

static int load_file(bale_k8s_set *set, const char *path, bale_error **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bale_error_set_errno(err, errno == ENOENT ? BALE_ENOTFOUND : BALE_EGENERIC,
		                            errno, "open %s", path);
	int rc = load_fd(set, fd, path, err);
	close(fd);
	return rc;
}

static int skip_dot(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Byte order, not the locale's (alphasort): the same walk on every machine. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static bool manifest_name(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot &&
	       (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0 || strcmp(dot, ".json") == 0);
}

static int walk_dir(const char *dir, int depth, bale_k8s_file_fn fn, void *payload,
                    bale_error **err)
{
	int rc = 0, n = 0;
	struct dirent **names = NULL;
	char *child = NULL;

	if (depth > MAX_DEPTH) {
		rc = bale_error_set(err, BALE_EUSAGE, "%s: nested over %d directories", dir,
		                    MAX_DEPTH);
		goto cleanup;
	}
	if ((n = scandir(dir, &names, skip_dot, by_name)) < 0) {
		n = 0;
		rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "read directory %s", dir);
		goto cleanup;
	}
	for (int i = 0; i < n; i++) {
		struct stat st;
		free(child);
		if (!(child = bale_fs_join(dir, names[i]->d_name))) {
			rc = oom(err);
			goto cleanup;
		}
		if (lstat(child, &st) < 0) {
			rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "%s", child);
			goto cleanup;
		}
		/* Links to directories are not followed: they can loop. Links to files are. */
		if (S_ISDIR(st.st_mode))
			rc = walk_dir(child, depth + 1, fn, payload, err);
		else if (manifest_name(names[i]->d_name) &&
		         (S_ISREG(st.st_mode) ||
		          (S_ISLNK(st.st_mode) && stat(child, &st) == 0 && S_ISREG(st.st_mode))))
			rc = fn(payload, child, err);
		if (rc < 0)
			goto cleanup;
	}
cleanup:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(child);
	return rc;
}

int bale_k8s_each_file(const char *path, bale_k8s_file_fn fn, void *payload, bale_error **err)
{
	struct stat st;
	if (strcmp(path, "-") == 0)
		return fn(payload, path, err);
	if (stat(path, &st) < 0)
		return bale_error_set_errno(err, errno == ENOENT ? BALE_ENOTFOUND : BALE_EGENERIC,
		                            errno, "%s", path);
	return S_ISDIR(st.st_mode) ? walk_dir(path, 0, fn, payload, err) : fn(payload, path, err);
}

static void workload_free(bale_k8s_workload *w)
{
	for (size_t i = 0; i < w->n_containers; i++) {
		free(w->containers[i].name);
		free(w->containers[i].image);
		free(w->containers[i].pull_policy);
	}
	free(w->containers);
	for (size_t i = 0; i < w->n_pull_secrets; i++)
		free(w->pull_secrets[i]);
	free(w->pull_secrets);
	free(w->kind);
	free(w->name);
	free(w->namespace);
	free(w->file);
	free(w->service_account);
}

static void secret_free(bale_k8s_secret *s)
{
	if (s->text) {
		OPENSSL_cleanse(s->text, strlen(s->text));
		free(s->text);
	}
	free(s->name);
	free(s->namespace);
	free(s->type);
	free(s->file);
}

static void service_account_free(bale_k8s_service_account *sa)
{
	for (size_t i = 0; i < sa->n_pull_secrets; i++)
		free(sa->pull_secrets[i]);
	free(sa->pull_secrets);
	free(sa->name);
	free(sa->namespace);
	free(sa->file);
}

/* Drops what was added past the given counts: a failed load leaves the set as it was. */
static void truncate_set(bale_k8s_set *set, size_t n_workloads, size_t n_secrets,
                         size_t n_service_accounts)
{
	while (set->n_workloads > n_workloads)
		workload_free(&set->workloads[--set->n_workloads]);
	while (set->n_secrets > n_secrets)
		secret_free(&set->secrets[--set->n_secrets]);
	while (set->n_service_accounts > n_service_accounts)
		service_account_free(&set->service_accounts[--set->n_service_accounts]);
}

int bale_k8s_load_text(bale_k8s_set *set, const char *name, const char *text, size_t len,
                       bale_error **err)
{
	assert(set && name && (text || !len));
	size_t n_workloads = set->n_workloads, n_secrets = set->n_secrets,
	       n_service_accounts = set->n_service_accounts;
	int rc = len > BALE_K8S_CAP
	             ? bale_error_set(err, BALE_EUSAGE, "%s: over the %u byte limit for manifests",
	                              name, BALE_K8S_CAP)
	             : load_text(set, name, text ? text : "", len, err);
	if (rc < 0)
		truncate_set(set, n_workloads, n_secrets, n_service_accounts);
	return rc;
}

static int load_one(void *payload, const char *path, bale_error **err)
{
	bale_k8s_set *set = payload;
	return strcmp(path, "-") == 0 ? load_fd(set, STDIN_FILENO, "(stdin)", err)
	                              : load_file(set, path, err);
}

int bale_k8s_load(bale_k8s_set *set, const char *path, bale_error **err)
{
	assert(set && path);
	size_t n_workloads = set->n_workloads, n_secrets = set->n_secrets,
	       n_service_accounts = set->n_service_accounts;
	int rc = bale_k8s_each_file(path, load_one, set, err);
	if (rc < 0)
		truncate_set(set, n_workloads, n_secrets, n_service_accounts);
	return rc;
}

void bale_k8s_set_free(bale_k8s_set *set)
{
	if (!set)
		return;
	truncate_set(set, 0, 0, 0);
	free(set->workloads);
	free(set->secrets);
	free(set->service_accounts);
	memset(set, 0, sizeof(*set));
}
