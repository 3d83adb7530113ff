/* The checks of each pod and container: its image references and tags (bale plan's
 * lint), its Never image in the store (the preflight) and whether it is pinned there, the
 * pull secrets it names, and whether its largest layer can arrive before the deadlines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/auth.h"
#include "bale/plan.h"
#include "bale/ref.h"
#include "doctor/doctor_private.h"

/* Messages quote manifests; a finding's line stays readable with these bounds. */
#define CAUSE_SIZE 1024
#define FIX_SIZE 1024

static bool latest_or_no_tag(const bale_k8s_container *c)
{
	bale_ref *ref = NULL;
	bool latest = c->image && bale_ref_parse(&ref, c->image, NULL) == 0 &&
	              !bale_ref_digest(ref) && bale_ref_tag(ref) &&
	              strcmp(bale_ref_tag(ref), "latest") == 0;
	bale_ref_free(ref);
	return latest;
}

/* bale plan --lint's findings that stop or mislead a pod: a malformed reference or a
 * container without one (errors), and a latest or missing tag with a policy that does
 * not pull it again (the node keeps whatever it once got). */
static int check_references(bale_doctor_report *r, const bale_doctor_facts *f, bale_error **err)
{
	bale_plan plan;
	char cause[CAUSE_SIZE];
	int rc = bale_plan_build(&plan, f->set, false, NULL, NULL, err);
	for (size_t i = 0; rc == 0 && i < plan.n_findings; i++) {
		const bale_lint_finding *l = &plan.findings[i];
		const char *policy =
		    l->container->image
		        ? bale_plan_effective_policy(l->container->image, l->container->pull_policy)
		        : "";
		if (l->severity == BALE_LINT_ERROR) {
			rc = doctor_add(
			    r, BALE_DOCTOR_ERROR, "reference", l->workload, l->container,
			    l->message,
			    "write the image as REGISTRY/REPOSITORY:TAG (with @sha256:… to "
			    "pin it)",
			    err);
		} else if (latest_or_no_tag(l->container) && strcmp(policy, "Always") != 0 &&
		           strstr(l->message, " tag: ")) { /* plan's latest-or-no-tag finding */
			snprintf(cause, sizeof(cause),
			         "%s with imagePullPolicy %s: the node runs whatever it first got "
			         "under that tag",
			         l->message, policy);
			rc = doctor_add(r, BALE_DOCTOR_WARNING, "tag", l->workload, l->container,
			                cause,
			                "name a version and pin its digest (bale plan --pin BUNDLE "
			                "writes NAME:TAG@sha256:… into the manifests)",
			                err);
		}
	}
	bale_plan_free(&plan);
	return rc;
}

/* The fix for each way a Never image is not there to start. */
static const char *never_fix(bale_preflight_status s)
{
	switch (s) {
	case BALE_PREFLIGHT_WRONG_PLATFORM:
		return "export the image for the node's platform (bale export --platform OS/ARCH) "
		       "and bale import it";
	case BALE_PREFLIGHT_DIGEST_MISMATCH:
		return "import the bundle that carries the pinned digest, or pin the manifests to "
		       "the bundle the node has (bale plan --pin BUNDLE)";
	case BALE_PREFLIGHT_INCOMPLETE:
		return "bale check --repair the store, then bale import the bundle again";
	default:
		return "bale import the bundle that carries it into this store (bale plan -f "
		       "MANIFESTS lists what to export)";
	}
}

/* The Never preflight, as bale verify --manifests runs it, for the containers pulled
 * Never (the preflight looks at every container; the others may still pull). */
static int check_never(bale_doctor_report *r, const bale_doctor_facts *f, bale_error **err)
{
	char cause[CAUSE_SIZE];
	int rc = 0;
	for (size_t i = 0; f->preflight && i < f->preflight->n_checks && rc == 0; i++) {
		const bale_preflight_check *k = &f->preflight->checks[i];
		if (k->status == BALE_PREFLIGHT_OK || k->status == BALE_PREFLIGHT_BAD_REFERENCE ||
		    !doctor_is_never(k->container))
			continue;
		snprintf(cause, sizeof(cause), "%s (imagePullPolicy Never) is %s in %s%s%s", k->ref,
		         bale_preflight_status_name(k->status), f->store, k->detail ? ": " : "",
		         k->detail ? k->detail : "");
		rc = doctor_add(r, BALE_DOCTOR_ERROR, "never-image", k->workload, k->container,
		                cause, never_fix(k->status), err);
	}
	return rc;
}

