/* A site's admission policy, in the containers-policy.json(5) syntax that podman and CRI-O
 * read (/etc/containers/policy.json), checked offline against the cosign signatures an
 * image carries.
 *
 * Read: "default", and "transports"."docker" scopes (host, host/namespace, host/repo,
 * host/repo:tag or @digest, "*.domain" wildcards); requirements "insecureAcceptAnything",
 * "reject" and "sigstoreSigned" with keyPath, keyPaths, keyData or keyDatas (ECDSA P-256
 * public keys, as cosign makes) and a signedIdentity. Anything else (a Fulcio or PKI root,
 * a Rekor key, GPG "signedBy") is refused when the file is read: a policy bale cannot
 * apply in full is never applied in part. Scopes of other transports are read and left
 * alone. */
#ifndef BALE_POLICY_H
#define BALE_POLICY_H

#include <stddef.h>

#include "bale/error.h"

typedef struct bale_policy bale_policy;

/* One cosign "simple signing" signature: the payload (the layer's bytes, as signed) and
 * its dev.cosignproject.cosign/signature annotation (base64 of a DER ECDSA signature over
 * the payload's SHA-256). */
typedef struct bale_policy_signature {
	const void *payload;
	size_t payload_len;
	const char *signature_b64;
} bale_policy_signature;

/* Reads and checks the whole file; keyPath files are read now, relative to the policy's
 * directory. BALE_EUSAGE naming the file and what is wrong, BALE_ENOTFOUND for a
 * missing file. */
int bale_policy_load(bale_policy **out, const char *path, bale_error **err);
void bale_policy_free(bale_policy *policy);

/* Whether the policy admits the image ref (a reference bale_ref_parse reads) whose manifest
 * has digest manifest_digest ("sha256:…"), given the signatures that refer to that
 * manifest. Every requirement of the most specific scope that matches ref must admit it; a
 * sigstoreSigned one is met by one signature that verifies with one of its keys, names
 * manifest_digest, and whose identity its signedIdentity accepts. 0 when admitted (and
 * *signer, when not NULL, gets the key id of the signature that met a sigstoreSigned
 * requirement, or "" when none was asked for); BALE_ETRUST naming the scope and why not. */
int bale_policy_check(const bale_policy *policy, const char *ref, const char *manifest_digest,
                      const bale_policy_signature *sigs, size_t n_sigs, char signer[65],
                      bale_error **err);

#endif
