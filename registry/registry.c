/* The registry session: opening a registry, the /v2/ ping that says where its API lives
 * and which scheme it asks for, and the requests of the session, which carry its
 * credentials. Requests and retries are request.c's, auth schemes scheme.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/log.h"
#include "registry/registry_private.h"

void bale_registry_options_init(bale_registry_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->retries = 4;
	opts->retry_delay_ms = 500;
	opts->connect_timeout = 30;
	opts->progress_timeout = 60;
	opts->min_speed = 1024;
	opts->request_timeout = 120;
	opts->max_retry_after = 60;
}

int bale_registry_open(bale_registry **out, const char *domain, const bale_registry_options *opts,
                       bale_error **err)
{
	bale_registry *reg = calloc(1, sizeof(*reg));
	if (!reg)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	int rc = reg_http_init(&reg->http, domain, opts, err);
	reg_auth_init(&reg->auth, &reg->http);
	if (rc < 0)
		bale_registry_free(reg);
	else
		*out = reg;
	return rc;
}

void bale_registry_free(bale_registry *reg)
{
	if (!reg)
		return;
	reg_auth_clear(&reg->auth);
	reg_http_clear(&reg->http);
	free(reg);
}

const char *bale_registry_domain(const bale_registry *reg)
{
	return reg->http.domain;
}

void bale_registry_adopt(bale_registry *reg, bale_registry *from)
{
	reg_auth_adopt(&reg->auth, &from->auth);
}

int reg_perform(bale_registry *reg, const reg_request *req, bale_buf *body, reg_response *resp,
                bale_error **err)
{
	return reg_http_perform(&reg->http, req, &reg_auth_registry_hooks, &reg->auth, body, resp,
	                        err);
}

int reg_setup_handle(bale_registry *reg, CURL *h, const char *repository, bale_error **err)
{
	int rc = reg_auth_prepare(&reg->auth, repository, NULL, err);
	if (rc < 0)
		return rc;
	reg_http_setup(&reg->http, h, REG_PEER_REGISTRY);
	reg_auth_apply(&reg->auth, h, repository, NULL);
	return 0;
}

static int ping_url(bale_registry *reg, const char *scheme, bool once, bale_error **err)
{
	int rc = 0;
	char url[512];
	reg_response resp;
	bale_buf body;
	reg_response_init(&resp);
	bale_buf_init(&body, BALE_CAP_ERROR_BODY, "ping response");
	snprintf(url, sizeof(url), "%s://%s/v2/", scheme, reg->http.host);
	reg_request req = {.url = url, .once = once};
	if ((rc = reg_perform(reg, &req, &body, &resp, err)) < 0)
		goto cleanup;
	if (resp.status == 401 && resp.www_authenticate.len) {
		if ((rc = reg_auth_pinged(&reg->auth, resp.www_authenticate.data, err)) < 0)
			goto cleanup;
	} else if (resp.status == 200) {
		reg_auth_pinged(&reg->auth, NULL, NULL);
	} else {
		char what[200];
		reg_describe_status(what, sizeof(what), resp.status, &body);
		rc = bale_error_set(err, BALE_ENETWORK,
		                    "%s does not answer as an OCI registry (GET /v2/: %s)",
		                    reg->http.domain, what);
		goto cleanup;
	}
	size_t n = strlen(scheme) + strlen(reg->http.host) + 4;
	reg->http.base_url = malloc(n);
	if (!reg->http.base_url) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	snprintf(reg->http.base_url, n, "%s://%s", scheme, reg->http.host);
cleanup:
	bale_buf_free(&body);
	reg_response_free(&resp);
	return rc;
}

int reg_ensure_pinged(bale_registry *reg, bale_error **err)
{
	if (reg->http.base_url)
		return 0;
	if (!reg->http.insecure)
		return ping_url(reg, "https", false, err);
	/* Insecure registries: TLS without verification if it answers, else plain HTTP
	 * (docker's order). A refused TLS handshake is not worth retrying. */
	bale_error *tls_err = NULL;
	if (ping_url(reg, "https", true, &tls_err) == 0)
		return 0;
	bale_log_printf(reg->http.opts.log, BALE_LOG_DEBUG, "%s: no TLS (%s), trying plain HTTP",
	                reg->http.domain, bale_error_message(tls_err));
	bale_error_free(tls_err);
	return ping_url(reg, "http", false, err);
}

int bale_registry_ping(bale_registry *reg, bale_error **err)
{
	return reg_ensure_pinged(reg, err);
}
