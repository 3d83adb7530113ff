/* bale serve BUNDLE… --listen ADDR:PORT: a read-only registry straight from bundles. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "bale/serve.h"
#include "cli/cli.h"

enum { OPT_LISTEN = OPT_VERB_FIRST };

static const char usage_text[] =
    "Usage: bale serve BUNDLE… --listen ADDR:PORT [--key PUB | --trust DIR]\n"
    "\n"
    "Serves the images of the bundles as a read-only OCI registry (the pull side of the\n"
    "distribution API), straight from the compressed bundles: nothing is unpacked. Every\n"
    "bundle's signature is checked first; every blob is checked against its digest as it\n"
    "is sent, and one that fails ends its transfer short. Repositories are the images' own\n"
    "paths (host:5000/team/app:1.0 is team/app, tag 1.0); a later bundle's tags win. Runs\n"
    "until SIGINT or SIGTERM.\n"
    "\n";

static const cli_opt options[] = {
    {"listen", 0, "ADDR:PORT", "where to listen (IPv4; port 0: any free one)", OPT_LISTEN},
    {"key", 0, "PUB", "trust this public key (NAME.pub)", OPT_KEY},
    {"trust", 0, "DIR", "trust every *.pub in DIR (default /etc/bale/trust.d)", OPT_TRUST},
    {"insecure-skip-verify", 0, NULL,
     "serve unsigned or untrusted bundles (digests are\nstill checked)", OPT_INSECURE_SKIP_VERIFY},
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

static const cli_verb verb = {"serve", usage_text, options};

typedef struct serve_args {
	const char *listen, *key, *trust;
	bool skip_signature;
} serve_args;

static int serve_option(void *payload, int opt, const char *arg, bale_error **err)
{
	serve_args *a = payload;
	(void)err;
	if (opt == OPT_LISTEN)
		a->listen = arg;
	else if (opt == OPT_KEY)
		a->key = arg;
	else if (opt == OPT_TRUST)
		a->trust = arg;
	else if (opt == OPT_INSECURE_SKIP_VERIFY)
		a->skip_signature = true;
	return 0;
}

int cmd_serve(int argc, char **argv, bale_error **err)
{
	cli_common c;
	serve_args a = {0};
	bale_trust *trust = NULL;
	bale_serve *s = NULL;
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &verb, serve_option, &a, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	if (optind >= argc || !a.listen || (a.key && a.trust)) {
		rc = cli_usage(err, "want BUNDLEs, --listen ADDR:PORT and at most one of --key, "
		                    "--trust (see bale serve --help)");
		goto cleanup;
	}
	/* Signals are waited for, not handled; a client that goes mid-transfer is no signal. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!a.skip_signature && (rc = cli_load_trust(&trust, a.key, a.trust, err)) < 0)
		goto cleanup;
	bale_serve_options o = {
	    .listen = a.listen, .trust = a.skip_signature ? NULL : trust, .log = &c.log};
	if ((rc = bale_serve_start(&s, (const char *const *)argv + optind, (size_t)(argc - optind),
	                           &o, err)) < 0)
		goto cleanup;
	/* the address, for scripts that asked for port 0 */
	char addr[80];
	snprintf(addr, sizeof(addr), "%.*s:%d", (int)(strrchr(a.listen, ':') - a.listen), a.listen,
	         bale_serve_port(s));
	printf("serving %zu images on http://%s\n", bale_serve_image_count(s), addr);
	fflush(stdout);
	int sig = 0;
	sigwait(&stop, &sig);
cleanup:
	bale_serve_stop(s);
	bale_trust_free(trust);
	cli_common_free(&c);
	return rc;
}
