/* Registry credentials, looked up in the places docker, podman and the kubelet look.
 * Every secret read passes through buffers that are wiped before they are freed; error
 * messages name files, hosts and helpers, never values read from them. */
#include "bale/auth.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml.h>

#include "bale/buf.h"
#include "bale/json.h"
#include "bale/yaml.h"
#include "registry/auth_private.h"

#define HELPER_PREFIX "docker-credential-"
#define HELPER_OUTPUT_CAP (64u << 10)
#define DOCKER_HUB_SERVER "https://index.docker.io/v1/"
#define TYPE_DOCKERCONFIGJSON "kubernetes.io/dockerconfigjson"
#define TYPE_DOCKERCFG "kubernetes.io/dockercfg"

extern char **environ;

/* What the lookup is for: the domain as written in references, and the repository. */
struct want {
	const char *domain;
	const char *repository; /* "" when unknown */
};

static void cleanse_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void bale_credential_free(bale_credential *cred)
{
	if (!cred)
		return;
	cleanse_free(cred->username);
	cleanse_free(cred->password);
	cleanse_free(cred->identity_token);
	free(cred->source);
	free(cred);
}

/* Empty user names and tokens become NULL, so callers test one thing; a user name
 * without a password gets "", which Basic authentication can still send. */
static int credential_new(bale_credential **out, const char *username, const char *password,
                          const char *identity_token, const char *source, bale_error **err)
{
	int rc = 0;
	bale_credential *c = calloc(1, sizeof(*c));
	if (!c)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (username && !*username)
		username = NULL;
	if (identity_token && !*identity_token)
		identity_token = NULL;
	if (username && !password)
		password = "";
	if ((username && !(c->username = strdup(username))) ||
	    (password && !(c->password = strdup(password))) ||
	    (identity_token && !(c->identity_token = strdup(identity_token))) ||
	    !(c->source = strdup(source))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	*out = c;
	c = NULL;
cleanup:
	bale_credential_free(c);
	return rc;
}

/* Copies at most dstlen - 1 bytes of s, replacing anything but printable ASCII, so a
 * name read from a file cannot forge log lines or terminal escapes. */
static void printable(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t n = 0;
	for (; n < len && n + 1 < dstlen; n++) {
		unsigned char ch = (unsigned char)s[n];
		dst[n] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	dst[n] = '\0';
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int reg_auth_base64_decode(char **out, size_t *out_len, const char *in, size_t in_len,
                           bale_error **err)
{
	int rc = 0;
	char *buf = malloc(in_len / 4 * 3 + 4);
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0, symbols = 0, pad = 0;
	if (!buf)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; i < in_len; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
			continue; /* YAML block scalars and kubectl wrap long values */
		if (ch == '=') {
			pad++;
			continue;
		}
		int v = b64_value(ch);
		if (v < 0 || pad) {
			rc = bale_error_set(err, BALE_EUSAGE, "invalid base64");
			goto cleanup;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		symbols++;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (char)((acc >> bits) & 0xff);
			acc &= (1u << bits) - 1;
		}
	}
	if (symbols % 4 == 1 || pad > 2 || (pad && (symbols + pad) % 4 != 0)) {
		rc = bale_error_set(err, BALE_EUSAGE, "invalid base64 length");
		goto cleanup;
	}
	buf[n] = '\0';
	*out = buf;
	if (out_len)
		*out_len = n;
	buf = NULL;
cleanup:
	if (buf) {
		OPENSSL_cleanse(buf, in_len / 4 * 3 + 4);
		free(buf);
	}
	return rc;
}

/* Docker Hub answers to several names; config files use all of them. */
static void canonical_host(const char **host, size_t *len)
{
	static const char *const hub_aliases[] = {"index.docker.io", "registry-1.docker.io"};
	for (size_t i = 0; i < sizeof(hub_aliases) / sizeof(hub_aliases[0]); i++) {
		if (*len == strlen(hub_aliases[i]) &&
		    strncasecmp(*host, hub_aliases[i], *len) == 0) {
			*host = "docker.io";
			*len = strlen("docker.io");
			return;
		}
	}
}

static bool host_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	canonical_host(&a, &alen);
	canonical_host(&b, &blen);
	return alen == blen && strncasecmp(a, b, alen) == 0;
}

static bool is_docker_hub(const char *domain)
{
	return host_equal(domain, strlen(domain), "docker.io", strlen("docker.io"));
}

int reg_auth_key_match(const char *key, const char *domain, const char *repository)
{
	const char *host = key;
	bool url = false;
	if (strncasecmp(key, "https://", 8) == 0) {
		host += 8;
		url = true;
	} else if (strncasecmp(key, "http://", 7) == 0) {
		host += 7;
		url = true;
	}
	size_t hlen = strcspn(host, "/");
	if (hlen == 0 || !host_equal(host, hlen, domain, strlen(domain)))
		return -1;
	/* A URL key is registry-wide whatever its path says ("/v1/"): docker's
	 * convertToHostname. Only plain keys carry podman's namespace/repository scope. */
	const char *path = host + hlen;
	if (url || path[0] == '\0' || (path[0] == '/' && path[1] == '\0'))
		return url ? 0 : 1;
	path++;
	size_t plen = strlen(path);
	while (plen && path[plen - 1] == '/')
		plen--;
	if (plen == 0)
		return 1;
	if (!repository || strncmp(repository, path, plen) != 0 ||
	    (repository[plen] != '\0' && repository[plen] != '/'))
		return -1;
	return (int)(2 * (plen + 1) + 1);
}

/* Parses JSON that may hold secrets: jansson's error text quotes the input ("near
 * 'hunter2'"), so only the position is reported. */
static int json_load_quiet(json_t **out, const char *data, size_t len, int code, bale_error **err)
{
	/* Bounded first: depth and the number of values (bale/json.h). */
	const bale_json_limits limits = {.max_bytes = BALE_CAP_AUTHFILE};
	int rc = bale_json_check(data, len, &limits, NULL, code, err);
	if (rc < 0)
		return rc;
	json_error_t jerr;
	json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	int line = jerr.line, column = jerr.column;
	OPENSSL_cleanse(&jerr, sizeof(jerr));
	if (!v)
		return bale_error_set(err, code, "invalid JSON at line %d column %d", line, column);
	*out = v;
	return 0;
}

/* jansson frees strings without wiping them; wipe the secrets first. */
static void json_wipe(json_t *v)
{
	if (json_is_string(v)) {
		OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
	} else if (json_is_object(v)) {
		for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it))
			json_wipe(json_object_iter_value(it));
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++)
			json_wipe(json_array_get(v, i));
	}
}

