/* The bale command line: one cmd_<verb>.c per verb, shared option handling and output.
 * Only this layer prints and decides exit statuses. */
#ifndef BALE_CLI_H
#define BALE_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "bale/auth.h"
#include "bale/error.h"
#include "bale/keys.h"
#include "bale/store.h"
#include "bale/log.h"
#include "bale/platform.h"
#include "bale/registry.h"

/* Long-option ids of the options shared by every verb that talks to registries. */
enum cli_option {
	OPT_HELP = 'h',
	OPT_QUIET = 'q',
	OPT_VERBOSE = 'v',
	OPT_PLATFORM = 1000,
	OPT_CREDS,
	OPT_AUTHFILE,
	OPT_PULL_SECRET,
	OPT_CA_FILE,
	OPT_CERTS_DIR,
	OPT_INSECURE_REGISTRY,
	OPT_RETRIES,
	OPT_RETRY_DELAY,
	OPT_TIMEOUT,
	OPT_JOBS,
	OPT_STORE,
	OPT_RAW,
	OPT_JSON,
	OPT_CSV,
	OPT_OUTPUT = 'o',
	OPT_FILE = 'f',
	OPT_KEY = 1200,
	OPT_UNSIGNED,
	OPT_LEVEL,
	OPT_CACHE,
	OPT_FORCE,
	OPT_TRUST,
	OPT_INSECURE_SKIP_VERIFY,
	OPT_IMAGE,
	OPT_LEDGER,
	OPT_NAMESPACE,
	OPT_CTR,
	OPT_PIN,
	OPT_LINT,
	OPT_OFFLINE,
	OPT_FROM_MANIFESTS,
	OPT_NODE_CONFIG,
	OPT_MANIFESTS,
	OPT_BUNDLE,
	OPT_CREDS_STDIN,
	OPT_USERNAME,
	OPT_PASSWORD_STDIN,
	OPT_REQUEST_TIMEOUT,
	OPT_MIN_SPEED,
	OPT_MAX_RETRY_AFTER,
	OPT_VERB_FIRST = 1100, /* verbs number their own options from here */
};

typedef struct cli_progress_state {
	bool tty;
	bool shown; /* a progress line is on screen */
} cli_progress_state;

typedef struct cli_common {
	bale_auth_options auth;
	/* --creds, --creds-stdin, --username + --password-stdin: the strings are copies,
	 * wiped when freed; host NULL until cli_bind_creds gives a bare one its registry. */
	bale_host_creds *creds;
	size_t n_creds;
	const char *username;
	bool creds_stdin, password_stdin;
	const char **pull_secrets;
	size_t n_pull_secrets;
	const char **insecure;
	size_t n_insecure;
	bale_registry_options registry;
	const char *platform;
	int jobs;
	bale_log log;
	cli_progress_state progress;
} cli_common;

/* The long options every registry verb accepts; verbs append theirs. */
/* clang-format off */
#define CLI_COMMON_LONG_OPTIONS                                                        \
	{"help", no_argument, NULL, OPT_HELP}, {"quiet", no_argument, NULL, OPT_QUIET},  \
	{"verbose", no_argument, NULL, OPT_VERBOSE},                                     \
	{"platform", required_argument, NULL, OPT_PLATFORM},                             \
	{"creds", required_argument, NULL, OPT_CREDS},                                   \
	{"creds-stdin", no_argument, NULL, OPT_CREDS_STDIN},                             \
	{"username", required_argument, NULL, OPT_USERNAME},                             \
	{"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},                       \
	{"authfile", required_argument, NULL, OPT_AUTHFILE},                             \
	{"pull-secret", required_argument, NULL, OPT_PULL_SECRET},                       \
	{"ca-file", required_argument, NULL, OPT_CA_FILE},                               \
	{"certs-dir", required_argument, NULL, OPT_CERTS_DIR},                           \
	{"insecure-registry", required_argument, NULL, OPT_INSECURE_REGISTRY},           \
	{"retries", required_argument, NULL, OPT_RETRIES},                               \
	{"retry-delay", required_argument, NULL, OPT_RETRY_DELAY},                       \
	{"timeout", required_argument, NULL, OPT_TIMEOUT},                               \
	{"request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT},               \
	{"min-speed", required_argument, NULL, OPT_MIN_SPEED},                           \
	{"max-retry-after", required_argument, NULL, OPT_MAX_RETRY_AFTER},               \
	{"jobs", required_argument, NULL, OPT_JOBS}
