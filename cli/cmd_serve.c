/* bale serve BUNDLE… --listen ADDR:PORT: a read-only registry straight from bundles. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bale/fs.h"

#include "bale/serve.h"
#include "cli/cli.h"

enum { OPT_LISTEN = OPT_VERB_FIRST, OPT_TLS_CERT, OPT_TLS_KEY, OPT_ACCESS_LOG };

static const char usage_text[] =
    "Usage: bale serve BUNDLE|DIR… --listen ADDR:PORT [--key PUB | --trust DIR]\n"
    "                  [--tls-cert PEM --tls-key PEM] [--access-log FILE]\n"
    "\n"
    "Serves the images of the bundles as a read-only OCI registry (the pull side of the\n"
    "distribution API), straight from the compressed bundles: nothing is unpacked. Every\n"
    "bundle's signature is checked first; every blob is checked against its digest as it\n"
    "is sent, and one that fails ends its transfer short. Repositories are the images' own\n"
    "paths (host:5000/team/app:1.0 is team/app, tag 1.0); a later bundle's tags win. A DIR\n"
    "stands for its *.tar.zst files in name order. SIGHUP reads the arguments again (the\n"
    "next month's bundle in DIR) without dropping a connection; SIGINT or SIGTERM stops.\n"
    "\n";

static const cli_opt options[] = {
    {"listen", 0, "ADDR:PORT", "where to listen (IPv4, or [IPv6]; port 0: any free one)",
     OPT_LISTEN},
    {"tls-cert", 0, "PEM", "serve HTTPS with this certificate (chain)", OPT_TLS_CERT},
    {"tls-key", 0, "PEM", "and this private key", OPT_TLS_KEY},
    {"access-log", 0, "FILE", "a line for each request, common log format (-: stdout)",
     OPT_ACCESS_LOG},
    {"json", 0, NULL, "say what it serves, and on which URL, as a JSON object", OPT_JSON},
    CLI_OPT_PROGRESS,
    {"key", 0, "PUB", "trust this public key (NAME.pub)", OPT_KEY},
    {"trust", 0, "DIR", "trust every *.pub in DIR (default /etc/bale/trust.d)", OPT_TRUST},
    {"insecure-skip-verify", 0, NULL,
     "serve unsigned or untrusted bundles (digests are\nstill checked)", OPT_INSECURE_SKIP_VERIFY},
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

const cli_verb cli_verb_serve = {"serve", usage_text, options};

typedef struct serve_args {
	const char *listen, *key, *trust, *tls_cert, *tls_key, *access_log;
	bool skip_signature, json;
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
	else if (opt == OPT_TLS_CERT)
		a->tls_cert = arg;
	else if (opt == OPT_TLS_KEY)
		a->tls_key = arg;
	else if (opt == OPT_ACCESS_LOG)
		a->access_log = arg;
	else if (opt == OPT_JSON)
		a->json = true;
	return 0;
}

typedef struct bundle_list {
	char **paths;
	size_t n, alloc;
} bundle_list;

static void list_free(bundle_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->paths[i]);
	free(l->paths);
	*l = (bundle_list){0};
}

static int list_add(bundle_list *l, char *path, bale_error **err)
{
	if (!path)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (l->n == l->alloc) {
		size_t want = l->alloc ? l->alloc * 2 : 16;
		char **grown = realloc(l->paths, want * sizeof(*grown));
		if (!grown) {
			free(path);
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		}
		l->paths = grown;
		l->alloc = want;
	}
	l->paths[l->n++] = path;
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int bundle_file(const struct dirent *e)
{
	size_t len = strlen(e->d_name);
	return e->d_name[0] != '.' && len > 8 && strcmp(e->d_name + len - 8, ".tar.zst") == 0;
}

/* The bundles the arguments name: a file is itself, a directory its *.tar.zst files in
 * name order (read again on each reload). */
