/* Options shared by the registry verbs, log and progress output, error reporting. */
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bale/fs.h"
#include "bale/ledger.h"
#include "bale/ref.h"
#include "cli/cli.h"

/* What --creds-stdin and --password-stdin read at most. */
#define STDIN_CREDS_MAX (64u << 10)

static void log_message(void *payload, bale_log_level level, const char *text)
{
	cli_common *c = payload;
	cli_progress_clear(c);
	static const char *const prefix[] = {"error: ", "warning: ", "", ""};
	fprintf(stderr, "%s%s\n", prefix[level], text);
}

const char *cli_ledger_path(const char *flag)
{
	const char *env = getenv("BALE_LEDGER");
	if (flag)
		return flag;
	return env && *env ? env : BALE_DEFAULT_LEDGER;
}

const char *cli_human_size(char *buf, size_t size, long long bytes)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
	double v = (double)bytes;
	int u = 0;
	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

void cli_common_init(cli_common *c)
{
	memset(c, 0, sizeof(*c));
	bale_registry_options_init(&c->registry);
	c->log.message = log_message;
	c->log.progress = cli_progress_report;
	c->log.payload = c;
	c->log.level = BALE_LOG_INFO;
	c->progress.tty = isatty(STDERR_FILENO);
	c->registry.log = &c->log;
}

static void wipe_free(const char *s)
{
	if (s) {
		OPENSSL_cleanse((char *)s, strlen(s));
		free((char *)s);
	}
}

void cli_common_free(cli_common *c)
{
	cli_progress_clear(c);
	free(c->pull_secrets);
	free(c->insecure);
	free(c->insecure_env);
	for (size_t i = 0; i < c->n_creds; i++) {
		free((char *)c->creds[i].host);
		wipe_free(c->creds[i].user_pass);
	}
	free(c->creds);
}

/* Keeps a copy of a --creds value ([HOST=]USER:PASS) from `source`. With scrub, the
 * password in the value itself (an argv string) is overwritten, so that ps and
 * /proc/PID/cmdline show it only for the moment between exec and here. */
