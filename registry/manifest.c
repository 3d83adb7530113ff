/* Manifests: the media types bale asks for, what a manifest's bytes say they are (they
 * win over the Content-Type header, which nothing signs), and the GET that checks a
 * manifest's digest against the reference and the registry's Docker-Content-Digest. */
#include <stdio.h>
#include <string.h>

#include "bale/json.h"
#include "bale/manifest.h"
#include "bale/text.h"
#include "registry/registry_private.h"

/* Media types bale pulls, the way containerd asks for them. */
const char reg_accept_manifests[] = "Accept: application/vnd.oci.image.index.v1+json, "
                                    "application/vnd.docker.distribution.manifest.list.v2+json, "
                                    "application/vnd.oci.image.manifest.v1+json, "
                                    "application/vnd.docker.distribution.manifest.v2+json";

static bool is_schema1(const char *media_type)
{
	/* "…v1+json" and "…v1+prettyjws" (signed) alike */
	static const char v1[] = "application/vnd.docker.distribution.manifest.v1";
	return strncmp(media_type, v1, sizeof(v1) - 1) == 0;
}

/* Docker schema 1, by what the registry calls it or by what the bytes say. Asked before
 * any digest is checked: distribution signs a schema 1 manifest anew on every GET and
 * names the digest of the unsigned payload, so the bytes never hash to that digest, and
 * an old image would read as tampering. */
bool reg_manifest_is_schema1(const bale_buf *body, const char *ctype)
{
	if (ctype && is_schema1(ctype))
		return true;
	json_t *doc = NULL;
	if (bale_json_parse(&doc, body->data, body->len, BALE_CAP_MANIFEST, "manifest", NULL) < 0)
		return false;
	json_t *version = json_object_get(doc, "schemaVersion");
	bool one = json_is_integer(version) && json_integer_value(version) == 1;
	json_decref(doc);
	return one;
}

static int schema1_refused(const char *what, bale_error **err)
{
	return bale_error_set(err, BALE_EFORMAT,
	                      "%s: a Docker schema 1 manifest, a deprecated format bale does not "
	                      "carry: re-push it with a current client, e.g. skopeo copy or "
	                      "docker push from docker 20+",
	                      what);
}

static bool is_known_manifest(const char *t)
{
	return strcmp(t, "application/vnd.oci.image.index.v1+json") == 0 ||
	       strcmp(t, "application/vnd.docker.distribution.manifest.list.v2+json") == 0 ||
	       strcmp(t, "application/vnd.oci.image.manifest.v1+json") == 0 ||
	       strcmp(t, "application/vnd.docker.distribution.manifest.v2+json") == 0;
}

/* Decides the media type from the manifest itself, falling back to Content-Type, and
 * refuses what bale does not carry. */
int reg_manifest_media_type(char media_type[128], const bale_buf *body, const char *ctype,
                            const char *what, bale_error **err)
{
	json_t *doc = NULL;
	int rc = bale_json_parse(&doc, body->data, body->len, BALE_CAP_MANIFEST, what, err);
	if (rc < 0)
		return rc;
	const char *declared = bale_json_str(doc, "mediaType");
	json_t *version = json_object_get(doc, "schemaVersion");
	const char *t = declared ? declared : ctype;
	char quoted[BALE_TEXT_QUOTE_SIZE];
	bale_text_quote(quoted, sizeof(quoted), t);
	if (json_integer_value(version) == 1 || is_schema1(t)) {
		rc = schema1_refused(what, err);
	} else if (!is_known_manifest(t)) {
		rc = bale_error_set(err, BALE_EVERIFY, "%s: unsupported manifest media type \"%s\"",
		                    what, quoted);
	} else if (!declared && json_object_get(doc, "manifests") &&
	           (json_object_get(doc, "layers") || json_object_get(doc, "config"))) {
		/* Only the unsigned Content-Type header would say what these bytes are. */
		rc =
		    bale_error_set(err, BALE_EVERIFY,
		                   "%s: ambiguous manifest: no mediaType, and both \"manifests\" "
		                   "and \"%s\", so the same digest would be an index or an image "
		                   "depending on the Content-Type header; refused (OCI image spec, "
		                   "CVE-2021-41190)",
		                   what, json_object_get(doc, "layers") ? "layers" : "config");
	} else if (declared && is_known_manifest(ctype) &&
	           bale_manifest_type_is_index(ctype) != bale_manifest_type_is_index(declared)) {
		rc = bale_error_set(
		    err, BALE_EVERIFY,
		    "%s: ambiguous manifest: it says it is %s \"%s\" but the "
		    "registry serves it as %s; refused (CVE-2021-41190)",
		    what, bale_manifest_type_is_index(declared) ? "an index" : "an image", quoted,
		    bale_manifest_type_is_index(ctype) ? "an index" : "an image");
	} else if ((rc = bale_manifest_check_fields(doc, t, what, err)) == 0) {
		snprintf(media_type, 128, "%s", t);
	}
	json_decref(doc);
	return rc;
}

int bale_registry_get_manifest(bale_registry *reg, const char *repository, const char *reference,
                               bale_buf *out, char media_type[128], bale_digest *digest,
                               bale_error **err)
{
	int rc = 0;
	char url[2048], what[600];
	reg_response resp;
	struct curl_slist *headers = curl_slist_append(NULL, reg_accept_manifests);
	reg_response_init(&resp);
	snprintf(what, sizeof(what), "%s/%s%s%s", reg->http.domain, repository,
	         strchr(reference, ':') ? "@" : ":", reference);
	if (!headers) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = reg_ensure_pinged(reg, err)) < 0)
		goto cleanup;
	snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", reg->http.base_url, repository,
	         reference);
	if (out->cap > BALE_CAP_MANIFEST)
		out->cap = BALE_CAP_MANIFEST;
	out->what = "manifest";
	reg_request req = {.url = url, .repository = repository, .headers = headers};
	if ((rc = reg_perform(reg, &req, out, &resp, err)) < 0)
		goto cleanup;
	if (resp.status != 200) {
		char status[200];
		reg_describe_status(status, sizeof(status), resp.status, out);
		if (resp.status == 404)
			rc =
			    bale_error_set(err, BALE_ENOTFOUND, "%s: not found (%s)", what, status);
		else if (resp.status == 401 || resp.status == 403)
			rc = bale_error_set(err, BALE_EAUTH, "%s: access refused by %s (%s, %s)",
			                    what, reg->http.domain, status,
			                    reg_auth_source(&reg->auth));
		else
			rc = bale_error_set(err, BALE_ENETWORK, "%s: %s", what, status);
		goto cleanup;
	}
	if (reg_manifest_is_schema1(out, resp.content_type)) {
		rc = schema1_refused(what, err);
		goto cleanup;
	}
	bale_digest_of(digest, out->data, out->len);
	bale_digest want;
	if (strchr(reference, ':') && bale_digest_parse(&want, reference, NULL) == 0 &&
	    !bale_digest_equal(&want, digest)) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "%s: manifest digest mismatch (content hashes to %s)", what,
		                    digest->str);
		goto cleanup;
	}
	if (resp.docker_digest[0] && strncmp(resp.docker_digest, "sha256:", 7) == 0 &&
	    strcmp(resp.docker_digest, digest->str) != 0) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "%s: registry says the manifest is %.80s but it hashes to %s",
		                    what, resp.docker_digest, digest->str);
		goto cleanup;
	}
	rc = reg_manifest_media_type(media_type, out, resp.content_type, what, err);
cleanup:
	curl_slist_free_all(headers);
	reg_response_free(&resp);
	return rc;
}