static void json_wipe_decref(json_t *v)
{
	if (v) {
		json_wipe(v);
		json_decref(v);
	}
}

static const char *entry_str(const json_t *entry, const char *name)
{
	const char *s = bale_json_str(entry, name);
	return s && *s ? s : NULL;
}

/* Type errors are reported for every entry, not only the one that matches, so a broken
 * file fails the same way whichever registry is asked for. */
static int entry_check(const json_t *entry, const char *key, bale_error **err)
{
	static const char *const fields[] = {"auth", "username", "password", "identitytoken"};
	char name[101];
	printable(name, sizeof(name), key, strlen(key));
	if (!json_is_object(entry))
		return bale_error_set(err, BALE_EUSAGE, "auths entry \"%s\" is not an object",
		                      name);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_t *v = json_object_get(entry, fields[i]);
		if (v && !json_is_string(v) && !json_is_null(v))
			return bale_error_set(err, BALE_EUSAGE,
			                      "auths entry \"%s\": %s is not a string", name,
			                      fields[i]);
	}
	return 0;
}

/* docker login with a credsStore leaves `{}` entries behind: no credential there. */
static bool entry_has_credential(const json_t *entry)
{
	return entry_str(entry, "auth") || entry_str(entry, "username") ||
	       entry_str(entry, "identitytoken");
}

