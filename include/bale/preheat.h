/* bale plan --daemonset: a DaemonSet that has every node pull the images a bundle carries
 * (or those of a plan) through the node's own runtime, from the site's mirror, and keep
 * them: each image runs once as an init container, so the kubelet pulls it exactly as a
 * workload's pod would and never garbage-collects it while the DaemonSet stands
 * (docs/site.md, "Preheat"). */
#ifndef BALE_PREHEAT_H
#define BALE_PREHEAT_H

#include <stddef.h>
#include <stdio.h>

#include "bale/error.h"

typedef struct bale_preheat_request {
	const char *bundle;
	/* Normalized references, each of which the bundle must carry; NULL (n_images 0):
	 * every image of the bundle. */
	const char *const *images;
	size_t n_images;
	/* An image the bundle carries with a static busybox at /bin/busybox (Docker's
	 * busybox is): copied into the pod, it is the one command every image runs, whatever
	 * the image holds. */
	const char *tools_image;
	const char *namespace; /* "bale-system" when NULL */
	const char *name;      /* "bale-preheat" when NULL */
} bale_preheat_request;

/* Writes a Namespace and the DaemonSet as YAML to out. BALE_ENOTFOUND naming an image the
 * bundle does not carry; BALE_EUSAGE when no Linux architecture is carried by every
 * image (the DaemonSet runs on the nodes of the architectures they all have). */
int bale_preheat_write(const bale_preheat_request *req, FILE *out, bale_error **err);

#endif
