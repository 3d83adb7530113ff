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
			                                    bale_json_str(p, "variant"), err)) < 0)
				goto cleanup;
			entries[i].has_platform = true;
		}
	}
	*out = entries;
	*n = count;
	entries = NULL;
cleanup:
	free(entries);
	json_decref(doc);
	return rc;
}

int bale_manifest_parse_image(bale_descriptor *config, bale_descriptor **layers, size_t *n,
                              size_t *foreign, const char *bytes, size_t len, bale_error **err)
{
	json_t *doc = NULL;
	bale_descriptor *list = NULL;
	size_t kept = 0, skipped = 0;
	int rc = bale_json_parse(&doc, bytes, len, BALE_CAP_MANIFEST, "manifest", err);
	if (rc < 0)
		return rc;
	if ((rc = bale_manifest_check_fields(doc, BALE_MT_OCI_MANIFEST, "manifest", err)) < 0 ||
	    (rc = parse_descriptor(config, json_object_get(doc, "config"), "manifest config",
	                           err)) < 0)
		goto cleanup;
	json_t *arr = json_object_get(doc, "layers");
	if (!json_is_array(arr)) {
		rc = bale_error_set(err, BALE_EVERIFY, "manifest: no layers array");
		goto cleanup;
	}
	size_t count = json_array_size(arr);
	if (count && !(list = calloc(count, sizeof(*list)))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < count; i++) {
		json_t *item = json_array_get(arr, i);
		if (json_array_size(json_object_get(item, "urls")) > 0) {
			skipped++; /* foreign layer: fetched by the runtime from its URLs */
			continue;
		}
		if ((rc = parse_descriptor(&list[kept], item, "manifest layer", err)) < 0)
			goto cleanup;
		kept++;
	}
	*layers = list;
	*n = kept;
	if (foreign)
		*foreign = skipped;
	list = NULL;
cleanup:
	free(list);
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
	if (os && arch)
		rc = bale_platform_from_fields(platform, os, arch, bale_json_str(doc, "variant"),
		                               err);
	else
		memset(platform, 0, sizeof(*platform));
	json_decref(doc);
	return rc;
}