static int entry_credential(bale_credential **out, const json_t *entry, const char *key,
                            const char *source, bale_error **err)
{
	int rc = 0;
	char *decoded = NULL;
	char name[101];
	const char *auth = entry_str(entry, "auth");
	const char *username = entry_str(entry, "username");
	const char *password = entry_str(entry, "password");
	printable(name, sizeof(name), key, strlen(key));
	if (auth) {
		size_t len;
		if ((rc = reg_auth_base64_decode(&decoded, &len, auth, strlen(auth), err)) < 0) {
			bale_error_wrap(err, "auths entry \"%s\": auth", name);
			goto cleanup;
		}
		char *colon = strchr(decoded, ':');
		if (!colon || strlen(decoded) != len) {
			rc = bale_error_set(err, BALE_EUSAGE,
			                    "auths entry \"%s\": auth is not base64 of USER:PASS",
			                    name);
			goto cleanup;
		}
		*colon = '\0';
		username = decoded;
		password = colon + 1;
	}
	rc =
	    credential_new(out, username, password, entry_str(entry, "identitytoken"), source, err);
cleanup:
	cleanse_free(decoded);
	return rc;
}

static int auths_lookup(bale_credential **out, const json_t *auths, const char *source,
                        const struct want *w, bale_error **err)
{
	int rc = 0, best_score = -1;
	const char *best_key = NULL;
	json_t *best = NULL;
	if (!json_is_object(auths))
		return bale_error_set(err, BALE_EUSAGE, "auths is not an object");
	for (void *it = json_object_iter((json_t *)auths); it;
	     it = json_object_iter_next((json_t *)auths, it)) {
		const char *key = json_object_iter_key(it);
		json_t *entry = json_object_iter_value(it);
		if ((rc = entry_check(entry, key, err)) < 0)
			return rc;
		if (!entry_has_credential(entry))
			continue;
		int score = reg_auth_key_match(key, w->domain, w->repository);
		if (score > best_score) { /* ties: the first key in the file wins */
			best_score = score;
			best_key = key;
			best = entry;
		}
	}
	if (!best)
		return 0;
	return entry_credential(out, best, best_key, source, err);
}

static bool helper_name_ok(const char *name)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static void send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* the helper stopped reading; its exit status tells the rest */
		data += n;
		len -= (size_t)n;
	}
}

/* Runs `program get` with `input` and a newline on stdin (the Go helpers trim it, shell
 * ones need it for `read`) and collects stdout, capped. stderr stays the caller's: a
 * helper may need it to ask for a passphrase. */
static int helper_run(bale_buf *output, int *status, const char *program, const char *input,
                      bale_error **err)
{
	int rc = 0, e;
	int in[2] = {-1, -1}, outp[2] = {-1, -1};
	pid_t pid = -1;
	bool fa_ready = false;
	posix_spawn_file_actions_t fa;
	char *argv[] = {(char *)program, (char *)"get", NULL};

	/* A socket, not a pipe, for stdin: send(MSG_NOSIGNAL) turns a helper that exits
	 * without reading into EPIPE rather than a SIGPIPE killing us, with no process-wide
	 * signal disposition to change. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 ||
	    pipe2(outp, O_CLOEXEC) < 0) {
		rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "credential helper %s",
		                          program);
		goto cleanup;
	}
	if ((e = posix_spawn_file_actions_init(&fa)) != 0) {
		rc = bale_error_set_errno(err, BALE_EGENERIC, e, "credential helper %s", program);
		goto cleanup;
	}
	fa_ready = true;
	if ((e = posix_spawn_file_actions_adddup2(&fa, in[1], STDIN_FILENO)) != 0 ||
	    (e = posix_spawn_file_actions_adddup2(&fa, outp[1], STDOUT_FILENO)) != 0) {
		rc = bale_error_set_errno(err, BALE_EGENERIC, e, "credential helper %s", program);
		goto cleanup;
	}
	if ((e = posix_spawnp(&pid, program, &fa, NULL, argv, environ)) != 0) {
		if (e == ENOENT)
			rc = bale_error_set(err, BALE_EAUTH,
			                    "credential helper %s is not installed (not in PATH)",
			                    program);
		else
			rc = bale_error_set_errno(err, BALE_EAUTH, e, "credential helper %s",
			                          program);
		goto cleanup;
	}
	close(in[1]);
	in[1] = -1;
	close(outp[1]);
	outp[1] = -1;

	send_all(in[0], input, strlen(input));
	send_all(in[0], "\n", 1);
	shutdown(in[0], SHUT_WR);

	char chunk[4096];
	for (;;) {
		ssize_t n = read(outp[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = bale_error_set_errno(err, BALE_EAUTH, errno, "credential helper %s",
			                          program);
			break;
		}
		if (n == 0)
			break;
		bale_error *too_big = NULL;
		if (bale_buf_append(output, chunk, (size_t)n, &too_big) < 0) {
			rc = bale_error_code(too_big) == BALE_EVERIFY
			         ? bale_error_set(
			               err, BALE_EAUTH,
			               "credential helper %s: output over the %zu byte limit",
			               program, output->cap)
			         : bale_error_set(err, BALE_EGENERIC, "out of memory");
			bale_error_free(too_big);
			break;
		}
	}
	OPENSSL_cleanse(chunk, sizeof(chunk));
	/* Closing first: a helper still writing past the cap gets EPIPE instead of blocking
	 * the wait below forever. */
	close(outp[0]);
	outp[0] = -1;
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR) {
			if (rc == 0)
				rc = bale_error_set_errno(err, BALE_EAUTH, errno,
				                          "credential helper %s", program);
			break;
		}
	}
