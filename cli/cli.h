/* The bale command line: one cmd_<verb>.c per verb, shared option handling and output.
 * Only this layer prints and decides exit statuses. */
#ifndef BALE_CLI_H
#define BALE_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "bale/auth.h"
#include "bale/error.h"
#include "bale/log.h"
#include "bale/platform.h"
#include "bale/registry.h"
#include "bale/store.h"
#include "bale/trust.h"
#include "cli/report.h"

/* Option ids: what getopt_long returns for each option (a short option's letter). */
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
	OPT_NO_HEADER,
	OPT_PROGRESS,
	OPT_POLICY,            /* the site's containers-policy.json: export and verify */
	OPT_NODES,             /* the site's nodes: plan and export */
	OPT_REPOSITORY_DEPTH,  /* registry:// paths shortened: import, pull, plan --pin */
	OPT_VERB_FIRST = 1100, /* verbs number their own options from here */
};

/* --progress: where a run's progress goes (standard error). auto: a redrawn block on a
 * terminal, nothing in a pipe. */
typedef enum cli_progress_mode {
	CLI_PROGRESS_AUTO,
	CLI_PROGRESS_NONE,
	CLI_PROGRESS_TTY,
	CLI_PROGRESS_PLAIN, /* a line every few seconds, for logs */
	CLI_PROGRESS_JSON,  /* one JSON object a line, for CI */
} cli_progress_mode;

typedef struct cli_progress_state {
	cli_progress_mode mode;
	bool tty;           /* standard error is a terminal */
	bool shown;         /* a progress block is on screen */
	int lines;          /* and the lines it has above the cursor's */
	double start, last; /* monotonic seconds: the first report, the last one shown */
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
	char *insecure_env; /* $BALE_INSECURE_REGISTRIES, cut at its commas: insecure's too */
	bale_registry_options registry;
	const char *platform;
	int jobs;
	bale_log log;
	cli_progress_state progress;
} cli_common;

/* One option of a verb. A verb's table of these is the only place the option is written:
 * getopt_long's tables and the --help listing are both made from it, and
 * tests/style/options.sh holds the man page to the same list. */
typedef struct cli_opt {
	const char *name; /* the long name without "--"; NULL: a heading (help) or the end */
	char short_name;  /* -x, or 0 */
	const char *arg;  /* the argument's name in --help; NULL when it takes none */
	const char *help; /* the text of --help; '\n' starts a continuation line */
	int id;           /* what cli_parse hands the verb: an enum cli_option */
} cli_opt;

/* A heading line in --help before the options that follow it. */
#define CLI_OPT_HEADING(text)                                                                      \
	{                                                                                          \
		NULL, 0, NULL, text, 0                                                             \
	}
#define CLI_OPT_END                                                                                \
	{                                                                                          \
		NULL, 0, NULL, NULL, 0                                                             \
	}

/* Shared fragments of the verbs' tables, included by the verbs that accept them. */
/* clang-format off */
#define CLI_OPTS_REGISTRY                                                                  \
	{"creds", 0, "[HOST=]USER:PASS", "credentials for registry HOST (repeatable); without\n" \
	 "HOST= for the one registry of the run (beat every file)", OPT_CREDS},                 \
	{"creds-stdin", 0, NULL, "read --creds values from standard input, one a line",       \
	 OPT_CREDS_STDIN},                                                                  \
	{"username", 0, "[HOST=]USER", "with --password-stdin: the user of the registry",     \
	 OPT_USERNAME},                                                                     \
	{"password-stdin", 0, NULL, "with --username: the password from standard input",      \
	 OPT_PASSWORD_STDIN},                                                               \
	{"pull-secret", 0, "FILE", "Kubernetes dockerconfigjson/dockercfg Secret (YAML or JSON)", \
	 OPT_PULL_SECRET},                                                                  \
	{"authfile", 0, "FILE", "docker/podman auth file", OPT_AUTHFILE},                       \
	{"ca-file", 0, "FILE", "extra CA certificates (PEM), added to the system CAs",         \
	 OPT_CA_FILE},                                                                      \
	{"certs-dir", 0, "DIR", "certs.d root (default /etc/docker/certs.d and\n"              \
	 "/etc/containers/certs.d): DIR/HOST[:PORT]/*.crt, client.cert/.key", OPT_CERTS_DIR},  \
	{"insecure-registry", 0, "HOST[:PORT]",                                                \
	 "allow plain HTTP or unverified TLS (repeatable)", OPT_INSECURE_REGISTRY},            \
	{"retries", 0, "N", "retries after network errors, 5xx and 429 (default 4)",            \
	 OPT_RETRIES},                                                                      \
	{"retry-delay", 0, "MS", "first backoff delay, doubled each retry (default 500)",       \
	 OPT_RETRY_DELAY},                                                                  \
	{"timeout", 0, "SECS", "connect timeout, and the window of --min-speed (30/60)",       \
	 OPT_TIMEOUT},                                                                      \
	{"min-speed", 0, "BYTES", "a transfer slower than this for --timeout is abandoned\n"   \
	 "and retried (bytes a second, default 1024)", OPT_MIN_SPEED},                         \
	{"request-timeout", 0, "SECS", "all of a manifest, token or upload request (default 120)", \
	 OPT_REQUEST_TIMEOUT},                                                              \
	{"max-retry-after", 0, "SECS", "wait at most this for a Retry-After (default 60)",     \
	 OPT_MAX_RETRY_AFTER}

