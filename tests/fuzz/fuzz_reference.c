/* Fuzz target for image references and platform strings, which arrive from Kubernetes
 * manifests, image lists, index entries and the command line: parsing must end in a
 * result or a clean error, and what parses must be stable. A normalized reference parses
 * again to itself, and a formatted platform to the same platform; a difference would
 * make the node look up a name the bundle does not carry. abort() reports a broken
 * property as a crash. libFuzzer runs it (scripts/fuzz.sh); replay.c runs it in the test
 * suite. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/platform.h"
#include "bale/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* References are at most a few hundred bytes; longer input only costs time. */
#define INPUT_CAP 4096

static void broken(const char *what, const char *text, const char *got)
{
	fprintf(stderr, "fuzz_reference: %s\n  input: \"%s\"\n  got:   \"%s\"\n", what, text,
	        got ? got : "(null)");
	abort();
}

static size_t touch(const char *s) /* makes ASan read the whole string */
{
	return s ? strlen(s) : 0;
}

static void check_reference(const char *text)
{
	bale_ref *ref = NULL, *again = NULL;
	bale_error *err = NULL;
	if (bale_ref_parse(&ref, text, &err) < 0) {
		if (!bale_error_message(err) || bale_error_code(err) == 0)
			broken("refused without a message", text, NULL);
		goto cleanup;
	}
	const char *s = bale_ref_string(ref);
	touch(bale_ref_domain(ref));
	touch(bale_ref_path(ref));
	touch(bale_ref_tag(ref));
	touch(bale_ref_digest(ref));
	touch(bale_ref_api_host(ref));
	touch(bale_ref_lookup(ref));
	if (!bale_ref_tag(ref) && !bale_ref_digest(ref))
		broken("neither tag nor digest after normalization", text, s);
	size_t dlen = strlen(bale_ref_domain(ref));
	const char *name = bale_ref_name(ref);
	if (strncmp(name, bale_ref_domain(ref), dlen) != 0 || name[dlen] != '/' ||
	    strcmp(name + dlen + 1, bale_ref_path(ref)) != 0)
		broken("name is not domain/path", text, name);
	if (bale_ref_parse(&again, s, &err) < 0)
		broken("normalized reference refused", text, bale_error_message(err));
	else if (strcmp(bale_ref_string(again), s) != 0)
		broken("normalization is not stable", s, bale_ref_string(again));
cleanup:
	bale_ref_free(ref);
	bale_ref_free(again);
	bale_error_free(err);
}

static void check_platform(const char *text)
{
	bale_platform p, q;
	bale_error *err = NULL;
	char formatted[128];
	if (bale_platform_parse(&p, text, &err) == 0) {
		bale_platform_format(&p, formatted, sizeof(formatted));
		if (bale_platform_parse(&q, formatted, &err) < 0)
			broken("formatted platform refused", text, bale_error_message(err));
		else if (!bale_platform_equal(&p, &q))
			broken("platform changes when formatted and parsed", text, formatted);
	}
	bale_error_clear(&err);

	/* The same text as the fields of a descriptor, split where parse splits it. */
	char *fields = strdup(text);
	if (fields) {
		char *os = fields, *arch = strchr(os, '/'), *variant = NULL;
		if (arch) {
			*arch++ = '\0';
			if ((variant = strchr(arch, '/')))
				*variant++ = '\0';
		}
		if (bale_platform_from_fields(&p, os, arch, variant, &err) == 0)
			bale_platform_format(&p, formatted, sizeof(formatted));
		bale_error_clear(&err);
		free(fields);
	}

	bale_platform_set *set = NULL;
	if (bale_platform_set_parse(&set, text, &err) == 0) {
		for (size_t i = 0; i < bale_platform_set_count(set); i++) {
			const bale_platform *item = bale_platform_set_at(set, i);
			if (!bale_platform_set_contains(set, item))
				broken("platform set does not contain its own item", text, NULL);
			bale_platform_format(item, formatted, sizeof(formatted));
		}
		bale_platform_set_is_all(set);
	}
	bale_platform_set_free(set);
	bale_error_free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > INPUT_CAP)
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	check_reference(text);
	check_platform(text);
	free(text);
	return 0;
}
