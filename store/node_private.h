/* Inside bale/node.h: which kind of store a spec names, shared by the reading
 * (node.c) and the removal (node_remove.c). */
#ifndef STORE_NODE_PRIVATE_H
#define STORE_NODE_PRIVATE_H

#include "bale/error.h"

typedef enum node_kind { NODE_OCI, NODE_CONTAINERD, NODE_REGISTRY } node_kind;

/* The kind of store spec names and where it is (a directory, a socket, HOST[/PREFIX]). */
int node_spec(const char *spec, node_kind *kind, const char **where, bale_error **err);

#endif