/* clang-format on */

/* clang-format off */
#define CLI_COMMON_HELP                                                                  \
	"Registry options:\n"                                                            \
	"      --creds [HOST=]USER:PASS  credentials for registry HOST (repeatable); without\n" \
	"                             HOST= for the one registry of the run (beat every file)\n" \
	"      --creds-stdin          read --creds values from standard input, one a line\n" \
	"      --username [HOST=]USER --password-stdin  the password from standard input\n" \
	"      --pull-secret FILE     Kubernetes dockerconfigjson/dockercfg Secret (YAML or JSON)\n" \
	"      --authfile FILE        docker/podman auth file\n"                            \
	"      --ca-file FILE         extra CA certificates (PEM), added to the system CAs\n" \
	"      --certs-dir DIR        certs.d root (default /etc/docker/certs.d and\n"     \
	"                             /etc/containers/certs.d): DIR/HOST[:PORT]/*.crt, client.cert/.key\n" \
	"      --insecure-registry HOST[:PORT]  allow plain HTTP or unverified TLS (repeatable)\n" \
	"      --retries N            retries after network errors, 5xx and 429 (default 4)\n" \
	"      --retry-delay MS       first backoff delay, doubled each retry (default 500)\n" \
	"      --timeout SECS         connect timeout, and the window of --min-speed (30/60)\n" \
	"      --min-speed BYTES      a transfer slower than this for --timeout is abandoned\n" \
	"                             and retried (bytes a second, default 1024)\n"         \
	"      --request-timeout SECS all of a manifest, token or upload request (default 120)\n" \
	"      --max-retry-after SECS wait at most this for a Retry-After (default 60)\n"  \
	"      --jobs N               transfers and resolutions at once (default 4)\n"    \
	"  -q, --quiet                only errors on stderr\n"                             \
	"  -v, --verbose              say more (never secrets)\n"                          \
	"  -h, --help                 this help\n"
/* clang-format on */

void cli_common_init(cli_common *c);
void cli_common_free(cli_common *c);
/* Handles one shared option: 1 when handled, 0 when not ours, <0 on a usage error
 * (already reported). */
int cli_common_option(cli_common *c, int opt, const char *arg);
/* A verb's own options: 0 when handled, <0 on a usage error (already reported). */
typedef int (*cli_verb_option_fn)(void *payload, int opt, const char *arg);

/* Parses argv: the shared options, and the verb's through verb_option. Returns
 * CLI_PARSED (go on; operands start at optind), CLI_HELP_SHOWN, or CLI_USAGE_ERROR. */
enum { CLI_PARSED = 0, CLI_HELP_SHOWN = 1, CLI_USAGE_ERROR = 2 };
int cli_parse(cli_common *c, int argc, char **argv, const char *shortopts,
              const struct option *longopts, const char *usage, cli_verb_option_fn verb_option,
              void *payload);

/* The registries a run talks to, found before any request: the domains of its image
 * references and of a registry:// store. */
typedef struct cli_registries {
	char **domains;
	size_t n;
} cli_registries;

/* Appends item to a growing list of option arguments; -1 when out of memory. */
int cli_push_arg(const char ***list, size_t *n, const char *item);

