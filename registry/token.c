/* Authorization against a registry: Basic credentials, and the bearer token flow of
 * the distribution spec (WWW-Authenticate realm/service/scope, token or access_token,
 * expires_in, OAuth2 refresh-token grant for identity tokens). Tokens are cached per
 * scope. Secrets only ever go into curl options and this cache; no message names them. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bale/json.h"
#include "registry/registry_private.h"

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
static void scope_for(const bale_registry *reg, char *out, size_t size, const char *repository,
                      const char *from)
{
	if (strchr(repository, ':')) {
		snprintf(out, size, "%s", repository);
		return;
	}
	snprintf(out, size, "repository:%s:%s%s%s%s%s", repository,
	         reg->opts.push ? "pull,push" : "pull", reg->opts.delete_access ? ",delete" : "",
	         from ? " repository:" : "", from ? from : "", from ? ":pull" : "");
}

static reg_token *find_token(bale_registry *reg, const char *scope)
{
	time_t now = time(NULL);
	for (reg_token *t = reg->tokens; t; t = t->next)
		if (strcmp(t->scope, scope) == 0 && t->token && t->expires > now)
			return t;
	return NULL;
}

void reg_forget_token(bale_registry *reg, const char *repository)
{
	reg_forget_token_from(reg, repository, NULL);
}

void reg_forget_token_from(bale_registry *reg, const char *repository, const char *from)
{
	char scope[SCOPE_MAX];
	scope_for(reg, scope, sizeof(scope), repository, from);
	for (reg_token *t = reg->tokens; t; t = t->next)
		if (strcmp(t->scope, scope) == 0)
			t->expires = 0;
}

static int load_credential(bale_registry *reg, const char *repository, bale_error **err)
{
	for (reg_cred *c = reg->creds; c; c = c->next) {
		if (strcmp(c->repository, repository) == 0) {
			reg->cred = c->cred;
			return 0;
		}
	}
	reg->cred = NULL;
	reg_cred *c = calloc(1, sizeof(*c));
	if (!c || !(c->repository = strdup(repository))) {
		free(c);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	bale_auth_options none = {0};
	int rc = bale_auth_lookup(&c->cred, reg->opts.auth ? reg->opts.auth : &none, reg->domain,
	                          repository, err);
	if (rc < 0) { /* not cached: asked again, the lookup fails again, never anonymous */
		free(c->repository);
		free(c);
		return rc;
	}
	c->next = reg->creds;
	reg->creds = c;
	reg->cred = c->cred;
	bale_log_printf(reg->opts.log, BALE_LOG_DEBUG, "%s/%s: %s", reg->domain, repository,
	                reg_auth_source(reg));
	return 0;
}

const char *reg_auth_source(const bale_registry *reg)
{
	static const char anonymous[] = "no credentials";
	return reg->cred && reg->cred->source ? reg->cred->source : anonymous;
}

