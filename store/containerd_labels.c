/* The containerd store's labels: what the CRI looks for (managed, pinned), the
 * distribution sources a pull would have set, and the references that keep every
 * platform imported before. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/manifest.h"
#include "bale/ref.h"
#include "store/containerd_private.h"

/* ---- labels ---- */

/* The labels a kubelet's CRI looks for: managed, and pinned against image GC. */
int ctrd_label_images(ctr_store *s, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < s->n_names && rc == 0; i++) {
		const named *n = &s->names[i];
		if (n->state != NAME_LANDED)
			continue;
		const char *names[2] = {n->ref, n->by_digest};
		for (size_t k = 0; k < 2 && rc == 0; k++) {
			if (k == 1 && strcmp(n->ref, n->by_digest) == 0)
				break;
			const char *args[] = {"images",
			                      "label",
			                      names[k],
			                      "io.cri-containerd.image=managed",
			                      s->pin ? "io.cri-containerd.pinned=pinned" : NULL,
			                      NULL};
			bale_buf out;
			rc = store_ctr_run(&s->ctr, args, "images label", &out, err);
			bale_buf_free(&out);
		}
	}
	return rc;
}

/* Records label ("key=value") for digest, ahead of what it had: source_value finds it first. */
int ctrd_remember_source(ctr_store *s, const char *digest, const char *label, bale_error **err)
{
	source *src = NULL;
	for (size_t i = 0; !src && i < s->n_sources; i++)
		if (strcmp(s->sources[i].digest, digest) == 0)
			src = &s->sources[i];
	if (!src) {
		source *grown = realloc(s->sources, (s->n_sources + 1) * sizeof(*grown));
		if (!grown)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		s->sources = grown;
		src = &s->sources[s->n_sources];
		if (!(src->digest = strdup(digest)))
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		src->labels = NULL;
		s->n_sources++;
	}
	size_t len = strlen(label) + 2 + (src->labels ? strlen(src->labels) : 0);
	char *joined = malloc(len);
	if (!joined)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	snprintf(joined, len, "%s%s%s", label, src->labels ? "," : "",
	         src->labels ? src->labels : "");
	free(src->labels);
	src->labels = joined;
	return 0;
}

/* The value the node's labels give key for digest ("" when none), as `ctr content ls`
 * printed them at the start or this run set them. */
static void source_value(const ctr_store *s, const char *digest, const char *key, char *out,
                         size_t size)
{
	*out = '\0';
	const char *labels = NULL;
	for (size_t i = 0; !labels && i < s->n_sources; i++)
		if (strcmp(s->sources[i].digest, digest) == 0)
			labels = s->sources[i].labels;
	size_t kl = strlen(key);
	for (const char *p = labels; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (strncmp(p, key, kl) != 0 || p[kl] != '=')
			continue;
		/* the value runs on over ","-separated parts that are not "key=value" */
		const char *v = p + kl + 1, *end = v;
		for (;;) {
			const char *comma = strchr(end, ',');
			if (!comma) {
				end += strlen(end);
				break;
			}
			size_t part = strcspn(comma + 1, ",");
			if (memchr(comma + 1, '=', part)) {
				end = comma;
				break;
			}
			end = comma + 1 + part;
		}
		snprintf(out, size, "%.*s", (int)(end - v), v);
		return;
	}
}

/* Is the blob gone from containerd? Its importer keeps, of an index imported for one
 * platform, only what that platform names: the attestations and artifacts the bundle
 * carried with the image are collected again once `ctr` has ended. */
static bool content_gone(ctr_store *s, const char *digest)
{
	const char *args[] = {"content", "ls", "-q", NULL};
	bale_buf out;
	bool gone = false;
	if (store_ctr_run(&s->ctr, args, "content ls", &out, NULL) == 0) {
		gone = true;
		for (char *line = out.data, *next; gone && line && *line; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			gone = strcmp(line, digest) != 0;
		}
	}
	bale_buf_free(&out);
	return gone;
}

/* Adds repo to the source label key of a blob unless it is there. 1: the blob is gone
 * (content_gone), nothing to label. */
static int source_label(ctr_store *s, const char *digest, const char *key, const char *repo,
                        bale_error **err)
{
	char value[4096], *parts[64], joined[4096], label[4608];
	size_t n = 0, len = 0;
	source_value(s, digest, key, value, sizeof(value));
	for (char *p = value, *save = NULL, *t; (t = strtok_r(p, ",", &save)) && n < 63; p = NULL) {
		if (strcmp(t, repo) == 0)
			return 0;
		parts[n++] = t;
	}
	parts[n++] = (char *)repo;
	qsort(parts, n, sizeof(*parts), ctrd_by_string);
	joined[0] = '\0';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(joined + len, sizeof(joined) - len, "%s%s", i ? "," : "",
		                        parts[i]);
	/* containerd's limit on a label; its pull also leaves such a blob unlabelled */
	if (len >= sizeof(joined) || strlen(key) + 1 + len > 4096)
		return 0;
	snprintf(label, sizeof(label), "%s=%s", key, joined);
	const char *args[] = {"content", "label", digest, label, NULL};
	bale_buf out;
	bale_error *e = NULL;
	int rc = store_ctr_run(&s->ctr, args, "content label", &out, &e);
	bale_buf_free(&out);
	if (rc < 0 && content_gone(s, digest)) {
		bale_error_free(e);
		return 1;
	}
	if (rc < 0) {
		if (err && !*err)
			*err = e;
		else
			bale_error_free(e);
		return rc;
	}
	return ctrd_remember_source(s, digest, label, err);
}

