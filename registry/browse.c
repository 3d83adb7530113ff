/* Reading a registry's listings (the catalog, tags), HEAD of manifests and blobs, and
 * deleting manifests: what bale check needs of a site registry. Every request goes
 * through reg_perform (retries, 401 re-authorization). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/json.h"
#include "registry/registry_private.h"

/* One page of a listing: a repository name is at most 255 characters, a page of the
 * catalog at most a few thousand of them. */
#define LIST_CAP (8u << 20)
#define PAGE_SIZE 1000
/* The catalog is not a repository: its token scope stands in for one (token.c). */
#define CATALOG_SCOPE "registry:catalog:*"

void bale_registry_list_free(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static int status_error(const bale_registry *reg, const char *what, long status,
                        const bale_buf *body, bale_error **err)
{
	char st[200];
	reg_describe_status(st, sizeof(st), status, body);
	if (status == 401 || status == 403)
		return bale_error_set(err, BALE_EAUTH, "%s: access refused (%s, %s)", what, st,
		                      reg_auth_source(&reg->auth));
	if (status == 404)
		return bale_error_set(err, BALE_ENOTFOUND, "%s: not found (%s)", what, st);
	return bale_error_set(err, BALE_ENETWORK, "%s: %s", what, st);
}

/* The next page's URL from a Link header (`<URL>; rel="next"`), resolved against the
 * registry; empty when there is none. A next page on another host is refused: our
 * credentials would go with the request. */
static int next_page(const bale_registry *reg, const reg_response *resp, char *url, size_t size,
                     bale_error **err)
{
	const char *open = strchr(resp->link, '<'), *close = open ? strchr(open, '>') : NULL;
	url[0] = '\0';
	if (!resp->link[0] || !strstr(resp->link, "rel=\"next\"") || !open || !close)
		return 0;
	size_t len = (size_t)(close - open - 1);
	if (strlen(resp->link) + 1 >= sizeof(resp->link))
		return bale_error_set(err, BALE_ENETWORK, "%s: Link header too long",
		                      reg->http.domain);
	if (open[1] == '/')
		snprintf(url, size, "%s%.*s", reg->http.base_url, (int)len, open + 1);
	else if (strncmp(open + 1, reg->http.base_url, strlen(reg->http.base_url)) == 0 &&
	         open[1 + strlen(reg->http.base_url)] == '/')
		snprintf(url, size, "%.*s", (int)len, open + 1);
	else
		return bale_error_set(err, BALE_ENETWORK,
		                      "%s: the next page of a listing is on another host",
		                      reg->http.domain);
	return 0;
}

static int append(char ***list, size_t *n, const char *item, bale_error **err)
{
	char **grown = realloc(*list, (*n + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	*list = grown;
	if (!(grown[*n] = strdup(item)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	(*n)++;
	return 0;
}

/* Every page of a listing: the strings of the member `key` of each page. */
static int list_all(bale_registry *reg, const char *first, const char *scope, const char *key,
                    const char *what, char ***out, size_t *n, bale_error **err)
{
	char url[4096];
	bale_buf body;
	reg_response resp;
	json_t *doc = NULL;
	int rc = 0, pages = 0;
	*out = NULL;
	*n = 0;
	bale_buf_init(&body, LIST_CAP, what);
	snprintf(url, sizeof(url), "%s", first);
	while (url[0] && rc == 0) {
		reg_response_init(&resp);
		reg_request req = {.url = url, .repository = scope};
		if ((rc = reg_perform(reg, &req, &body, &resp, err)) == 0 && resp.status != 200)
			rc = status_error(reg, what, resp.status, &body, err);
		if (rc == 0)
			rc = bale_json_parse(&doc, body.data, body.len, LIST_CAP, what, err);
		size_t i;
		json_t *item;
		json_array_foreach(json_object_get(doc, key), i, item)
		{
			if (rc == 0 && json_is_string(item))
				rc = append(out, n, json_string_value(item), err);
		}
		json_decref(doc);
		doc = NULL;
		if (rc == 0 && ++pages > 100000)
			rc = bale_error_set(err, BALE_ENETWORK, "%s: the pages never end", what);
		if (rc == 0)
			rc = next_page(reg, &resp, url, sizeof(url), err);
		reg_response_free(&resp);
	}
	bale_buf_free(&body);
	if (rc < 0) {
		bale_registry_list_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int bale_registry_catalog(bale_registry *reg, char ***repos, size_t *n, bale_error **err)
{
	char url[1024], what[300];
	int rc = reg_ensure_pinged(reg, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "%s: repository catalog", reg->http.domain);
	snprintf(url, sizeof(url), "%s/v2/_catalog?n=%d", reg->http.base_url, PAGE_SIZE);
	return list_all(reg, url, CATALOG_SCOPE, "repositories", what, repos, n, err);
}

int bale_registry_tags(bale_registry *reg, const char *repository, char ***tags, size_t *n,
                       bale_error **err)
{
	char url[2048], what[600];
	int rc = reg_ensure_pinged(reg, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "%s/%s: tags", reg->http.domain, repository);
	snprintf(url, sizeof(url), "%s/v2/%s/tags/list?n=%d", reg->http.base_url, repository,
	         PAGE_SIZE);
	return list_all(reg, url, repository, "tags", what, tags, n, err);
}

int bale_registry_referrers(bale_registry *reg, const char *repository, const bale_digest *subject,
                            bale_buf *index, bool *supported, bale_error **err)
{
	char url[2048], what[600];
	reg_response resp;
	struct curl_slist *headers = NULL;
	int rc = reg_ensure_pinged(reg, err);
	*supported = false;
	if (rc < 0 || reg->no_referrers_api)
		return rc;
	reg_response_init(&resp);
	snprintf(what, sizeof(what), "%s/%s: referrers of %s", reg->http.domain, repository,
	         subject->str);
	snprintf(url, sizeof(url), "%s/v2/%s/referrers/%s", reg->http.base_url, repository,
	         subject->str);
	if (!(headers =
	          curl_slist_append(NULL, "Accept: application/vnd.oci.image.index.v1+json"))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	reg_request req = {.url = url, .repository = repository, .headers = headers};
	if ((rc = reg_perform(reg, &req, index, &resp, err)) < 0)
		goto cleanup;
	/* 404 is a registry without the API (distribution 2.8): the caller reads the
	 * referrers tag schema instead, as the distribution spec says. Registries that
	 * predate the API answer an unknown path with other refusals too (400, 405, 501). */
	if (resp.status == 404 || resp.status == 400 || resp.status == 405 || resp.status == 501) {
		reg->no_referrers_api = true;
		index->len = 0; /* the refusal's body is not an index */
		if (index->data)
			index->data[0] = '\0';
		goto cleanup;
	}
	if (resp.status != 200) {
		rc = status_error(reg, what, resp.status, index, err);
		goto cleanup;
	}
	*supported = true;
cleanup:
	curl_slist_free_all(headers);
	reg_response_free(&resp);
	return rc;
}

static int head(bale_registry *reg, const char *repository, const char *kind, const char *reference,
                bale_registry_head *out, bale_error **err)
{
	char url[2048], what[600];
	reg_response resp;
	bale_buf body;
	struct curl_slist *headers = NULL;
	curl_off_t length = -1;
	int rc = 0;
	memset(out, 0, sizeof(*out));
	out->size = -1;
	reg_response_init(&resp);
	bale_buf_init(&body, BALE_CAP_ERROR_BODY, "error response");
	snprintf(what, sizeof(what), "%s/%s%s%s", reg->http.domain, repository,
	         strchr(reference, ':') ? "@" : ":", reference);
	/* Without the Accept list a registry may answer for a converted schema 1 manifest. */
	if (strcmp(kind, "manifests") == 0 &&
	    !(headers = curl_slist_append(NULL, reg_accept_manifests))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = reg_ensure_pinged(reg, err)) < 0)
		goto cleanup;
	snprintf(url, sizeof(url), "%s/v2/%s/%s/%s", reg->http.base_url, repository, kind,
	         reference);
	reg_request req = {
	    .method = "HEAD", .url = url, .repository = repository, .headers = headers};
	if ((rc = reg_perform(reg, &req, &body, &resp, err)) < 0)
		goto cleanup;
	if (resp.status == 404)
		goto cleanup;
	if (resp.status != 200) {
		rc = status_error(reg, what, resp.status, &body, err);
		goto cleanup;
	}
	out->found = true;
	if (curl_easy_getinfo(reg->http.easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) ==
	    CURLE_OK)
		out->size = length;
	out->has_digest = bale_digest_parse(&out->digest, resp.docker_digest, NULL) == 0;
	snprintf(out->media_type, sizeof(out->media_type), "%s", resp.content_type);
cleanup:
	curl_slist_free_all(headers);
	bale_buf_free(&body);
	reg_response_free(&resp);
	return rc;
}

int bale_registry_head_manifest(bale_registry *reg, const char *repository, const char *reference,
                                bale_registry_head *out, bale_error **err)
{
	return head(reg, repository, "manifests", reference, out, err);
}

int bale_registry_head_blob(bale_registry *reg, const char *repository, const bale_digest *digest,
                            bale_registry_head *out, bale_error **err)
{
	return head(reg, repository, "blobs", digest->str, out, err);
}

int bale_registry_delete_manifest(bale_registry *reg, const char *repository, const char *reference,
                                  bale_error **err)
{
	char url[2048], what[600], st[200];
	reg_response resp;
	bale_buf body;
	int rc = 0;
	reg_response_init(&resp);
	bale_buf_init(&body, BALE_CAP_ERROR_BODY, "error response");
	snprintf(what, sizeof(what), "delete %s/%s%s%s", reg->http.domain, repository,
	         strchr(reference, ':') ? "@" : ":", reference);
	if ((rc = reg_ensure_pinged(reg, err)) < 0)
		goto cleanup;
	snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", reg->http.base_url, repository,
	         reference);
	reg_request req = {.method = "DELETE", .url = url, .repository = repository};
	if ((rc = reg_perform(reg, &req, &body, &resp, err)) < 0)
		goto cleanup;
	if (resp.status == 202 || resp.status == 200 || resp.status == 204)
		goto cleanup;
	if (resp.status == 405 || resp.status == 400) { /* distribution: UNSUPPORTED */
		reg_describe_status(st, sizeof(st), resp.status, &body);
		rc = bale_error_set(err, BALE_ESTORE,
		                    "%s: the registry does not allow deleting (%s)", what, st);
		goto cleanup;
	}
	rc = status_error(reg, what, resp.status, &body, err);
cleanup:
	bale_buf_free(&body);
	reg_response_free(&resp);
	return rc;
}
