/* bale plan --pin: Kubernetes manifests rewritten so every container image is pinned by
 * digest and pulled Never. The documents are re-emitted by libyaml: structure and values
 * are kept, comments and some formatting (quoting style of untouched scalars, flow vs
 * block style) are not. */
#ifndef BALE_K8S_PIN_H
#define BALE_K8S_PIN_H

#include <stddef.h>
#include <stdio.h>

#include "bale/error.h"

/* Maps an image as written to its pinned form (malloc'd), or sets err. */
typedef int (*bale_pin_fn)(void *payload, const char *image, char **pinned, bale_error **err);

/* Reads the YAML stream in path ("-": stdin) and writes it to out with every
 * containers / initContainers / ephemeralContainers image replaced by pin() and its
 * imagePullPolicy set to Never. Errors name path:line. */
int bale_k8s_pin_file(const char *path, FILE *out, bale_pin_fn pin, void *payload,
                      bale_error **err);
/* The same for a YAML stream in memory; name is what errors call it. */
int bale_k8s_pin_text(const char *name, const char *text, size_t len, FILE *out, bale_pin_fn pin,
                      void *payload, bale_error **err);

#endif
