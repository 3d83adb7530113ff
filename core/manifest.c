#include "bale/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/buf.h"
#include "bale/json.h"

bool bale_manifest_type_is_index(const char *t)
{
	return strcmp(t, BALE_MT_OCI_INDEX) == 0 || strcmp(t, BALE_MT_DOCKER_LIST) == 0;
}

bool bale_manifest_type_is_manifest(const char *t)
{
	return strcmp(t, BALE_MT_OCI_MANIFEST) == 0 || strcmp(t, BALE_MT_DOCKER_MANIFEST) == 0;
}

bool bale_manifest_config_is_image(const char *t)
{
	return strcmp(t, BALE_MT_OCI_CONFIG) == 0 || strcmp(t, BALE_MT_DOCKER_CONFIG) == 0;
}

/* os.version and os.features of a platform object (an index entry's, or a config's,
 * where they are spelled "os.version" and "os.features" too). */
static int parse_os_options(bale_platform *p, json_t *obj, bale_error **err)
{
	const char *features[16];
	json_t *list = json_object_get(obj, "os.features"), *item;
	size_t i, n = 0;
	json_array_foreach(list, i, item)
	{
		if (!json_is_string(item))
			return bale_error_set(
			    err, BALE_EVERIFY,
			    "invalid platform: os.features item %zu is not a string", i + 1);
		if (n == sizeof(features) / sizeof(*features))
			return bale_error_set(err, BALE_EVERIFY,
			                      "invalid platform: more than %zu os.features", n);
		features[n++] = json_string_value(item);
	}
	return bale_platform_set_os_options(p, bale_json_str(obj, "os.version"), features, n, err);
}

/* A descriptor from untrusted JSON: mediaType, a sha256 digest, a sane size. */
static int parse_descriptor(bale_descriptor *out, json_t *j, const char *what, bale_error **err)
{
	const char *mt = bale_json_str(j, "mediaType");
	const char *digest = bale_json_str(j, "digest");
	json_t *size = json_object_get(j, "size");
	memset(out, 0, sizeof(*out));
	if (!digest || !json_is_integer(size) || json_integer_value(size) < 0)
		return bale_error_set(err, BALE_EVERIFY, "%s: descriptor without digest or size",
		                      what);
	if (mt && strlen(mt) >= sizeof(out->media_type))
		return bale_error_set(err, BALE_EVERIFY, "%s: media type too long", what);
	bale_error *bad = NULL;
	if (bale_digest_parse(&out->digest, digest, &bad) < 0) {
		/* A bad digest in content is a content failure, whatever parse calls it. */
		int rc = bale_error_set(err, BALE_EVERIFY, "%s: %s", what, bale_error_message(bad));
		bale_error_free(bad);
		return rc;
	}
	if (json_integer_value(size) > (json_int_t)BALE_CAP_BLOB)
		return bale_error_set(err, BALE_EVERIFY,
		                      "%s: %s declares %lld bytes, over the limit of %llu bytes "
		                      "(1 TiB) for one blob",
		                      what, out->digest.str, (long long)json_integer_value(size),
		                      (unsigned long long)BALE_CAP_BLOB);
	snprintf(out->media_type, sizeof(out->media_type), "%s", mt ? mt : "");
	out->size = json_integer_value(size);
	return 0;
}

int bale_manifest_check_fields(const json_t *doc, const char *media_type, const char *what,
                               bale_error **err)
{
	bool index = bale_manifest_type_is_index(media_type);
	const char *stray = NULL;
	if (index && json_object_get(doc, "layers"))
		stray = "layers";
	else if (index && json_object_get(doc, "config"))
		stray = "config";
	else if (!index && json_object_get(doc, "manifests"))
		stray = "manifests";
	if (!stray)
		return 0;
	return bale_error_set(err, BALE_EVERIFY,
	                      "%s: ambiguous manifest: read as %s but it has \"%s\", which only "
	                      "%s has; the same bytes must not mean an index to one reader and "
	                      "an image to another, so it is refused (OCI image spec, "
	                      "CVE-2021-41190)",
	                      what, index ? "an index" : "an image manifest", stray,
	                      index ? "an image manifest" : "an index");
}