cleanup:
	if (fa_ready)
		posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	return rc;
}

/* Asks docker-credential-<name>. *out stays NULL when the helper has nothing for the
 * registry ("credentials not found", or an empty answer). */
static int helper_lookup(bale_credential **out, const char *name, const struct want *w,
                         bale_error **err)
{
	int rc = 0, status = 0;
	char program[128], source[160];
	json_t *reply = NULL;
	bale_buf output;
	bale_buf_init(&output, HELPER_OUTPUT_CAP, "credential helper output");
	if (!helper_name_ok(name) || strlen(name) > sizeof(program) - sizeof(HELPER_PREFIX)) {
		char shown[65];
		printable(shown, sizeof(shown), name, strlen(name));
		return bale_error_set(err, BALE_EUSAGE,
		                      "credential helper name \"%s\" is not [A-Za-z0-9._-]+",
		                      shown);
	}
	snprintf(program, sizeof(program), HELPER_PREFIX "%s", name);
	snprintf(source, sizeof(source), "credential helper %s", program);

	const char *server = is_docker_hub(w->domain) ? DOCKER_HUB_SERVER : w->domain;
	if ((rc = helper_run(&output, &status, program, server, err)) < 0)
		goto cleanup;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		static const char not_found[] = "credentials not found";
		if (WIFEXITED(status) && output.len &&
		    memmem(output.data, output.len, not_found, strlen(not_found)))
			goto cleanup;
		/* The output is not quoted: a confused helper may have printed the secret. */
		if (WIFEXITED(status))
			rc = bale_error_set(err, BALE_EAUTH, "%s failed (exit status %d)", source,
			                    WEXITSTATUS(status));
		else
			rc = bale_error_set(err, BALE_EAUTH, "%s killed by signal %d", source,
			                    WTERMSIG(status));
		goto cleanup;
	}
	if ((rc = json_load_quiet(&reply, output.data ? output.data : "", output.len, BALE_EAUTH,
	                          err)) < 0 ||
	    !json_is_object(reply)) {
		if (rc == 0)
			rc = bale_error_set(err, BALE_EAUTH, "not a JSON object");
		bale_error_wrap(err, "%s: invalid answer", source);
		goto cleanup;
	}
	const char *username = bale_json_str(reply, "Username");
	const char *secret = bale_json_str(reply, "Secret");
	if (!secret || !*secret)
		goto cleanup;
	if (username && strcmp(username, "<token>") == 0) /* docker's marker for a token */
		rc = credential_new(out, NULL, NULL, secret, source, err);
	else
		rc = credential_new(out, username, secret, NULL, source, err);
