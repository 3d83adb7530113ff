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
#include "bale/sink.h"

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

/* The SHA-256 of the policy file's bytes ("sha256:…"): which policy admitted what. */
const char *bale_policy_digest(const bale_policy *policy);
/* Which key of the policy's (any scope's) the signature verifies with: 0 and its key id,
 * or BALE_ENOTFOUND. Says who signed; whether that admits an image is
 * bale_policy_check's. */
int bale_policy_key_for(const bale_policy *policy, const bale_policy_signature *sig,
                        char key_id[65]);

/* The signatures a cosign signature manifest (the one under REPO:sha256-<hex>.sig)
 * carries: each simple-signing layer's descriptor and its signature annotation. The
 * layers' bytes are the payloads, read by the caller. Other layers (attestations,
 * SBOMs) are left out. BALE_EVERIFY for a manifest that is not one. */
typedef struct bale_policy_sig_layer {
	bale_descriptor desc;
	char *signature_b64;
} bale_policy_sig_layer;
int bale_policy_sig_layers(const char *manifest, size_t len, bale_policy_sig_layer **out, size_t *n,
                           bale_error **err);
void bale_policy_sig_layers_free(bale_policy_sig_layer *layers, size_t n);

/* The signatures a caller found, by the manifest or index they are about. */
typedef struct bale_policy_sigset bale_policy_sigset;
int bale_policy_sigset_new(bale_policy_sigset **out, bale_error **err);
/* A signature of subject ("sha256:…"): payload and signature are copied. */
int bale_policy_sigset_add(bale_policy_sigset *set, const char *subject, const void *payload,
                           size_t len, const char *signature_b64, bale_error **err);
void bale_policy_sigset_free(bale_policy_sigset *set);

/* An image as a site runs it: admitted when the policy admits its root with the root's
 * signatures (cosign signs what a reference names), else when it admits every manifest
 * it carries with their own (cosign sign --recursive, and what a runtime that checks
 * the platform's manifest needs). The error is the root's. */
int bale_policy_check_image(const bale_policy *policy, const char *ref, const char *root,
                            const char *const *manifests, size_t n_manifests,
                            const bale_policy_sigset *sigs, char signer[65], bale_error **err);

#endif