int bale_manifest_parse_index(bale_index_entry **out, size_t *n, const char *bytes, size_t len,
                              bale_error **err)
{
	json_t *doc = NULL;
	bale_index_entry *entries = NULL;
	int rc = bale_json_parse(&doc, bytes, len, BALE_CAP_MANIFEST, "index", err);
	if (rc < 0)
		return rc;
	if ((rc = bale_manifest_check_fields(doc, BALE_MT_OCI_INDEX, "index", err)) < 0)
		goto cleanup;
	json_t *list = json_object_get(doc, "manifests");
	if (!json_is_array(list)) {
		rc = bale_error_set(err, BALE_EVERIFY, "index: no manifests array");
		goto cleanup;
	}
	size_t count = json_array_size(list);
	if (count && !(entries = calloc(count, sizeof(*entries)))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < count; i++) {
		json_t *item = json_array_get(list, i);
		if ((rc = parse_descriptor(&entries[i].desc, item, "index entry", err)) < 0)
			goto cleanup;
		json_t *p = json_object_get(item, "platform");
		const char *os = bale_json_str(p, "os"), *arch = bale_json_str(p, "architecture");
		if (os && arch) {
			if ((rc = bale_platform_from_fields(&entries[i].platform, os, arch,
			                                    bale_json_str(p, "variant"), err)) <
			        0 ||
			    (rc = parse_os_options(&entries[i].platform, p, err)) < 0)
				goto cleanup;
			entries[i].has_platform = true;
		}
		/* buildx marks an attestation "unknown/unknown" and names its image. */
		bool unknown = entries[i].has_platform &&
		               strcmp(entries[i].platform.os, "unknown") == 0 &&
		               strcmp(entries[i].platform.arch, "unknown") == 0;
		entries[i].artifact = !entries[i].has_platform || unknown ||
		                      bale_json_str(item, "artifactType") != NULL;
		const char *subject = bale_json_str(json_object_get(item, "annotations"),
		                                    "vnd.docker.reference.digest");
		if (subject && bale_digest_parse(&entries[i].subject, subject, NULL) == 0)
			entries[i].has_subject = true;
	}
	*out = entries;
	*n = count;
	entries = NULL;
cleanup:
	free(entries);
	json_decref(doc);
	return rc;
}

void bale_manifest_image_free(bale_manifest_image *m)
{
	if (!m)
		return;
	free(m->layers);
	free(m->positions);
	free(m->foreign);
	free(m->foreign_positions);
	memset(m, 0, sizeof(*m));
}

bool bale_manifest_image_is_artifact(const bale_manifest_image *m)
{
	return m->artifact_type[0] || !bale_manifest_config_is_image(m->config.media_type);
}

int bale_manifest_read_image(bale_manifest_image *out, const char *bytes, size_t len,
                             bale_error **err)
{
	json_t *doc = NULL;
	bale_manifest_image m;
	memset(&m, 0, sizeof(m));
	int rc = bale_json_parse(&doc, bytes, len, BALE_CAP_MANIFEST, "manifest", err);
	if (rc < 0)
		return rc;
	if ((rc = bale_manifest_check_fields(doc, BALE_MT_OCI_MANIFEST, "manifest", err)) < 0 ||
	    (rc = parse_descriptor(&m.config, json_object_get(doc, "config"), "manifest config",
	                           err)) < 0)
		goto cleanup;
	json_t *arr = json_object_get(doc, "layers");
	if (!json_is_array(arr)) {
		rc = bale_error_set(err, BALE_EVERIFY, "manifest: no layers array");
		goto cleanup;
	}
	size_t count = json_array_size(arr), slots = count ? count : 1;
	if (!(m.layers = calloc(slots, sizeof(*m.layers))) ||
	    !(m.positions = calloc(slots, sizeof(*m.positions))) ||
	    !(m.foreign = calloc(slots, sizeof(*m.foreign))) ||
	    !(m.foreign_positions = calloc(slots, sizeof(*m.foreign_positions)))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < count; i++) {
		json_t *item = json_array_get(arr, i);
		/* foreign layer: fetched by the runtime from its URLs */
		bool foreign = json_array_size(json_object_get(item, "urls")) > 0;
		bale_descriptor *d = foreign ? &m.foreign[m.n_foreign] : &m.layers[m.n_layers];
		if ((rc = parse_descriptor(d, item, "manifest layer", err)) < 0)
			goto cleanup;
		if (foreign)
			m.foreign_positions[m.n_foreign++] = i;
		else
			m.positions[m.n_layers++] = i;
	}
	const char *type = bale_json_str(doc, "artifactType");
	if (type && strlen(type) >= sizeof(m.artifact_type)) {
		rc = bale_error_set(err, BALE_EVERIFY, "manifest: artifactType too long");
		goto cleanup;
	}
	snprintf(m.artifact_type, sizeof(m.artifact_type), "%s", type ? type : "");
	json_t *subject = json_object_get(doc, "subject");
	if (subject) {
		bale_descriptor s;
		if ((rc = parse_descriptor(&s, subject, "manifest subject", err)) < 0)
			goto cleanup;
		m.subject = s.digest;
		m.has_subject = true;
	}
	*out = m;
	memset(&m, 0, sizeof(m));
cleanup:
	bale_manifest_image_free(&m);
	json_decref(doc);
	return rc;
}

