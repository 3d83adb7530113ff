/* Fuzz target for registry credentials read from files bale did not write: docker's
 * config.json, podman's auth.json, and Kubernetes dockerconfigjson / dockercfg Secrets
 * (YAML or JSON, one or several documents, Lists). The same bytes are read as each,
 * for a few registries, and must end in a credential, none, or a clean error.
 * A credential helper is never run: auth files go through the lookup that checks
 * credHelpers and credsStore without running them, Secrets never name helpers, and the
 * default files are pointed at a path that cannot exist. libFuzzer runs it
 * (scripts/fuzz.sh); replay.c runs it in the test suite. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/auth.h"
#include "bale/buf.h"
#include "registry/auth_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Auth files are capped at BALE_CAP_AUTHFILE when read; past that only time is spent. */
#define INPUT_CAP BALE_CAP_AUTHFILE

static const struct {
	const char *domain, *repository;
} wanted[] = {
    {"docker.io", "library/nginx"},
    {"k8s.example", "team/app"},
    {"127.0.0.1:5000", NULL},
};

static void broken(const char *what)
{
	fprintf(stderr, "fuzz_auth: %s\n", what);
	abort();
}

static void check_credential(const bale_credential *c)
{
	if (!c->source || (!c->password && !c->identity_token) || (c->username && !*c->username))
		broken("malformed credential");
}

/* bale_auth_lookup reads the default files when no Secret answers: none may exist. */
static void no_default_files(void)
{
	static int done;
	if (done++)
		return;
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	setenv("DOCKER_CONFIG", "/dev/null/bale-fuzz", 1); /* ENOTDIR: skipped */
}

static void as_auth_file(const char *text, size_t len)
{
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
		bale_credential *c = NULL;
		bale_error *err = NULL;
		if (reg_auth_config_text_lookup(&c, "fuzz.json", text, len, wanted[i].domain,
		                                wanted[i].repository, &err) == 0) {
			if (c)
				check_credential(c);
		} else if (c) {
			broken("credential and error at once");
		}
		bale_auth_credential_free(c);
		bale_error_free(err);
	}
}

static void as_secret(const char *text)
{
	bale_manifest_secret secret = {text, "fuzz.yaml:1 (Secret fuzz)"};
	bale_auth_options opts = {.manifest_secrets = &secret, .n_manifest_secrets = 1};
	bale_error *err = NULL;
	bale_auth_check(&opts, &err);
	bale_error_clear(&err);
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
		bale_credential *c = NULL;
		if (bale_auth_lookup(&c, &opts, wanted[i].domain, wanted[i].repository, &err) ==
		    0) {
			if (c)
				check_credential(c);
		} else if (c) {
			broken("credential and error at once");
		}
		bale_auth_credential_free(c);
		bale_error_clear(&err);
	}
}

/* The first line as --creds, an auths key and a base64 value. */
static void as_pieces(const char *text)
{
	size_t n = strcspn(text, "\n");
	char *line = strndup(text, n);
	if (!line)
		return;
	bale_auth_options opts = {.creds = line};
	bale_credential *c = NULL;
	bale_error *err = NULL;
	if (bale_auth_lookup(&c, &opts, "docker.io", "library/nginx", &err) == 0 && c)
		check_credential(c);
	bale_auth_credential_free(c);
	bale_error_clear(&err);
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		reg_auth_key_match(line, wanted[i].domain, wanted[i].repository);
	char *decoded = NULL;
	size_t decoded_len = 0;
	if (reg_auth_base64_decode(&decoded, &decoded_len, line, n, &err) == 0) {
		if (strlen(decoded) > decoded_len)
			broken("base64 output longer than it says");
		free(decoded);
	}
	bale_error_free(err);
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > INPUT_CAP)
		return 0;
	no_default_files();
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	as_auth_file(text, size);
	as_secret(text);
	as_pieces(text);
	free(text);
	return 0;
}
