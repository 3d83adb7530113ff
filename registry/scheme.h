/* Auth schemes: how bale authenticates to one registry. The ping, and every 401 after it,
 * names a scheme; scheme.c looks up the repository's credential (bale_auth_lookup),
 * hands the work to that scheme, and gives the transport the hooks that do this around
 * every request (registry_private.h has the call graph). Basic (basic.c) puts the user name
 * and password on each request; bearer (token.c) trades them for tokens, cached per
 * scope. Secrets only ever go into curl options and these caches; no message names one. */
#ifndef BALE_REGISTRY_SCHEME_H
#define BALE_REGISTRY_SCHEME_H

#include <curl/curl.h>
#include <stdbool.h>
#include <time.h>

#include "bale/auth.h"
#include "registry/request.h"

/* A repository's credential, looked up once. */
typedef struct reg_cred {
	char *repository;
	bale_credential *cred; /* NULL: anonymous */
	struct reg_cred *next;
} reg_cred;

/* A bearer token and the scope it covers. */
typedef struct reg_token {
	char *scope;
	char *token;
	time_t expires;
	struct reg_token *next;
} reg_token;

typedef struct reg_scheme reg_scheme;

/* The auth state of one registry. */
typedef struct reg_auth {
	reg_http *http;           /* the registry's transport: token requests go through it */
	const reg_scheme *scheme; /* what the registry asks for; NULL: nothing (yet) */
	bale_challenge challenge; /* the newest bearer challenge: realm and service */
	reg_token *tokens;        /* bearer tokens, per scope */
	reg_cred *creds;          /* looked up once per repository */
	bale_credential *cred;    /* the current repository's (owned by creds) */
} reg_auth;

/* One scheme. repository is never NULL here; from is the source of a cross-repository
 * mount (NULL: none), whose pull access a token must cover as well. auth->cred is the
 * repository's credential when any of these runs. */
struct reg_scheme {
	const char *name; /* as a challenge spells it, in lower case */
	/* A 401 named this scheme: takes its challenge (fields it keeps are moved out of ch)
	 * and gets what the next attempt needs, or says why there is nothing to try. */
	int (*challenged)(reg_auth *auth, bale_challenge *ch, const char *repository,
	                  const char *from, bale_error **err);
	/* Before a request: what needs a request of its own (a token). May be NULL. */
	int (*prepare)(reg_auth *auth, const char *repository, const char *from, bale_error **err);
	/* Puts the credentials on a handle. */
	void (*apply)(reg_auth *auth, CURL *h, const char *repository, const char *from);
	/* The registry refused what apply put there: do not send it again. May be NULL. */
	void (*forget)(reg_auth *auth, const char *repository, const char *from);
};

extern const reg_scheme reg_scheme_basic;  /* basic.c */
extern const reg_scheme reg_scheme_bearer; /* token.c */

/* ---- the session's side (scheme.c) ---- */

void reg_auth_init(reg_auth *auth, reg_http *http);
void reg_auth_clear(reg_auth *auth);
/* Takes the ping's answer: the WWW-Authenticate of its 401, NULL when it answered 200. */
int reg_auth_pinged(reg_auth *auth, const char *www_authenticate, bale_error **err);
/* Before a request for repository (NULL: none, nothing to do): looks up its credential
 * and gets what the scheme needs. */
int reg_auth_prepare(reg_auth *auth, const char *repository, const char *from, bale_error **err);
/* Puts the credentials reg_auth_prepare readied on a handle. */
void reg_auth_apply(reg_auth *auth, CURL *h, const char *repository, const char *from);
/* Reacts to a 401 of the registry: takes its challenge, switching scheme if it names
 * another, and gets new credentials. BALE_EAUTH when there is nothing more to try. Call
 * reg_auth_forget first: what the refused request carried is not to be sent again. */
int reg_authorize(reg_auth *auth, const char *repository, const char *from,
                  const char *www_authenticate, bale_error **err);
void reg_auth_forget(reg_auth *auth, const char *repository, const char *from);
/* Refuses to act on a 401 that a redirect target sent: BALE_EAUTH naming `what`, the
 * target's origin and the registry, 0 when the answer came from the registry's origin. */
int reg_check_401_origin(const reg_http *http, CURL *h, const char *url, const char *what,
                         bale_error **err);
/* Names the credential in use for messages: where it came from, or "no credentials".
 * Inline: the schemes name it too, and call nothing above them. */
static inline const char *reg_auth_source(const reg_auth *auth)
{
	return auth->cred && auth->cred->source ? auth->cred->source : "no credentials";
}
/* Takes over from's tokens and credentials that auth lacks. */
void reg_auth_adopt(reg_auth *auth, reg_auth *from);
/* The hooks of a registry session's requests; their payload is its reg_auth. */
extern const reg_auth_hooks reg_auth_registry_hooks;

/* ---- basic (basic.c) ---- */

/* Puts a user name and password on a handle, when the credential has them. */
void reg_basic_apply(CURL *h, const bale_credential *cred);

/* ---- bearer (token.c) ---- */

/* Reads a token server's answer (untrusted JSON): the token ("token", else
 * "access_token") into *token, a copy the caller wipes and frees, and in *expires when
 * to stop sending it, from expires_in and now. BALE_EAUTH when there is no token. */
int reg_token_parse(char **token, time_t *expires, const char *body, size_t len, time_t now,
                    bale_error **err);
/* Takes over from's live tokens for scopes auth has none for. */
void reg_tokens_adopt(reg_auth *auth, reg_auth *from);
/* Wipes and frees a token list. */
void reg_tokens_free(reg_token *list);

#endif
