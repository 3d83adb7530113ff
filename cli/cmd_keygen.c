/* bale keygen -o NAME: a signing key pair. */
#include <jansson.h>
#include <stdio.h>

#include "cli/cli.h"

static const char usage_text[] =
    "Usage: bale keygen -o NAME [--force]\n"
    "\n"
    "Creates an ECDSA P-256 key pair for signing bundles: NAME.key (PKCS#8 PEM, mode\n"
    "0600; keep it on the export machine) and NAME.pub (SPKI PEM; copy it to the nodes'\n"
    "trust directory, /etc/bale/trust.d). Prints the key id: the SHA-256 of the public key.\n"
    "\n";

static const cli_opt options[] = {
    {"output", 'o', "NAME", "file name stem", OPT_OUTPUT},
    {"force", 0, NULL, "replace existing files", OPT_FORCE},
    {"json", 0, NULL, "the key id and both files as a JSON object", OPT_JSON},
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

const cli_verb cli_verb_keygen = {"keygen", usage_text, options};

typedef struct keygen_args {
	const char *name;
	bool force, json;
} keygen_args;

static int keygen_option(void *payload, int opt, const char *arg, bale_error **err)
{
	keygen_args *a = payload;
	if (opt == OPT_OUTPUT)
		a->name = arg;
	else if (opt == OPT_FORCE)
		a->force = true;
	else if (opt == OPT_JSON)
		a->json = true;
	return 0;
}

int cmd_keygen(int argc, char **argv, bale_error **err)
{
	cli_common c;
	keygen_args a = {0};
	char key_id[BALE_KEY_ID_LEN + 1];
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_keygen, keygen_option, &a, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	if (!a.name || optind != argc) {
		rc = cli_usage(err, "want -o NAME and nothing else (see bale keygen --help)");
		goto cleanup;
	}
	if ((rc = bale_key_generate(a.name, a.force, key_id, err)) < 0)
		goto cleanup;
	if (a.json) {
		char key[4096], pub[4096];
		snprintf(key, sizeof(key), "%s.key", a.name);
		snprintf(pub, sizeof(pub), "%s.pub", a.name);
		cli_print_json(json_pack("{s:s,s:s,s:s}", "keyId", key_id, "privateKey", key,
		                         "publicKey", pub));
	} else {
		printf("%s\n", key_id);
	}
	if (c.log.level >= BALE_LOG_INFO && !a.json)
		fprintf(stderr, "wrote %s.key (private, keep it safe) and %s.pub\n", a.name,
		        a.name);
cleanup:
	cli_common_free(&c);
	return rc;
}
