/* bale keygen -o NAME: a signing key pair. */
#include <stdio.h>

#include "cli/cli.h"

static const char usage_text[] =
    "Usage: bale keygen -o NAME [--force]\n"
    "\n"
    "Creates an ECDSA P-256 key pair for signing bundles: NAME.key (PKCS#8 PEM, mode\n"
    "0600; keep it on the export machine) and NAME.pub (SPKI PEM; copy it to the nodes'\n"
    "trust directory, /etc/bale/trust.d). Prints the key id: the SHA-256 of the public key.\n"
    "\n"
    "  -o, --output NAME   file name stem\n"
    "      --force         replace existing files\n"
    "  -h, --help          this help\n";

typedef struct keygen_args {
	const char *name;
	bool force;
} keygen_args;

static int keygen_option(void *payload, int opt, const char *arg)
{
	keygen_args *a = payload;
	if (opt == OPT_OUTPUT)
		a->name = arg;
	else if (opt == OPT_FORCE)
		a->force = true;
	else
		return -1;
	return 0;
}

int cmd_keygen(int argc, char **argv)
{
	static const struct option longopts[] = {
	    CLI_BUNDLE_LONG_OPTIONS,
	    {"output", required_argument, NULL, OPT_OUTPUT},
	    {"force", no_argument, NULL, OPT_FORCE},
	    {NULL, 0, NULL, 0},
	};
	cli_common c;
	keygen_args a = {0};
	bale_error *err = NULL;
	char key_id[BALE_KEY_ID_LEN + 1];
	int status = 0;
	cli_common_init(&c);
	int parsed = cli_parse(&c, argc, argv, "hqvo:", longopts, usage_text, keygen_option, &a);
	if (parsed != CLI_PARSED) {
		status = parsed == CLI_HELP_SHOWN ? 0 : 2;
		goto cleanup;
	}
	if (!a.name || optind != argc) {
		cli_usage_error("keygen", "want -o NAME and nothing else (see bale keygen --help)");
		status = 2;
		goto cleanup;
	}
	if (bale_key_generate(a.name, a.force, key_id, &err) < 0) {
		status = cli_report("keygen", err);
		goto cleanup;
	}
	printf("%s\n", key_id);
	if (c.log.level >= BALE_LOG_INFO)
		fprintf(stderr, "wrote %s.key (private, keep it safe) and %s.pub\n", a.name,
		        a.name);
cleanup:
	cli_common_free(&c);
	return status;
}