#define CLI_OPT_JOBS                                                                        \
	{"jobs", 0, "N", "transfers and resolutions at once (default 4)", OPT_JOBS}

/* The containerd store's options, shared by pull and import. */
#define CLI_OPTS_STORE                                                                      \
	{"store", 0, "STORE", "oci:DIR or containerd[:SOCKET] (default " BALE_DEFAULT_STORE ";\n" \
	 "containerd's socket: " BALE_DEFAULT_CONTAINERD_SOCKET ";\n"                           \
	 "k3s: containerd:/run/k3s/containerd/containerd.sock)", OPT_STORE},                    \
	CLI_OPT_NAMESPACE, CLI_OPT_CTR,                                                          \
	{"pin", 0, NULL, "pin the images against the kubelet's image GC", OPT_PIN}

#define CLI_OPT_REPOSITORY_DEPTH                                                            \
	{"repository-depth", 0, "N",                                                        \
	 "registry:// stores: keep the last N components of each\n"                         \
	 "repository path (registries that take fewer levels)",                              \
	 OPT_REPOSITORY_DEPTH}
#define CLI_OPT_NAMESPACE                                                                   \
	{"namespace", 0, "NS", "containerd namespace (default k8s.io, the kubelet's)",         \
	 OPT_NAMESPACE}
#define CLI_OPT_CTR                                                                         \
	{"ctr", 0, "CMD", "the ctr command (default ctr; k3s: \"k3s ctr\")", OPT_CTR}

#define CLI_OPT_QUIET {"quiet", 'q', NULL, "only errors on stderr", OPT_QUIET}
#define CLI_OPT_VERBOSE {"verbose", 'v', NULL, "say more (never secrets)", OPT_VERBOSE}
#define CLI_OPT_HELP {"help", 'h', NULL, "this help", OPT_HELP}
#define CLI_OPTS_VERBOSITY CLI_OPT_QUIET, CLI_OPT_VERBOSE, CLI_OPT_HELP
#define CLI_OPT_PROGRESS                                                                   \
	{"progress", 0, "auto|tty|plain|json",                                             \
	 "progress on standard error: a redrawn block with rate\n"                         \
	 "and ETA (tty; auto on a terminal), a line every 5 s\n"                          \
	 "(plain), JSON Lines (json); auto: none in a pipe",                               \
	 OPT_PROGRESS}
/* clang-format on */

/* A verb: its name, the usage and description --help prints before the options, and its
 * option table (ended by CLI_OPT_END). */
typedef struct cli_verb {
	const char *name;
	const char *usage;
	const cli_opt *options;
} cli_verb;

/* Prints the verb's --help: its usage text, then every option of its table. */
void cli_print_help(FILE *f, const cli_verb *verb);

void cli_common_init(cli_common *c);
void cli_common_free(cli_common *c);
/* Handles one shared option: 1 when handled, 0 when not ours, <0 with *err set on a
 * usage error. */
int cli_common_option(cli_common *c, int opt, const char *arg, bale_error **err);
/* A verb's own options: 0 when handled, <0 with *err set on a usage error. */
typedef int (*cli_verb_option_fn)(void *payload, int opt, const char *arg, bale_error **err);

/* Parses argv against the verb's table: the shared options into c, the verb's through
 * verb_option. Returns CLI_PARSED (go on; operands start at optind), CLI_HELP_SHOWN (the
 * verb is done), or a negative bale_code with *err set. */
enum { CLI_PARSED = 0, CLI_HELP_SHOWN = 1 };
int cli_parse(cli_common *c, int argc, char **argv, const cli_verb *verb,
              cli_verb_option_fn verb_option, void *payload, bale_error **err);