/* containerd.io/distribution.source.<host>=<repository>[,<repository>…] on every blob of
 * every image that landed, as containerd's own pull labels what it fetched (the host
 * without its port, repositories sorted): a node-local mirror or a later push finds where
 * the blob came from, and a pull of the same image fetches nothing. */
int ctrd_label_sources(ctr_store *s, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < s->n_names && rc == 0; i++) {
		const named *n = &s->names[i];
		bale_ref *ref = NULL;
		if (n->state != NAME_LANDED || bale_ref_parse(&ref, n->ref, NULL) < 0)
			continue;
		char host[256], key[512];
		const char *domain = bale_ref_domain(ref);
		size_t hl = domain[0] == '[' ? strcspn(domain + 1, "]") : strcspn(domain, ":");
		snprintf(host, sizeof(host), "%.*s", (int)hl, domain + (domain[0] == '['));
		snprintf(key, sizeof(key), "containerd.io/distribution.source.%s", host);
		size_t gone = 0;
		for (size_t u = 0; u < n->n_uses && rc >= 0; u++)
			if ((rc = source_label(s, n->uses[u], key, bale_ref_path(ref), err)) == 1)
				gone++;
		if (gone)
			bale_log_printf(
			    s->log, BALE_LOG_WARN,
			    "%s: containerd kept none of the %zu blob%s of what no platform "
			    "names (attestations, artifacts) after a one-platform import; "
			    "the bundle has them (--platform all keeps them)",
			    n->ref, gone, gone == 1 ? "" : "s");
		rc = rc < 0 ? rc : 0;
		bale_ref_free(ref);
	}
	return rc;
}

/* Does `ctr images ls` show every name and digest name at its digest, with the labels
 * this import would set? */
int ctrd_names_in_place(ctr_store *s, bool *out, bale_error **err)
{
	const char *args[] = {"images", "ls", NULL};
	bale_buf list;
	char want[2048];
	int rc = store_ctr_run(&s->ctr, args, "images ls", &list, err);
	*out = rc == 0;
	for (size_t i = 0; rc == 0 && *out && i < s->n_names; i++) {
		const char *names[2] = {s->names[i].ref, s->names[i].by_digest};
		for (size_t k = 0; k < 2 && *out; k++) {
			/* a line "NAME TYPE DIGEST …": find it by its start */
			snprintf(want, sizeof(want), "\n%s ", names[k]);
			const char *line = strstr(list.data, want);
			const char *end = line ? strchr(line + 1, '\n') : NULL;
			size_t len = line ? (end ? (size_t)(end - line) : strlen(line)) : 0;
			char row[4096];
			snprintf(row, sizeof(row), "%.*s",
			         (int)(len < sizeof(row) ? len : sizeof(row) - 1),
			         line ? line : "");
			*out = line && strstr(row, s->names[i].root.digest.str) &&
			       strstr(row, "io.cri-containerd.image=managed") &&
			       (!s->pin || strstr(row, "io.cri-containerd.pinned=pinned"));
		}
	}
	bale_buf_free(&list);
	return rc;
}

/* ctr's importer labels an index only with the children of the platform it imported,
 * which leaves the platforms imported before unreferenced: containerd's garbage
 * collector then deletes them. Our own reference labels on the index (a key ctr never
 * writes) keep every child the node holds. */
int ctrd_protect_children(ctr_store *s, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < s->n_names && rc == 0; i++) {
		const bale_descriptor *root = &s->names[i].root;
		if (s->names[i].state != NAME_LANDED ||
		    !bale_manifest_type_is_index(root->media_type))
			continue;
		bale_buf bytes;
		bale_index_entry *children = NULL;
		size_t n = 0;
		if ((rc = ctrd_read_blob(s, root, &bytes, err)) == 0)
			rc = bale_manifest_parse_index(&children, &n, bytes.data, bytes.len, err);
		bale_buf_free(&bytes);
		const char *args[40] = {"content", "label", root->digest.str};
		char labels[32][136];
		size_t na = 3;
		for (size_t k = 0; rc == 0 && k < n && na < 3 + 32; k++) {
			if (!ctrd_holds(s, &children[k].desc))
				continue;
			snprintf(labels[na - 3], sizeof(labels[0]),
			         "containerd.io/gc.ref.content.bale.%.16s=%s",
			         bale_digest_hex(&children[k].desc.digest),
			         children[k].desc.digest.str);
			args[na] = labels[na - 3];
			na++;
		}
		args[na] = NULL;
		free(children);
		if (rc == 0 && na > 3) {
			bale_buf out;
			rc = store_ctr_run(&s->ctr, args, "content label", &out, err);
			bale_buf_free(&out);
		}
	}
	return rc;
}
