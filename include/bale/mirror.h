/* Mirror configuration for the container runtimes (docs/site.md): the files containerd,
 * k3s, CRI-O/podman and docker read so that a node pulls every image of the registries a
 * site's bundles name from the site's own mirror (a site registry that bale import
 * --store registry:// filled). */
#ifndef BALE_MIRROR_H
#define BALE_MIRROR_H

#include <stddef.h>

#include "bale/buf.h"
#include "bale/error.h"

typedef enum bale_mirror_format {
	BALE_MIRROR_CONTAINERD, /* certs.d/HOST/hosts.toml, one per registry */
	BALE_MIRROR_K3S,        /* registries.yaml */
	BALE_MIRROR_CRIO,       /* registries.conf (containers-registries.conf v2) */
	BALE_MIRROR_DOCKER,     /* daemon.json "registry-mirrors": docker.io only */
} bale_mirror_format;

/* "containerd", "k3s", "cri-o", "docker"; BALE_EUSAGE for anything else. */
int bale_mirror_format_parse(const char *text, bale_mirror_format *out, bale_error **err);

typedef struct bale_mirror_options {
	/* The mirror: http[s]://HOST[:PORT][/PREFIX], as the registry store was given
	 * (registry://HOST[:PORT][/PREFIX]): an image REGISTRY/PATH is at PREFIX/PATH. */
	const char *mirror;
	const char *const *registries; /* the registries to mirror (docker.io, host:port, …) */
	size_t n_registries;
	const char *ca_file; /* the mirror's CA, for an https mirror signed by a private CA */
} bale_mirror_options;

/* One file the configuration is made of: a path relative to the output directory and its
 * text. */
typedef struct bale_mirror_file {
	char *path;
	bale_buf text;
} bale_mirror_file;

/* The configuration of format for opts: *files (free with bale_mirror_files_free). A
 * mirror URL that is not http or https, or holds credentials, is BALE_EUSAGE; docker with
 * a registry other than docker.io, or a mirror with a prefix, too (docker mirrors docker.io
 * only, at the mirror's root). */
int bale_mirror_config(bale_mirror_format format, const bale_mirror_options *opts,
                       bale_mirror_file **files, size_t *n, bale_error **err);
void bale_mirror_files_free(bale_mirror_file *files, size_t n);

#endif