/* The node's name for a preflight's normalized reference: the same name, else (for a
 * digest reference) a name of that repository at that digest. */
static const bale_node_name *node_name(const bale_node *node, const char *ref_text)
{
	const bale_node_name *n = bale_node_find(node, ref_text);
	bale_ref *ref = NULL;
	if (n || bale_ref_parse(&ref, ref_text, NULL) < 0)
		return n;
	for (size_t i = 0; bale_ref_digest(ref) && i < node->n_names && !n; i++) {
		bale_ref *have = NULL;
		if (strcmp(node->names[i].digest, bale_ref_digest(ref)) == 0 &&
		    bale_ref_parse(&have, node->names[i].name, NULL) == 0 &&
		    strcmp(bale_ref_name(have), bale_ref_name(ref)) == 0)
			n = &node->names[i];
		bale_ref_free(have);
	}
	bale_ref_free(ref);
	return n;
}

/* A Never image the store has but does not pin: the kubelet's image GC may take it, and
 * then the pod cannot start. Only containerd pins (io.cri-containerd.pinned). */
static int check_pins(bale_doctor_report *r, const bale_doctor_facts *f, bale_error **err)
{
	char cause[CAUSE_SIZE], fix[FIX_SIZE];
	int rc = 0;
	if (!f->node || !f->preflight || strcmp(f->node->kind, "containerd") != 0)
		return 0;
	for (size_t i = 0; i < f->preflight->n_checks && rc == 0; i++) {
		const bale_preflight_check *k = &f->preflight->checks[i];
		if (k->status != BALE_PREFLIGHT_OK || !doctor_is_never(k->container))
			continue;
		const bale_node_name *n = node_name(f->node, k->ref);
		if (!n || n->pinned)
			continue;
		snprintf(cause, sizeof(cause),
		         "%s (imagePullPolicy Never) is in the store but not pinned: the kubelet's "
		         "image GC may remove it, and the pod cannot start again",
		         n->name);
		snprintf(fix, sizeof(fix),
		         "bale import BUNDLE --store %s --pin (or ctr -n k8s.io images label %s "
		         "io.cri-containerd.pinned=pinned)",
		         f->store, n->name);
		rc = doctor_add(r, BALE_DOCTOR_WARNING, "pin", k->workload, k->container, cause,
		                fix, err);
	}
	return rc;
}

static bool same_namespace(const char *a, const char *b)
{
	return strcmp(a ? a : "default", b ? b : "default") == 0;
}

static bool registry_type(const char *type)
{
	return type && (strcmp(type, "kubernetes.io/dockerconfigjson") == 0 ||
	                strcmp(type, "kubernetes.io/dockercfg") == 0);
}

/* The pull secrets a pod uses, in the kubelet's order: its own, then its
 * ServiceAccount's (when the manifests hold it). */
typedef struct secret_use {
	const char *name;
	const char *via; /* "the pod" or the ServiceAccount's name */
} secret_use;

static size_t secret_uses(const bale_doctor_facts *f, const bale_k8s_workload *w, secret_use *out,
                          size_t max)
{
	size_t n = 0;
	for (size_t k = 0; k < w->n_pull_secrets && n < max; k++)
		out[n++] = (secret_use){w->pull_secrets[k], NULL};
	for (size_t a = 0; w->service_account && a < f->set->n_service_accounts; a++) {
		const bale_k8s_service_account *sa = &f->set->service_accounts[a];
		if (strcmp(sa->name, w->service_account) != 0 ||
		    !same_namespace(sa->namespace, w->namespace))
			continue;
		for (size_t k = 0; k < sa->n_pull_secrets && n < max; k++)
			out[n++] = (secret_use){sa->pull_secrets[k], sa->name};
	}
	return n;
}

static const bale_k8s_secret *find_secret(const bale_doctor_facts *f, const char *name,
                                          const char *ns)
{
	for (size_t i = 0; i < f->set->n_secrets; i++)
		if (strcmp(f->set->secrets[i].name, name) == 0 &&
		    same_namespace(f->set->secrets[i].namespace, ns))
			return &f->set->secrets[i];
	return NULL;
}

/* The pod's pull secrets: each there, of a registry type, readable; the usable ones go
 * to out (the lookup's order). */