static int store_token(bale_registry *reg, const char *scope, const char *token, time_t expires,
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
	t->next = reg->tokens;
	reg->tokens = t;
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
static int realm_check(const bale_registry *reg, const char *realm, char origin[REG_ORIGIN_MAX],
                       bool *insecure, bale_error **err)
{
	char hostport[REG_ORIGIN_MAX], own[REG_ORIGIN_MAX];
	if (reg_url_origin(realm, origin, hostport) < 0)
		return bale_error_set(
		    err, BALE_EAUTH,
		    "%s: the token realm of its challenge is not an http or https URL",
		    reg->domain);
	bool same = reg->base_url && reg_url_origin(reg->base_url, own, NULL) == 0 &&
	            strcmp(own, origin) == 0;
	*insecure = reg_host_insecure(reg, hostport) || (same && reg->insecure);
	if (strncmp(origin, "https://", 8) == 0 || *insecure)
		return 0;
	return bale_error_set(err, BALE_EAUTH,
	                      "%s: token realm %s is plain HTTP and not the registry's own "
	                      "origin: bale asks it for tokens (sending credentials) only over "
	                      "HTTPS, or with --insecure-registry %s",
	                      reg->domain, origin, hostport);
}

/* Asks the token server of the challenge for a token covering `scope`. */
static int fetch_token(bale_registry *reg, const char *scope, bale_error **err)
{
	int rc = 0;
	const char *realm = reg->challenge.realm;
	char origin[REG_ORIGIN_MAX];
	bool insecure_realm = false;
	bale_buf query, body;
	reg_response resp;
	char *url = NULL;
	char errbuf[CURL_ERROR_SIZE];
	CURL *h = curl_easy_init();
	bale_buf_init(&query, 16384, "token request");
	bale_buf_init(&body, BALE_CAP_TOKEN_RESPONSE, "token response");
	reg_response_init(&resp);
	char *token = NULL;
	time_t expires = 0;
	if (!h) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if (!realm || !*realm) {
		rc = bale_error_set(err, BALE_EAUTH, "%s: bearer challenge without a realm",
		                    reg->domain);
		goto cleanup;
	}
	if ((rc = realm_check(reg, realm, origin, &insecure_realm, err)) < 0)
		goto cleanup;
	bool refresh = reg->cred && reg->cred->identity_token;
	if ((rc = add_param(&query, h, "service", reg->challenge.service, err)) < 0)
		goto cleanup;
	/* One scope parameter per scope: what docker sends, and what every token server
	 * understands (a space-separated list is not universal). */
	for (const char *p = scope; *p && rc == 0;) {
		size_t n = strcspn(p, " ");
		char one[SCOPE_MAX];
		snprintf(one, sizeof(one), "%.*s", (int)n, p);
		rc = add_param(&query, h, "scope", one, err);
		p += n + (p[n] == ' ');
	}
	if (rc < 0)
		goto cleanup;
	if (refresh &&
	    ((rc = add_param(&query, h, "grant_type", "refresh_token", err)) < 0 ||
	     (rc = add_param(&query, h, "refresh_token", reg->cred->identity_token, err)) < 0 ||
	     (rc = add_param(&query, h, "client_id", "bale", err)) < 0))
		goto cleanup;
	for (int attempt = 0;; attempt++) {
		curl_easy_reset(h);
		reg_setup_handle(reg, h, NULL, err);
		/* The registry's --insecure-registry is not the realm's: another host is
		 * verified, and followed only to https, unless it is listed itself. */
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, insecure_realm ? 0L : 1L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, insecure_realm ? 0L : 2L);
		curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR,
		                 insecure_realm ? "http,https" : "https");
		reg_limit_request(reg, h, body.cap);
		bale_buf_reset(&body);
		errbuf[0] = '\0';
		free(url);
		url = NULL;
		if (refresh) { /* OAuth2: the refresh token travels in a POST body */
			url = strdup(realm);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, query.data);
		} else {
			size_t n = strlen(realm) + query.len + 2;
			if ((url = malloc(n)))
				snprintf(url, n, "%s%s%s", realm, strchr(realm, '?') ? "&" : "?",
				         query.data ? query.data : "");
			if (reg->cred && reg->cred->username && reg->cred->password) {
				curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
				curl_easy_setopt(h, CURLOPT_USERNAME, reg->cred->username);
				curl_easy_setopt(h, CURLOPT_PASSWORD, reg->cred->password);
			}
		}
		if (!url) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, reg_header_cb);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, reg_buf_write_cb);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		CURLcode cc = curl_easy_perform(h);
		if ((cc == CURLE_WRITE_ERROR && !resp.header_error && body.len == body.cap) ||
		    cc == CURLE_FILESIZE_EXCEEDED) {
			rc = bale_error_set(
			    err, BALE_EVERIFY,
			    "%s: the answer of its token server %s is larger than %zu "
			    "bytes",
			    reg->domain, origin, body.cap);
			goto cleanup;
		}
		bool again = cc != CURLE_OK ? reg_curl_retryable(reg, cc)
		                            : reg_status_retryable(resp.status);
		if (!again || attempt >= reg->opts.retries) {
			if (cc != CURLE_OK) {
				rc = reg_curl_error(err, reg, h, cc, errbuf, &resp,
				                    reg->opts.request_timeout);
				bale_error_wrap(err, "token server %s of %s", origin, reg->domain);
				goto cleanup;
			}
			break;
		}
		reg_sleep_ms(reg_backoff_ms(reg, attempt + 1, resp.retry_after));
	}
	if ((resp.status == 401 || resp.status == 403) && !reg->cred) {
		/* Some token servers (unlike distribution's) turn anonymous requests away
		 * instead of granting an empty token. */
		rc = bale_error_set(err, BALE_EAUTH,
		                    "%s: token server refused anonymous access (HTTP %ld): "
		                    "credentials required and none found (use --creds, --authfile "
		                    "or --pull-secret)",
		                    reg->domain, resp.status);
		goto cleanup;
	}
	if (resp.status == 401 || resp.status == 403) {
		rc = bale_error_set(err, BALE_EAUTH,
		                    "%s: token server refused the credentials from %s (HTTP %ld)",
		                    reg->domain, reg_auth_source(reg), resp.status);
		goto cleanup;
	}
	if (resp.status != 200) {
		rc = bale_error_set(err, BALE_ENETWORK, "%s: token server answered HTTP %ld",
		                    reg->domain, resp.status);
		goto cleanup;
	}
	if ((rc = reg_token_parse(&token, &expires, body.data, body.len, time(NULL), err)) < 0) {
		bale_error_wrap(err, "%s", reg->domain);
		goto cleanup;
	}
	rc = store_token(reg, scope, token, expires, err);
	bale_log_printf(reg->opts.log, BALE_LOG_DEBUG, "%s: bearer token for %s (%s)", reg->domain,
	                scope, reg_auth_source(reg));
