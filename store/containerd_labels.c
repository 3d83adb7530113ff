/* The containerd store's labels: what the CRI looks for (managed, pinned), the
 * distribution sources a pull would have set, and the references that keep every
 * platform imported before. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/manifest.h"
#include "bale/ref.h"
#include "store/containerd_private.h"

/* ---- the landing's ctr runs, made several at a time ---- */

/* How many ctr runs at once: each mostly starts up and waits on containerd's database. */
#define LABEL_PARALLEL 4

typedef struct job_list {
	store_ctr_job *jobs;
	char ***argvs; /* each job's arguments, owned, NULL-terminated */
	size_t n;
} job_list;

static void job_list_free(job_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		for (char **a = l->argvs[i]; a && *a; a++)
			free(*a);
		free(l->argvs[i]);
		bale_error_free(l->jobs[i].err);
	}
	free(l->argvs);
	free(l->jobs);
	memset(l, 0, sizeof(*l));
}

/* Adds `ctr ARGS…` (copied) to the list. */
static int add_job(job_list *l, const char *what, const char *const *args, bale_error **err)
{
	size_t n = 0;
	while (args[n])
		n++;
	store_ctr_job *jobs = realloc(l->jobs, (l->n + 1) * sizeof(*jobs));
	if (jobs)
		l->jobs = jobs;
	char ***argvs = jobs ? realloc(l->argvs, (l->n + 1) * sizeof(*argvs)) : NULL;
	if (argvs)
		l->argvs = argvs;
	char **copy = argvs ? calloc(n + 1, sizeof(*copy)) : NULL;
	for (size_t i = 0; copy && i < n; i++)
		if (!(copy[i] = strdup(args[i]))) {
			for (size_t k = 0; k < i; k++)
				free(copy[k]);
			free(copy);
			copy = NULL;
		}
	if (!copy)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	l->argvs[l->n] = copy;
	l->jobs[l->n] = (store_ctr_job){.args = (const char *const *)copy, .what = what};
	l->n++;
	return 0;
}

/* ---- labels ---- */

/* The labels a kubelet's CRI looks for: managed, and pinned against image GC. */
static int label_images(ctr_store *s, job_list *l, bale_error **err)
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
			rc = add_job(l, "images label", args, err);
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

/* Are the blobs gone from containerd? Its importer keeps, of an index imported for one
 * platform, only what that platform names: the attestations and artifacts the bundle
 * carried with the image are collected again once `ctr` has ended. gone[i] for digests[i];
 * false for all when containerd cannot tell. */
static void content_gone(ctr_store *s, const char *const *digests, bool *gone, size_t n)
{
	const char *args[] = {"content", "ls", "-q", NULL};
	bale_buf out;
	bool listed = store_ctr_run(&s->ctr, args, "content ls", &out, NULL) == 0;
	for (size_t i = 0; i < n; i++) {
		char want[160];
		snprintf(want, sizeof(want), "\n%s\n", digests[i]);
		bool first =
		    listed && out.data && strncmp(out.data, want + 1, strlen(want) - 1) == 0;
		gone[i] = listed && !first && !(out.data && strstr(out.data, want));
	}
	bale_buf_free(&out);
}

/* A source label to set: the blob, its key, and the images whose repository it adds. */
typedef struct source_change {
	const char *digest; /* points into a named's uses */
	char key[512];
} source_change;

typedef struct source_plan {
	source_change *changes;
	size_t n;
	size_t *by_image; /* (image, change) pairs: which image needs which change */
	size_t n_pairs;
} source_plan;

static void source_plan_free(source_plan *p)
{
	free(p->changes);
	free(p->by_image);
	memset(p, 0, sizeof(*p));
}

/* Notes that image i needs the change of digest's key (made once per blob and key). */
static int plan_change(source_plan *p, size_t image, const char *digest, const char *key,
                       bale_error **err)
{
	size_t c = 0;
	while (c < p->n &&
	       !(strcmp(p->changes[c].digest, digest) == 0 && strcmp(p->changes[c].key, key) == 0))
		c++;
	if (c == p->n) {
		source_change *grown = realloc(p->changes, (p->n + 1) * sizeof(*grown));
		if (!grown)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		p->changes = grown;
		p->changes[p->n].digest = digest;
		snprintf(p->changes[p->n].key, sizeof(p->changes[0].key), "%s", key);
		p->n++;
	}
	size_t *pairs = realloc(p->by_image, (p->n_pairs + 1) * 2 * sizeof(*pairs));
	if (!pairs)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	p->by_image = pairs;
	pairs[p->n_pairs * 2] = image;
	pairs[p->n_pairs * 2 + 1] = c;
	p->n_pairs++;
	return 0;
}

/* Adds repo to the source label key of a blob, in what we know of its labels, unless it
 * is there; a change to make is noted in the plan. */