static int pod_secrets(bale_doctor_report *r, const bale_doctor_facts *f,
                       const bale_k8s_workload *w, bale_manifest_secret *out, size_t *n_out,
                       size_t max, bale_error **err)
{
	secret_use uses[32];
	char cause[CAUSE_SIZE], fix[FIX_SIZE], via[300];
	size_t n = secret_uses(f, w, uses, 32);
	const char *ns = w->namespace ? w->namespace : "default";
	int rc = 0;
	*n_out = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const bale_k8s_secret *s = find_secret(f, uses[i].name, w->namespace);
		snprintf(via, sizeof(via), "%s%s", uses[i].via ? "its ServiceAccount " : "the pod",
		         uses[i].via ? uses[i].via : "");
		if (!s) {
			snprintf(cause, sizeof(cause),
			         "pull secret %s (named by %s) is not in the manifests: without it "
			         "the kubelet pulls anonymously",
			         uses[i].name, via);
			snprintf(fix, sizeof(fix),
			         "add the Secret to the manifests (kubectl create secret "
			         "docker-registry %s -n %s --docker-server=HOST … --dry-run=client "
			         "-o yaml)",
			         uses[i].name, ns);
			rc = doctor_add(r, BALE_DOCTOR_WARNING, "pull-secret", w, NULL, cause, fix,
			                err);
			continue;
		}
		if (!registry_type(s->type)) {
			snprintf(cause, sizeof(cause),
			         "pull secret %s (named by %s, %s:%d) is of type %s: the kubelet "
			         "reads only kubernetes.io/dockerconfigjson and "
			         "kubernetes.io/dockercfg",
			         s->name, via, s->file, s->line, s->type ? s->type : "Opaque");
			rc = doctor_add(
			    r, BALE_DOCTOR_ERROR, "pull-secret", w, NULL, cause,
			    "recreate it with kubectl create secret docker-registry "
			    "(type kubernetes.io/dockerconfigjson, key .dockerconfigjson)",
			    err);
			continue;
		}
		bale_manifest_secret one = {s->text, s->file};
		bale_auth_options opts = {.manifest_secrets = &one, .n_manifest_secrets = 1};
		bale_error *why = NULL;
		if (bale_auth_check(&opts, &why) < 0) { /* auth's messages never hold a secret */
			snprintf(cause, sizeof(cause),
			         "pull secret %s (named by %s) cannot be read: %s", s->name, via,
			         bale_error_message(why));
			bale_error_free(why);
			rc = doctor_add(r, BALE_DOCTOR_ERROR, "pull-secret", w, NULL, cause,
			                "recreate it with kubectl create secret docker-registry",
			                err);
			continue;
		}
		if (*n_out < max)
			out[(*n_out)++] = one;
	}
	return rc;
}

/* Does one of the pod's secrets hold a credential for the registry? Only the secrets:
 * no file of the user running bale is read and no credential helper runs. */
static bool secrets_hold(const bale_manifest_secret *secrets, size_t n, const bale_ref *ref)
{
	bale_auth_options opts = {
	    .manifest_secrets = secrets, .n_manifest_secrets = n, .given_only = true};
	bale_credential *cred = NULL;
	bale_error *why = NULL;
	bool held =
	    bale_auth_lookup(&cred, &opts, bale_ref_domain(ref), bale_ref_path(ref), &why) == 0 &&
	    cred && cred->source && strncmp(cred->source, "pull secret ", 12) == 0;
	bale_auth_credential_free(cred);
	bale_error_free(why);
	return held;
}

static int check_pull_secrets(bale_doctor_report *r, const bale_doctor_facts *f, bale_error **err)
{
	char cause[CAUSE_SIZE], fix[FIX_SIZE];
	int rc = 0;
	for (size_t i = 0; i < f->set->n_workloads && rc == 0; i++) {
		const bale_k8s_workload *w = &f->set->workloads[i];
		bale_manifest_secret usable[32];
		size_t n_usable = 0;
		bool pulls = false;
		for (size_t j = 0; j < w->n_containers; j++)
			pulls |= w->containers[j].image && !doctor_is_never(&w->containers[j]);
		if (!pulls || (rc = pod_secrets(r, f, w, usable, &n_usable, 32, err)) < 0 ||
		    !n_usable)
			continue;
		for (size_t j = 0; j < w->n_containers && rc == 0; j++) {
			const bale_k8s_container *c = &w->containers[j];
			bale_ref *ref = NULL;
			if (!c->image || doctor_is_never(c) ||
			    bale_ref_parse(&ref, c->image, NULL) < 0)
				continue;
			if (!secrets_hold(usable, n_usable, ref)) {
				snprintf(cause, sizeof(cause),
				         "the pod's pull secrets hold no credentials for %s (%s)",
				         bale_ref_domain(ref), c->image);
				snprintf(fix, sizeof(fix),
				         "add %s to the auths of the pull secret's "
				         ".dockerconfigjson, or "
				         "name a Secret that has it in imagePullSecrets",
				         bale_ref_domain(ref));
				rc = doctor_add(r, BALE_DOCTOR_WARNING, "pull-secret", w, c, cause,
				                fix, err);
			}
			bale_ref_free(ref);
		}
	}
	return rc;
}

