/* bale doctor: why would this pod not start on this node, and the fix. The checks take
 * gathered facts (the manifests, the kubelet's and containerd's configurations, the
 * registries' hosts.toml, the node store, the image filesystem) and return findings, each
 * with its cause and its fix; gathering them (files, the store) is a step of its own, so
 * every check can be fed facts directly. libbale prints nothing. */
#ifndef BALE_DOCTOR_H
#define BALE_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/error.h"
#include "bale/k8s.h"
#include "bale/node.h"
#include "bale/platform.h"
#include "bale/preflight.h"
#include "bale/store.h"

#define BALE_DOCTOR_KUBELET_CONFIG "/var/lib/kubelet/config.yaml"
#define BALE_DOCTOR_CONTAINERD_CONFIG "/etc/containerd/config.toml"
#define BALE_DOCTOR_CONTAINERD_ROOT "/var/lib/containerd"
#define BALE_DOCTOR_KUBELET_ROOT "/var/lib/kubelet"
/* Configuration files larger than this are refused (real ones are a few KiB). */
#define BALE_DOCTOR_CONFIG_CAP (1u << 20)

typedef enum bale_doctor_severity {
	BALE_DOCTOR_ERROR,
	BALE_DOCTOR_WARNING,
	BALE_DOCTOR_INFO,
} bale_doctor_severity;

typedef struct bale_doctor_finding {
	bale_doctor_severity severity;
	const char *check; /* "never-image", "pull-secret", "tag", "reference", "registry-trust",
	                      "eviction", "image-gc", "pin", "containerd-version",
	                      "discard-unpacked-layers", "snapshotter", "pull-deadline",
	                      "config" */
	const bale_k8s_workload *workload;   /* NULL: the node */
	const bale_k8s_container *container; /* NULL: the node, or the whole pod */
	char *cause;
	char *fix;
} bale_doctor_finding;

typedef struct bale_doctor_report {
	bale_doctor_finding *findings;
	size_t n_findings;
	size_t n_errors, n_warnings, n_infos;
} bale_doctor_report;

/* Free space under which the kubelet evicts: a share of the filesystem or bytes. */
typedef struct bale_doctor_threshold {
	bool set;
	double percent; /* when bytes < 0 */
	int64_t bytes;  /* -1: a percentage */
} bale_doctor_threshold;

/* The KubeletConfiguration, with the kubelet's defaults where it says nothing. */
typedef struct bale_doctor_kubelet {
	char *file;
	bool found;                     /* false: the file does not exist, the defaults stand */
	char *problem;                  /* it cannot be read or parsed: why (the defaults stand) */
	int gc_high, gc_low;            /* imageGC{High,Low}ThresholdPercent: 85, 80 */
	double runtime_request_timeout; /* seconds: 120 */
	/* evictionHard: once any signal is set, the unset ones are 0 (the kubelet's rule);
	 * the defaults (imagefs.available 15%, nodefs.available 10%) only when unset. */
	bale_doctor_threshold hard_imagefs, hard_nodefs, soft_imagefs, soft_nodefs;
} bale_doctor_kubelet;

/* containerd's config.toml, the CRI plugin's settings of config version 2 and 3. */
typedef struct bale_doctor_containerd {
	char *file;
	bool found;
	char *problem;
	long version;      /* the file's `version` (1 when unset) */
	char *root;        /* `root`, else /var/lib/containerd */
	char *config_path; /* CRI registry config_path, NULL when unset */
	char *snapshotter; /* CRI snapshotter, NULL when unset (overlayfs) */
	bool discard_unpacked_layers;
	double pull_progress_timeout; /* seconds: 300; 0 turns it off */
} bale_doctor_containerd;

/* A CA file a hosts.toml names, and what is wrong with it (NULL: readable PEM). */
typedef struct bale_doctor_ca {
	char *path;
	char *problem;
} bale_doctor_ca;

/* A registry the pods pull from, as containerd's hosts.toml configures it. */
typedef struct bale_doctor_host {
	char *host;       /* the domain as in references: "registry.site:5000" */
	bool insecure;    /* given with --insecure-registry: plain HTTP */
	char *hosts_toml; /* the file that applies (HOST's or _default's), NULL: none */
	char *problem;    /* it cannot be read or parsed */
	bool http;        /* it configures plain HTTP (or skip_verify) */
	bale_doctor_ca *cas;
	size_t n_cas;
} bale_doctor_host;

