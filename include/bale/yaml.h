/* Untrusted YAML (Kubernetes manifests, pull secrets) into libyaml documents, with the
 * bounds yaml_parser_load does not have. libyaml's loader takes any nesting (and its
 * scanner spends time quadratic in the depth of flow collections), any number of nodes
 * (a 20 MB `[a,a,a,…]` costs it 3 GB) and alias cycles; and code that walks a document
 * repeats what an alias stands for every time it meets it (billion laughs). This reader
 * builds the same documents from libyaml's events, refusing: nesting deeper than
 * BALE_YAML_MAX_DEPTH, a scalar over BALE_YAML_MAX_SCALAR bytes, more nodes than
 * BALE_YAML_MAX_DOCUMENT_NODES in a document or BALE_YAML_MAX_STREAM_NODES in the whole
 * stream (an alias counts as every node it stands for), and an alias inside the node it
 * names (a cycle). Errors are BALE_EUSAGE, "NAME:LINE: what", and never quote the input. */
#ifndef BALE_YAML_H
#define BALE_YAML_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <yaml.h>

#include "bale/error.h"

/* Real manifests nest 30 to 60 levels at most (a CRD schema embedding a pod template). */
#define BALE_YAML_MAX_DEPTH 128
/* etcd refuses objects over 1.5 MB, so no real object has a longer scalar. */
#define BALE_YAML_MAX_SCALAR (16u << 20)
/* About 7 MB of YAML, five times the largest object the API server stores; libyaml
 * holds about 200 bytes a node. */
#define BALE_YAML_MAX_DOCUMENT_NODES 500000u
#define BALE_YAML_MAX_STREAM_NODES 4000000u

typedef struct bale_yaml_stream bale_yaml_stream;

/* A reader of the YAML (or JSON) text, which must outlive it; name is what errors call
 * it. */
int bale_yaml_stream_new(bale_yaml_stream **out, const char *name, const char *text, size_t len,
                         bale_error **err);
/* The next document: 1 and *doc filled (free it with bale_yaml_document_delete), or 0 at
 * the end of the stream. */
int bale_yaml_stream_next(bale_yaml_stream *s, yaml_document_t *doc, bale_error **err);
/* Frees the reader, wiping the parser's buffers (the text may hold secrets). */
void bale_yaml_stream_free(bale_yaml_stream *s);
/* yaml_document_delete, wiping every scalar first (libyaml frees them as they are). */
void bale_yaml_document_delete(yaml_document_t *doc);

/* Writes the n JSON values (objects, arrays, strings, integers, booleans) as YAML
 * documents, each after "---": block style, keys in their order, a string quoted where
 * plain it would read back as a number, boolean or null. */
int bale_yaml_write_json(FILE *out, json_t *const *docs, size_t n, bale_error **err);

#endif
