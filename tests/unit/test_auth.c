/* Credential lookup: --creds, pull secrets, auth files, docker configs, helpers. Every
 * test runs in a fresh temp dir with HOME pointing into it and the other locations unset,
 * so the developer's own ~/.docker never leaks in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bale/auth.h"
#include "registry/auth_private.h"
#include "testutil.h"

/* Appears in every malformed fixture and broken helper: it must never reach a message. */
#define SECRET_MARK "hunter2"

typedef struct fixture {
	char *dir;
	char *saved_path;
} fixture;

static char *data_path(const char *name)
{
	const char *root = getenv("BALE_TEST_DATA");
	assert_non_null(root);
	char *auth = path_join(root, "auth");
	char *p = path_join(auth, name);
	free(auth);
	return p;
}

static void mkdirs(const char *path)
{
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *s = tmp + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(tmp, 0700);
			*s = '/';
		}
	}
	mkdir(tmp, 0700);
}

/* Writes text to dir/name, creating dir; returns the path (caller frees). */
static char *write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	mkdirs(dir);
	char *path = path_join(dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

/* A docker config whose only entry is host -> user:pass. */
static char *write_config(const char *dir, const char *name, const char *host, const char *user,
                          const char *pass)
{
	char text[512];
	snprintf(text, sizeof(text),
	         "{\"auths\": {\"%s\": {\"username\": \"%s\", \"password\": \"%s\"}}}\n", host,
	         user, pass);
	return write_file(dir, name, text, 0600);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	void *dir = NULL;
	assert_int_equal(tmpdir_setup(&dir), 0);
	f->dir = dir;
	const char *path = getenv("PATH");
	f->saved_path = strdup(path ? path : "/usr/bin:/bin");
	char *home = path_join(f->dir, "home");
	mkdirs(home);
	setenv("HOME", home, 1);
	free(home);
	unsetenv("DOCKER_CONFIG");
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	setenv("PATH", f->saved_path, 1);
	void *dir = f->dir;
	int rc = tmpdir_teardown(&dir);
	free(f->saved_path);
	free(f);
	return rc;
}

/* Looks up and checks user, password and source (NULL: expect NULL / no credential). */
static void expect_cred(const bale_auth_options *opts, const char *domain, const char *repo,
                        const char *user, const char *pass, const char *source)
{
	bale_credential *c = NULL;
	bale_error *err = NULL;
	int rc = bale_auth_lookup(&c, opts, domain, repo, &err);
	if (rc != 0)
		fail_msg("lookup %s/%s: %s", domain, repo ? repo : "", bale_error_message(err));
	if (!user && !pass) {
		if (c)
			fail_msg("lookup %s/%s: unexpected credential from %s", domain,
			         repo ? repo : "", c->source);
		return;
	}
	assert_non_null(c);
	if (user)
		assert_string_equal(c->username, user);
	else
		assert_null(c->username);
	assert_string_equal(c->password, pass);
	assert_null(c->identity_token);
	if (source)
		assert_string_equal(c->source, source);
	bale_auth_credential_free(c);
}

/* Expects failure with `code`; the message must contain `mention` and no secret. */
static void expect_error(const bale_auth_options *opts, const char *domain, int code,
                         const char *mention)
{
	bale_credential *c = NULL;
	bale_error *err = NULL;
	int rc = bale_auth_lookup(&c, opts, domain, "some/repo", &err);
	assert_int_equal(rc, code);
	assert_null(c);
	assert_non_null(err);
	const char *msg = bale_error_message(err);
	if (strstr(msg, SECRET_MARK))
		fail_msg("secret in error message: %s", msg);
	if (mention && !strstr(msg, mention))
		fail_msg("error message lacks \"%s\": %s", mention, msg);
	bale_error_free(err);
}

static void test_creds_flag(void **state)
{
	fixture *f = *state;
	char *home = path_join(f->dir, "home/.docker");
	free(write_config(home, "config.json", "ghcr.io", "fromfile", "filepass"));
	bale_auth_options o = {.creds = "alice:pa:ss"};
	expect_cred(&o, "ghcr.io", "a/b", "alice", "pa:ss", "--creds");
	o.creds = "bob:";
	expect_cred(&o, "anything.example", NULL, "bob", "", "--creds");
	free(home);
}

/* --creds HOST=USER:PASS: the credential is for HOST only, and beats every file there. */
static void test_host_creds(void **state)
{
	fixture *f = *state;
	char *home = path_join(f->dir, "home/.docker");
	free(write_config(home, "config.json", "other.example", "fromfile", "filepass"));
	const bale_host_creds hc[] = {
	    {.host = "ghcr.io", .user_pass = "alice:pa:ss", .source = "--creds"},
	    {.host = "127.0.0.1:5000", .user_pass = "bob:b0b", .source = "--creds-stdin"},
	    {.host = "index.docker.io", .user_pass = "hub:hubpass", .source = "--creds"},
	};
	bale_auth_options o = {.host_creds = hc, .n_host_creds = 3};
	expect_cred(&o, "ghcr.io", "a/b", "alice", "pa:ss", "--creds");
	expect_cred(&o, "GHCR.io", "a/b", "alice", "pa:ss", "--creds");
	expect_cred(&o, "127.0.0.1:5000", "r", "bob", "b0b", "--creds-stdin");
	expect_cred(&o, "docker.io", "library/nginx", "hub", "hubpass", "--creds");
	/* Another port is another registry; another host gets its own files, or nothing. */
	expect_cred(&o, "127.0.0.1:5001", "r", NULL, NULL, NULL);
	expect_cred(&o, "quay.io", "r", NULL, NULL, NULL);
	expect_cred(&o, "other.example", "r", "fromfile", "filepass", NULL);
	/* No host: every registry (a caller that talks to one). */
	const bale_host_creds any = {.host = NULL, .user_pass = "carol:c", .source = "--creds"};
	bale_auth_options o2 = {.host_creds = &any, .n_host_creds = 1};
	expect_cred(&o2, "quay.io", "r", "carol", "c", "--creds");
	free(home);
}

/* bale_auth_creds_split: HOST= only when what precedes the '=' is a host; no message quotes
 * the value. */
static void test_creds_split(void **state)
{
	static const struct {
		const char *value;
		size_t host_len; /* (size_t)-1: refused */
	} cases[] = {
	    {"alice:pw", 0},
	    {"ghcr.io=alice:pw", 7},
	    {"127.0.0.1:5000=alice:pw", 14},
	    {"[::1]:5000=alice:pw", 10},
	    {"localhost=alice:p=w", 9},
	    {"alice:p=w", 0},          /* '=' after the ':' of USER:PASS */
	    {"a b=alice:pw", 0},       /* not a host: the user is "a b=alice" */
	    {"host:port=alice:pw", 0}, /* not a port: a user name with '=' */
	    {"host:65535=x:y", 10},
	    {"host:123456=x:y", 0},               /* six digits are no port */
	    {"ghcr.io=" SECRET_MARK, (size_t)-1}, /* no USER:PASS after HOST= */
	    {"ghcr.io=:" SECRET_MARK, (size_t)-1},
	    {SECRET_MARK, (size_t)-1},
	    {"", (size_t)-1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t host_len = 42;
		bale_error *err = NULL;
		int rc = bale_auth_creds_split(cases[i].value, "--creds", &host_len, &err);
		if (cases[i].host_len == (size_t)-1) {
			if (rc != BALE_EUSAGE)
				fail_msg("\"%s\" accepted", cases[i].value);
			assert_non_null(strstr(bale_error_message(err), "--creds"));
			assert_null(strstr(bale_error_message(err), SECRET_MARK));
			bale_error_free(err);
			continue;
		}
		if (rc != 0)
			fail_msg("\"%s\": %s", cases[i].value, bale_error_message(err));
		if (host_len != cases[i].host_len)
			fail_msg("\"%s\": host length %zu, want %zu", cases[i].value, host_len,
			         cases[i].host_len);
	}
	assert_true(bale_auth_creds_host_match("registry-1.docker.io", "docker.io"));
	assert_true(bale_auth_creds_host_match("Host:5000", "host:5000"));
	assert_false(bale_auth_creds_host_match("host:5000", "host:5001"));
	assert_false(bale_auth_creds_host_match("host", "host:5000"));
	assert_false(bale_auth_creds_host_match("https://host", "host"));
	assert_false(bale_auth_creds_host_match("host/ns", "host"));
}

static void test_creds_errors(void **state)
{
	bale_auth_options o = {.creds = SECRET_MARK "-no-colon"};
	expect_error(&o, "ghcr.io", BALE_EUSAGE, "--creds: want USER:PASS");
	o.creds = ":" SECRET_MARK "-pass";
	expect_error(&o, "ghcr.io", BALE_EUSAGE, "--creds");
	o.creds = "";
	expect_error(&o, "ghcr.io", BALE_EUSAGE, "USER:PASS");
}

static void test_anonymous(void **state)
{
	expect_cred(NULL, "ghcr.io", "a/b", NULL, NULL, NULL);
	bale_auth_options o = {0};
	expect_cred(&o, "docker.io", "library/nginx", NULL, NULL, NULL);
}

static void test_docker_config(void **state)
{
	fixture *f = *state;
	char *src = data_path("docker-config.json");
	/* Point DOCKER_CONFIG at a dir holding the fixture as config.json. */
	char *dir = path_join(f->dir, "dc");
	FILE *in = fopen(src, "r");
	assert_non_null(in);
	char text[8192];
	size_t n = fread(text, 1, sizeof(text) - 1, in);
	text[n] = '\0';
	fclose(in);
	char *cfg = write_file(dir, "config.json", text, 0600);
	setenv("DOCKER_CONFIG", dir, 1);

	expect_cred(NULL, "docker.io", "library/nginx", "hubuser", "hubpass", cfg);
	expect_cred(NULL, "index.docker.io", "library/nginx", "hubuser", "hubpass", cfg);
	expect_cred(NULL, "ghcr.io", "owner/app", "ghuser", "ghpass", cfg);
	expect_cred(NULL, "GHCR.io", "owner/app", "ghuser", "ghpass", cfg);
	expect_cred(NULL, "legacy.example", "x", "legacyuser", "legacy:pass:with:colons", cfg);
	expect_cred(NULL, "empty.example", "x", NULL, NULL, NULL);
	expect_cred(NULL, "ghcr.io.evil.example", "x", NULL, NULL, NULL);
	expect_cred(NULL, "registry.example", "x", NULL, NULL, NULL); /* port matters */

	bale_credential *c = NULL;
	bale_error *err = NULL;
	assert_int_equal(bale_auth_lookup(&c, NULL, "registry.example:5000", "r", &err), 0);
	assert_non_null(c);
	assert_null(c->username);
	assert_null(c->password);
	assert_string_equal(c->identity_token, "example-refresh-token");
	bale_auth_credential_free(c);
	free(cfg);
	free(dir);
	free(src);
}

static void test_podman_scoped_keys(void **state)
{
	char *path = data_path("podman-auth.json");
	setenv("REGISTRY_AUTH_FILE", path, 1);
	expect_cred(NULL, "quay.io", "org/repo", "quayrepo", "quayrepopass", path);
	expect_cred(NULL, "quay.io", "org/repo/sub", "quayrepo", "quayrepopass", path);
	expect_cred(NULL, "quay.io", "org/repo2", "quayorg", "quayorgpass", path);
	expect_cred(NULL, "quay.io", "org/other", "quayorg", "quayorgpass", path);
	expect_cred(NULL, "quay.io", "org/empty", "quayorg", "quayorgpass", path);
	expect_cred(NULL, "quay.io", "organization/x", "quayall", "quayallpass", path);
	expect_cred(NULL, "quay.io", NULL, "quayall", "quayallpass", path);
	expect_cred(NULL, "docker.io", "library/nginx", "nginxuser", "nginxpass", path);
	expect_cred(NULL, "docker.io", "library/redis", NULL, NULL, NULL);
	free(path);
}

static void test_key_match(void **state)
{
	assert_int_equal(reg_auth_key_match("ghcr.io", "ghcr.io", "a/b"), 1);
	assert_int_equal(reg_auth_key_match("https://ghcr.io", "ghcr.io", "a/b"), 0);
	assert_int_equal(reg_auth_key_match("http://ghcr.io/v1/", "ghcr.io", "a/b"), 0);
	assert_int_equal(reg_auth_key_match("HTTPS://GHCR.IO/v2/", "ghcr.io", NULL), 0);
	assert_int_equal(reg_auth_key_match("ghcr.io/", "ghcr.io", NULL), 1);
	assert_int_equal(reg_auth_key_match("ghcr.io//", "ghcr.io", "a/b"), 1);
	assert_true(reg_auth_key_match("ghcr.io/a", "ghcr.io", "a/b") >
	            reg_auth_key_match("ghcr.io", "ghcr.io", "a/b"));
	assert_true(reg_auth_key_match("ghcr.io/a/b", "ghcr.io", "a/b") >
	            reg_auth_key_match("ghcr.io/a", "ghcr.io", "a/b"));
	assert_true(reg_auth_key_match("ghcr.io/a/b/", "ghcr.io", "a/b") > 1);
	assert_int_equal(reg_auth_key_match("ghcr.io/a/b", "ghcr.io", "a/bc"), -1);
	assert_int_equal(reg_auth_key_match("ghcr.io/a/b", "ghcr.io", "a"), -1);
	assert_int_equal(reg_auth_key_match("ghcr.io/a", "ghcr.io", NULL), -1);
	/* A URL key's path is not a scope: docker reads only its host. */
	assert_int_equal(reg_auth_key_match("https://ghcr.io/a/b", "ghcr.io", "c/d"), 0);
	assert_int_equal(reg_auth_key_match("ghcr.io", "ghcr.io:443", NULL), -1);
	assert_int_equal(reg_auth_key_match("ghcr.io:443", "ghcr.io", NULL), -1);
	assert_int_equal(reg_auth_key_match("evilghcr.io", "ghcr.io", NULL), -1);
	assert_int_equal(reg_auth_key_match("", "ghcr.io", NULL), -1);
	assert_int_equal(reg_auth_key_match("https://", "ghcr.io", NULL), -1);
	/* Docker Hub's names. */
	assert_int_equal(reg_auth_key_match("https://index.docker.io/v1/", "docker.io", "x/y"), 0);
	assert_int_equal(reg_auth_key_match("index.docker.io", "docker.io", "x/y"), 1);
	assert_int_equal(reg_auth_key_match("registry-1.docker.io", "docker.io", "x/y"), 1);
	assert_int_equal(reg_auth_key_match("docker.io", "index.docker.io", "x/y"), 1);
	assert_true(reg_auth_key_match("docker.io/library", "docker.io", "library/nginx") > 1);
	assert_int_equal(reg_auth_key_match("index.docker.io", "quay.io", NULL), -1);
}

static void expect_b64(const char *in, const char *want)
{
	char *out = NULL;
	size_t len = 0;
	bale_error *err = NULL;
	assert_int_equal(reg_auth_base64_decode(&out, &len, in, strlen(in), &err), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	free(out);
}

static void expect_b64_error(const char *in)
{
	char *out = NULL;
	bale_error *err = NULL;
	assert_int_equal(reg_auth_base64_decode(&out, NULL, in, strlen(in), &err), BALE_EUSAGE);
	assert_null(out);
	assert_null(strstr(bale_error_message(err), in));
	bale_error_free(err);
}

static void test_base64(void **state)
{
	expect_b64("", "");
	expect_b64("dXNlcjpwYXNz", "user:pass");
	expect_b64("YQ==", "a");
	expect_b64("YQ", "a");
	expect_b64("YWI=", "ab");
	expect_b64("YWI", "ab");
	expect_b64("dXNl\n cjpw\r\n\tYXNz\n", "user:pass");
	expect_b64("+/+/", "\xfb\xff\xbf");
	expect_b64_error("dXNlcjpwYXNz!");
	expect_b64_error("dXNl-cjpw");
	expect_b64_error("Y");
	expect_b64_error("YQ=");
	expect_b64_error("YQ===");
	expect_b64_error("YQ==YQ==");
	expect_b64_error("dXNlcjpwYXNz_");
}

/* Every location holds a credential for prec.example; removing them one by one walks
 * down the chain. */
static void test_precedence(void **state)
{
	fixture *f = *state;
	char *d_authfile = path_join(f->dir, "flag");
	char *d_raf = path_join(f->dir, "raf");
	char *d_xdg = path_join(f->dir, "xdg");
	char *d_xdg_c = path_join(f->dir, "xdg/containers");
	char *d_dc = path_join(f->dir, "dc");
	char *d_home = path_join(f->dir, "home/.docker");
	char *p_authfile =
	    write_config(d_authfile, "auth.json", "prec.example", "u", "from-authfile");
	char *p_raf = write_config(d_raf, "auth.json", "prec.example", "u", "from-env-authfile");
	char *p_xdg = write_config(d_xdg_c, "auth.json", "prec.example", "u", "from-xdg");
	char *p_dc = write_config(d_dc, "config.json", "prec.example", "u", "from-docker-config");
	char *p_home = write_config(d_home, "config.json", "prec.example", "u", "from-home");
	/* A higher source without the host is passed over, not an end to the search. */
	char *p_other = write_config(d_authfile, "other.json", "other.example", "u", "other");
	char *p_secret =
	    write_file(f->dir, "secret.yaml",
	               "kind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/dockerconfigjson\n"
	               "stringData:\n  .dockerconfigjson: '{\"auths\": {\"prec.example\": "
	               "{\"username\": \"u\", \"password\": \"from-secret\"}}}'\n",
	               0600);
	char *p_secret2 =
	    write_file(f->dir, "secret2.yaml",
	               "kind: Secret\nmetadata: {name: s2}\ntype: kubernetes.io/dockerconfigjson\n"
	               "stringData:\n  .dockerconfigjson: '{\"auths\": {\"prec.example\": "
	               "{\"username\": \"u\", \"password\": \"from-secret2\"}}}'\n",
	               0600);
	char *p_unrelated = data_path("secret-dockerconfigjson.yaml");
	char src[512];
	setenv("REGISTRY_AUTH_FILE", p_raf, 1);
	setenv("XDG_RUNTIME_DIR", d_xdg, 1);
	setenv("DOCKER_CONFIG", d_dc, 1);

	const char *secrets[] = {p_unrelated, p_secret, p_secret2};
	bale_auth_options o = {.creds = "u:from-creds",
	                       .authfile = p_authfile,
	                       .pull_secrets = secrets,
	                       .n_pull_secrets = 3};
	expect_cred(&o, "prec.example", "r", "u", "from-creds", "--creds");
	o.creds = NULL;
	snprintf(src, sizeof(src), "pull secret %s (Secret s)", p_secret);
	expect_cred(&o, "prec.example", "r", "u", "from-secret", src);
	o.pull_secrets = secrets + 2;
	o.n_pull_secrets = 1;
	snprintf(src, sizeof(src), "pull secret %s (Secret s2)", p_secret2);
	expect_cred(&o, "prec.example", "r", "u", "from-secret2", src);
	o.n_pull_secrets = 0;
	expect_cred(&o, "prec.example", "r", "u", "from-authfile", p_authfile);
	o.authfile = p_other;
	expect_cred(&o, "prec.example", "r", "u", "from-env-authfile", p_raf);
	o.authfile = NULL;
	expect_cred(&o, "prec.example", "r", "u", "from-env-authfile", p_raf);
	unsetenv("REGISTRY_AUTH_FILE");
	expect_cred(&o, "prec.example", "r", "u", "from-xdg", p_xdg);
	unsetenv("XDG_RUNTIME_DIR");
	expect_cred(&o, "prec.example", "r", "u", "from-docker-config", p_dc);
	/* $DOCKER_CONFIG replaces ~/.docker (docker and podman): no fallback to HOME. */
	unlink(p_dc);
	expect_cred(&o, "prec.example", "r", NULL, NULL, NULL);
	unsetenv("DOCKER_CONFIG");
	expect_cred(&o, "prec.example", "r", "u", "from-home", p_home);
	unsetenv("HOME");
	expect_cred(&o, "prec.example", "r", NULL, NULL, NULL);

	char *owned[] = {d_authfile, d_raf, d_xdg,  d_xdg_c, d_dc,     d_home,    p_authfile, p_raf,
	                 p_xdg,      p_dc,  p_home, p_other, p_secret, p_secret2, p_unrelated};
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
		free(owned[i]);
}

static void test_missing_defaults_skipped(void **state)
{
	fixture *f = *state;
	char *nowhere = path_join(f->dir, "nowhere/auth.json");
	char *afile = path_join(f->dir, "afile");
	setenv("REGISTRY_AUTH_FILE", nowhere, 1);
	setenv("XDG_RUNTIME_DIR", nowhere, 1);
	/* DOCKER_CONFIG pointing below a regular file: ENOTDIR is "missing" too. */
	free(write_file(f->dir, "afile", "", 0600));
	setenv("DOCKER_CONFIG", afile, 1);
	expect_cred(NULL, "ghcr.io", "a/b", NULL, NULL, NULL);
	unsetenv("DOCKER_CONFIG");
	expect_cred(NULL, "ghcr.io", "a/b", NULL, NULL, NULL);
	/* An empty config (`touch ~/.docker/config.json`) is no config, as for docker. */
	char *home = path_join(f->dir, "home/.docker");
	free(write_file(home, "config.json", " \n", 0600));
	expect_cred(NULL, "ghcr.io", "a/b", NULL, NULL, NULL);
	free(home);
	free(nowhere);
	free(afile);
}

static void test_explicit_missing(void **state)
{
	fixture *f = *state;
	char *nowhere = path_join(f->dir, "nowhere.json");
	bale_auth_options o = {.authfile = nowhere};
	expect_error(&o, "ghcr.io", BALE_ENOTFOUND, nowhere);
	const char *secrets[] = {nowhere};
	bale_auth_options p = {.pull_secrets = secrets, .n_pull_secrets = 1};
	expect_error(&p, "ghcr.io", BALE_ENOTFOUND, nowhere);
	free(nowhere);
}

static void test_malformed_configs(void **state)
{
	fixture *f = *state;
	static const char *const names[] = {
	    "config-malformed.json", "config-badbase64.json", "config-nocolon.json",
	    "config-badtype.json",   "config-authslist.json", "config-notobject.json",
	    "config-badhelper.json",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *path = data_path(names[i]);
		bale_auth_options o = {.authfile = path};
		expect_error(&o, "bad.example", BALE_EUSAGE, path);
		/* Found in a default location, it is an error just the same. */
		setenv("REGISTRY_AUTH_FILE", path, 1);
		expect_error(NULL, "bad.example", BALE_EUSAGE, path);
		unsetenv("REGISTRY_AUTH_FILE");
		free(path);
	}
	/* A file that exists but cannot be read is not "missing". Permission bits do not
	 * stop root, so the unreadable file is a directory where the file is expected:
	 * open() succeeds and read() fails with EISDIR, for root as for anyone. */
	char *dir = path_join(f->dir, "home/.docker/config.json");
	mkdirs(dir);
	expect_error(NULL, "ghcr.io", BALE_EGENERIC, dir);
	expect_error(NULL, "ghcr.io", BALE_EGENERIC, strerror(EISDIR));
	/* The same in every other place a file is read from. */
	bale_auth_options o = {.authfile = dir};
	expect_error(&o, "ghcr.io", BALE_EGENERIC, dir);
	const char *secrets[] = {dir};
	bale_auth_options p = {.pull_secrets = secrets, .n_pull_secrets = 1};
	expect_error(&p, "ghcr.io", BALE_EGENERIC, dir);
	setenv("REGISTRY_AUTH_FILE", dir, 1);
	expect_error(NULL, "ghcr.io", BALE_EGENERIC, dir);
	unsetenv("REGISTRY_AUTH_FILE");
	free(dir);
}

static void test_pull_secrets(void **state)
{
	static const struct {
		const char *file, *secret, *domain, *user, *pass;
	} cases[] = {
	    {"secret-dockerconfigjson.yaml", "regcred", "k8s.example", "k8suser", "k8spass"},
	    {"secret-stringdata.yaml", "regcred-plain", "k8s.example", "sduser", "sdpass"},
	    {"secret-dockercfg.yaml", "legacy-cfg", "k8s.example", "cfguser", "cfgpass"},
	    {"secret-dockercfg.yaml", "legacy-cfg", "docker.io", "cfghub", "cfghubpass"},
	    {"secret.json", "json-secret", "k8s.example", "jsonuser", "jsonpass"},
	    {"secret-list.yaml", "list-regcred", "k8s.example", "listuser", "listpass"},
	    {"secret-multidoc.yaml", "multi-cfg", "k8s.example", "multiuser", "multipass"},
	    {"secret-multidoc.yaml", "multi-other", "other.example", "otheruser", "otherpass"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = data_path(cases[i].file);
		const char *secrets[] = {path};
		bale_auth_options o = {.pull_secrets = secrets, .n_pull_secrets = 1};
		char src[512];
		snprintf(src, sizeof(src), "pull secret %s (Secret %s)", path, cases[i].secret);
		expect_cred(&o, cases[i].domain, "some/repo", cases[i].user, cases[i].pass, src);
		expect_cred(&o, "nothing.example", "some/repo", NULL, NULL, NULL);
		free(path);
	}
}

static void test_pull_secret_ignores_helpers(void **state)
{
	fixture *f = *state;
	/* A Secret naming a credsStore: the kubelet reads only auths, and so do we. */
	char *p = write_file(f->dir, "s.yaml",
	                     "kind: Secret\nmetadata: {name: h}\n"
	                     "type: kubernetes.io/dockerconfigjson\n"
	                     "stringData:\n  .dockerconfigjson: '{\"credsStore\": \"absent\", "
	                     "\"credHelpers\": {\"k8s.example\": \"absent\"}, \"auths\": "
	                     "{\"k8s.example\": {\"username\": \"u\", \"password\": \"p\"}}}'\n",
	                     0600);
	const char *secrets[] = {p};
	bale_auth_options o = {.pull_secrets = secrets, .n_pull_secrets = 1};
	expect_cred(&o, "k8s.example", "r", "u", "p", NULL);
	free(p);
}

static void test_malformed_pull_secrets(void **state)
{
	static const char *const names[] = {
	    "secret-malformed.yaml",   "secret-badjson.yaml",     "secret-badbase64.yaml",
	    "secret-missing-key.yaml", "secret-opaque-only.yaml", "secret-notobject.yaml",
	    "config-malformed.json",   "docker-config.json",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *path = data_path(names[i]);
		const char *secrets[] = {path};
		bale_auth_options o = {.pull_secrets = secrets, .n_pull_secrets = 1};
		expect_error(&o, "bad.example", BALE_EUSAGE, path);
		free(path);
	}
	/* Files are read in order until one has the host: a later broken file is only
	 * noticed when it is reached. */
	char *path = data_path("secret-multidoc.yaml");
	char *broken = data_path("secret-badjson.yaml");
	const char *both[] = {path, broken};
	bale_auth_options o = {.pull_secrets = both, .n_pull_secrets = 2};
	expect_cred(&o, "k8s.example", "r", "multiuser", "multipass", NULL);
	expect_error(&o, "nothing.example", BALE_EUSAGE, broken);
	free(path);
	free(broken);
}

static void test_pull_secret_checked_whole(void **state)
{
	fixture *f = *state;
	/* Within one file every document is checked, even after a match: the same file
	 * fails the same way whichever registry is asked for. */
	char *p = write_file(f->dir, "two.yaml",
	                     "kind: Secret\nmetadata: {name: good}\n"
	                     "type: kubernetes.io/dockerconfigjson\n"
	                     "stringData:\n  .dockerconfigjson: '{\"auths\": {\"k8s.example\": "
	                     "{\"username\": \"u\", \"password\": \"p\"}}}'\n"
	                     "---\n"
	                     "kind: Secret\nmetadata: {name: bad}\n"
	                     "type: kubernetes.io/dockerconfigjson\n"
	                     "stringData:\n  .dockerconfigjson: '{\"auths\": " SECRET_MARK "'\n",
	                     0600);
	const char *secrets[] = {p};
	bale_auth_options o = {.pull_secrets = secrets, .n_pull_secrets = 1};
	expect_error(&o, "k8s.example", BALE_EUSAGE, "Secret bad");
	free(p);
}

/* Hostile auth files and pull secrets: nesting, value floods and YAML bombs are refused
 * (BALE_EUSAGE, naming the file) before jansson or libyaml's loader build them. */
static void test_hostile_auth_files(void **state)
{
	fixture *f = *state;
	size_t cap = 1u << 20;
	char *text = malloc(cap);
	assert_non_null(text);
	/* 100 nested objects in an auth file. */
	size_t n = (size_t)snprintf(text, cap, "{\"auths\": ");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(text + n, cap - n, "{\"a\": ");
	n += (size_t)snprintf(text + n, cap - n, "{}");
	for (int i = 0; i < 101; i++)
		text[n++] = '}';
	text[n] = '\0';
	char *deep = write_file(f->dir, "deep.json", text, 0600);
	bale_auth_options o = {.authfile = deep};
	expect_error(&o, "bad.example", BALE_EUSAGE, "nested deeper than 64 levels");
	expect_error(&o, "bad.example", BALE_EUSAGE, deep);
	/* 300,000 empty objects (900 KB, under the 1 MiB cap): 70 MB for jansson. */
	n = (size_t)snprintf(text, cap, "{\"auths\": {}, \"x\": [");
	for (int i = 0; i < 300000; i++)
		n += (size_t)snprintf(text + n, cap - n, "%s{}", i ? "," : "");
	snprintf(text + n, cap - n, "]}");
	char *wide = write_file(f->dir, "wide.json", text, 0600);
	o.authfile = wide;
	expect_error(&o, "bad.example", BALE_EUSAGE, "more than 65536 JSON values");
	/* A pull secret nested 200,000 flow sequences deep (libyaml's scanner is quadratic in
	 * that depth), and a billion laughs. */
	n = (size_t)snprintf(text, cap, "kind: Secret\ndata: ");
	memset(text + n, '[', 200000);
	memset(text + n + 200000, ']', 200000);
	text[n + 400000] = '\0';
	char *yaml = write_file(f->dir, "deep.yaml", text, 0600);
	const char *secrets[] = {yaml};
	bale_auth_options p = {.pull_secrets = secrets, .n_pull_secrets = 1};
	expect_error(&p, "bad.example", BALE_EUSAGE, "deep.yaml:2: nested deeper than 128 levels");
	n = (size_t)snprintf(text, cap, "kind: Secret\na0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
	for (int i = 1; i < 10; i++)
		n += (size_t)snprintf(
		    text + n, cap - n,
		    "a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n", i, i, i - 1,
		    i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	char *lol = write_file(f->dir, "lol.yaml", text, 0600);
	secrets[0] = lol;
	expect_error(&p, "bad.example", BALE_EUSAGE,
	             "lol.yaml:7: more than 500000 YAML nodes in one document");
	free(deep);
	free(wide);
	free(yaml);
	free(lol);
	free(text);
}

/* Credential helpers: small shell scripts in a directory put first in PATH. */
static void install_helpers(fixture *f)
{
	char *bin = path_join(f->dir, "bin");
	free(write_file(bin, "docker-credential-testhelper",
	                "#!/bin/sh\n"
	                "[ \"$1\" = get ] || exit 2\n"
	                "read -r url\n"
	                "case \"$url\" in\n"
	                "helper.example) printf '{\"ServerURL\":\"%s\",\"Username\":\"helperuser\","
	                "\"Secret\":\"helperpass\"}\\n' \"$url\" ;;\n"
	                "*) echo 'credentials not found in native keychain'; exit 1 ;;\n"
	                "esac\n",
	                0755));
	free(write_file(
	    bin, "docker-credential-tokenhelper",
	    "#!/bin/sh\n"
	    "read -r url\n"
	    "if [ \"$url\" = https://index.docker.io/v1/ ]; then\n"
	    "  echo '{\"ServerURL\":\"x\",\"Username\":\"<token>\",\"Secret\":\"hubtoken\"}'\n"
	    "else\n"
	    "  echo 'credentials not found in native keychain'; exit 1\n"
	    "fi\n",
	    0755));
	free(write_file(bin, "docker-credential-brokenhelper",
	                "#!/bin/sh\necho 'error: " SECRET_MARK "-secret leaked'\nexit 3\n", 0755));
	free(write_file(bin, "docker-credential-garbagehelper",
	                "#!/bin/sh\nread -r url\n"
	                "printf '{\"Username\":\"u\",\"Secret\":\"" SECRET_MARK "-secret\"'\n",
	                0755));
	free(write_file(bin, "docker-credential-bighelper",
	                "#!/bin/sh\nwhile :; do echo " SECRET_MARK
	                "-secret-secret-secret-secret-secret; done\n",
	                0755));
	free(write_file(bin, "docker-credential-killedhelper", "#!/bin/sh\nkill -9 $$\n", 0755));
	size_t n = strlen(bin) + strlen(f->saved_path) + 2;
	char *path = malloc(n);
	assert_non_null(path);
	snprintf(path, n, "%s:%s", bin, f->saved_path);
	setenv("PATH", path, 1);
	free(path);
	free(bin);
}

static char *write_home_config(fixture *f, const char *text)
{
	char *dir = path_join(f->dir, "home/.docker");
	char *p = write_file(dir, "config.json", text, 0600);
	free(dir);
	return p;
}

static void test_helpers(void **state)
{
	fixture *f = *state;
	install_helpers(f);
	char *cfg = write_home_config(
	    f, "{\"credsStore\": \"testhelper\",\n"
	       " \"credHelpers\": {\"docker.io\": \"tokenhelper\", \"broken.example\": "
	       "\"brokenhelper\"},\n"
	       " \"auths\": {\"fallback.example\": {\"username\": \"fbuser\", \"password\": "
	       "\"fbpass\"},\n"
	       "           \"helper.example\": {}, \"https://index.docker.io/v1/\": {}}}\n");

	expect_cred(NULL, "helper.example", "a/b", "helperuser", "helperpass",
	            "credential helper docker-credential-testhelper");
	/* The store has nothing: fall through to auths in the same file. */
	expect_cred(NULL, "fallback.example", "a/b", "fbuser", "fbpass", cfg);
	expect_cred(NULL, "nothing.example", "a/b", NULL, NULL, NULL);

	bale_credential *c = NULL;
	bale_error *err = NULL;
	assert_int_equal(bale_auth_lookup(&c, NULL, "docker.io", "library/nginx", &err), 0);
	assert_non_null(c);
	assert_null(c->username);
	assert_null(c->password);
	assert_string_equal(c->identity_token, "hubtoken");
	assert_string_equal(c->source, "credential helper docker-credential-tokenhelper");
	bale_auth_credential_free(c);

	expect_error(NULL, "broken.example", BALE_EAUTH, "docker-credential-brokenhelper");
	free(cfg);
}

static void test_helper_failures(void **state)
{
	fixture *f = *state;
	install_helpers(f);
	static const struct {
		const char *store;
		int code;
		const char *mention;
	} cases[] = {
	    {"garbagehelper", BALE_EAUTH, "docker-credential-garbagehelper"},
	    {"bighelper", BALE_EAUTH, "docker-credential-bighelper"},
	    {"killedhelper", BALE_EAUTH, "signal"},
	    {"absent", BALE_EAUTH, "docker-credential-absent is not installed"},
	    {"../evil", BALE_EUSAGE, "credential helper name"},
	    {"a b", BALE_EUSAGE, "credential helper name"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text),
		         "{\"credsStore\": \"%s\", \"auths\": {\"x.example\": {\"auth\": "
		         "\"dTpw\"}}}",
		         cases[i].store);
		char *cfg = write_home_config(f, text);
		expect_error(NULL, "x.example", cases[i].code, cases[i].mention);
		expect_error(NULL, "x.example", cases[i].code, cfg);
		free(cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_creds_flag, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_creds_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_host_creds, setup, teardown),
	    cmocka_unit_test(test_creds_split),
	    cmocka_unit_test_setup_teardown(test_anonymous, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_docker_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_podman_scoped_keys, setup, teardown),
	    cmocka_unit_test(test_key_match),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_defaults_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_explicit_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_configs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pull_secrets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pull_secret_ignores_helpers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_pull_secrets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pull_secret_checked_whole, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_auth_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_helpers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_helper_failures, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