/* What the store holds of an image the pods pull (not Never). */
typedef struct bale_doctor_image {
	char *ref;             /* normalized */
	int64_t largest_layer; /* bytes; -1 when the store does not have its layers' list */
	char largest_digest[80];
} bale_doctor_image;

/* The image filesystem. */
typedef struct bale_doctor_fs {
	bool known;
	char *dir;
	uint64_t size, avail; /* bytes */
	bool separate;        /* a filesystem of its own, apart from the kubelet's (nodefs) */
} bale_doctor_fs;

typedef struct bale_doctor_facts {
	const bale_k8s_set *set;
	const bale_doctor_kubelet *kubelet;
	const bale_doctor_containerd *containerd;
	const bale_doctor_host *hosts;
	size_t n_hosts;
	/* From the node store; NULL / none / -1 without one. */
	const char *store;
	const bale_preflight *preflight;
	const bale_node *node;
	const bale_doctor_image *images;
	size_t n_images;
	int64_t pinned_bytes;
	const bale_doctor_fs *imagefs; /* may be NULL */
	double link_speed;             /* bytes a second */
} bale_doctor_facts;

/* ---- the checks ---- */

int bale_doctor_check(bale_doctor_report *out, const bale_doctor_facts *facts, bale_error **err);
void bale_doctor_report_free(bale_doctor_report *r);
/* "error", "warning", "info" */
const char *bale_doctor_severity_name(bale_doctor_severity s);

/* ---- gathering the facts ---- */

/* The kubelet's configuration at path. A file that does not exist leaves found false and
 * the defaults; one that cannot be parsed sets problem. Errors only for out of memory. */
int bale_doctor_kubelet_read(bale_doctor_kubelet *out, const char *path, bale_error **err);
int bale_doctor_kubelet_parse(bale_doctor_kubelet *out, const char *name, const char *text,
                              size_t len, bale_error **err);
void bale_doctor_kubelet_free(bale_doctor_kubelet *k);

/* containerd's configuration at path, as bale_doctor_kubelet_read. */
int bale_doctor_containerd_read(bale_doctor_containerd *out, const char *path, bale_error **err);
int bale_doctor_containerd_parse(bale_doctor_containerd *out, const char *name, const char *text,
                                 size_t len, bale_error **err);
void bale_doctor_containerd_free(bale_doctor_containerd *c);

/* The registries the pods pull from (every container not Never), each with the
 * hosts.toml under containerd's config_path that applies to it and its CA files checked.
 * insecure: the registries given with --insecure-registry. */
int bale_doctor_hosts_read(bale_doctor_host **out, size_t *n, const bale_k8s_set *set,
                           const bale_doctor_containerd *cd, const char *const *insecure,
                           size_t n_insecure, bale_error **err);
void bale_doctor_hosts_free(bale_doctor_host *hosts, size_t n);

/* The filesystem of dir (statvfs), and whether it is apart from the kubelet's root. A
 * directory that does not exist leaves known false. */
void bale_doctor_fs_read(bale_doctor_fs *out, const char *dir, const char *kubelet_root);
void bale_doctor_fs_free(bale_doctor_fs *fs);

/* What the node store holds for the pods: the Never preflight (bale_preflight_run), the
 * node's names, pins and version (bale_node_read), the layers of every image pulled, and
 * the bytes the pinned names reach. */
typedef struct bale_doctor_store {
	bale_preflight preflight;
	bool has_preflight;
	bale_node node;
	bool has_node;
	bale_doctor_image *images;
	size_t n_images;
	int64_t pinned_bytes; /* -1 when unknown */
} bale_doctor_store;

int bale_doctor_store_read(bale_doctor_store *out, const char *spec, const bale_store_options *opts,
                           const bale_k8s_set *set, const bale_platform *platform,
                           bale_error **err);
void bale_doctor_store_free(bale_doctor_store *s);

/* ---- values as the configurations and the command line write them ---- */

/* A Go duration ("2m", "1m30s", "500ms", "0") in seconds. */
int bale_doctor_parse_duration(const char *text, double *seconds, bale_error **err);
/* An eviction threshold: "15%" or a quantity ("10Gi", "500M", "1e9"). */
int bale_doctor_parse_threshold(const char *text, bale_doctor_threshold *out, bale_error **err);
/* A link speed ("100Mbit", "1Gbit", "50MB/s", "10MiB/s") in bytes a second. */
int bale_doctor_parse_rate(const char *text, double *bytes_per_second, bale_error **err);

#endif
