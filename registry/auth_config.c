/* docker config.json and podman auth.json: the credential of the best `auths` entry for
 * the registry, and the helper credHelpers or credsStore names, which is asked first. */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bale/buf.h"
#include "bale/json.h"
#include "registry/auth_private.h"

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
	reg_auth_printable(name, sizeof(name), key, strlen(key));
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
	reg_auth_printable(name, sizeof(name), key, strlen(key));
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
	rc = reg_auth_credential_new(out, username, password, entry_str(entry, "identitytoken"),
	                             source, err);
cleanup:
	reg_auth_cleanse_free(decoded);
	return rc;
}

static int auths_lookup(bale_credential **out, const json_t *auths, const char *source,
                        const reg_auth_want *w, bale_error **err)
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

/* The helper for the registry in one config: credHelpers[host] first, then credsStore. */
static int config_helper(const char **out, const json_t *config, const reg_auth_want *w,
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

int reg_auth_config_lookup(bale_credential **out, const json_t *config, bool legacy, bool helpers,
                           const char *source, const reg_auth_want *w, bale_error **err)
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
		if (helper && ((rc = reg_auth_helper_lookup(out, helper, w, err)) < 0 || *out))
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
                              bool run_helpers, const reg_auth_want *w, bale_error **err)
{
	int rc = 0;
	const char *helper = NULL;
	json_t *config = NULL;
	/* `touch ~/.docker/config.json` leaves an empty file; docker reads it as no config. */
	if (len == strspn(text, " \t\r\n"))
		return 0;
	if ((rc = reg_auth_json_load(&config, text, len, BALE_EUSAGE, err)) < 0 ||
	    (!run_helpers && (rc = config_helper(&helper, config, w, err)) < 0) ||
	    (rc = reg_auth_config_lookup(out, config, false, run_helpers, path, w, err)) < 0)
		bale_error_wrap(err, "%s", path);
	reg_auth_json_wipe_decref(config);
	return rc;
}

int reg_auth_config_text_lookup(bale_credential **out, const char *path, const char *text,
                                size_t len, const char *domain, const char *repository,
                                bale_error **err)
{
	const reg_auth_want w = {domain, repository ? repository : ""};
	*out = NULL;
	return config_text_lookup(out, path, text, len, false, &w, err);
}

int reg_auth_file_lookup(bale_credential **out, const char *path, bool must_exist,
                         const reg_auth_want *w, bale_error **err)
{
	int rc = 0;
	bale_buf buf;
	bale_buf_init(&buf, BALE_CAP_AUTHFILE, "auth file");
	if (access(path, F_OK) < 0 && (errno == ENOENT || errno == ENOTDIR)) {
		if (must_exist) /* a file named that does not exist: not found, as everywhere */
			rc = bale_error_set_errno(err, BALE_ENOTFOUND, errno, "%s", path);
		goto cleanup;
	}
	if ((rc = bale_buf_read_file(&buf, path, err)) < 0)
		goto cleanup;
	rc = config_text_lookup(out, path, buf.data, buf.len, true, w, err);
cleanup:
	bale_buf_free(&buf);
	return rc;
}