int bale_manifest_parse_image(bale_descriptor *config, bale_descriptor **layers, size_t *n,
                              size_t *foreign, const char *bytes, size_t len, bale_error **err)
{
	bale_manifest_image m;
	int rc = bale_manifest_read_image(&m, bytes, len, err);
	if (rc < 0)
		return rc;
	*config = m.config;
	*layers = m.layers;
	*n = m.n_layers;
	if (foreign)
		*foreign = m.n_foreign;
	m.layers = NULL;
	bale_manifest_image_free(&m);
	return 0;
}

void bale_manifest_urls_free(char **urls, size_t n)
{
	for (size_t i = 0; urls && i < n; i++)
		free(urls[i]);
	free(urls);
}

int bale_manifest_layer_urls(char ***out, size_t *n, const char *bytes, size_t len, size_t position,
                             bale_error **err)
{
	json_t *doc = NULL;
	char **urls = NULL;
	size_t count = 0;
	*out = NULL;
	*n = 0;
	int rc = bale_json_parse(&doc, bytes, len, BALE_CAP_MANIFEST, "manifest", err);
	if (rc < 0)
		return rc;
	json_t *list =
	    json_object_get(json_array_get(json_object_get(doc, "layers"), position), "urls");
	count = json_array_size(list);
	if (count > BALE_MANIFEST_MAX_URLS) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "manifest: layer %zu lists %zu urls; bale reads %d at most",
		                    position, count, BALE_MANIFEST_MAX_URLS);
		goto cleanup;
	}
	if (count && !(urls = calloc(count, sizeof(*urls)))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < count; i++) {
		const char *url = json_string_value(json_array_get(list, i));
		if (!url || strlen(url) >= BALE_MANIFEST_URL_MAX) {
			rc = bale_error_set(err, BALE_EVERIFY, "manifest: layer %zu: url %zu is %s",
			                    position, i, url ? "too long" : "not a string");
			goto cleanup;
		}
		if (!(urls[i] = strdup(url))) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
	}
	*out = urls;
	*n = count;
	urls = NULL;
cleanup:
	bale_manifest_urls_free(urls, count);
	json_decref(doc);
	return rc;
}

int bale_manifest_parse_config(bale_platform *platform, char created[40], const char *bytes,
                               size_t len, bale_error **err)
{
	json_t *doc = NULL;
	int rc = bale_json_parse(&doc, bytes, len, BALE_CAP_CONFIG, "image config", err);
	if (rc < 0)
		return rc;
	const char *os = bale_json_str(doc, "os"), *arch = bale_json_str(doc, "architecture");
	const char *when = bale_json_str(doc, "created");
	snprintf(created, 40, "%s", when ? when : "");
	/* A config that names no platform (cosign's signatures leave os and architecture
	 * empty) describes no runnable image: the manifest has no platform. */
	if (os && *os && arch && *arch) {
		rc = bale_platform_from_fields(platform, os, arch, bale_json_str(doc, "variant"),
		                               err);
		if (rc == 0)
			rc = parse_os_options(platform, doc, err);
	} else
		memset(platform, 0, sizeof(*platform));
	json_decref(doc);
	return rc;
}
