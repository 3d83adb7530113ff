/* An import-only program: a signed bundle into an OCI layout, built from the floors an
 * offline node needs (core, trust, bundle, verify, store, import) and nothing that talks
 * to a network. Its test checks that it imports what bale imports and that the binary
 * needs no libcurl.
 *
 * usage: import_only BUNDLE PUBKEY STORE-DIR */
#include <stdio.h>

#include "bale/error.h"
#include "bale/import.h"
#include "bale/store.h"
#include "bale/trust.h"

int main(int argc, char **argv)
{
	bale_error *err = NULL;
	bale_trust *trust = NULL;
	bale_sink *store = NULL;
	bale_import_result result = {0};
	int rc;

	if (argc != 4) {
		fprintf(stderr, "usage: import_only BUNDLE PUBKEY STORE-DIR\n");
		return 2;
	}
	bale_import_options opts = {.bundle = argv[1]};
	if ((rc = bale_trust_from_key(&trust, argv[2], &err)) < 0 ||
	    (rc = bale_store_oci_open(&store, argv[3], BALE_STORE_STAGED, &err)) < 0)
		goto cleanup;
	opts.trust = trust;
	if ((rc = bale_import_bundle(&opts, store, &result, &err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < result.n_images; i++)
		printf("%s %s\n", result.images[i].ref, result.images[i].digest);
cleanup:
	if (rc < 0)
		fprintf(stderr, "import_only: %s\n", err ? bale_error_message(err) : "failed");
	bale_import_result_free(&result);
	bale_sink_free(store);
	bale_trust_free(trust);
	bale_error_free(err);
	return rc < 0 ? 1 : 0;
}
