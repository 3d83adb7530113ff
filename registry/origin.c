/* Origins: where a request went, where its answer came from, and the hosts the user
 * allowed plain HTTP for. Credentials go only where these say they may. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "registry/request.h"

int reg_url_origin(const char *url, char origin[REG_ORIGIN_MAX], char hostport[REG_ORIGIN_MAX])
{
	int rc = -1;
	char *scheme = NULL, *host = NULL, *port = NULL, *given_port = NULL;
	CURLU *u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto cleanup;
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
		goto cleanup;
	for (char *c = scheme; *c; c++) /* ASCII only: tolower() follows the locale */
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	for (char *c = host; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	int n = snprintf(origin, REG_ORIGIN_MAX, "%s://%s:%s", scheme, host, port);
	if (n < 0 || n >= REG_ORIGIN_MAX)
		goto cleanup;
	if (hostport) {
		CURLUcode pc = curl_url_get(u, CURLUPART_PORT, &given_port, 0);
		n = snprintf(hostport, REG_ORIGIN_MAX, "%s%s%s", host, pc == CURLUE_OK ? ":" : "",
		             pc == CURLUE_OK ? given_port : "");
		if (n < 0 || n >= REG_ORIGIN_MAX)
			goto cleanup;
	}
	rc = 0;
cleanup:
	if (rc < 0) {
		origin[0] = '\0';
		if (hostport)
			hostport[0] = '\0';
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(given_port);
	curl_url_cleanup(u);
	return rc;
}

void reg_own_origin(const reg_http *http, const char *url, char origin[REG_ORIGIN_MAX])
{
	if (reg_url_origin(http->base_url ? http->base_url : url, origin, NULL) < 0)
		origin[0] = '\0';
}

void reg_answer_origin(CURL *h, char origin[REG_ORIGIN_MAX])
{
	char *effective = NULL;
	origin[0] = '\0';
	if (curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective)
		reg_url_origin(effective, origin, NULL);
}

bool reg_host_insecure(const reg_http *http, const char *hostport)
{
	for (size_t i = 0; i < http->opts.n_insecure; i++)
		if (strcasecmp(http->opts.insecure[i], hostport) == 0)
			return true;
	return false;
}

bool reg_header_value_ok(const char *value, size_t *bad)
{
	for (size_t i = 0; value[i]; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c <= 0x20 || c >= 0x7f) {
			*bad = i;
			return false;
		}
	}
	return true;
}
