/* Registry credentials, found the way docker, podman and the kubelet find them, and the
 * parsing of WWW-Authenticate challenges. Secrets live only in bale_credential and are
 * wiped when it is freed; nothing here logs or formats a secret into an error. */
#ifndef BALE_AUTH_H
#define BALE_AUTH_H

#include <stddef.h>

#include "bale/error.h"

typedef struct bale_credential {
	char *username; /* may be NULL with an identity token */
	char *password;
	char *identity_token; /* OAuth2 refresh token ("identitytoken", helper "<token>") */
	char *source; /* where it came from, safe to log: "--creds", "/root/.docker/config.json" */
} bale_credential;

/* A Secret from Kubernetes manifests, as YAML text. */
typedef struct bale_manifest_secret {
	const char *text;
	const char *where; /* "FILE:LINE (Secret NAME)", for messages */
} bale_manifest_secret;

typedef struct bale_auth_options {
	const char *creds;               /* --creds USER:PASS */
	const char *authfile;            /* --authfile FILE */
	const char *const *pull_secrets; /* --pull-secret FILE (Kubernetes Secret, YAML or JSON) */
	size_t n_pull_secrets;
	const bale_manifest_secret *manifest_secrets; /* after --pull-secret, before files */
	size_t n_manifest_secrets;
} bale_auth_options;

/* Finds the credential for a registry domain as written in references ("docker.io",
 * "ghcr.io", "host:5000") and a repository path ("library/nginx"). Order:
 *   --creds; --pull-secret files (in order given); --authfile; $REGISTRY_AUTH_FILE;
 *   $XDG_RUNTIME_DIR/containers/auth.json; $DOCKER_CONFIG/config.json; ~/.docker/config.json.
 * Within a docker config: credHelpers[host], then credsStore, then auths. Keys of `auths`
 * may be "host", "https://host", "http://host/v1/", or podman's "host/namespace/repo"
 * (the longest matching one wins); docker.io also matches "https://index.docker.io/v1/",
 * "index.docker.io" and "registry-1.docker.io".
 * *out is NULL when no source has a credential for the registry (anonymous access).
 * A file that exists but cannot be parsed is an error naming the file. */
int bale_auth_lookup(bale_credential **out, const bale_auth_options *opts, const char *domain,
                     const char *repository, bale_error **err);
void bale_credential_free(bale_credential *cred);

/* Parses every --pull-secret file and manifest Secret in opts, so a malformed one is a
 * usage error naming it before any download rather than when a registry first asks. */
int bale_auth_check(const bale_auth_options *opts, bale_error **err);

/* One parsed WWW-Authenticate challenge (RFC 7235), e.g.
 *   Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"
 *   Basic realm="Registry Realm" */
typedef struct bale_challenge {
	char *scheme; /* lowercased: "bearer", "basic" */
	char *realm;
	char *service;
	char *scope;
	char *error; /* e.g. "insufficient_scope", "invalid_token" */
} bale_challenge;

/* Parses the first challenge in a header value. BALE_EVERIFY on malformed input. */
int bale_challenge_parse(bale_challenge *out, const char *header_value, bale_error **err);
void bale_challenge_clear(bale_challenge *c);

#endif
