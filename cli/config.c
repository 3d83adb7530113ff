/* Site defaults, so a node's commands need no flags: /etc/bale/config.toml (or the file
 * $BALE_CONFIG names) sets what the environment does not, as BALE_* variables, and the
 * verbs read those when a flag is not given (docs/bale.1.md, FILES). Only the part of TOML
 * these keys need is read: `key = "text"` and `key = ["text", …]`, comments and blank
 * lines; anything else is refused naming the file and line, so a typo is not a silent
 * default. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/buf.h"
#include "cli/cli.h"

#define CONFIG_DEFAULT "/etc/bale/config.toml"

static const struct {
	const char *key, *variable;
	bool list;
} keys[] = {
    {"store", "BALE_STORE", false},
    {"trust_dir", "BALE_TRUST_DIR", false},
    {"cache", "BALE_CACHE", false},
    {"ledger", "BALE_LEDGER", false},
    {"insecure_registries", "BALE_INSECURE_REGISTRIES", true},
};

/* A "quoted" TOML basic string without escapes at *p, into out; *p past it. */
static bool quoted(const char **p, bale_buf *out)
{
	const char *s = *p, *end;
	if (*s != '"' || !(end = strchr(s + 1, '"')) || memchr(s + 1, '\\', (size_t)(end - s - 1)))
		return false;
	bale_buf_append(out, s + 1, (size_t)(end - s - 1), NULL);
	*p = end + 1;
	return true;
}

static const char *skip_space(const char *s)
{
	return s + strspn(s, " \t");
}

/* One line: 1 for a key set (or already set in the environment), 0 for nothing to do,
 * -1 when it is not understood. */
static int one_line(char *line)
{
	const char *p = skip_space(line);
	if (!*p || *p == '#' || *p == '\n')
		return 0;
	size_t len = strcspn(p, " \t=");
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		if (strlen(keys[i].key) != len || strncmp(p, keys[i].key, len) != 0)
			continue;
		const char *v = skip_space(skip_space(p + len) + 1);
		if (*skip_space(p + len) != '=')
			return -1;
		bale_buf value;
		bale_buf_init(&value, 64u << 10, "value");
		bool ok = true;
		if (keys[i].list && *v == '[') {
			for (v = skip_space(v + 1); ok && *v != ']';) {
				if (value.len)
					bale_buf_append(&value, ",", 1, NULL);
				ok = quoted(&v, &value);
				v = skip_space(v);
				if (ok && *v == ',')
					v = skip_space(v + 1);
				ok = ok && *v;
			}
			v += ok;
		} else {
			ok = !keys[i].list && quoted(&v, &value);
		}
		v = skip_space(v);
		ok = ok && (!*v || *v == '#' || *v == '\n');
		if (ok) /* the environment's own value wins */
			setenv(keys[i].variable, value.data ? value.data : "", 0);
		bale_buf_free(&value);
		return ok ? 1 : -1;
	}
	return -1;
}

int cli_config_load(bale_error **err)
{
	const char *named = getenv("BALE_CONFIG");
	const char *path = named && *named ? named : CONFIG_DEFAULT;
	FILE *f = fopen(path, "re");
	char line[8192];
	int rc = 0;
	if (!f)
		return errno == ENOENT && !(named && *named)
		           ? 0 /* no site defaults */
		           : bale_error_set_errno(err, BALE_EUSAGE, errno, "%s", path);
	for (size_t n = 1; rc == 0 && fgets(line, sizeof(line), f); n++)
		if (one_line(line) < 0)
			rc = bale_error_set(
			    err, BALE_EUSAGE,
			    "%s:%zu: not understood (bale reads store, trust_dir, cache, "
			    "ledger = \"text\" and insecure_registries = [\"host\", …])",
			    path, n);
	fclose(f);
	return rc;
}
