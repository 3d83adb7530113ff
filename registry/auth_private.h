/* Internals of the credential lookup, exposed for the unit tests. */
#ifndef BALE_AUTH_PRIVATE_H
#define BALE_AUTH_PRIVATE_H

#include <stddef.h>

#include "bale/auth.h"
#include "bale/error.h"

/* How well an `auths` (or `credHelpers`) key matches a registry domain and repository:
 * -1 for no match, otherwise a score where a longer repository prefix scores higher and,
 * at equal length, a plain key ("ghcr.io") beats a URL one ("https://ghcr.io/v1/"), as
 * podman prefers exact keys. repository may be NULL or "" (registry-level keys only). */
int reg_auth_key_match(const char *key, const char *domain, const char *repository);

/* Standard base64 (padding optional, whitespace ignored) into a NUL-terminated buffer
 * the caller frees, wiping it first: the output is usually "user:password".
 * BALE_EUSAGE on invalid input; the message never quotes the input. */
int reg_auth_base64_decode(char **out, size_t *out_len, const char *in, size_t in_len,
                           bale_error **err);

/* Finds the credential for domain and repository in the text of a docker config.json or
 * podman auth.json (NUL-terminated, len bytes; path names it in messages), as
 * bale_auth_lookup reads one file, except that credHelpers and credsStore are checked but
 * never run: the fuzz target reads untrusted files with it. *out is NULL when none. */
int reg_auth_config_text_lookup(bale_credential **out, const char *path, const char *text,
                                size_t len, const char *domain, const char *repository,
                                bale_error **err);

#endif
