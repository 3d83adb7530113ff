/* Registry credentials, looked up in the places docker, podman and the kubelet look, in
 * the order include/bale/auth.h gives: the command line, pull secrets, then auth files.
 * Each source lives in a file of its own (auth_private.h lists them). */
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/auth.h"
#include "registry/auth_private.h"

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
	reg_auth_want w = {domain, repository ? repository : ""};
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
		if (!hc->host || bale_auth_creds_host_match(hc->host, domain))
			return reg_auth_flag_credential(out, hc->user_pass,
			                                hc->source ? hc->source : "--creds", err);
	}
	if (opts->creds)
		return reg_auth_flag_credential(out, opts->creds, "--creds", err);
	for (size_t i = 0; i < opts->n_pull_secrets; i++)
		if ((rc = reg_auth_secret_file_lookup(out, opts->pull_secrets[i], &w, err)) < 0 ||
		    *out)
			goto cleanup;
	/* Secrets the manifests name, in the kubelet's order (pod's, then service account's). */
	for (size_t i = 0; i < opts->n_manifest_secrets; i++)
		if ((rc = reg_auth_secret_text_lookup(
		         out, opts->manifest_secrets[i].where, opts->manifest_secrets[i].text,
		         strlen(opts->manifest_secrets[i].text), &w, err)) < 0 ||
		    *out)
			return rc;
	if (opts->given_only)
		return 0;

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
		if ((rc = reg_auth_file_lookup(out, files[i].path, files[i].must_exist, &w, err)) <
		    0)
			goto cleanup;
cleanup:
	for (size_t i = 0; i < n_files; i++)
		free(files[i].path);
	return rc;
}
