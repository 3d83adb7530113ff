/* The bearer scheme: the token flow of the distribution spec (WWW-Authenticate
 * realm/service/scope, token or access_token, expires_in, the OAuth2 refresh-token grant
 * for identity tokens). Tokens are cached per scope. A token request is a request like
 * any other (reg_http_perform: the same retries, deadlines, caps and TLS), to a realm
 * realm_check allowed, with Basic credentials or a refresh token. Secrets only ever go
 * into curl options and this cache; no message names them. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bale/json.h"
#include "registry/scheme.h"

/* Room for two repository scopes (names are at most 255 characters). */
#define SCOPE_MAX 1100
/* The longest lifetime believed of a token (seconds): past it a token is asked for again,
 * and now + expires_in cannot overflow whatever the server says. */
#define TOKEN_LIFETIME_MAX (24 * 3600L)

/* The scope a token must cover, also its key in the cache: pull (and push for a push
 * session, delete for a repair) on the repository, plus pull on the source of a
 * cross-repository mount, which distribution checks before it links the blob. Several
 * scopes are space-separated. A repository name never holds ':', so one that does is a
 * whole scope already ("registry:catalog:*" for the catalog). */
static void scope_for(const reg_auth *auth, char *out, size_t size, const char *repository,
                      const char *from)
{
	if (strchr(repository, ':')) {
		snprintf(out, size, "%s", repository);
		return;
	}
	snprintf(out, size, "repository:%s:%s%s%s%s%s", repository,
	         auth->http->opts.push ? "pull,push" : "pull",
	         auth->http->opts.delete_access ? ",delete" : "", from ? " repository:" : "",
	         from ? from : "", from ? ":pull" : "");
}

static reg_token *find_token(const reg_auth *auth, const char *scope)
{
	time_t now = time(NULL);
	for (reg_token *t = auth->tokens; t; t = t->next)
		if (strcmp(t->scope, scope) == 0 && t->token && t->expires > now)
			return t;
	return NULL;
}

/* The registry refused the token of this scope: the next request asks for a new one. */
static void forget(reg_auth *auth, const char *repository, const char *from)
{
	char scope[SCOPE_MAX];
	scope_for(auth, scope, sizeof(scope), repository, from);
	for (reg_token *t = auth->tokens; t; t = t->next)
		if (strcmp(t->scope, scope) == 0)
			t->expires = 0;
}

