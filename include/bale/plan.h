/* bale plan: the images Kubernetes manifests need, each use with its effective pull
 * policy (Kubernetes defaulting), and lint findings for offline sites. */
#ifndef BALE_PLAN_H
#define BALE_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "bale/auth.h"
#include "bale/error.h"
#include "bale/k8s.h"
#include "bale/log.h"

typedef struct bale_plan_use {
	const bale_k8s_workload *workload;
	const bale_k8s_container *container;
	const char *policy; /* effective: "Always", "IfNotPresent" or "Never" */
} bale_plan_use;

typedef struct bale_plan_image {
	char *ref; /* normalized, as the kubelet looks it up */
	bale_plan_use *uses;
	size_t n_uses;
	/* Where its workloads may run, together (bale_k8s_workload's archs and oses, ORed). */
	unsigned archs, oses;
} bale_plan_image;

typedef enum bale_lint_severity { BALE_LINT_ERROR, BALE_LINT_WARNING } bale_lint_severity;

typedef struct bale_lint_finding {
	bale_lint_severity severity;
	const bale_k8s_workload *workload;
	const bale_k8s_container *container;
	char *message;
} bale_lint_finding;

typedef struct bale_plan {
	bale_plan_image *images; /* sorted by ref */
	size_t n_images;
	bale_lint_finding *findings; /* in input order */
	size_t n_findings;
	size_t n_errors;
} bale_plan;

/* The Kubernetes default: the policy written, else Always for `latest` or no tag (and no
 * digest), else IfNotPresent. */
const char *bale_plan_effective_policy(const char *image, const char *policy);

/* The digest an image would be pinned to (a bundle's), or "" when unknown. */
typedef void (*bale_plan_digest_fn)(void *payload, const char *ref, char digest[80]);

/* offline: the site has no registry to pull from (Always can never succeed there).
 * digest_for (may be NULL) names the digest to pin in "not pinned" findings. */
int bale_plan_build(bale_plan *out, const bale_k8s_set *set, bool offline,
                    bale_plan_digest_fn digest_for, void *payload, bale_error **err);
void bale_plan_free(bale_plan *plan);

/* The platforms an image needs, as a platform list for bale_platform_set_parse: "all"
 * when one of its workloads may run anywhere and no node inventory narrows it, else each
 * "os/arch" its workloads' placement allows, narrowed to the nodes' (node_archs and
 * node_oses from bale_k8s_set; 0 for no inventory). "" when no node can run it. */
const char *bale_plan_platforms(const bale_plan_image *img, unsigned node_archs, unsigned node_oses,
                                char *buf, size_t size);

/* The registry Secrets the workloads name, in the kubelet's order: each pod's
 * imagePullSecrets, then those of its ServiceAccount (from the same input, same
 * namespace). Only dockerconfigjson / dockercfg Secrets; each once. *out points into
 * set (free the array only). Names the input lacks are reported through log. */
int bale_plan_pull_secrets(bale_manifest_secret **out, size_t *n, const bale_k8s_set *set,
                           const bale_log *log, bale_error **err);

#endif