static const bale_doctor_image *find_image(const bale_doctor_facts *f, const char *ref)
{
	for (size_t i = 0; i < f->n_images; i++)
		if (strcmp(f->images[i].ref, ref) == 0)
			return &f->images[i];
	return NULL;
}

/* The largest layer at --link-speed. No deadline cuts a pull that keeps receiving bytes:
 * the kubelet holds every runtime call to runtimeRequestTimeout except pulls (it waits
 * for those as long as they run), and containerd's image_pull_progress_timeout cancels
 * only a pull that receives nothing for that long. What a slow link costs is the wait:
 * the pod starts that much later, and with serialized pulls (the kubelet's default)
 * every pull queued behind it waits too. Said (as a note) when the wait is longer than
 * runtimeRequestTimeout, the time an operator expects a runtime call to take at most. */
static int check_deadline(bale_doctor_report *r, const bale_doctor_facts *f, bale_error **err)
{
	char cause[CAUSE_SIZE], size[32], rate[32], progress_text[128];
	int rc = 0;
	if (f->link_speed <= 0)
		return 0;
	double request = f->kubelet ? f->kubelet->runtime_request_timeout : 120;
	double progress = f->containerd ? f->containerd->pull_progress_timeout : 300;
	if (progress > 0)
		snprintf(progress_text, sizeof(progress_text),
		         "containerd cancels only a pull that receives nothing for "
		         "image_pull_progress_timeout (%.0f s)",
		         progress);
	else
		snprintf(progress_text, sizeof(progress_text),
		         "containerd's image_pull_progress_timeout is 0: it cancels none");
	for (size_t i = 0; i < f->set->n_workloads && rc == 0; i++) {
		const bale_k8s_workload *w = &f->set->workloads[i];
		for (size_t j = 0; j < w->n_containers && rc == 0; j++) {
			const bale_k8s_container *c = &w->containers[j];
			bale_ref *ref = NULL;
			if (!c->image || doctor_is_never(c) ||
			    bale_ref_parse(&ref, c->image, NULL) < 0)
				continue;
			const bale_doctor_image *img = find_image(f, bale_ref_string(ref));
			bale_ref_free(ref);
			if (!img || img->largest_layer < 0)
				continue;
			double seconds = (double)img->largest_layer / f->link_speed;
			if (request <= 0 || seconds <= request)
				continue;
			snprintf(
			    cause, sizeof(cause),
			    "the largest layer of %s (%s, %s) takes %.0f s at %s/s, longer than "
			    "the kubelet's runtimeRequestTimeout (%.0f s): the pod waits that long "
			    "for its image, and pulls queued behind it wait too (the kubelet does "
			    "not hold pulls to that timeout; containerd cancels only a pull that "
			    "receives nothing %s)",
			    img->ref, img->largest_digest,
			    doctor_size(size, sizeof(size), (double)img->largest_layer), seconds,
			    doctor_size(rate, sizeof(rate), f->link_speed), request, progress_text);
			rc = doctor_add(
			    r, BALE_DOCTOR_INFO, "pull-deadline", w, c, cause,
			    "preload the image with bale import (imagePullPolicy: Never), "
			    "or serve it on the node's own network (bale serve, bale "
			    "mirror-config), so that no pull crosses this link",
			    err);
		}
	}
	return rc;
}

int doctor_check_pods(bale_doctor_report *r, const bale_doctor_facts *f, bale_error **err)
{
	int rc = check_references(r, f, err);
	if (rc == 0)
		rc = check_never(r, f, err);
	if (rc == 0)
		rc = check_pins(r, f, err);
	if (rc == 0)
		rc = check_pull_secrets(r, f, err);
	if (rc == 0)
		rc = check_deadline(r, f, err);
	return rc;
}