static int store_token(reg_auth *auth, const char *scope, const char *token, time_t expires,
                       bale_error **err)
{
	reg_token *t = calloc(1, sizeof(*t));
	if (!t || !(t->scope = strdup(scope)) || !(t->token = strdup(token))) {
		if (t)
			free(t->scope);
		free(t);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	t->expires = expires;
	t->next = auth->tokens;
	auth->tokens = t;
	return 0;
}

int reg_token_parse(char **token, time_t *expires, const char *body, size_t len, time_t now,
                    bale_error **err)
{
	json_t *doc = NULL;
	int rc = bale_json_parse(&doc, body, len, BALE_CAP_TOKEN_RESPONSE, "token response", err);
	if (rc < 0)
		return rc;
	const char *value = bale_json_str(doc, "token");
	if (!value || !*value)
		value = bale_json_str(doc, "access_token");
	if (!value || !*value) {
		rc = bale_error_set(err, BALE_EAUTH, "token server sent no token");
		goto cleanup;
	}
	/* It goes into an Authorization header: a CR LF in it would add headers of the
	 * token server's choosing to every request (and no real token has one). */
	size_t bad = 0;
	if (!reg_header_value_ok(value, &bad)) {
		rc = bale_error_set(err, BALE_EAUTH,
		                    "token server sent a token with a control character, space or "
		                    "non-ASCII byte (0x%02x at offset %zu); refused",
		                    (unsigned char)value[bad], bad);
		goto cleanup;
	}
	if (!(*token = strdup(value))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	long expires_in = (long)json_integer_value(json_object_get(doc, "expires_in"));
	/* The spec's default lifetime is 60 s; renew a little early. */
	if (expires_in <= 0)
		expires_in = 60;
	else if (expires_in > TOKEN_LIFETIME_MAX)
		expires_in = TOKEN_LIFETIME_MAX;
	*expires = now + (expires_in > 20 ? expires_in - 10 : expires_in);
cleanup:
	/* The response held the token in jansson's memory as well. */
	for (int i = 0; i < 2; i++) {
		json_t *t = json_object_get(doc, i ? "access_token" : "token");
		if (json_is_string(t))
			OPENSSL_cleanse((char *)json_string_value(t), json_string_length(t));
	}
	json_decref(doc);
	return rc;
}

static int add_param(bale_buf *q, CURL *h, const char *key, const char *value, bale_error **err)
{
	if (!value)
		return 0;
	char *escaped = curl_easy_escape(h, value, 0);
	if (!escaped)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	int rc = bale_buf_appendf(q, err, "%s%s=%s", q->len ? "&" : "", key, escaped);
	curl_free(escaped);
	return rc;
}

/* May bale ask the token realm of the registry's challenge for tokens? Over https
 * anywhere, its certificate verified unless the realm is itself allowed to be insecure;
 * over plain HTTP only when the realm is the origin of an insecure registry, or its
 * host is itself an --insecure-registry. Credentials go with every token request, so
 * this is where they are kept from plain HTTP to another host. *insecure: the realm may
 * use plain HTTP and unverified TLS. */
static int realm_check(const reg_http *http, const char *realm, char origin[REG_ORIGIN_MAX],
                       bool *insecure, bale_error **err)
{
	char hostport[REG_ORIGIN_MAX], own[REG_ORIGIN_MAX];
	if (reg_url_origin(realm, origin, hostport) < 0)
		return bale_error_set(
		    err, BALE_EAUTH,
		    "%s: the token realm of its challenge is not an http or https URL",
		    http->domain);
	bool same = http->base_url && reg_url_origin(http->base_url, own, NULL) == 0 &&
	            strcmp(own, origin) == 0;
	*insecure = reg_host_insecure(http, hostport) || (same && http->insecure);
	if (strncmp(origin, "https://", 8) == 0 || *insecure)
		return 0;
	return bale_error_set(err, BALE_EAUTH,
	                      "%s: token realm %s is plain HTTP and not the registry's own "
	                      "origin: bale asks it for tokens (sending credentials) only over "
	                      "HTTPS, or with --insecure-registry %s",
	                      http->domain, origin, hostport);
}

/* A token request carries the registry's Basic credentials, when there are any. */
static void token_request_apply(void *payload, CURL *h, const reg_request *req)
{
	reg_basic_apply(h, payload);
}

static const reg_auth_hooks token_request_hooks = {.apply = token_request_apply};

/* Asks the token server of the challenge for a token covering `scope`. */
static int fetch_token(reg_auth *auth, const char *scope, bale_error **err)
{
	int rc = 0;
	reg_http *http = auth->http;
	const bale_credential *cred = auth->cred;
	const char *realm = auth->challenge.realm;
	char origin[REG_ORIGIN_MAX], named[REG_ORIGIN_MAX + 40];
	bool insecure_realm = false;
	bale_buf query, body, url;
	reg_response resp;
	bale_buf_init(&query, 16384, "token request");
	bale_buf_init(&body, BALE_CAP_TOKEN_RESPONSE, "token response");
	bale_buf_init(&url, 32768, "token request URL");
	reg_response_init(&resp);
	char *token = NULL;
	time_t expires = 0;
	if (!realm || !*realm) {
		rc = bale_error_set(err, BALE_EAUTH, "%s: bearer challenge without a realm",
		                    http->domain);
		goto cleanup;
	}
	if ((rc = realm_check(http, realm, origin, &insecure_realm, err)) < 0)
		goto cleanup;
	/* reg_http_perform names an answer past its cap by what its buffer holds. */
	snprintf(named, sizeof(named), "the answer of its token server %s", origin);
	body.what = named;
	bool refresh = cred && cred->identity_token;
	if ((rc = add_param(&query, http->easy, "service", auth->challenge.service, err)) < 0)
		goto cleanup;
	/* One scope parameter per scope: what docker sends, and what every token server
	 * understands (a space-separated list is not universal). */
	for (const char *p = scope; *p && rc == 0;) {
		size_t n = strcspn(p, " ");
		char one[SCOPE_MAX];
		snprintf(one, sizeof(one), "%.*s", (int)n, p);
		rc = add_param(&query, http->easy, "scope", one, err);
		p += n + (p[n] == ' ');
	}
	if (rc < 0)
		goto cleanup;
	if (refresh &&
	    ((rc = add_param(&query, http->easy, "grant_type", "refresh_token", err)) < 0 ||
	     (rc = add_param(&query, http->easy, "refresh_token", cred->identity_token, err)) < 0 ||
	     (rc = add_param(&query, http->easy, "client_id", "bale", err)) < 0))
		goto cleanup;
	/* OAuth2: the refresh token travels in a POST body, never in a URL. */
	if (refresh)
		rc = bale_buf_appendf(&url, err, "%s", realm);
	else
		rc = bale_buf_appendf(&url, err, "%s%s%s", realm, strchr(realm, '?') ? "&" : "?",
		                      query.data ? query.data : "");
	if (rc < 0)
		goto cleanup;
	reg_request req = {.method = refresh ? "POST" : NULL,
	                   .url = url.data,
	                   .body = refresh ? query.data : NULL,
	                   .body_len = refresh ? query.len : 0,
	                   .peer = insecure_realm ? REG_PEER_INSECURE : REG_PEER_VERIFIED};
	if ((rc = reg_http_perform(http, &req, refresh ? NULL : &token_request_hooks, (void *)cred,
	                           &body, &resp, err)) < 0) {
		/* An answer over its cap is named by body.what already. */
		if (rc != BALE_EVERIFY)
			bale_error_wrap(err, "token server %s", origin);
		goto cleanup;
	}
	if ((resp.status == 401 || resp.status == 403) && !cred) {
		/* Some token servers (unlike distribution's) turn anonymous requests away
		 * instead of granting an empty token. */
		rc = bale_error_set(err, BALE_EAUTH,
		                    "%s: token server refused anonymous access (HTTP %ld): "
		                    "credentials required and none found (use --creds, --authfile "
		                    "or --pull-secret)",
		                    http->domain, resp.status);
		goto cleanup;
	}
	if (resp.status == 401 || resp.status == 403) {
		rc = bale_error_set(err, BALE_EAUTH,
		                    "%s: token server refused the credentials from %s (HTTP %ld)",
		                    http->domain, reg_auth_source(auth), resp.status);
		goto cleanup;
	}
	if (resp.status != 200) {
		rc = bale_error_set(err, BALE_ENETWORK, "%s: token server answered HTTP %ld",
		                    http->domain, resp.status);
		goto cleanup;
	}
	if ((rc = reg_token_parse(&token, &expires, body.data, body.len, time(NULL), err)) < 0) {
		bale_error_wrap(err, "%s", http->domain);
		goto cleanup;
	}
	rc = store_token(auth, scope, token, expires, err);
	bale_log_printf(http->opts.log, BALE_LOG_DEBUG, "%s: bearer token for %s (%s)",
	                http->domain, scope, reg_auth_source(auth));
cleanup:
	if (token) {
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	/* The refresh token was in the query. */
	if (query.data)
		OPENSSL_cleanse(query.data, query.len);
	bale_buf_free(&query);
	bale_buf_free(&body);
	bale_buf_free(&url);
	reg_response_free(&resp);
	return rc;
}

/* ---- the scheme ---- */

static int prepare(reg_auth *auth, const char *repository, const char *from, bale_error **err)
{
	char scope[SCOPE_MAX];
	scope_for(auth, scope, sizeof(scope), repository, from);
	return find_token(auth, scope) ? 0 : fetch_token(auth, scope, err);
}

static void apply(reg_auth *auth, CURL *h, const char *repository, const char *from)
{
	char scope[SCOPE_MAX];
	scope_for(auth, scope, sizeof(scope), repository, from);
	reg_token *t = find_token(auth, scope);
	if (t) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, t->token);
	}
}

static int challenged(reg_auth *auth, bale_challenge *ch, const char *repository, const char *from,
                      bale_error **err)
{
	if (ch->error && strcmp(ch->error, "insufficient_scope") == 0 && !auth->cred)
		return bale_error_set(err, BALE_EAUTH,
		                      "%s: access to %s refused: credentials required and none "
		                      "found (use --creds, --authfile or --pull-secret)",
		                      auth->http->domain, repository);
	/* Keep realm and service of the newest challenge: the token server may move. */
	if (ch->realm) {
		bale_auth_challenge_clear(&auth->challenge);
		auth->challenge = *ch;
		memset(ch, 0, sizeof(*ch));
	}
	auth->scheme = &reg_scheme_bearer;
	char scope[SCOPE_MAX];
	scope_for(auth, scope, sizeof(scope), repository, from);
	return fetch_token(auth, scope, err);
}

const reg_scheme reg_scheme_bearer = {
    .name = "bearer",
    .challenged = challenged,
    .prepare = prepare,
    .apply = apply,
    .forget = forget,
};

/* ---- the cache ---- */

void reg_tokens_adopt(reg_auth *auth, reg_auth *from)
{
	for (reg_token **t = &from->tokens; *t;) {
		reg_token *tok = *t;
		if (!tok->token || find_token(auth, tok->scope)) {
			t = &tok->next;
			continue;
		}
		*t = tok->next;
		tok->next = auth->tokens;
		auth->tokens = tok;
	}
}

void reg_tokens_free(reg_token *list)
{
	for (reg_token *t = list, *next; t; t = next) {
		next = t->next;
		free(t->scope);
		if (t->token) {
			OPENSSL_cleanse(t->token, strlen(t->token));
			free(t->token);
		}
		free(t);
	}
}
