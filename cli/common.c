/* Options shared by the registry verbs, log and progress output, error reporting. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bale/fs.h"
#include "cli/cli.h"

static void log_message(void *payload, bale_log_level level, const char *text)
{
	cli_common *c = payload;
	cli_progress_clear(c);
	static const char *const prefix[] = {"error: ", "warning: ", "", ""};
	fprintf(stderr, "%s%s\n", prefix[level], text);
}

static void log_progress(void *payload, const bale_progress *p)
{
	cli_common *c = payload;
	if (!c->progress.tty || p->blobs_total == 0)
		return;
	char done[32], total[32];
	fprintf(stderr, "\r\033[Kblobs %d/%d  %s / %s", p->blobs_done, p->blobs_total,
	        cli_human_size(done, sizeof(done), p->bytes_done),
	        cli_human_size(total, sizeof(total), p->bytes_total));
	c->progress.shown = true;
}

void cli_progress_clear(cli_common *c)
{
	if (c && c->progress.shown) {
		fputs("\r\033[K", stderr);
		c->progress.shown = false;
	}
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
	c->log.progress = log_progress;
	c->log.payload = c;
	c->log.level = BALE_LOG_INFO;
	c->progress.tty = isatty(STDERR_FILENO);
	c->registry.log = &c->log;
}

void cli_common_free(cli_common *c)
{
	cli_progress_clear(c);
	free(c->pull_secrets);
	free(c->insecure);
}

static int push(const char ***list, size_t *n, const char *item)
{
	const char **grown = realloc(*list, (*n + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	grown[(*n)++] = item;
	*list = grown;
	return 0;
}

static int parse_count(const char *opt, const char *arg, long min, long max, long *out)
{
	char *end;
	long v = strtol(arg, &end, 10);
	if (end == arg || *end || v < min || v > max)
		return cli_usage_error(NULL, "%s: want a number from %ld to %ld, got \"%s\"", opt,
		                       min, max, arg);
	*out = v;
	return 0;
}

int cli_common_option(cli_common *c, int opt, const char *arg)
{
	long v = 0;
	switch (opt) {
	case OPT_QUIET:
		c->log.level = BALE_LOG_ERROR;
		c->progress.tty = false;
		return 1;
	case OPT_VERBOSE:
		c->log.level = BALE_LOG_DEBUG;
		return 1;
	case OPT_PLATFORM:
		c->platform = arg;
		return 1;
	case OPT_CREDS:
		c->auth.creds = arg;
		return 1;
	case OPT_AUTHFILE:
		c->auth.authfile = arg;
		return 1;
	case OPT_PULL_SECRET:
		return push(&c->pull_secrets, &c->n_pull_secrets, arg) < 0 ? -1 : 1;
	case OPT_CA_FILE:
		c->registry.ca_file = arg;
		return 1;
	case OPT_CERTS_DIR:
		c->registry.certs_dir = arg;
		return 1;
	case OPT_INSECURE_REGISTRY:
		return push(&c->insecure, &c->n_insecure, arg) < 0 ? -1 : 1;
	case OPT_RETRIES:
		if (parse_count("--retries", arg, 0, 100, &v) < 0)
			return -1;
		c->registry.retries = (int)v;
		return 1;
	case OPT_RETRY_DELAY:
		if (parse_count("--retry-delay", arg, 0, 600000, &v) < 0)
			return -1;
		c->registry.retry_delay_ms = v;
		return 1;
	case OPT_TIMEOUT:
		if (parse_count("--timeout", arg, 1, 86400, &v) < 0)
			return -1;
		c->registry.connect_timeout = v;
		c->registry.progress_timeout = v;
		return 1;
	case OPT_JOBS:
		if (parse_count("--jobs", arg, 1, 64, &v) < 0)
			return -1;
		c->jobs = (int)v;
		return 1;
	default:
		return 0;
	}
}

static void cli_common_finish(cli_common *c)
{
	c->auth.pull_secrets = c->pull_secrets;
	c->auth.n_pull_secrets = c->n_pull_secrets;
	c->registry.auth = &c->auth;
	c->registry.insecure = c->insecure;
	c->registry.n_insecure = c->n_insecure;
}

int cli_report(const char *verb, bale_error *err)
{
	int code = bale_error_code(err);
	fprintf(stderr, "bale%s%s: %s\n", verb ? " " : "", verb ? verb : "",
	        bale_error_message(err));
	bale_error_free(err);
	return bale_error_exit_status(code ? code : BALE_EGENERIC);
}

int cli_usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "bale%s%s: ", verb ? " " : "", verb ? verb : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

int cli_parse(cli_common *c, int argc, char **argv, const char *shortopts,
              const struct option *longopts, const char *usage, cli_verb_option_fn verb_option,
              void *payload)
{
	int opt;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (opt == OPT_HELP) {
			fputs(usage, stdout);
			return CLI_HELP_SHOWN;
		}
		int rc = cli_common_option(c, opt, optarg);
		if (rc == 0 && opt != '?' && verb_option)
			rc = verb_option(payload, opt, optarg) < 0 ? -1 : 1;
		if (rc <= 0) {
			if (rc == 0) /* getopt has named the unknown option */
				fprintf(stderr, "run 'bale %s --help' for the options\n", argv[0]);
			return CLI_USAGE_ERROR;
		}
	}
	cli_common_finish(c);
	return CLI_PARSED;
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

char *cli_default_cache(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
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
	return bale_trust_from_dir(out, dir ? dir : BALE_DEFAULT_TRUST_DIR, err);
}
