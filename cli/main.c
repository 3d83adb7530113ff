/* bale: carry container images into air-gapped Kubernetes sites. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct verb {
	const char *name;
	int (*run)(int argc, char **argv, bale_error **err);
	const char *summary;
} verb;

static const verb verbs[] = {
    {"plan", cmd_plan, "the images Kubernetes manifests need; pull-policy lint"},
    {"export", cmd_export, "pull images and write one signed bundle"},
    {"verify", cmd_verify, "check a bundle's signature and every digest"},
    {"import", cmd_import, "load a verified bundle into a node store"},
    {"ls", cmd_ls, "list the images in a bundle"},
    {"inspect", cmd_inspect, "show an image: in its registry, or in a bundle"},
    {"query", cmd_query, "run read-only SQL on a bundle's index"},
    {"keygen", cmd_keygen, "create a signing key pair"},
    {"ledger", cmd_ledger, "the node's import history (read-only SQL)"},
    {"pull", cmd_pull, "pull images from registries into a node store (online mode)"},
    {"serve", cmd_serve, "serve bundles as a read-only registry"},
    {"mirror-config", cmd_mirror_config, "the runtimes' configuration to pull from a site mirror"},
    {"have", cmd_have, "list what a node store or bundles hold, for a delta export"},
    {"check", cmd_check, "find damaged images and partial files in a node store"},
};

static void usage(FILE *out)
{
	fputs("Usage: bale <verb> [options]\n\nVerbs:\n", out);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(*verbs); i++)
		fprintf(out, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
	fputs("\nRun 'bale <verb> --help' for a verb's options; 'man bale-<verb>' for more.\n"
	      "Exit status: 0 ok, 1 error, 2 usage, 3 verification failed, 4 signature/trust,\n"
	      "5 authentication, 6 not found, 7 network/registry, 8 store.\n",
	      out);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("bale %s\n", BALE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(*verbs); i++) {
		if (strcmp(argv[1], verbs[i].name) != 0)
			continue;
		bale_error *err = NULL;
		curl_global_init(CURL_GLOBAL_DEFAULT); /* libcurl's one piece of global state */
		int rc = verbs[i].run(argc - 1, argv + 1, &err);
		curl_global_cleanup();
		/* The one place a run's error is printed and its exit status chosen. */
		return cli_finish(stderr, verbs[i].name, rc, err);
	}
	fprintf(stderr, "bale: unknown verb \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