/* Hands the parsed shared options to the registry and auth options (cli_parse does). */
void cli_common_finish(cli_common *c);
/* Sets *err to a usage error (exit status 2) and returns BALE_EUSAGE. */
int cli_usage(bale_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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
/* The host of a registry:// store (its address checked: no credentials in it). */
int cli_registries_add_store(cli_registries *r, const char *store, bale_error **err);
void cli_registries_free(cli_registries *r);
/* Binds the command line's credentials to registries before any request: HOST=
 * credentials keep their host, a bare one goes to the one registry of the run and is
 * refused when the run uses several. Reads --creds-stdin or --password-stdin first;
 * stdin_taken names another reader of standard input ("-f -"), which they cannot share.
 * 0, or BALE_EUSAGE with *err set. */
int cli_bind_creds(cli_common *c, const cli_registries *regs, const char *stdin_taken,
                   bale_error **err);

/* The log's progress hook (payload: the cli_common): a redrawn block on a terminal, a
 * line every few seconds in a log, one JSON object a line for CI (cli/progress.c). */
void cli_progress_report(void *payload, const bale_progress *p);
/* Takes the progress block off the screen before other output. */
void cli_progress_clear(cli_common *c);
/* 12.3 MB */
const char *cli_human_size(char *buf, size_t size, long long bytes);
/* The node ledger: --ledger when given, else $BALE_LEDGER when set, else the default. */
const char *cli_ledger_path(const char *flag);

/* Handles a store option into opts / *spec: 1 when handled, 0 when not a store option. */
/* --repository-depth N: 1 to 16. */
int cli_repository_depth(const char *arg, int *out, bale_error **err);
int cli_store_option(bale_store_options *opts, const char **spec, int opt, const char *arg);

/* The default content cache for export: $XDG_CACHE_HOME/bale, ~/.cache/bale or
 * /var/cache/bale. Returns a malloc'd path. */
char *cli_default_cache(void);
/* Loads --key PUB or the trust directory; the directory defaults to /etc/bale/trust.d. */
int cli_load_trust(bale_trust **out, const char *key, const char *dir, bale_error **err);

struct sqlite3;
/* Runs SQL and prints the rows as a table, --csv (OPT_CSV) or --json (OPT_JSON). */
/* format: OPT_CSV, OPT_JSON, else a table; no_header: CSV without its header row. */
int cli_run_query(struct sqlite3 *db, const char *sql, enum cli_option format, bool no_header,
                  bale_error **err);

int cmd_pull(int argc, char **argv, bale_error **err);
int cmd_inspect(int argc, char **argv, bale_error **err);
int cmd_inspect_bundle(cli_common *c, const char *bundle, const char *ref, bool json,
                       bale_error **err);
int cmd_export(int argc, char **argv, bale_error **err);
int cmd_keygen(int argc, char **argv, bale_error **err);
int cmd_verify(int argc, char **argv, bale_error **err);
int cmd_ls(int argc, char **argv, bale_error **err);
int cmd_query(int argc, char **argv, bale_error **err);
int cmd_import(int argc, char **argv, bale_error **err);
int cmd_ledger(int argc, char **argv, bale_error **err);
int cmd_plan(int argc, char **argv, bale_error **err);
int cmd_check(int argc, char **argv, bale_error **err);
int cmd_have(int argc, char **argv, bale_error **err);
int cmd_mirror_config(int argc, char **argv, bale_error **err);
int cmd_serve(int argc, char **argv, bale_error **err);
int cmd_cache(int argc, char **argv, bale_error **err);
int cmd_prune(int argc, char **argv, bale_error **err);
int cmd_doctor(int argc, char **argv, bale_error **err);
/* --json: prints doc (taken) on standard output, indented, keys in order, and a newline. */
struct json_t;
void cli_print_json(struct json_t *doc);

/* Site defaults from /etc/bale/config.toml (or $BALE_CONFIG) into the BALE_* variables
 * the environment does not set (cli/config.c). BALE_EUSAGE naming file:line for a line it
 * does not understand. */
int cli_config_load(bale_error **err);
/* The store when --store is not given: $BALE_STORE, else BALE_DEFAULT_STORE. */
const char *cli_default_store(void);

/* Each verb's option table, for bale completion. */
extern const cli_verb cli_verb_pull, cli_verb_inspect, cli_verb_export, cli_verb_keygen,
    cli_verb_verify, cli_verb_ls, cli_verb_query, cli_verb_import, cli_verb_ledger, cli_verb_plan,
    cli_verb_check, cli_verb_have, cli_verb_mirror, cli_verb_serve, cli_verb_cache, cli_verb_prune,
    cli_verb_doctor;
/* bale completion bash|zsh: the shell's completion of the verbs and each verb's options,
 * made from the same tables as --help. */
int cli_completion(int argc, char **argv, const cli_verb *const *verbs, size_t n);
/* bale verify --manifests: the Never-readiness preflight (cli/preflight.c). */
int cli_preflight(cli_common *c, const char *const *manifests, size_t n, const char *store,
                  const bale_store_options *store_opts, const char *bundle, bool json,
                  bale_error **err);

#endif
