/* Signing keys (docs/design.md §6): ECDSA P-256 with SHA-256 through OpenSSL 3. Private keys
 * are PKCS#8 PEM (mode 0600), public keys SPKI PEM. A key id is the hex SHA-256 of the
 * public key's SPKI DER encoding. Signatures are DER, carried base64-encoded. */
#ifndef BALE_KEY_H
#define BALE_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include "bale/error.h"

#define BALE_KEY_ID_LEN 64 /* hex characters */

typedef struct bale_key bale_key; /* a private or a public key */

/* Writes NAME.key (0600, refused if it exists unless force) and NAME.pub; *key_id gets
 * the key id (BALE_KEY_ID_LEN + 1 bytes). */
int bale_key_generate(const char *name, bool force, char key_id[BALE_KEY_ID_LEN + 1],
                      bale_error **err);
/* Loads a PKCS#8 PEM private key (P-256 only). */
int bale_key_load_private(bale_key **out, const char *path, bale_error **err);
/* Loads an SPKI PEM public key (P-256 only). */
int bale_key_load_public(bale_key **out, const char *path, bale_error **err);
/* The same from PEM text in memory (a policy's keyData); what names it in errors. */
int bale_key_public_from_pem(bale_key **out, const void *pem, size_t len, const char *what,
                             bale_error **err);
/* And from the base64 of that text (containers-policy.json's keyData). */
int bale_key_public_from_base64(bale_key **out, const char *b64, const char *what,
                                bale_error **err);
const char *bale_key_id(const bale_key *key);
void bale_key_free(bale_key *key);

/* Signs data with a private key: *out is the base64 of the DER signature (malloc'd, NUL
 * terminated, no newlines). */
int bale_key_sign(char **out, const bale_key *key, const void *data, size_t len, bale_error **err);
/* Checks a base64 DER signature (surrounding whitespace allowed). BALE_ETRUST when it
 * does not verify or cannot be decoded. */
int bale_key_verify(const bale_key *key, const void *data, size_t len, const char *signature_b64,
                    bale_error **err);

#endif
