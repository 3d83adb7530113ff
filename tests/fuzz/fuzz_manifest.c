/* Fuzz target for OCI / Docker manifests, indexes and image configs as registries send
 * them: the media type decided from the body, with the response's Content-Type absent
 * and given (each type bale carries, and schema 1), then the body read as an index, an
 * image manifest and an image config. Every reader must end in a result or a clean
 * error, and what it returns must be well formed. libFuzzer runs it (scripts/fuzz.sh);
 * replay.c runs it in the test suite. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/manifest.h"
#include "registry/registry_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Over BALE_CAP_MANIFEST, so the cap itself is exercised. */
#define INPUT_CAP (BALE_CAP_MANIFEST + 1024)

static void broken(const char *what)
{
	fprintf(stderr, "fuzz_manifest: %s\n", what);
	abort();
}

static void check_descriptor(const bale_descriptor *d)
{
	if (d->size < 0 || strlen(d->media_type) >= sizeof(d->media_type) ||
	    strncmp(d->digest.str, "sha256:", 7) != 0)
		broken("malformed descriptor accepted");
}

static void check_platform(const bale_platform *p)
{
	char text[128];
	bale_platform_format(p, text, sizeof(text));
	if (!p->os[0] || !p->arch[0])
		broken("platform without os or architecture");
}

static void read_index(const bale_buf *body)
{
	bale_index_entry *entries = NULL;
	size_t n = 0;
	bale_error *err = NULL;
	if (bale_manifest_parse_index(&entries, &n, body->data, body->len, &err) == 0) {
		for (size_t i = 0; i < n; i++) {
			check_descriptor(&entries[i].desc);
			if (entries[i].has_platform)
				check_platform(&entries[i].platform);
		}
	}
	free(entries);
	bale_error_free(err);
}

static void read_image(const bale_buf *body)
{
	bale_descriptor config, *layers = NULL;
	size_t n = 0, foreign = 0;
	bale_error *err = NULL;
	if (bale_manifest_parse_image(&config, &layers, &n, &foreign, body->data, body->len,
	                              &err) == 0) {
		check_descriptor(&config);
		for (size_t i = 0; i < n; i++)
			check_descriptor(&layers[i]);
	}
	free(layers);
	bale_error_free(err);
}

static void read_config(const bale_buf *body)
{
	bale_platform p;
	char created[40];
	bale_error *err = NULL;
	if (bale_manifest_parse_config(&p, created, body->data, body->len, &err) == 0) {
		if (strlen(created) >= sizeof(created))
			broken("created time overflows");
		if (p.os[0])
			check_platform(&p);
	}
	bale_error_free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* "" is a response without Content-Type. */
	static const char *const content_types[] = {
	    "",
	    BALE_MT_OCI_INDEX,
	    BALE_MT_OCI_MANIFEST,
	    BALE_MT_DOCKER_LIST,
	    BALE_MT_DOCKER_MANIFEST,
	    "application/vnd.docker.distribution.manifest.v1+prettyjws",
	    "application/json",
	};
	if (size > INPUT_CAP)
		return 0;
	/* As the transfer leaves it: a bale_buf, NUL-terminated. */
	bale_buf body;
	bale_buf_init(&body, INPUT_CAP, "manifest");
	if (bale_buf_append(&body, data, size, NULL) < 0)
		goto cleanup;
	for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++) {
		char media_type[128] = "";
		bale_error *err = NULL;
		if (reg_manifest_media_type(media_type, &body, content_types[i], "fuzz", &err) ==
		    0) {
			bool index = bale_manifest_type_is_index(media_type);
			if (!index && !bale_manifest_type_is_manifest(media_type))
				broken("a media type bale does not carry accepted");
			if (index)
				read_index(&body);
			else
				read_image(&body);
		}
		bale_error_free(err);
	}
	/* Whatever the type says: a confused registry, or a bundle's blobs. */
	read_index(&body);
	read_image(&body);
	read_config(&body);
cleanup:
	bale_buf_free(&body);
	return 0;
}