static int add_creds(cli_common *c, char *value, const char *source, bool scrub, bale_error **err)
{
	size_t host_len = 0;
	bale_error *split_err = NULL;
	if (bale_auth_creds_split(value, source, &host_len, &split_err) < 0) {
		int rc = cli_usage(err, "%s", bale_error_message(split_err));
		bale_error_free(split_err);
		return rc;
	}
	bale_host_creds *grown = realloc(c->creds, (c->n_creds + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	c->creds = grown;
	const char *cred = host_len ? value + host_len + 1 : value;
	bale_host_creds *hc = &c->creds[c->n_creds];
	hc->host = host_len ? strndup(value, host_len) : NULL;
	hc->user_pass = strdup(cred);
	hc->source = source;
	if ((host_len && !hc->host) || !hc->user_pass) {
		free((char *)hc->host);
		wipe_free(hc->user_pass);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	c->n_creds++;
	if (scrub) {
		char *pass = value + (strchr(cred, ':') - value) + 1;
		memset(pass, '*', strlen(pass));
	}
	return 0;
}

int cli_push_arg(const char ***list, size_t *n, const char *item)
{
	const char **grown = realloc(*list, (*n + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	grown[(*n)++] = item;
	*list = grown;
	return 0;
}

static int parse_count(const char *opt, const char *arg, long min, long max, long *out,
                       bale_error **err)
{
	char *end;
	long v = strtol(arg, &end, 10);
	if (end == arg || *end || v < min || v > max)
		return cli_usage(err, "%s: want a number from %ld to %ld, got \"%s\"", opt, min,
		                 max, arg);
	*out = v;
	return 0;
}

int cli_common_option(cli_common *c, int opt, const char *arg, bale_error **err)
{
	long v = 0;
	switch (opt) {
	case OPT_QUIET:
		c->log.level = BALE_LOG_ERROR;
		c->progress.tty = false; /* --progress given says otherwise */
		return 1;
	case OPT_PROGRESS: {
		static const char *const modes[] = {"auto", "none", "tty", "plain", "json"};
		for (size_t i = 0; i < sizeof(modes) / sizeof(*modes); i++)
			if (strcmp(arg, modes[i]) == 0 && i != CLI_PROGRESS_NONE) {
				c->progress.mode = (cli_progress_mode)i;
				return 1;
			}
		return cli_usage(err, "--progress: want auto, tty, plain or json, got \"%s\"", arg);
	}
	case OPT_VERBOSE:
		c->log.level = BALE_LOG_DEBUG;
		return 1;
	case OPT_PLATFORM:
		c->platform = arg;
		return 1;
	case OPT_CREDS:
		/* argv is writable: the password in it is blanked once copied. */
		return add_creds(c, (char *)arg, "--creds", true, err) < 0 ? -1 : 1;
	case OPT_CREDS_STDIN:
		c->creds_stdin = true;
		return 1;
	case OPT_USERNAME:
		c->username = arg;
		return 1;
	case OPT_PASSWORD_STDIN:
		c->password_stdin = true;
		return 1;
	case OPT_AUTHFILE:
		c->auth.authfile = arg;
		return 1;
	case OPT_PULL_SECRET:
		if (cli_push_arg(&c->pull_secrets, &c->n_pull_secrets, arg) < 0)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		return 1;
	case OPT_CA_FILE:
		c->registry.ca_file = arg;
		return 1;
	case OPT_CERTS_DIR:
		c->registry.certs_dir = arg;
		return 1;
	case OPT_INSECURE_REGISTRY:
		if (cli_push_arg(&c->insecure, &c->n_insecure, arg) < 0)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		return 1;
	case OPT_RETRIES:
		if (parse_count("--retries", arg, 0, 100, &v, err) < 0)
			return -1;
		c->registry.retries = (int)v;
		return 1;
	case OPT_RETRY_DELAY:
		if (parse_count("--retry-delay", arg, 0, 600000, &v, err) < 0)
			return -1;
		c->registry.retry_delay_ms = v;
		return 1;
	case OPT_TIMEOUT:
		if (parse_count("--timeout", arg, 1, 86400, &v, err) < 0)
			return -1;
		c->registry.connect_timeout = v;
		c->registry.progress_timeout = v;
		return 1;
	case OPT_REQUEST_TIMEOUT:
		if (parse_count("--request-timeout", arg, 1, 86400, &v, err) < 0)
			return -1;
		c->registry.request_timeout = v;
		return 1;
	case OPT_MIN_SPEED:
		if (parse_count("--min-speed", arg, 1, 1000000000, &v, err) < 0)
			return -1;
		c->registry.min_speed = v;
		return 1;
	case OPT_MAX_RETRY_AFTER:
		if (parse_count("--max-retry-after", arg, 0, 86400, &v, err) < 0)
			return -1;
		c->registry.max_retry_after = v;
		return 1;
	case OPT_JOBS:
		if (parse_count("--jobs", arg, 1, 64, &v, err) < 0)
			return -1;
		c->jobs = (int)v;
		return 1;
	default:
		return 0;
	}
}

void cli_common_finish(cli_common *c)
{
	/* $BALE_INSECURE_REGISTRIES (a comma list, or config.toml's insecure_registries), with
	 * the --insecure-registry flags */
	const char *env = getenv("BALE_INSECURE_REGISTRIES");
	if (env && *env && !c->insecure_env && (c->insecure_env = strdup(env)))
		for (char *p = c->insecure_env; *p;) {
			size_t len = strcspn(p, ",");
			bool more = p[len] == ',';
			p[len] = '\0';
			if (len)
				cli_push_arg(&c->insecure, &c->n_insecure, p);
			p += len + more;
		}
	c->auth.host_creds = c->creds;
	c->auth.n_host_creds = c->n_creds;
	c->auth.pull_secrets = c->pull_secrets;
	c->auth.n_pull_secrets = c->n_pull_secrets;
	c->registry.auth = &c->auth;
	c->registry.insecure = c->insecure;
	c->registry.n_insecure = c->n_insecure;
}

int cli_usage(bale_error **err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = bale_error_setv(err, BALE_EUSAGE, fmt, ap);
	va_end(ap);
	return rc;
}

int cli_repository_depth(const char *arg, int *out, bale_error **err)
{
	char *end = NULL;
	long v = strtol(arg, &end, 10);
	if (!*arg || *end || v < 1 || v > 16)
		return cli_usage(err,
		                 "--repository-depth: want a count of path components, 1 to 16, "
		                 "got \"%s\"",
		                 arg);
	*out = (int)v;
	return 0;
}

int cli_store_option(bale_store_options *opts, const char **spec, int opt, const char *arg)
{
	switch (opt) {
	case OPT_STORE:
		*spec = arg;
		return 1;
	case OPT_NAMESPACE:
		opts->namespace = arg;
		return 1;
	case OPT_CTR:
		opts->ctr = arg;
		return 1;
	case OPT_PIN:
		opts->pin = true;
		return 1;
	default:
		return 0;
	}
}

void cli_print_json(json_t *doc)
{
	if (doc)
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(doc);
}

const char *cli_default_store(void)
{
	const char *env = getenv("BALE_STORE");
	return env && *env ? env : BALE_DEFAULT_STORE;
}

char *cli_default_cache(void)
{
	const char *own = getenv("BALE_CACHE");
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	if (own && *own)
		return strdup(own);
	if (xdg && *xdg)
		return bale_fs_join(xdg, "bale");
	if (home && *home)
		return bale_fs_join(home, ".cache/bale");
	return strdup("/var/cache/bale");
}

int cli_load_trust(bale_trust **out, const char *key, const char *dir, bale_error **err)
{
	if (key)
		return bale_trust_from_key(out, key, err);
	const char *env = getenv("BALE_TRUST_DIR");
	return bale_trust_from_dir(out,
	                           dir           ? dir
	                           : env && *env ? env
	                                         : BALE_DEFAULT_TRUST_DIR,
	                           err);
}

/* ---- credentials and the registries they belong to ---- */

static int registries_add(cli_registries *r, const char *domain)
{
	for (size_t i = 0; i < r->n; i++)
		if (bale_auth_creds_host_match(r->domains[i], domain))
			return 0;
	char **grown = realloc(r->domains, (r->n + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	r->domains = grown;
	if (!(r->domains[r->n] = strdup(domain)))
		return -1;
	r->n++;
	return 0;
}

int cli_registries_add_ref(cli_registries *r, const char *ref)
{
	bale_ref *parsed = NULL;
	if (bale_ref_parse(&parsed, ref, NULL) < 0)
		return 0;
	int rc = registries_add(r, bale_ref_domain(parsed));
	bale_ref_free(parsed);
	return rc;
}

int cli_registries_add_store(cli_registries *r, const char *store, bale_error **err)
{
	char *domain = NULL, *prefix = NULL;
	if (!store || strncmp(store, "registry://", 11) != 0)
		return 0;
	int rc = bale_store_registry_location(store + 11, &domain, &prefix, err);
	if (rc == 0 && registries_add(r, domain) < 0)
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	free(domain);
	free(prefix);
	return rc;
}

void cli_registries_free(cli_registries *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->domains[i]);
	free(r->domains);
	memset(r, 0, sizeof(*r));
}

/* All of standard input, NUL-terminated, for the caller to wipe and free. */
static char *read_stdin_secret(const char *option, bale_error **err)
{
	char *buf = malloc(STDIN_CREDS_MAX + 1);
	size_t len = 0, got;
	if (!buf) {
		bale_error_set(err, BALE_EGENERIC, "out of memory");
		return NULL;
	}
	while (len <= STDIN_CREDS_MAX &&
	       (got = fread(buf + len, 1, STDIN_CREDS_MAX + 1 - len, stdin)) > 0)
		len += got;
	if (ferror(stdin) || len > STDIN_CREDS_MAX) {
		cli_usage(err, "%s: %s", option,
		          ferror(stdin) ? "cannot read standard input"
		                        : "standard input holds more than 64 KiB");
		OPENSSL_cleanse(buf, len);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

/* --creds-stdin: one [HOST=]USER:PASS a line; --password-stdin: the password, as
 * docker login reads it (all of it, less one trailing newline). */
static int read_stdin_creds(cli_common *c, bale_error **err)
{
	int rc = 0;
	const char *option = c->creds_stdin ? "--creds-stdin" : "--password-stdin";
	char *text = read_stdin_secret(option, err), *joined = NULL;
	size_t before = c->n_creds;
	if (!text)
		return BALE_EUSAGE;
	if (c->creds_stdin) {
		for (char *line = text, *next; line && rc == 0; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			size_t n = strlen(line);
			if (n && line[n - 1] == '\r')
				line[--n] = '\0';
			if (n)
				rc = add_creds(c, line, "--creds-stdin", false, err);
		}
		if (rc == 0 && c->n_creds == before)
			rc = cli_usage(err, "--creds-stdin: no credentials on standard input");
		goto cleanup;
	}
	size_t n = strlen(text);
	if (n && text[n - 1] == '\n')
		text[--n] = '\0';
	if (n && text[n - 1] == '\r')
		text[--n] = '\0';
	if (!n || strchr(text, '\n')) {
		rc = cli_usage(err, "--password-stdin: want one password on standard input");
		goto cleanup;
	}
	size_t len = strlen(c->username) + n + 2;
	if (!(joined = malloc(len))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	snprintf(joined, len, "%s:%s", c->username, text);
	rc = add_creds(c, joined, "--password-stdin", false, err);
cleanup:
	if (joined) {
		OPENSSL_cleanse(joined, strlen(joined));
		free(joined);
	}
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	return rc;
}

/* "a, b, c" into out. */
static void join_domains(char *out, size_t size, const cli_registries *regs)
{
	out[0] = '\0';
	for (size_t i = 0, len = 0; i < regs->n && len < size; i++)
		len += (size_t)snprintf(out + len, size - len, "%s%s", i ? ", " : "",
		                        regs->domains[i]);
}

int cli_bind_creds(cli_common *c, const cli_registries *regs, const char *stdin_taken,
                   bale_error **err)
{
	char list[512];
	bale_host_creds *bare = NULL;
	if (c->username && !c->password_stdin)
		return cli_usage(err, "--username needs --password-stdin (the password is never "
		                      "taken from the command line)");
	if (c->password_stdin && !c->username)
		return cli_usage(err, "--password-stdin needs --username");
	if (c->password_stdin && c->creds_stdin)
		return cli_usage(err, "--creds-stdin and --password-stdin both read standard "
		                      "input: use one");
	if ((c->creds_stdin || c->password_stdin) && stdin_taken)
		return cli_usage(err, "%s and %s both read standard input: use one",
		                 c->creds_stdin ? "--creds-stdin" : "--password-stdin",
		                 stdin_taken);
	int rc;
	if ((c->creds_stdin || c->password_stdin) && (rc = read_stdin_creds(c, err)) < 0)
		return rc;
	c->auth.host_creds = c->creds;
	c->auth.n_host_creds = c->n_creds;
	join_domains(list, sizeof(list), regs);
	for (size_t i = 0; i < c->n_creds; i++) {
		bale_host_creds *hc = &c->creds[i];
		if (hc->host)
			continue;
		if (bare)
			return cli_usage(err,
			                 "%s and %s both give credentials without a registry: "
			                 "give each as HOST=USER:PASS",
			                 bare->source, hc->source);
		bare = hc;
	}
	if (bare && regs->n > 1)
		return cli_usage(
		    err,
		    "%s without HOST= is for a run that uses one registry, and this one "
		    "uses %zu (%s): give each registry its own with --creds "
		    "HOST=USER:PASS",
		    bare->source, regs->n, list);
	if (bare && regs->n == 1 && !(bare->host = strdup(regs->domains[0])))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; i < c->n_creds; i++) {
		const char *host = c->creds[i].host;
		for (size_t j = 0; host && j < i; j++)
			if (c->creds[j].host && bale_auth_creds_host_match(c->creds[j].host, host))
				return cli_usage(err, "two credentials for registry %s (%s, %s)",
				                 host, c->creds[j].source, c->creds[i].source);
		bool used = false;
		for (size_t j = 0; host && j < regs->n && !used; j++)
			used = bale_auth_creds_host_match(host, regs->domains[j]);
		if (host && !used && regs->n)
			bale_log_printf(&c->log, BALE_LOG_WARN,
			                "%s %s=…: this run uses no registry %s (it uses %s)",
			                c->creds[i].source, host, host, list);
	}
	return 0;
}