cleanup:
	json_wipe_decref(reply);
	bale_buf_free(&output);
	return rc;
}

/* The helper for the registry in one config: credHelpers[host] first, then credsStore. */
static int config_helper(const char **out, const json_t *config, const struct want *w,
                         bale_error **err)
{
	const json_t *helpers = json_object_get(config, "credHelpers");
	const json_t *store = json_object_get(config, "credsStore");
	int best_score = -1;
	*out = NULL;
	if (helpers && !json_is_object(helpers))
		return bale_error_set(err, BALE_EUSAGE, "credHelpers is not an object");
	if (store && !json_is_string(store))
		return bale_error_set(err, BALE_EUSAGE, "credsStore is not a string");
	for (void *it = json_object_iter((json_t *)helpers); it;
	     it = json_object_iter_next((json_t *)helpers, it)) {
		const char *key = json_object_iter_key(it);
		json_t *value = json_object_iter_value(it);
		if (!json_is_string(value))
			return bale_error_set(err, BALE_EUSAGE,
			                      "credHelpers value is not a string");
		/* Helpers are per registry: no repository scope. */
		int score = reg_auth_key_match(key, w->domain, NULL);
		if (score > best_score && *json_string_value(value)) {
			best_score = score;
			*out = json_string_value(value);
		}
	}
	if (!*out && store && *json_string_value(store))
		*out = json_string_value(store);
	return 0;
}

/* One docker config: config.json, auth.json or the content of a pull secret. legacy is
 * the .dockercfg format, whose top level is the auths map itself. helpers is false for
 * pull secrets: the kubelet reads only their auths, and a Secret from a cluster should
 * not pick programs to run here. */
static int config_lookup(bale_credential **out, const json_t *config, bool legacy, bool helpers,
                         const char *source, const struct want *w, bale_error **err)
{
	int rc;
	if (!json_is_object(config))
		return bale_error_set(err, BALE_EUSAGE, "not a JSON object");
	if (legacy)
		return auths_lookup(out, config, source, w, err);
	if (helpers) {
		const char *helper;
		if ((rc = config_helper(&helper, config, w, err)) < 0)
			return rc;
		/* A helper without the registry falls through to auths, like podman. */
		if (helper && ((rc = helper_lookup(out, helper, w, err)) < 0 || *out))
			return rc;
	}
	const json_t *auths = json_object_get(config, "auths");
	if (!auths || json_is_null(auths))
		return 0;
	return auths_lookup(out, auths, source, w, err);
}

/* The text of a docker config.json or podman auth.json (NUL-terminated; path names it).
 * Without run_helpers a helper the config names is checked but not run: auths answer. */
static int config_text_lookup(bale_credential **out, const char *path, const char *text, size_t len,
                              bool run_helpers, const struct want *w, bale_error **err)
{
	int rc = 0;
	const char *helper = NULL;
	json_t *config = NULL;
	/* `touch ~/.docker/config.json` leaves an empty file; docker reads it as no config. */
	if (len == strspn(text, " \t\r\n"))
		return 0;
	if ((rc = json_load_quiet(&config, text, len, BALE_EUSAGE, err)) < 0 ||
	    (!run_helpers && (rc = config_helper(&helper, config, w, err)) < 0) ||
	    (rc = config_lookup(out, config, false, run_helpers, path, w, err)) < 0)
		bale_error_wrap(err, "%s", path);
	json_wipe_decref(config);
	return rc;
}

int reg_auth_config_text_lookup(bale_credential **out, const char *path, const char *text,
                                size_t len, const char *domain, const char *repository,
                                bale_error **err)
{
	const struct want w = {domain, repository ? repository : ""};
	*out = NULL;
	return config_text_lookup(out, path, text, len, false, &w, err);
}

/* A docker config.json or podman auth.json. must_exist: the file was named on the
 * command line, so its absence is a mistake to report, not an unused default. */