static int list_bundles(bundle_list *l, char **args, int n, bale_error **err)
{
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		struct stat st;
		struct dirent **names = NULL;
		if (stat(args[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			rc = list_add(l, strdup(args[i]), err); /* opening it says what is wrong */
			continue;
		}
		int found = scandir(args[i], &names, bundle_file, by_name);
		if (found < 0)
			rc = bale_error_set_errno(err, BALE_EUSAGE, errno, "%s", args[i]);
		for (int k = 0; k < found; k++) {
			if (rc == 0)
				rc = list_add(l, bale_fs_join(args[i], names[k]->d_name), err);
			free(names[k]);
		}
		free(names);
		if (rc == 0 && found == 0)
			rc = bale_error_set(err, BALE_EUSAGE, "%s: no *.tar.zst bundle in it",
			                    args[i]);
	}
	return rc;
}

/* What it serves now: "serving N images on URL", or with --json one object a line (the
 * start, then each reload), {"images", "bundles", "url"}. */
static void announce(const serve_args *a, bale_serve *s, const char *scheme, const char *addr,
                     size_t bundles)
{
	char url[128];
	snprintf(url, sizeof(url), "%s://%s", scheme, addr);
	if (a->json) {
		json_t *doc =
		    json_pack("{s:I,s:I,s:s}", "images", (json_int_t)bale_serve_image_count(s),
		              "bundles", (json_int_t)bundles, "url", url);
		json_dumpf(doc, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(doc);
	} else {
		printf("serving %zu images on %s\n", bale_serve_image_count(s), url);
	}
	fflush(stdout);
}

int cmd_serve(int argc, char **argv, bale_error **err)
{
	cli_common c;
	serve_args a = {0};
	bale_trust *trust = NULL;
	bale_serve *s = NULL;
	bundle_list bundles = {0};
	FILE *log = NULL;
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_serve, serve_option, &a, err);
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
	sigset_t wait;
	sigemptyset(&wait);
	sigaddset(&wait, SIGINT);
	sigaddset(&wait, SIGTERM);
	sigaddset(&wait, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &wait, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!a.skip_signature && (rc = cli_load_trust(&trust, a.key, a.trust, err)) < 0)
		goto cleanup;
	if (a.access_log && strcmp(a.access_log, "-") != 0 && !(log = fopen(a.access_log, "ae"))) {
		rc = bale_error_set_errno(err, BALE_EUSAGE, errno, "--access-log %s", a.access_log);
		goto cleanup;
	}
	bale_serve_options o = {.listen = a.listen,
	                        .trust = a.skip_signature ? NULL : trust,
	                        .log = &c.log,
	                        .tls_cert = a.tls_cert,
	                        .tls_key = a.tls_key,
	                        .access_log = log            ? log
	                                      : a.access_log ? stdout
	                                                     : NULL};
	if ((rc = list_bundles(&bundles, argv + optind, argc - optind, err)) < 0 ||
	    (rc = bale_serve_start(&s, (const char *const *)bundles.paths, bundles.n, &o, err)) < 0)
		goto cleanup;
	/* the address, for scripts that asked for port 0 */
	char addr[80];
	snprintf(addr, sizeof(addr), "%.*s:%d", (int)(strrchr(a.listen, ':') - a.listen), a.listen,
	         bale_serve_port(s));
	const char *scheme = a.tls_cert ? "https" : "http";
	cli_progress_clear(&c);
	announce(&a, s, scheme, addr, bundles.n);
	for (int sig = 0; sigwait(&wait, &sig) == 0 && sig == SIGHUP;) {
		bale_error *why = NULL;
		list_free(&bundles);
		if (list_bundles(&bundles, argv + optind, argc - optind, &why) < 0 ||
		    bale_serve_reload(s, (const char *const *)bundles.paths, bundles.n, &why) < 0) {
			bale_log_printf(&c.log, BALE_LOG_ERROR,
			                "reload: %s (still serving what was served)",
			                bale_error_message(why));
		} else {
			announce(&a, s, scheme, addr, bundles.n);
		}
		bale_error_free(why);
	}
cleanup:
	bale_serve_stop(s);
	if (log)
		fclose(log);
	list_free(&bundles);
	bale_trust_free(trust);
	cli_common_free(&c);
	return rc;
}
