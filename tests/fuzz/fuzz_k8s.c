/* Fuzz target for the Kubernetes manifest reader: whatever bytes arrive, loading them,
 * planning and linting what loaded, checking the Secrets found, and pinning the stream
 * must end in a result or a clean error: no crash, no leak, no undefined behaviour.
 * libFuzzer runs it (scripts/fuzz.sh); replay.c runs it in the test suite. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/auth.h"
#include "bale/k8s.h"
#include "bale/k8s_pin.h"
#include "bale/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int pin_any(void *payload, const char *image, char **pinned, bale_error **err)
{
	static const char digest[] =
	    "@sha256:0000000000000000000000000000000000000000000000000000000000000000";
	size_t n = strlen(image);
	if (!(*pinned = malloc(n + sizeof(digest))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	memcpy(*pinned, image, n);
	memcpy(*pinned + n, digest, sizeof(digest));
	return 0;
}

static void plan_and_check(const bale_k8s_set *set)
{
	bale_plan plan = {0};
	bale_error *err = NULL;
	bale_plan_build(&plan, set, true, NULL, NULL, &err);
	bale_plan_free(&plan);
	bale_error_free(err);
	err = NULL;

	bale_manifest_secret *secrets = calloc(set->n_secrets + 1, sizeof(*secrets));
	if (!secrets)
		return;
	for (size_t i = 0; i < set->n_secrets; i++)
		secrets[i] = (bale_manifest_secret){set->secrets[i].text, set->secrets[i].name};
	bale_auth_options opts = {.manifest_secrets = secrets,
	                          .n_manifest_secrets = set->n_secrets};
	bale_auth_check(&opts, &err);
	bale_error_free(err);
	free(secrets);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bale_k8s_set set = {0};
	bale_error *err = NULL;
	if (bale_k8s_load_text(&set, "fuzz.yaml", (const char *)data, size, &err) == 0)
		plan_and_check(&set);
	bale_k8s_set_free(&set);
	bale_error_free(err);
	err = NULL;

	FILE *sink = fopen("/dev/null", "w");
	if (sink) {
		bale_k8s_pin_text("fuzz.yaml", (const char *)data, size, sink, pin_any, NULL, NULL,
		                  &err);
		fclose(sink);
	}
	bale_error_free(err);
	return 0;
}
