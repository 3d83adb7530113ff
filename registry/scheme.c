/* Which scheme a registry asks for and whose credentials answer it: the credential of
 * each repository, looked up once; the scheme of the ping and of every 401 after it; the
 * hooks that prepare, apply and renew credentials around each request. A 401 counts only
 * from the registry's own origin: acting on a redirect target's would hand the registry's
 * credentials to whoever the redirect points at. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/log.h"
#include "registry/scheme.h"

static const reg_scheme *const schemes[] = {&reg_scheme_basic, &reg_scheme_bearer};

void reg_auth_init(reg_auth *auth, reg_http *http)
{
	memset(auth, 0, sizeof(*auth));
	auth->http = http;
}

void reg_auth_clear(reg_auth *auth)
{
	reg_tokens_free(auth->tokens);
	bale_auth_challenge_clear(&auth->challenge);
	for (reg_cred *c = auth->creds, *next; c; c = next) {
		next = c->next;
		bale_auth_credential_free(c->cred);
		free(c->repository);
		free(c);
	}
	memset(auth, 0, sizeof(*auth));
}

/* Makes the repository's credential the current one, looking it up the first time. */
static int load_credential(reg_auth *auth, const char *repository, bale_error **err)
{
	const reg_http *http = auth->http;
	for (reg_cred *c = auth->creds; c; c = c->next) {
		if (strcmp(c->repository, repository) == 0) {
			auth->cred = c->cred;
			return 0;
		}
	}
	auth->cred = NULL;
	reg_cred *c = calloc(1, sizeof(*c));
	if (!c || !(c->repository = strdup(repository))) {
		free(c);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	bale_auth_options none = {0};
	int rc = bale_auth_lookup(&c->cred, http->opts.auth ? http->opts.auth : &none, http->domain,
	                          repository, err);
	if (rc < 0) { /* not cached: asked again, the lookup fails again, never anonymous */
		free(c->repository);
		free(c);
		return rc;
	}
	c->next = auth->creds;
	auth->creds = c;
	auth->cred = c->cred;
	bale_log_printf(http->opts.log, BALE_LOG_DEBUG, "%s/%s: %s", http->domain, repository,
	                reg_auth_source(auth));
	return 0;
}

int reg_auth_pinged(reg_auth *auth, const char *www_authenticate, bale_error **err)
{
	bale_challenge ch;
	if (!www_authenticate) {
		auth->scheme = NULL;
		return 0;
	}
	if (bale_auth_challenge_parse(&ch, www_authenticate, err) < 0)
		return bale_error_wrap(err, "%s", auth->http->domain);
	bale_auth_challenge_clear(&auth->challenge);
	auth->challenge = ch;
	/* Whatever is not bearer gets what Basic sends; its 401 will say more. */
	auth->scheme = strcmp(ch.scheme, "bearer") == 0 ? &reg_scheme_bearer : &reg_scheme_basic;
	return 0;
}

int reg_auth_prepare(reg_auth *auth, const char *repository, const char *from, bale_error **err)
{
	/* No lookup for a registry that asks for nothing: a broken auth file does not stand
	 * in the way of an anonymous one. */
	if (!repository || !auth->scheme)
		return 0;
	int rc = load_credential(auth, repository, err);
	if (rc < 0 || !auth->scheme->prepare)
		return rc;
	return auth->scheme->prepare(auth, repository, from, err);
}

void reg_auth_apply(reg_auth *auth, CURL *h, const char *repository, const char *from)
{
	if (repository && auth->scheme)
		auth->scheme->apply(auth, h, repository, from);
}

void reg_auth_forget(reg_auth *auth, const char *repository, const char *from)
{
	if (auth->scheme && auth->scheme->forget)
		auth->scheme->forget(auth, repository, from);
}

int reg_authorize(reg_auth *auth, const char *repository, const char *from,
                  const char *www_authenticate, bale_error **err)
{
	int rc = 0;
	const reg_http *http = auth->http;
	const reg_scheme *scheme = NULL;
	bale_challenge ch = {0};
	if (!www_authenticate || !*www_authenticate)
		return bale_error_set(err, BALE_EAUTH, "%s: access to %s refused (HTTP 401, %s)",
		                      http->domain, repository, reg_auth_source(auth));
	if ((rc = bale_auth_challenge_parse(&ch, www_authenticate, err)) < 0)
		return bale_error_wrap(err, "%s", http->domain);
	if ((rc = load_credential(auth, repository, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(*schemes) && !scheme; i++)
		if (strcmp(ch.scheme, schemes[i]->name) == 0)
			scheme = schemes[i];
	if (!scheme) {
		rc = bale_error_set(err, BALE_EAUTH, "%s: unsupported authentication scheme %.20s",
		                    http->domain, ch.scheme);
		goto cleanup;
	}
	rc = scheme->challenged(auth, &ch, repository, from, err);
cleanup:
	bale_auth_challenge_clear(&ch);
	return rc;
}

int reg_check_401_origin(const reg_http *http, CURL *h, const char *url, const char *what,
                         bale_error **err)
{
	char own[REG_ORIGIN_MAX], answer[REG_ORIGIN_MAX];
	reg_own_origin(http, url, own);
	reg_answer_origin(h, answer);
	if (own[0] && strcmp(own, answer) == 0)
		return 0;
	/* A 401 of a redirect target is not the registry asking: acting on it (a token from
	 * the realm it names, or the registry's challenge replaced by it) would hand the
	 * registry's credentials to whoever the redirect points at. */
	return bale_error_set(err, BALE_EAUTH,
	                      "%s: redirected to %s, which answered HTTP 401; bale sends "
	                      "credentials only to %s",
	                      what, answer[0] ? answer : "another server", http->domain);
}

void reg_auth_adopt(reg_auth *auth, reg_auth *from)
{
	/* Tokens for scopes auth has no live token for, and credentials for repositories it
	 * has not looked up; the rest stays with from and is freed with it. */
	reg_tokens_adopt(auth, from);
	for (reg_cred **c = &from->creds; *c;) {
		reg_cred *cred = *c;
		bool known = false;
		for (reg_cred *mine = auth->creds; mine && !known; mine = mine->next)
			known = strcmp(mine->repository, cred->repository) == 0;
		if (known) {
			c = &cred->next;
			continue;
		}
		if (from->cred == cred->cred)
			from->cred = NULL;
		*c = cred->next;
		cred->next = auth->creds;
		auth->creds = cred;
	}
}

/* ---- the hooks of a registry's requests ---- */

static int hook_prepare(void *payload, const reg_request *req, bale_error **err)
{
	return reg_auth_prepare(payload, req->repository, req->mount_from, err);
}

static void hook_apply(void *payload, CURL *h, const reg_request *req)
{
	reg_auth_apply(payload, h, req->repository, req->mount_from);
}

static int hook_challenge(void *payload, CURL *h, const reg_request *req, const reg_response *resp,
                          bool may_retry, bale_error **err)
{
	reg_auth *auth = payload;
	char what[600];
	/* Named by method and path: no origin twice, no query. */
	const char *path = strstr(req->url, "://");
	path = path ? path + 3 + strcspn(path + 3, "/") : req->url;
	snprintf(what, sizeof(what), "%s: %s %.*s", auth->http->domain,
	         req->method ? req->method : "GET", (int)strcspn(path, "?"), path);
	int rc = reg_check_401_origin(auth->http, h, req->url, what, err);
	if (rc < 0 || !req->repository || !may_retry)
		return rc;
	reg_auth_forget(auth, req->repository, req->mount_from);
	if ((rc = reg_authorize(auth, req->repository, req->mount_from, resp->www_authenticate.data,
	                        err)) < 0)
		return rc;
	return 1;
}

const reg_auth_hooks reg_auth_registry_hooks = {
    .prepare = hook_prepare,
    .apply = hook_apply,
    .challenge = hook_challenge,
};