/* Adds the domain of a reference (a malformed one is skipped: it fails on its own). */
int cli_registries_add_ref(cli_registries *r, const char *ref);
/* Adds the host of a registry://HOST[/PREFIX] store; other stores use no registry. */
int cli_registries_add_store(cli_registries *r, const char *store);
void cli_registries_free(cli_registries *r);
/* Binds the command line's credentials to registries before any request: HOST=
 * credentials keep their host, a bare one goes to the one registry of the run and is
 * refused when the run uses several. Reads --creds-stdin or --password-stdin first;
 * stdin_taken names another reader of standard input ("-f -"), which they cannot share.
 * 0, or -1 after a usage error was reported (exit status 2). */
int cli_bind_creds(cli_common *c, const char *verb, const cli_registries *regs,
                   const char *stdin_taken);

/* Prints "bale: message" once and returns the exit status for the error. */
int cli_report(const char *verb, bale_error *err);
int cli_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ends a progress line before other output. */
void cli_progress_clear(cli_common *c);
/* 12.3 MB */
const char *cli_human_size(char *buf, size_t size, long long bytes);

/* The containerd store's options, shared by pull and import. */
/* clang-format off */
#define CLI_STORE_LONG_OPTIONS                                                         \
	{"store", required_argument, NULL, OPT_STORE},                                   \
	{"namespace", required_argument, NULL, OPT_NAMESPACE},                           \
	{"ctr", required_argument, NULL, OPT_CTR},                                       \
	{"pin", no_argument, NULL, OPT_PIN}

#define CLI_STORE_HELP                                                                   \
	"      --store STORE          oci:DIR or containerd[:SOCKET] (default " BALE_DEFAULT_STORE ";\n" \
	"                             containerd's socket: " BALE_DEFAULT_CONTAINERD_SOCKET ";\n" \
	"                             k3s: containerd:/run/k3s/containerd/containerd.sock)\n" \
	"      --namespace NS         containerd namespace (default k8s.io, the kubelet's)\n" \
	"      --ctr CMD              the ctr command (default ctr; k3s: \"k3s ctr\")\n" \
	"      --pin                  pin the images against the kubelet's image GC\n"
/* clang-format on */

/* Handles a store option into opts / *spec: 1 when handled, 0 when not a store option. */
int cli_store_option(bale_store_options *opts, const char **spec, int opt, const char *arg);

/* Options of the verbs that read bundles and need no registry. */
/* clang-format off */
#define CLI_BUNDLE_LONG_OPTIONS                                                        \
	{"help", no_argument, NULL, OPT_HELP}, {"quiet", no_argument, NULL, OPT_QUIET},  \
	{"verbose", no_argument, NULL, OPT_VERBOSE}
/* clang-format on */

/* The default content cache for export: $XDG_CACHE_HOME/bale, ~/.cache/bale or
 * /var/cache/bale. Returns a malloc'd path. */
char *cli_default_cache(void);
/* Loads --key PUB or the trust directory; the directory defaults to /etc/bale/trust.d. */
int cli_load_trust(bale_trust **out, const char *key, const char *dir, bale_error **err);

/* Opens a bundle and its index.db from the head (nothing past the head is read). */
struct bale_bundle_reader;
struct sqlite3;
int cli_open_index(struct bale_bundle_reader **reader, struct sqlite3 **db, const char *path,
                   bale_error **err);
/* Runs SQL and prints the rows as a table, --csv (OPT_CSV) or --json (OPT_JSON). */
int cli_run_query(struct sqlite3 *db, const char *sql, enum cli_option format, bale_error **err);

int cmd_pull(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_inspect_bundle(cli_common *c, const char *bundle, const char *ref, bool json);
int cmd_export(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_ledger(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_check(int argc, char **argv);
/* bale verify --manifests: the Never-readiness preflight (cli/preflight.c). */
int cli_preflight(cli_common *c, const char *const *manifests, size_t n, const char *store,
                  const bale_store_options *store_opts, const char *bundle, bool json);

#endif
