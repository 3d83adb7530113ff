/* bale plan: images and pull policies from Kubernetes manifests, and lint. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/plan.h"
#include "bale/log.h"
#include "bale/ref.h"

/* The tag as Kubernetes sees it in the image string: what follows the last ':' after
 * the last '/', before any '@'. NULL when there is none. */
static bool has_latest_or_no_tag(const char *image)
{
	const char *at = strchr(image, '@');
	if (at)
		return false; /* pinned by digest: IfNotPresent */
	const char *slash = strrchr(image, '/');
	const char *colon = strrchr(slash ? slash : image, ':');
	return !colon || strcmp(colon + 1, "latest") == 0;
}

const char *bale_plan_effective_policy(const char *image, const char *policy)
{
	if (policy && *policy)
		return policy;
	return has_latest_or_no_tag(image) ? "Always" : "IfNotPresent";
}

static int add_finding(bale_plan *p, bale_lint_severity severity, const bale_k8s_workload *w,
                       const bale_k8s_container *c, bale_error **err, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int add_finding(bale_plan *p, bale_lint_severity severity, const bale_k8s_workload *w,
                       const bale_k8s_container *c, bale_error **err, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	bale_lint_finding *grown = realloc(p->findings, (p->n_findings + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	p->findings = grown;
	p->findings[p->n_findings] = (bale_lint_finding){severity, w, c, strdup(text)};
	if (!p->findings[p->n_findings].message)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	p->n_findings++;
	p->n_errors += severity == BALE_LINT_ERROR;
	return 0;
}

static int add_use(bale_plan *p, const char *ref, const bale_k8s_workload *w,
                   const bale_k8s_container *c, const char *policy, bale_error **err)
{
	bale_plan_image *img = NULL;
	for (size_t i = 0; i < p->n_images && !img; i++)
		if (strcmp(p->images[i].ref, ref) == 0)
			img = &p->images[i];
	if (!img) {
		bale_plan_image *grown = realloc(p->images, (p->n_images + 1) * sizeof(*grown));
		if (!grown)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		p->images = grown;
		img = &p->images[p->n_images++];
		memset(img, 0, sizeof(*img));
		if (!(img->ref = strdup(ref)))
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	bale_plan_use *uses = realloc(img->uses, (img->n_uses + 1) * sizeof(*uses));
	if (!uses)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	img->uses = uses;
	img->uses[img->n_uses++] = (bale_plan_use){w, c, policy};
	img->archs |= w->archs;
	img->oses |= w->oses;
	return 0;
}

const char *bale_plan_platforms(const bale_plan_image *img, unsigned node_archs, unsigned node_oses,
                                char *buf, size_t size)
{
	unsigned archs = img->archs, oses = img->oses;
	size_t used = 0;
	buf[0] = '\0';
	if (!node_archs && archs == BALE_K8S_ALL_ARCHS && oses == BALE_K8S_ALL_OSES) {
		snprintf(buf, size, "all");
		return buf;
	}
	if (node_archs) {
		archs &= node_archs;
		oses &= node_oses ? node_oses : BALE_K8S_ALL_OSES;
	}
	for (int o = 0; o < BALE_K8S_N_OSES; o++)
		for (int a = 0; a < BALE_K8S_N_ARCHS; a++)
			if ((oses & 1u << o) && (archs & 1u << a) && used < size) {
				int n =
				    snprintf(buf + used, size - used, "%s%s/%s", used ? "," : "",
				             bale_k8s_os_name(o), bale_k8s_arch_name(a));
				used += n > 0 ? (size_t)n : 0;
			}
	return buf;
}

/* One container: its image normalized and used, and what an offline site should know. */
static int plan_container(bale_plan *p, const bale_k8s_workload *w, const bale_k8s_container *c,
                          bool offline, bale_plan_digest_fn digest_for, void *payload,
                          bale_error **err)
{
	if (!c->image || !*c->image)
		return add_finding(p, BALE_LINT_ERROR, w, c, err, "no image");
	bale_ref *ref = NULL;
	bale_error *bad = NULL;
	if (bale_ref_parse(&ref, c->image, &bad) < 0) {
		int rc = add_finding(p, BALE_LINT_ERROR, w, c, err, "%s", bale_error_message(bad));
		bale_error_free(bad);
		return rc;
	}
	const char *policy = bale_plan_effective_policy(c->image, c->pull_policy);
	int rc = add_use(p, bale_ref_string(ref), w, c, policy, err);
	bool pinned = bale_ref_digest(ref) != NULL;
	bool latest = has_latest_or_no_tag(c->image);
	if (rc == 0 && latest)
		rc = add_finding(p, BALE_LINT_WARNING, w, c, err,
		                 "%s: %s tag: the version running is unknowable", c->image,
		                 strchr(c->image, ':') && !strchr(c->image, '@') ? "latest" : "no");
	if (rc == 0 && offline && strcmp(policy, "Always") == 0)
		rc = add_finding(
		    p, BALE_LINT_ERROR, w, c, err,
		    "%s: pull policy Always%s in an offline site: every start pulls and "
		    "fails (ImagePullBackOff); use IfNotPresent or Never",
		    c->image, c->pull_policy ? "" : " (the default for this tag)");
	/* Where bale knows the digest to pin (a bundle), the finding says it. */
	char digest[80] = "", hint[120] = "bale plan --pin BUNDLE pins it";
	if (!pinned && digest_for)
		digest_for(payload, bale_ref_string(ref), digest);
	if (digest[0])
		snprintf(hint, sizeof(hint), "the bundle has it at %s", digest);
	if (rc == 0 && strcmp(policy, "Never") == 0 && !pinned)
		rc = add_finding(p, BALE_LINT_WARNING, w, c, err,
		                 "%s: pull policy Never on a mutable tag: the node runs whatever "
		                 "carries that tag; pin a digest (%s)",
		                 c->image, hint);
	else if (rc == 0 && !pinned && !latest)
		rc = add_finding(p, BALE_LINT_WARNING, w, c, err, "%s: not pinned by digest (%s)",
		                 c->image, hint);
	bale_ref_free(ref);
	return rc;
}

static int by_ref(const void *a, const void *b)
{
	return strcmp(((const bale_plan_image *)a)->ref, ((const bale_plan_image *)b)->ref);
}

int bale_plan_build(bale_plan *out, const bale_k8s_set *set, bool offline,
                    bale_plan_digest_fn digest_for, void *payload, bale_error **err)
{
	int rc = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < set->n_workloads && rc == 0; i++) {
		const bale_k8s_workload *w = &set->workloads[i];
		for (size_t j = 0; j < w->n_containers && rc == 0; j++)
			rc = plan_container(out, w, &w->containers[j], offline, digest_for, payload,
			                    err);
	}
	if (out->n_images > 1)
		qsort(out->images, out->n_images, sizeof(*out->images), by_ref);
	if (rc < 0)
		bale_plan_free(out);
	return rc;
}

void bale_plan_free(bale_plan *p)
{
	for (size_t i = 0; i < p->n_images; i++) {
		free(p->images[i].ref);
		free(p->images[i].uses);
	}
	free(p->images);
	for (size_t i = 0; i < p->n_findings; i++)
		free(p->findings[i].message);
	free(p->findings);
	memset(p, 0, sizeof(*p));
}

static bool same_namespace(const char *a, const char *b)
{
	return strcmp(a ? a : "default", b ? b : "default") == 0;
}

static bool registry_secret(const bale_k8s_secret *s)
{
	return s->type && (strcmp(s->type, "kubernetes.io/dockerconfigjson") == 0 ||
	                   strcmp(s->type, "kubernetes.io/dockercfg") == 0);
}

/* Appends the Secret named name in namespace ns, once. */
static int take_secret(bale_manifest_secret **out, size_t *n, const bale_k8s_set *set,
                       const char *name, const char *ns, const bale_k8s_workload *w,
                       const bale_log *log, bale_error **err)
{
	for (size_t i = 0; i < set->n_secrets; i++) {
		const bale_k8s_secret *s = &set->secrets[i];
		if (strcmp(s->name, name) != 0 || !same_namespace(s->namespace, ns) ||
		    !registry_secret(s))
			continue;
		for (size_t k = 0; k < *n; k++)
			if ((*out)[k].text == s->text)
				return 0;
		bale_manifest_secret *grown = realloc(*out, (*n + 1) * sizeof(*grown));
		if (!grown)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		*out = grown;
		(*out)[(*n)++] = (bale_manifest_secret){s->text, s->file};
		return 0;
	}
	bale_log_printf(log, BALE_LOG_WARN,
	                "%s:%d: %s/%s names pull secret %s, which the manifests do not hold",
	                w->file, w->line, w->kind, w->name ? w->name : "?", name);
	return 0;
}

int bale_plan_pull_secrets(bale_manifest_secret **out, size_t *n, const bale_k8s_set *set,
                           const bale_log *log, bale_error **err)
{
	int rc = 0;
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < set->n_workloads && rc == 0; i++) {
		const bale_k8s_workload *w = &set->workloads[i];
		for (size_t k = 0; k < w->n_pull_secrets && rc == 0; k++)
			rc =
			    take_secret(out, n, set, w->pull_secrets[k], w->namespace, w, log, err);
	}
	for (size_t i = 0; i < set->n_workloads && rc == 0; i++) {
		const bale_k8s_workload *w = &set->workloads[i];
		for (size_t a = 0; w->service_account && a < set->n_service_accounts && rc == 0;
		     a++) {
			const bale_k8s_service_account *sa = &set->service_accounts[a];
			if (strcmp(sa->name, w->service_account) != 0 ||
			    !same_namespace(sa->namespace, w->namespace))
				continue;
			for (size_t k = 0; k < sa->n_pull_secrets && rc == 0; k++)
				rc = take_secret(out, n, set, sa->pull_secrets[k], w->namespace, w,
				                 log, err);
		}
	}
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}
