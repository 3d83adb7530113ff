/* bale plan --pin: Kubernetes manifests rewritten so every container image is pinned by
 * digest and pulled Never. The documents are re-emitted by libyaml: structure and values
 * are kept, comments and some formatting (quoting style of untouched scalars, flow vs
 * block style) are not. */
#ifndef BALE_K8S_PIN_H
#define BALE_K8S_PIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bale/error.h"

/* Maps an image as written to its pinned form (malloc'd), or sets err. */
typedef int (*bale_pin_fn)(void *payload, const char *image, char **pinned, bale_error **err);

/* Reads the YAML stream in path ("-": stdin) and writes it to out with every
 * containers / initContainers / ephemeralContainers image replaced by pin() and its
 * imagePullPolicy set to pull_policy (NULL: Never). Errors name path:line. An image
 * pin() answers BALE_ENOTFOUND for is left as it is and the walk goes on: the run then
 * fails with BALE_ENOTFOUND naming every such image, "path:line: why; path:line: why". */
int bale_k8s_pin_file(const char *path, FILE *out, bale_pin_fn pin, void *payload,
                      const char *pull_policy, bale_error **err);
/* The same for a YAML stream in memory; name is what errors call it. */
int bale_k8s_pin_text(const char *name, const char *text, size_t len, FILE *out, bale_pin_fn pin,
                      void *payload, const char *pull_policy, bale_error **err);

/* The whole run of bale plan --pin: every image of the manifests pinned as
 * NAME[:TAG]@DIGEST by the digest the bundle's index records for it, or relocated to a
 * site registry (below); an image the bundle lacks, or pins to another digest, is
 * refused. Everything is pinned in memory first: nothing is written unless every image
 * pinned. */
typedef struct bale_k8s_pin_request {
	const char *bundle;
	const char **paths; /* files, directories, "-" */
	size_t n_paths;
	const char *output; /* NULL: stdout; a directory when any path is one, else a file */
	bool force;         /* replace output files that exist */
	/* Not NULL: the site registry the images are pulled from (bale import --store
	 * registry://HOST[/PREFIX] put them there): every image becomes
	 * HOST[/PREFIX]/PATH[:TAG]@DIGEST, PATH its repository path (its last
	 * repository_depth components, when not 0), as the import names it there; the pull
	 * policy is IfNotPresent instead of Never. */
	const char *registry;
	int repository_depth;
} bale_k8s_pin_request;

int bale_k8s_pin_bundle(const bale_k8s_pin_request *req, bale_error **err);

#endif