cleanup:
	if (token) {
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	if (h)
		curl_easy_cleanup(h);
	free(url);
	bale_buf_free(&query);
	bale_buf_free(&body);
	reg_response_free(&resp);
	return rc;
}

int reg_apply_auth(bale_registry *reg, CURL *h, const char *repository, const char *from,
                   bale_error **err)
{
	int rc = load_credential(reg, repository, err);
	if (rc < 0)
		return rc;
	if (reg->scheme == REG_AUTH_BASIC) {
		if (reg->cred && reg->cred->username && reg->cred->password) {
			curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
			curl_easy_setopt(h, CURLOPT_USERNAME, reg->cred->username);
			curl_easy_setopt(h, CURLOPT_PASSWORD, reg->cred->password);
		}
		return 0;
	}
	if (reg->scheme != REG_AUTH_BEARER)
		return 0;
	char scope[SCOPE_MAX];
	scope_for(reg, scope, sizeof(scope), repository, from);
	reg_token *t = find_token(reg, scope);
	if (!t) {
		if ((rc = fetch_token(reg, scope, err)) < 0)
			return rc;
		t = find_token(reg, scope);
	}
	if (t) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, t->token);
	}
	return 0;
}

int reg_authorize(bale_registry *reg, const char *repository, const char *www_authenticate,
                  bale_error **err)
{
	return reg_authorize_from(reg, repository, NULL, www_authenticate, err);
}

int reg_authorize_from(bale_registry *reg, const char *repository, const char *from,
                       const char *www_authenticate, bale_error **err)
{
	int rc = 0;
	bale_challenge ch = {0};
	if (!www_authenticate || !*www_authenticate)
		return bale_error_set(err, BALE_EAUTH, "%s: access to %s refused (HTTP 401, %s)",
		                      reg->domain, repository, reg_auth_source(reg));
	if ((rc = bale_challenge_parse(&ch, www_authenticate, err)) < 0)
		return bale_error_wrap(err, "%s", reg->domain);
	if ((rc = load_credential(reg, repository, err)) < 0)
		goto cleanup;
	if (strcmp(ch.scheme, "basic") == 0) {
		if (!reg->cred || !reg->cred->username || !reg->cred->password) {
			rc = bale_error_set(err, BALE_EAUTH,
			                    "%s: credentials required for %s and none found (use "
			                    "--creds, --authfile or --pull-secret)",
			                    reg->domain, repository);
			goto cleanup;
		}
		reg->scheme = REG_AUTH_BASIC;
		goto cleanup;
	}
	if (strcmp(ch.scheme, "bearer") != 0) {
		rc = bale_error_set(err, BALE_EAUTH, "%s: unsupported authentication scheme %.20s",
		                    reg->domain, ch.scheme);
		goto cleanup;
	}
	if (ch.error && strcmp(ch.error, "insufficient_scope") == 0 && !reg->cred) {
		rc = bale_error_set(err, BALE_EAUTH,
		                    "%s: access to %s refused: credentials required and none found "
		                    "(use --creds, --authfile or --pull-secret)",
		                    reg->domain, repository);
		goto cleanup;
	}
	/* Keep realm and service of the newest challenge: the token server may move. */
	if (ch.realm) {
		bale_challenge_clear(&reg->challenge);
		reg->challenge = ch;
		memset(&ch, 0, sizeof(ch));
	}
	reg->scheme = REG_AUTH_BEARER;
	char scope[SCOPE_MAX];
	scope_for(reg, scope, sizeof(scope), repository, from);
	rc = fetch_token(reg, scope, err);
cleanup:
	bale_challenge_clear(&ch);
	return rc;
}

void bale_registry_adopt(bale_registry *reg, bale_registry *from)
{
	/* Tokens for scopes reg has no live token for, and credentials for repositories it
	 * has not looked up; the rest stays with from and is freed with it. */
	for (reg_token **t = &from->tokens; *t;) {
		reg_token *tok = *t;
		if (!tok->token || find_token(reg, tok->scope)) {
			t = &tok->next;
			continue;
		}
		*t = tok->next;
		tok->next = reg->tokens;
		reg->tokens = tok;
	}
	for (reg_cred **c = &from->creds; *c;) {
		reg_cred *cred = *c;
		bool known = false;
		for (reg_cred *mine = reg->creds; mine && !known; mine = mine->next)
			known = strcmp(mine->repository, cred->repository) == 0;
		if (known) {
			c = &cred->next;
			continue;
		}
		if (from->cred == cred->cred)
			from->cred = NULL;
		*c = cred->next;
		cred->next = reg->creds;
		reg->creds = cred;
	}
}