static int file_lookup(bale_credential **out, const char *path, bool must_exist,
                       const struct want *w, bale_error **err)
{
	int rc = 0;
	bale_buf buf;
	bale_buf_init(&buf, BALE_CAP_AUTHFILE, "auth file");
	if (access(path, F_OK) < 0 && (errno == ENOENT || errno == ENOTDIR)) {
		if (must_exist)
			rc = bale_error_set_errno(err, BALE_EUSAGE, errno, "%s", path);
		goto cleanup;
	}
	if ((rc = bale_buf_read_file(&buf, path, err)) < 0)
		goto cleanup;
	rc = config_text_lookup(out, path, buf.data, buf.len, true, w, err);
cleanup:
	bale_buf_free(&buf);
	return rc;
}

static yaml_node_t *ymap_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	size_t klen = strlen(key);
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == klen &&
		    memcmp(k->data.scalar.value, key, klen) == 0)
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

static bool yscalar_is(const yaml_node_t *n, const char *s)
{
	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
	       memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

static bool yscalar_ends_with(const yaml_node_t *n, const char *s)
{
	size_t len = strlen(s);
	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length >= len &&
	       memcmp(n->data.scalar.value + n->data.scalar.length - len, s, len) == 0;
}

/* One Secret (other kinds and types are skipped). A credential found when *out is already
 * set is dropped: the file is still checked to the end. */
static int secret_lookup(bale_credential **out, size_t *n_secrets, yaml_document_t *doc,
                         yaml_node_t *obj, const char *path, const struct want *w, bale_error **err)
{
	int rc = 0;
	char *decoded = NULL;
	json_t *config = NULL;
	bale_credential *found = NULL;
	char name[254];
	bale_buf source;
	bale_buf_init(&source, 8192, "credential source");

	if (!yscalar_is(ymap_get(doc, obj, "kind"), "Secret"))
		return 0;
	yaml_node_t *type = ymap_get(doc, obj, "type");
	bool legacy = yscalar_is(type, TYPE_DOCKERCFG);
	if (!legacy && !yscalar_is(type, TYPE_DOCKERCONFIGJSON))
		return 0;
	(*n_secrets)++;
	const char *key = legacy ? ".dockercfg" : ".dockerconfigjson";
	yaml_node_t *n = ymap_get(doc, ymap_get(doc, obj, "metadata"), "name");
	if (n && n->type == YAML_SCALAR_NODE)
		printable(name, sizeof(name), (const char *)n->data.scalar.value,
		          n->data.scalar.length);
	else
		printable(name, sizeof(name), "(unnamed)", strlen("(unnamed)"));

	/* stringData wins over data, as when the API server merges them. */
	const char *content;
	size_t content_len;
	yaml_node_t *plain = ymap_get(doc, ymap_get(doc, obj, "stringData"), key);
	yaml_node_t *encoded = ymap_get(doc, ymap_get(doc, obj, "data"), key);
	if (plain && plain->type == YAML_SCALAR_NODE) {
		content = (const char *)plain->data.scalar.value;
		content_len = plain->data.scalar.length;
	} else if (encoded && encoded->type == YAML_SCALAR_NODE) {
		if ((rc = reg_auth_base64_decode(&decoded, &content_len,
		                                 (const char *)encoded->data.scalar.value,
		                                 encoded->data.scalar.length, err)) < 0) {
			bale_error_wrap(err, "%s: Secret %s: %s in data", path, name, key);
			goto cleanup;
		}
		content = decoded;
	} else {
		rc = bale_error_set(err, BALE_EUSAGE, "%s: Secret %s: no %s in data or stringData",
		                    path, name, key);
		goto cleanup;
	}
	if ((rc = bale_buf_appendf(&source, err, "pull secret %s (Secret %s)", path, name)) < 0)
		goto cleanup;
	if ((rc = json_load_quiet(&config, content, content_len, BALE_EUSAGE, err)) < 0 ||
	    (rc = config_lookup(&found, config, legacy, false, source.data, w, err)) < 0) {
		bale_error_wrap(err, "%s: Secret %s: %s", path, name, key);
		goto cleanup;
	}
	if (!*out) {
		*out = found;
		found = NULL;
	}
cleanup:
	bale_credential_free(found);
	json_wipe_decref(config);
	cleanse_free(decoded);
	bale_buf_free(&source);
	return rc;
}

static int document_lookup(bale_credential **out, size_t *n_secrets, yaml_document_t *doc,
                           size_t index, const char *path, const struct want *w, bale_error **err)
{
	int rc;
	yaml_node_t *root = yaml_document_get_root_node(doc);
	if (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)
		return 0; /* an empty document between two "---" */
	if (root->type != YAML_MAPPING_NODE)
		return bale_error_set(err, BALE_EUSAGE,
		                      "%s: document %zu is not a Kubernetes object", path, index);
	/* `kubectl get secrets -o yaml` wraps them in a List (SecretList from the API). */
	if (!yscalar_ends_with(ymap_get(doc, root, "kind"), "List"))
		return secret_lookup(out, n_secrets, doc, root, path, w, err);
	yaml_node_t *items = ymap_get(doc, root, "items");
	if (!items || (items->type == YAML_SCALAR_NODE && items->data.scalar.length == 0))
		return 0;
	if (items->type != YAML_SEQUENCE_NODE)
		return bale_error_set(err, BALE_EUSAGE, "%s: document %zu: items is not a list",
		                      path, index);
	for (yaml_node_item_t *i = items->data.sequence.items.start;
	     i < items->data.sequence.items.top; i++) {
		yaml_node_t *item = yaml_document_get_node(doc, *i);
		if (!item || item->type != YAML_MAPPING_NODE)
			return bale_error_set(
			    err, BALE_EUSAGE, "%s: document %zu: item %zu is not an object", path,
			    index, (size_t)(i - items->data.sequence.items.start) + 1);
		if ((rc = secret_lookup(out, n_secrets, doc, item, path, w, err)) < 0)
			return rc;
	}
	return 0;
}

/* A file of Kubernetes Secrets, YAML or JSON (one libyaml parser reads both): one or
 * several documents, each a Secret or a List of them. */
/* Secrets in YAML or JSON text; path names them in messages. */
static int pull_secret_text_lookup(bale_credential **out, const char *path, const char *text,
                                   size_t len, const struct want *w, bale_error **err)
{
	size_t n_secrets = 0;
	bale_yaml_stream *stream = NULL;
	/* Untrusted YAML: bale/yaml.h's bounds on depth, nodes and aliases. */
	int rc = bale_yaml_stream_new(&stream, path, text, len, err);
	for (size_t index = 1; rc == 0; index++) {
		yaml_document_t doc;
		if ((rc = bale_yaml_stream_next(stream, &doc, err)) <= 0)
			break;
		rc = yaml_document_get_root_node(&doc)
		         ? document_lookup(out, &n_secrets, &doc, index, path, w, err)
		         : 0;
		/* libyaml frees scalars without wiping them; a Secret's data is the secret. */
		bale_yaml_document_delete(&doc);
	}
	if (rc == 0 && n_secrets == 0)
		rc = bale_error_set(
		    err, BALE_EUSAGE,
		    "%s: no Secret of type " TYPE_DOCKERCONFIGJSON " or " TYPE_DOCKERCFG, path);
	bale_yaml_stream_free(stream);
	if (rc < 0 && *out) {
		bale_credential_free(*out);
		*out = NULL;
	}
	return rc;
}

static int pull_secret_lookup(bale_credential **out, const char *path, const struct want *w,
                              bale_error **err)
{
	int rc = 0;
	bale_buf buf;
	bale_buf_init(&buf, BALE_CAP_AUTHFILE, "pull secret");
	if (access(path, F_OK) < 0)
		rc = bale_error_set_errno(err, BALE_EUSAGE, errno, "%s", path);
	else if ((rc = bale_buf_read_file(&buf, path, err)) == 0)
		rc = pull_secret_text_lookup(out, path, buf.data, buf.len, w, err);
	bale_buf_free(&buf);
	return rc;
}

/* USER:PASS from the option `source` names. */
static int creds_from_flag(bale_credential **out, const char *creds, const char *source,
                           bale_error **err)
{
	int rc = 0;
	char *username = NULL;
	/* The value is never echoed: it is mostly a password. */
	const char *colon = strchr(creds, ':');
	if (!colon)
		return bale_error_set(err, BALE_EUSAGE, "%s: want USER:PASS", source);
	if (colon == creds)
		return bale_error_set(err, BALE_EUSAGE, "%s: empty user name (want USER:PASS)",
		                      source);
	if (!(username = strndup(creds, (size_t)(colon - creds)))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	rc = credential_new(out, username, colon + 1, NULL, source, err);
cleanup:
	cleanse_free(username);
	return rc;
}

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

int bale_auth_lookup(bale_credential **out, const bale_auth_options *opts, const char *domain,
                     const char *repository, bale_error **err)
{
	int rc = 0;
	const bale_auth_options none = {0};
	struct want w = {domain, repository ? repository : ""};
	struct {
		char *path;
		bool must_exist;
	} files[4] = {{NULL, false}};
	size_t n_files = 0;
	const char *dir;

	assert(out && domain);
	*out = NULL;
	if (!opts)
		opts = &none;
	/* Credentials of the command line belong to the registry they were given for. */
	for (size_t i = 0; i < opts->n_host_creds; i++) {
		const bale_host_creds *hc = &opts->host_creds[i];
		if (!hc->host || bale_creds_host_match(hc->host, domain))
			return creds_from_flag(out, hc->user_pass,
			                       hc->source ? hc->source : "--creds", err);
	}
	if (opts->creds)
		return creds_from_flag(out, opts->creds, "--creds", err);
	for (size_t i = 0; i < opts->n_pull_secrets; i++)
		if ((rc = pull_secret_lookup(out, opts->pull_secrets[i], &w, err)) < 0 || *out)
			goto cleanup;
	/* Secrets the manifests name, in the kubelet's order (pod's, then service account's). */
	for (size_t i = 0; i < opts->n_manifest_secrets; i++)
		if ((rc = pull_secret_text_lookup(
		         out, opts->manifest_secrets[i].where, opts->manifest_secrets[i].text,
		         strlen(opts->manifest_secrets[i].text), &w, err)) < 0 ||
		    *out)
			return rc;

	if (opts->authfile) {
		files[n_files].must_exist = true;
		files[n_files++].path = strdup(opts->authfile);
	}
	if ((dir = env_nonempty("REGISTRY_AUTH_FILE")))
		files[n_files++].path = strdup(dir);
	if ((dir = env_nonempty("XDG_RUNTIME_DIR")))
		files[n_files++].path = path_join(dir, "containers/auth.json");
	/* $DOCKER_CONFIG replaces ~/.docker, as in docker and podman. */
	if ((dir = env_nonempty("DOCKER_CONFIG")))
		files[n_files++].path = path_join(dir, "config.json");
	else if ((dir = env_nonempty("HOME")))
		files[n_files++].path = path_join(dir, ".docker/config.json");
	for (size_t i = 0; i < n_files; i++) {
		if (!files[i].path) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
	}
	for (size_t i = 0; i < n_files && !*out; i++)
		if ((rc = file_lookup(out, files[i].path, files[i].must_exist, &w, err)) < 0)
			goto cleanup;
cleanup:
	for (size_t i = 0; i < n_files; i++)
		free(files[i].path);
	return rc;
}

int bale_auth_check(const bale_auth_options *opts, bale_error **err)
{
	/* A domain no Secret names (.invalid is reserved): every file is read to the end. */
	const struct want nobody = {"bale.invalid", ""};
	bale_credential *found = NULL;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < opts->n_pull_secrets; i++)
		rc = pull_secret_lookup(&found, opts->pull_secrets[i], &nobody, err);
	for (size_t i = 0; rc == 0 && i < opts->n_manifest_secrets; i++)
		rc = pull_secret_text_lookup(&found, opts->manifest_secrets[i].where,
		                             opts->manifest_secrets[i].text,
		                             strlen(opts->manifest_secrets[i].text), &nobody, err);
	bale_credential_free(found);
	return rc;
}
