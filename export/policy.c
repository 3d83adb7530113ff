/* bale export --policy: every image asked for is held to the site's containers-policy.json
 * with the signatures it brought (cosign's .sig tags, resolved with it and their payloads
 * kept), before a byte of the bundle is written: an image the site would refuse is not
 * carried to it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/policy.h"
#include "export/export_private.h"

/* The signatures one cosign signature image (image i) carries, for its subject; the image
 * records which of the policy's keys signed it, and the policy (index.db's referrers). */
static int take_signature_image(bale_pull *pull, size_t i_img, bale_image *img,
                                const bale_policy *policy, bale_policy_sigset *s, bale_error **err)
{
	bale_buf manifest, payload;
	bale_policy_sig_layer *layers = NULL;
	size_t n = 0;
	bale_buf_init(&manifest, BALE_CAP_MANIFEST, "signature manifest");
	int rc = bale_pull_read(pull, &img->root, &manifest, err);
	if (rc == 0)
		rc = bale_policy_sig_layers(manifest.data, manifest.len, &layers, &n, err);
	for (size_t i = 0; i < n && rc == 0; i++) {
		bale_buf_init(&payload, BALE_CAP_CONFIG, "signature payload");
		if ((rc = bale_pull_read(pull, &layers[i].desc, &payload, err)) == 0)
			rc = bale_policy_sigset_add(s, img->subject.str, payload.data, payload.len,
			                            layers[i].signature_b64, err);
		bale_policy_signature sig = {payload.data, payload.len, layers[i].signature_b64};
		if (rc == 0 && !img->signer_key_id[0]) /* who signed, whatever admits what */
			bale_policy_key_for(policy, &sig, img->signer_key_id);
		bale_buf_free(&payload);
	}
	if (rc == 0) {
		snprintf(img->policy_digest, sizeof(img->policy_digest), "%s",
		         bale_policy_digest(policy));
		rc = bale_pull_image_store(pull, i_img, img, err);
	}
	bale_policy_sig_layers_free(layers, n);
	bale_buf_free(&manifest);
	return rc < 0 ? bale_error_wrap(err, "%s", img->ref) : 0;
}

/* Checks one image asked for; a refusal is appended to why (and counted). */
static int check_image(const bale_policy *policy, const bale_image *img,
                       const bale_policy_sigset *s, bale_buf *why, size_t *refused,
                       bale_error **err)
{
	const char **digests = calloc(img->n_manifests + 1, sizeof(*digests));
	size_t n = 0;
	bale_error *no = NULL;
	if (!digests)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; i < img->n_manifests; i++)
		if (img->manifests[i].selected)
			digests[n++] = img->manifests[i].desc.digest.str;
	int rc = bale_policy_check_image(policy, img->ref, img->root.digest.str, digests, n, s,
	                                 NULL, &no);
	free(digests);
	if (rc == BALE_ETRUST) {
		bale_buf_appendf(why, NULL, "%s%s", (*refused)++ ? "; " : "",
		                 bale_error_message(no));
		rc = 0;
	} else if (rc < 0 && err && !*err) {
		*err = no;
		no = NULL;
	}
	bale_error_free(no);
	return rc;
}

int export_policy_check(bale_pull *pull, const bale_policy *policy, bale_error **err)
{
	bale_policy_sigset *s = NULL;
	bale_buf why;
	size_t refused = 0, asked = 0, n = bale_pull_image_count(pull);
	int rc = bale_policy_sigset_new(&s, err);
	bale_buf_init(&why, 1u << 20, "policy refusals");
	for (int pass = 0; pass < 2 && rc == 0; pass++)
		for (size_t i = 0; i < n && rc == 0; i++) {
			bale_image *img = NULL;
			if ((rc = bale_pull_image_load(pull, i, &img, err)) < 0)
				break;
			if (pass == 0 && strcmp(img->attachment_kind, "cosign-signature") == 0)
				rc = take_signature_image(pull, i, img, policy, s, err);
			else if (pass == 1 && !img->attachment_kind[0]) {
				asked++;
				rc = check_image(policy, img, s, &why, &refused, err);
			}
			bale_image_free(img);
		}
	if (rc == 0 && refused)
		rc = bale_error_set(err, BALE_ETRUST,
		                    "%zu of %zu images refused by the site policy: %s", refused,
		                    asked, why.data ? why.data : "");
	bale_buf_free(&why);
	bale_policy_sigset_free(s);
	return rc;
}
