/* Fuzz target for cosign signature manifests as a bundle or a registry carries them (the
 * manifest under REPO:sha256-<hex>.sig): bale_policy_sig_layers must end in a list of
 * well-formed simple-signing layers or a clean error. Each layer it returns then goes
 * through a signature set and a policy check against a policy that needs a signature, so
 * its payload (the manifest's own bytes stand in) and signature text are read as a site's
 * check reads them. libFuzzer runs it (scripts/fuzz.sh); replay.c runs it in the suite. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bale/key.h"
#include "bale/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what)
{
	fprintf(stderr, "fuzz_signature: %s\n", what);
	abort();
}

/* A policy that wants a signature by a key of its own, made once per process. */
static const bale_policy *policy(void)
{
	static bale_policy *p;
	static int made;
	if (made++)
		return p;
	char dir[] = "/tmp/bale-fuzz-signature-XXXXXX", key[64], path[64], id[BALE_KEY_ID_LEN + 1];
	if (!mkdtemp(dir))
		broken("mkdtemp");
	snprintf(key, sizeof(key), "%s/k", dir);
	snprintf(path, sizeof(path), "%s/policy.json", dir);
	FILE *f = fopen(path, "w");
	if (!f || bale_key_generate(key, false, id, NULL) < 0)
		broken("setup");
	fprintf(f, "{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"k.pub\","
	           "\"signedIdentity\":{\"type\":\"matchRepository\"}}]}");
	fclose(f);
	if (bale_policy_load(&p, path, NULL) < 0)
		broken("the policy does not load");
	snprintf(path, sizeof(path), "%s/k.key", dir); /* nothing stays behind */
	unlink(path);
	snprintf(path, sizeof(path), "%s/k.pub", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/policy.json", dir);
	unlink(path);
	rmdir(dir);
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bale_policy_sig_layer *layers = NULL;
	bale_policy_sigset *set = NULL;
	bale_error *err = NULL;
	size_t n = 0;
	const char *subject =
	    "sha256:0000000000000000000000000000000000000000000000000000000000000000";
	if (bale_policy_sig_layers((const char *)data, size, &layers, &n, &err) < 0) {
		if (!err || !bale_error_message(err)[0])
			broken("failed without a message");
		bale_error_free(err);
		return 0;
	}
	if (bale_policy_sigset_new(&set, NULL) < 0)
		broken("out of memory");
	for (size_t i = 0; i < n; i++) {
		if (layers[i].desc.size < 0 || !layers[i].signature_b64 ||
		    strncmp(layers[i].desc.digest.str, "sha256:", 7) != 0)
			broken("a malformed layer accepted");
		if (bale_policy_sigset_add(set, subject, data, size, layers[i].signature_b64,
		                           NULL) < 0)
			broken("out of memory");
	}
	int rc = bale_policy_check_image(policy(), "example.invalid/a/b:1", subject, NULL, 0, set,
	                                 NULL, &err);
	if (rc == 0) /* nothing the fuzzer makes is signed by a key made here */
		broken("admitted without a signature");
	bale_error_free(err);
	bale_policy_sigset_free(set);
	bale_policy_sig_layers_free(layers, n);
	return 0;
}
