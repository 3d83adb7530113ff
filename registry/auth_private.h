/* Credential sources: where bale_auth_lookup finds a registry's credentials.
 *
 *   auth_lookup.c      the order of the sources (bale_auth_lookup)
 *   creds.c            --creds values
 *   auth_secret.c      Kubernetes Secrets (dockerconfigjson, dockercfg), bale_auth_check
 *   auth_config.c      docker config.json and podman auth.json: auths keys, credHelpers
 *   auth_helper.c      docker-credential-* programs
 *   auth_key.c         which registry a config key names
 *   auth_credential.c  a bale_credential, and the JSON its secrets are read from
 *   auth_base64.c      the base64 of "auth" entries and Secret data
 *
 * Calls go down this list: the order asks the sources, a Secret holds a docker config,
 * a config names a helper, and every source makes its credential the same way. Every
 * secret read passes through buffers that are wiped before they are freed; error messages
 * name files, hosts and helpers, never values read from them. */
#ifndef BALE_AUTH_PRIVATE_H
#define BALE_AUTH_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "bale/auth.h"
#include "bale/error.h"

/* What a lookup is for: the domain as written in references, and the repository ("" when
 * unknown). */
typedef struct reg_auth_want {
	const char *domain;
	const char *repository;
} reg_auth_want;

/* ---- the credential (auth_credential.c) ---- */

/* A new credential. Empty user names and tokens become NULL, so callers test one thing; a
 * user name without a password gets "", which Basic authentication can still send. */
int reg_auth_credential_new(bale_credential **out, const char *username, const char *password,
                            const char *identity_token, const char *source, bale_error **err);
/* Wipes a string that may be a secret, then frees it. */
void reg_auth_cleanse_free(char *s);
/* Copies at most dstlen - 1 bytes of s, replacing anything but printable ASCII, so a name
 * read from a file cannot forge log lines or terminal escapes. */
void reg_auth_printable(char *dst, size_t dstlen, const char *s, size_t len);
/* Parses JSON that may hold secrets, within bale/json.h's bounds: jansson's error text
 * quotes the input ("near 'hunter2'"), so only the position is reported, with `code`. */
int reg_auth_json_load(json_t **out, const char *data, size_t len, int code, bale_error **err);
/* Wipes every string of a JSON value (jansson frees them as they are), then drops it. */
void reg_auth_json_wipe_decref(json_t *v);

/* Standard base64 (padding optional, whitespace ignored) into a NUL-terminated buffer
 * the caller frees, wiping it first: the output is usually "user:password".
 * BALE_EUSAGE on invalid input; the message never quotes the input. */
int reg_auth_base64_decode(char **out, size_t *out_len, const char *in, size_t in_len,
                           bale_error **err);

/* ---- config keys (auth_key.c) ---- */

/* How well an `auths` (or `credHelpers`) key matches a registry domain and repository:
 * -1 for no match, otherwise a score where a longer repository prefix scores higher and,
 * at equal length, a plain key ("ghcr.io") beats a URL one ("https://ghcr.io/v1/"), as
 * podman prefers exact keys. repository may be NULL or "" (registry-level keys only). */
int reg_auth_key_match(const char *key, const char *domain, const char *repository);
/* Is the domain Docker Hub, under any of its names? */
bool reg_auth_is_docker_hub(const char *domain);

/* ---- docker config files (auth_config.c) ---- */

/* One docker config: config.json, auth.json or the content of a pull secret. legacy is
 * the .dockercfg format, whose top level is the auths map itself. helpers is false for
 * pull secrets: the kubelet reads only their auths, and a Secret from a cluster should
 * not pick programs to run here. source names the config in the credential. */
int reg_auth_config_lookup(bale_credential **out, const json_t *config, bool legacy, bool helpers,
                           const char *source, const reg_auth_want *w, bale_error **err);
/* A docker config.json or podman auth.json file. must_exist: the file was named on the
 * command line, so its absence is a mistake to report, not an unused default. */
int reg_auth_file_lookup(bale_credential **out, const char *path, bool must_exist,
                         const reg_auth_want *w, bale_error **err);
/* Finds the credential for domain and repository in the text of a docker config.json or
 * podman auth.json (NUL-terminated, len bytes; path names it in messages), as
 * bale_auth_lookup reads one file, except that credHelpers and credsStore are checked but
 * never run: the fuzz target reads untrusted files with it. *out is NULL when none. */
int reg_auth_config_text_lookup(bale_credential **out, const char *path, const char *text,
                                size_t len, const char *domain, const char *repository,
                                bale_error **err);

/* ---- credential helpers (auth_helper.c) ---- */

/* Asks docker-credential-<name>. *out stays NULL when the helper has nothing for the
 * registry ("credentials not found", or an empty answer). */
int reg_auth_helper_lookup(bale_credential **out, const char *name, const reg_auth_want *w,
                           bale_error **err);

/* ---- Kubernetes Secrets (auth_secret.c) ---- */

/* Secrets in YAML or JSON text (one libyaml parser reads both; path names them in
 * messages): one or several documents, each a Secret or a List of them. Every Secret is
 * checked, the first credential wins. */
int reg_auth_secret_text_lookup(bale_credential **out, const char *path, const char *text,
                                size_t len, const reg_auth_want *w, bale_error **err);
/* The same from a --pull-secret file, which must exist. */
int reg_auth_secret_file_lookup(bale_credential **out, const char *path, const reg_auth_want *w,
                                bale_error **err);

/* ---- the command line (creds.c) ---- */

/* USER:PASS from the option `source` names; the value is never echoed. */
int reg_auth_flag_credential(bale_credential **out, const char *creds, const char *source,
                             bale_error **err);

#endif
