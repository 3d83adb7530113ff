/* The Basic scheme: the user name and password go with every request, by libcurl, which
 * keeps them from a redirect to another host (request.c). */
#include <curl/curl.h>

#include "registry/scheme.h"

void reg_basic_apply(CURL *h, const bale_credential *cred)
{
	if (cred && cred->username && cred->password) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, cred->username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, cred->password);
	}
}

static int challenged(reg_auth *auth, bale_challenge *ch, const char *repository, const char *from,
                      bale_error **err)
{
	/* Asked again with nothing to send: the same answer would come back. */
	if (!auth->cred || !auth->cred->username || !auth->cred->password)
		return bale_error_set(err, BALE_EAUTH,
		                      "%s: credentials required for %s and none found (use "
		                      "--creds, --authfile or --pull-secret)",
		                      auth->http->domain, repository);
	auth->scheme = &reg_scheme_basic;
	return 0;
}

static void apply(reg_auth *auth, CURL *h, const char *repository, const char *from)
{
	reg_basic_apply(h, auth->cred);
}

const reg_scheme reg_scheme_basic = {
    .name = "basic",
    .challenged = challenged,
    .apply = apply,
};
