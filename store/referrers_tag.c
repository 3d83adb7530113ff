/* The referrers tag schema at a site registry (OCI distribution spec 1.1, "Referrers Tag
 * Schema"): a registry without the referrers API (distribution 2.8) lists the manifests
 * that name a subject in an image index under the tag sha256-<hex of the subject>, which
 * the client that pushes a referrer keeps. bale import does, so that the site's tools
 * (oras discover, cosign tree) find what a bundle carried. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/json.h"
#include "bale/manifest.h"
#include "store/store_private.h"

#define OCI_INDEX "application/vnd.oci.image.index.v1+json"

/* The descriptor the tag's index lists for a referrer: media type, digest, size, its
 * artifactType (else its config's media type) and its annotations. */
static json_t *referrer_entry(json_t *manifest, const bale_descriptor *desc)
{
	const char *type = bale_json_str(manifest, "artifactType");
	if (!type)
		type = bale_json_str(json_object_get(manifest, "config"), "mediaType");
	json_t *entry = json_pack("{s:s,s:s,s:I}", "mediaType", desc->media_type, "digest",
	                          desc->digest.str, "size", (json_int_t)desc->size);
	if (entry && type)
		json_object_set_new(entry, "artifactType", json_string(type));
	json_t *annotations = json_object_get(manifest, "annotations");
	if (entry && json_is_object(annotations))
		json_object_set(entry, "annotations", annotations);
	return entry;
}

int store_link_referrer(bale_registry *reg, const char *repository, const bale_descriptor *desc,
                        const char *bytes, size_t len, bale_error **err)
{
	json_t *manifest = NULL, *index = NULL, *entry = NULL;
	bale_buf current, api;
	char tag[80], media_type[128];
	char *text = NULL;
	bale_digest got, subject;
	bool supported = false;
	int rc = bale_json_parse(&manifest, bytes, len, BALE_CAP_MANIFEST, "manifest", err);
	bale_buf_init(&current, BALE_CAP_MANIFEST, "referrers index");
	bale_buf_init(&api, BALE_CAP_MANIFEST, "referrers");
	const char *s = bale_json_str(json_object_get(manifest, "subject"), "digest");
	if (rc < 0 || !s || bale_digest_parse(&subject, s, NULL) < 0)
		goto cleanup; /* no subject: nothing refers through it */
	/* A registry with the API keeps the list itself. */
	if ((rc = bale_registry_referrers(reg, repository, &subject, &api, &supported, err)) < 0 ||
	    supported)
		goto cleanup;
	snprintf(tag, sizeof(tag), "sha256-%s", bale_digest_hex(&subject));
	rc = bale_registry_get_manifest(reg, repository, tag, &current, media_type, &got, err);
	if (rc == BALE_ENOTFOUND) {
		bale_error_clear(err);
		rc = 0;
		index = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType", OCI_INDEX,
		                  "manifests");
	} else if (rc == 0 && bale_manifest_type_is_index(media_type)) {
		rc = bale_json_parse(&index, current.data, current.len, BALE_CAP_MANIFEST,
		                     "referrers index", err);
	} else if (rc == 0) {
		rc = bale_error_set(err, BALE_ESTORE,
		                    "%s:%s is a %s, not the referrers index bale keeps there",
		                    repository, tag, media_type);
	}
	json_t *list = json_object_get(index, "manifests");
	if (rc < 0 || !json_is_array(list)) {
		rc = rc < 0
		         ? rc
		         : bale_error_set(err, BALE_ESTORE, "%s:%s: no manifests", repository, tag);
		goto cleanup;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		const char *listed = bale_json_str(json_array_get(list, i), "digest");
		if (listed && strcmp(listed, desc->digest.str) == 0)
			goto cleanup; /* listed already */
	}
	if (!(entry = referrer_entry(manifest, desc)) || json_array_append(list, entry) < 0 ||
	    !(text = json_dumps(index, JSON_COMPACT))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	rc = bale_registry_put_manifest(reg, repository, tag, OCI_INDEX, text, strlen(text), err);
cleanup:
	free(text);
	json_decref(entry);
	json_decref(index);
	json_decref(manifest);
	bale_buf_free(&current);
	bale_buf_free(&api);
	return rc < 0 ? bale_error_wrap(err, "%s@%s: the referrers tag of its subject", repository,
	                                desc->digest.str)
	              : 0;
}
