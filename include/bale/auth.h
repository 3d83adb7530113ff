/* Registry credentials, found the way docker, podman and the kubelet find them, and the
 * parsing of WWW-Authenticate challenges. Secrets live only in bale_credential and are
 * wiped when it is freed; nothing here logs or formats a secret into an error. */
#ifndef BALE_AUTH_H
#define BALE_AUTH_H

#include <stdbool.h>
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

/* A credential given for one registry: --creds HOST=USER:PASS, or a bare --creds
 * USER:PASS once the caller has bound it to the one registry it talks to. */
typedef struct bale_host_creds {
	const char *host;      /* registry domain as written in references; NULL: every registry */
	const char *user_pass; /* USER:PASS */
	const char *source;    /* the option it came from, for messages: "--creds" */
} bale_host_creds;

typedef struct bale_auth_options {
	/* USER:PASS for every registry: only for callers that talk to a single one. */
	const char *creds;
	/* Credentials bound to one registry each (host NULL: every registry), checked first. */
	const bale_host_creds *host_creds;
	size_t n_host_creds;
	const char *authfile;            /* --authfile FILE */
	const char *const *pull_secrets; /* --pull-secret FILE (Kubernetes Secret, YAML or JSON) */
	size_t n_pull_secrets;
	const bale_manifest_secret *manifest_secrets; /* after --pull-secret, before files */
	size_t n_manifest_secrets;
	/* Only the sources above: no auth file and no credential helper of the user running
	 * bale (bale doctor asks what a pod's own secrets hold). */
	bool given_only;
} bale_auth_options;

/* Finds the credential for a registry domain as written in references ("docker.io",
 * "ghcr.io", "host:5000") and a repository path ("library/nginx"). Order:
 *   host_creds for the domain; creds; --pull-secret files (in order given); --authfile;
 *   $REGISTRY_AUTH_FILE; $XDG_RUNTIME_DIR/containers/auth.json; $DOCKER_CONFIG/config.json;
 *   ~/.docker/config.json (the files not with given_only).
 * Within a docker config: credHelpers[host], then credsStore, then auths. Keys of `auths`
 * may be "host", "https://host", "http://host/v1/", or podman's "host/namespace/repo"
 * (the longest matching one wins); docker.io also matches "https://index.docker.io/v1/",
 * "index.docker.io" and "registry-1.docker.io".
 * *out is NULL when no source has a credential for the registry (anonymous access).
 * A file that exists but cannot be parsed is an error naming the file. */
int bale_auth_lookup(bale_credential **out, const bale_auth_options *opts, const char *domain,
                     const char *repository, bale_error **err);
void bale_auth_credential_free(bale_credential *cred);

/* Splits a --creds value: "HOST=USER:PASS" binds the credential to registry HOST (a
 * domain as written in references: "ghcr.io", "host:5000", "[::1]:5000"),
 * "USER:PASS" leaves the registry to the caller. *host_len is the length of HOST, 0
 * without one; the credential starts after it and its '='. A user name holding '=' is
 * read as a HOST= only when what precedes the '=' is a well-formed host. BALE_EUSAGE
 * when the credential part is not USER:PASS with a user name; the value is never put
 * into the message (`what` names the option). */
int bale_auth_creds_split(const char *value, const char *what, size_t *host_len, bale_error **err);
/* Does a credential's HOST (as bale_auth_creds_split found it) name the registry domain?
 * Case-insensitive; docker.io, index.docker.io and registry-1.docker.io are one. */
bool bale_auth_creds_host_match(const char *host, const char *domain);

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
int bale_auth_challenge_parse(bale_challenge *out, const char *header_value, bale_error **err);
void bale_auth_challenge_clear(bale_challenge *c);

#endif
