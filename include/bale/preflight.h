/* Never-readiness preflight: would these pods start with imagePullPolicy: Never on this
 * node? Every container image resolved as the kubelet would (normalized name, digest pin,
 * the node's platform) against a node store or a bundle. */
#ifndef BALE_PREFLIGHT_H
#define BALE_PREFLIGHT_H

#include <stddef.h>

#include "bale/check.h"
#include "bale/error.h"
#include "bale/k8s.h"
#include "bale/platform.h"
#include "bale/store.h"

typedef enum bale_preflight_status {
	BALE_PREFLIGHT_OK,
	BALE_PREFLIGHT_ABSENT,          /* no image by that name (or digest) */
	BALE_PREFLIGHT_WRONG_PLATFORM,  /* there, but not for the node's platform */
	BALE_PREFLIGHT_DIGEST_MISMATCH, /* the tag is there, at another digest than pinned */
	BALE_PREFLIGHT_INCOMPLETE,      /* named, but content is missing */
	BALE_PREFLIGHT_BAD_REFERENCE,
} bale_preflight_status;

typedef struct bale_preflight_check {
	const bale_k8s_workload *workload;
	const bale_k8s_container *container;
	char *ref; /* normalized; NULL for a bad reference */
	bale_preflight_status status;
	char *detail; /* why, for the report */
} bale_preflight_check;

typedef struct bale_preflight {
	bale_preflight_check *checks;
	size_t n_checks;
	size_t n_failing;
} bale_preflight;

/* where: a node store ("oci:DIR", "containerd[:SOCKET]" with ctr and namespace from
 * store_opts, which may be NULL) or a bundle path (with bundle set). */
int bale_preflight_run(bale_preflight *out, const bale_k8s_set *set, const char *where, bool bundle,
                       const bale_store_options *store_opts, const bale_platform *platform,
                       bale_error **err);
/* The same against a node store a caller already reads (inside bale_check_read_store's
 * callback), so one reading serves the preflight and the caller's own look. */
int bale_preflight_run_view(bale_preflight *out, const bale_k8s_set *set, bale_check_view *view,
                            const bale_platform *platform, bale_error **err);
void bale_preflight_free(bale_preflight *p);
const char *bale_preflight_status_name(bale_preflight_status s);

#endif
