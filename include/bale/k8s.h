/* Kubernetes manifests, read the way the cluster reads them: multi-document YAML
 * streams, `List` kinds, every workload kind and every container list, with the file
 * and line of each image so findings point at the manifest. Untrusted input: capped,
 * and malformed YAML is an error naming file:line. */
#ifndef BALE_K8S_H
#define BALE_K8S_H

#include <stddef.h>

#include "bale/error.h"

/* The architectures and systems a workload's placement is read against. */
#define BALE_K8S_N_ARCHS 8
#define BALE_K8S_N_OSES 2
#define BALE_K8S_ALL_ARCHS ((1u << BALE_K8S_N_ARCHS) - 1)
#define BALE_K8S_ALL_OSES ((1u << BALE_K8S_N_OSES) - 1)
/* "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le" */
const char *bale_k8s_arch_name(int i);
/* "linux", "windows" */
const char *bale_k8s_os_name(int i);

/* Files larger than this are refused. */
#define BALE_K8S_CAP (64u << 20)

typedef struct bale_k8s_container {
	char *name;
	char *image;       /* as written; NULL when the container has none */
	char *pull_policy; /* "Always", "IfNotPresent", "Never", or NULL when unset */
	const char *list;  /* "containers", "initContainers" or "ephemeralContainers" */
	int line;          /* of the image (or of the container when it has none) */
} bale_k8s_container;

typedef struct bale_k8s_workload {
	char *kind; /* Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
	               ReplicationController */
	char *name, *namespace; /* namespace NULL when unset */
	char *file;
	int line; /* of the document (its kind:) */
	bale_k8s_container *containers;
	size_t n_containers;
	char **pull_secrets; /* spec.imagePullSecrets[].name of the pod template */
	size_t n_pull_secrets;
	char *service_account; /* serviceAccountName, NULL when unset */
	/* Where its pods may run, from the pod's nodeSelector and required nodeAffinity on
	 * kubernetes.io/arch and kubernetes.io/os (and their beta.kubernetes.io labels): a bit
	 * per architecture of bale_k8s_arch_name and per OS of bale_k8s_os_name; every bit
	 * when nothing constrains it. Terms of nodeAffinity are ORed per label, so a pod
	 * that may run on arm64 Linux or amd64 Windows counts as both architectures on both
	 * systems: more platforms, never fewer. */
	unsigned archs, oses;
} bale_k8s_workload;

typedef struct bale_k8s_secret {
	char *name, *namespace, *type, *file;
	int line;
	char *text; /* the Secret document re-emitted as YAML, for bale_auth's pull-secret reader */
} bale_k8s_secret;

typedef struct bale_k8s_service_account {
	char *name, *namespace, *file;
	int line;
	char **pull_secrets; /* imagePullSecrets[].name */
	size_t n_pull_secrets;
} bale_k8s_service_account;

typedef struct bale_k8s_set {
	bale_k8s_workload *workloads;
	size_t n_workloads;
	bale_k8s_secret *secrets;
	size_t n_secrets;
	bale_k8s_service_account *service_accounts;
	size_t n_service_accounts;
	/* The nodes the input describes (Node objects, as `kubectl get nodes -o json` lists
	 * them, or a YAML list of "os/arch[/variant]"): how many, and the bits of their
	 * architectures and systems. */
	size_t n_nodes;
	unsigned node_archs, node_oses;
} bale_k8s_set;

/* Adds what path holds: a file, a directory (recursively: *.yaml, *.yml, *.json), or "-"
 * for standard input. Documents of other kinds are skipped; empty documents too. */
int bale_k8s_load(bale_k8s_set *set, const char *path, bale_error **err);
/* The same for one YAML or JSON stream in memory; name is what findings and errors call it. */
int bale_k8s_load_text(bale_k8s_set *set, const char *name, const char *text, size_t len,
                       bale_error **err);
void bale_k8s_set_free(bale_k8s_set *set);

/* Calls fn with every manifest file path names: path itself when it is a file or "-",
 * else every *.yaml, *.yml and *.json under the directory, recursively, in byte order
 * (links to files followed, links to directories not: they can loop). */
typedef int (*bale_k8s_file_fn)(void *payload, const char *file, bale_error **err);
int bale_k8s_each_file(const char *path, bale_k8s_file_fn fn, void *payload, bale_error **err);

#endif