static int source_label(ctr_store *s, source_plan *p, size_t image, const char *digest,
                        const char *key, const char *repo, bale_error **err)
{
	char value[4096], *parts[64], joined[4096], label[4608];
	size_t n = 0, len = 0;
	source_value(s, digest, key, value, sizeof(value));
	for (char *v = value, *save = NULL, *t; (t = strtok_r(v, ",", &save)) && n < 63; v = NULL) {
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
	int rc = ctrd_remember_source(s, digest, label, err);
	return rc < 0 ? rc : plan_change(p, image, digest, key, err);
}

/* containerd.io/distribution.source.<host>=<repository>[,<repository>…] on every blob of
 * every image that landed, as containerd's own pull labels what it fetched (the host
 * without its port, repositories sorted): a node-local mirror or a later push finds where
 * the blob came from, and a pull of the same image fetches nothing. One label run per
 * blob and host, with every repository it gains. */
static int plan_sources(ctr_store *s, source_plan *p, bale_error **err)
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
		for (size_t u = 0; u < n->n_uses && rc == 0; u++)
			rc = source_label(s, p, i, n->uses[u], key, bale_ref_path(ref), err);
		bale_ref_free(ref);
	}
	return rc;
}

/* The source label jobs of the plan, in its order: the blob's label as we now know it. */
static int source_jobs(ctr_store *s, const source_plan *p, job_list *l, bale_error **err)
{
	int rc = 0;
	for (size_t c = 0; c < p->n && rc == 0; c++) {
		char value[4096], label[4608];
		source_value(s, p->changes[c].digest, p->changes[c].key, value, sizeof(value));
		snprintf(label, sizeof(label), "%s=%s", p->changes[c].key, value);
		const char *args[] = {"content", "label", p->changes[c].digest, label, NULL};
		rc = add_job(l, "content label", args, err);
	}
	return rc;
}

/* After the source labels ran (jobs from first on, one per change): a blob that could
 * not be labelled because containerd collected it is only warned about, per image. */
static int sources_gone(ctr_store *s, const source_plan *p, job_list *l, size_t first,
                        bale_error **err)
{
	const char **failed = calloc(p->n ? p->n : 1, sizeof(*failed));
	bool *gone = calloc(p->n ? p->n : 1, sizeof(*gone));
	size_t *count = calloc(s->n_names ? s->n_names : 1, sizeof(*count));
	size_t n_failed = 0;
	int rc = 0;
	if (!failed || !gone || !count) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	for (size_t c = 0; c < p->n; c++)
		if (l->jobs[first + c].rc < 0)
			failed[n_failed++] = p->changes[c].digest;
	if (!n_failed)
		goto cleanup;
	content_gone(s, failed, gone, n_failed);
	for (size_t c = 0, k = 0; c < p->n && rc == 0; c++) {
		if (l->jobs[first + c].rc == 0)
			continue;
		if (!gone[k++]) { /* the first failure that is not a collected blob */
			rc = l->jobs[first + c].rc;
			if (err && !*err) {
				*err = l->jobs[first + c].err;
				l->jobs[first + c].err = NULL;
			}
			break;
		}
		for (size_t i = 0; i < p->n_pairs; i++)
			if (p->by_image[i * 2 + 1] == c)
				count[p->by_image[i * 2]]++;
	}
	for (size_t i = 0; rc == 0 && i < s->n_names; i++)
		if (count[i])
			bale_log_printf(
			    s->log, BALE_LOG_WARN,
			    "%s: containerd kept none of the %zu blob%s of what no platform "
			    "names (attestations, artifacts) after a one-platform import; "
			    "the bundle has them (--platform all keeps them)",
			    s->names[i].ref, count[i], count[i] == 1 ? "" : "s");
cleanup:
	free(failed);
	free(gone);
	free(count);
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
static int protect_children(ctr_store *s, job_list *l, bale_error **err)
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
		if (rc == 0 && na > 3)
			rc = add_job(l, "content label", args, err);
	}
	return rc;
}

/* The labels of the images that landed (their names are in place): the references that
 * keep every platform, the CRI's labels, the distribution sources. The ctr runs do not
 * depend on each other (each sets its own keys), so they run several at a time. */
int ctrd_label_landed(ctr_store *s, bale_error **err)
{
	job_list l = {0};
	source_plan p = {0};
	size_t first_source = 0;
	int rc = 0;
	if ((rc = protect_children(s, &l, err)) < 0 || (rc = label_images(s, &l, err)) < 0 ||
	    (rc = plan_sources(s, &p, err)) < 0)
		goto cleanup;
	first_source = l.n;
	if ((rc = source_jobs(s, &p, &l, err)) < 0)
		goto cleanup;
	store_ctr_run_all(&s->ctr, l.jobs, l.n, LABEL_PARALLEL);
	for (size_t i = 0; i < first_source && rc == 0; i++)
		if (l.jobs[i].rc < 0) {
			rc = l.jobs[i].rc;
			if (err && !*err) {
				*err = l.jobs[i].err;
				l.jobs[i].err = NULL;
			}
		}
	if (rc == 0)
		rc = sources_gone(s, &p, &l, first_source, err);
cleanup:
	source_plan_free(&p);
	job_list_free(&l);
	return rc;
}
