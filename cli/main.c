/* bale: carry container images into air-gapped Kubernetes sites. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bale/bundle.h"

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
    {"cache", cmd_cache, "what bale export's content cache holds, and pruning it"},
    {"prune", cmd_prune, "plan, then remove, what a node store no longer needs"},
    {"doctor", cmd_doctor, "why a pod would not start on this node, and the fix"},
};

static void usage(FILE *out)
{
	fputs("Usage: bale <verb> [options]\n\nVerbs:\n", out);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(*verbs); i++)
		fprintf(out, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
	fputs("\nAlso (bale(1)):\n"
	      "  help       a verb's options (bale help VERB)\n"
	      "  version    the version, and the bundle formats read and written (--json)\n"
	      "  completion bash or zsh completion (bale completion bash)\n",
	      out);
	fputs("\nRun 'bale help <verb>' (or 'bale <verb> --help') for a verb's options; 'man\n"
	      "bale-<verb>' for more. Exit status: 0 ok, 1 error, 2 usage, 3 verification failed,\n"
	      "4 signature/trust, 5 authentication, 6 not found, 7 network/registry, 8 store,\n"
	      "9 a format bale does not carry.\n",
	      out);
}

/* Edits (insert, delete, change a letter) from a to b, at most 9 counted. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];
	if (la >= 63 || lb >= 63)
		return 9;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			best = up + 1 < best ? up + 1 : best;
			best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb] > 9 ? 9 : row[lb];
}

static const verb *find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(*verbs); i++)
		if (strcmp(name, verbs[i].name) == 0)
			return &verbs[i];
	return NULL;
}

/* "unknown verb", and the nearest verb when one is a slip of the fingers away. */
static int unknown_verb(const char *name)
{
	const verb *near = NULL;
	size_t best = 3; /* "exprot" is 2 from "export"; further is not a slip */
	for (size_t i = 0; i < sizeof(verbs) / sizeof(*verbs); i++) {
		size_t d = distance(name, verbs[i].name);
		if (d < best) {
			best = d;
			near = &verbs[i];
		}
	}
	if (near)
		fprintf(stderr, "bale: unknown verb \"%s\"; did you mean \"%s\"?\n", name,
		        near->name);
	else
		fprintf(stderr, "bale: unknown verb \"%s\" (bale help lists them)\n", name);
	return 2;
}

/* bale version [--json]: the version, and the bundle formats it reads and writes. */
static int version(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[2], "--json") != 0) {
		fprintf(stderr, "bale version: unknown argument \"%s\" (want --json)\n", argv[2]);
		return 2;
	}
	if (argc < 3) {
		printf("bale %s\nbundle formats: reads %d to %d, writes %d to %d\n", BALE_VERSION,
		       BALE_BUNDLE_FORMAT_OLDEST, BALE_BUNDLE_FORMAT_VERSION,
		       BALE_BUNDLE_FORMAT_PLAIN, BALE_BUNDLE_FORMAT_VERSION);
		return 0;
	}
	json_t *v = json_pack("{s:s,s:{s:[i,i],s:[i,i]}}", "version", BALE_VERSION, "bundleFormats",
	                      "read", BALE_BUNDLE_FORMAT_OLDEST, BALE_BUNDLE_FORMAT_VERSION,
	                      "write", BALE_BUNDLE_FORMAT_PLAIN, BALE_BUNDLE_FORMAT_VERSION);
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(v);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    (strcmp(argv[1], "help") == 0 && argc == 2)) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)
		return version(argc, argv);
	if (strcmp(argv[1], "completion") == 0) {
		static const cli_verb *const tables[] = {
		    &cli_verb_plan,   &cli_verb_export,  &cli_verb_verify, &cli_verb_import,
		    &cli_verb_ls,     &cli_verb_inspect, &cli_verb_query,  &cli_verb_keygen,
		    &cli_verb_ledger, &cli_verb_pull,    &cli_verb_serve,  &cli_verb_mirror,
		    &cli_verb_have,   &cli_verb_check,   &cli_verb_cache,  &cli_verb_prune,
		    &cli_verb_doctor};
		return cli_completion(argc, argv, tables, sizeof(tables) / sizeof(*tables));
	}
	bale_error *config_err = NULL; /* site defaults, before any verb reads them */
	if (cli_config_load(&config_err) < 0)
		return cli_finish(stderr, argv[1], BALE_EUSAGE, config_err);
	char *help[] = {argv[argc > 2 ? 2 : 1], "--help", NULL};
	bool asking = strcmp(argv[1], "help") == 0; /* bale help VERB: bale VERB --help */
	const verb *v = find_verb(asking ? argv[2] : argv[1]);
	if (!v)
		return unknown_verb(asking ? argv[2] : argv[1]);
	bale_error *err = NULL;
	curl_global_init(CURL_GLOBAL_DEFAULT); /* libcurl's one piece of global state */
	int rc = asking ? v->run(2, help, &err) : v->run(argc - 1, argv + 1, &err);
	curl_global_cleanup();
	/* The one place a run's error is printed and its exit status chosen. */
	return cli_finish(stderr, v->name, rc, err);
}
