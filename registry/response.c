/* What bale keeps of a registry's answers: the headers it acts on, each capped, and the
 * words of an error body. Everything here is untrusted input (tests/fuzz/fuzz_challenge.c). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bale/json.h"
#include "registry/request.h"

void reg_response_init(reg_response *r)
{
	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	bale_buf_init(&r->www_authenticate, 8192, "WWW-Authenticate header");
	/* Upload locations carry the registry's state (distribution: an HMAC'd blob). */
	bale_buf_init(&r->location, 16384, "Location header");
}

void reg_response_free(reg_response *r)
{
	bale_buf_free(&r->www_authenticate);
	bale_buf_free(&r->location);
}

static void copy_trimmed(char *dst, size_t size, const char *src, size_t len)
{
	while (len && isspace((unsigned char)*src)) {
		src++;
		len--;
	}
	while (len && isspace((unsigned char)src[len - 1]))
		len--;
	if (len >= size)
		len = size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static bool header_is(const char *line, size_t len, const char *name, const char **value,
                      size_t *vlen)
{
	size_t n = strlen(name);
	if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
		return false;
	*value = line + n + 1;
	*vlen = len - n - 1;
	return true;
}

size_t reg_header_cb(char *data, size_t size, size_t n, void *payload)
{
	reg_response *r = payload;
	size_t len = size * n;
	const char *v;
	size_t vlen;
	char tmp[80];
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or 100-continue): start over. */
		bale_buf saved = r->www_authenticate, saved_location = r->location;
		memset(r, 0, sizeof(*r));
		r->retry_after = -1;
		r->www_authenticate = saved;
		r->location = saved_location;
		bale_buf_reset(&r->www_authenticate);
		bale_buf_reset(&r->location);
		const char *sp = memchr(data, ' ', len);
		if (sp)
			r->status = strtol(sp + 1, NULL, 10);
	} else if (header_is(data, len, "Content-Type", &v, &vlen)) {
		copy_trimmed(r->content_type, sizeof(r->content_type), v, vlen);
		char *semi = strchr(r->content_type, ';'); /* drop parameters */
		if (semi)
			copy_trimmed(r->content_type, sizeof(r->content_type), r->content_type,
			             (size_t)(semi - r->content_type));
	} else if (header_is(data, len, "Docker-Content-Digest", &v, &vlen)) {
		copy_trimmed(r->docker_digest, sizeof(r->docker_digest), v, vlen);
	} else if (header_is(data, len, "Content-Range", &v, &vlen)) {
		copy_trimmed(r->content_range, sizeof(r->content_range), v, vlen);
	} else if (header_is(data, len, "Range", &v, &vlen)) {
		copy_trimmed(r->range, sizeof(r->range), v, vlen);
	} else if (header_is(data, len, "Link", &v, &vlen)) {
		copy_trimmed(r->link, sizeof(r->link), v, vlen);
	} else if (header_is(data, len, "Location", &v, &vlen) && r->location.len == 0) {
		while (vlen && isspace((unsigned char)*v)) {
			v++;
			vlen--;
		}
		while (vlen && isspace((unsigned char)v[vlen - 1]))
			vlen--;
		if (bale_buf_append(&r->location, v, vlen, NULL) < 0) {
			r->header_error = "a Location header larger than 16 KiB";
			return 0;
		}
	} else if (header_is(data, len, "Retry-After", &v, &vlen)) {
		copy_trimmed(tmp, sizeof(tmp), v, vlen);
		char *end;
		long secs = strtol(tmp, &end, 10);
		/* Only the delay-seconds form; an HTTP date falls back to our backoff. */
		r->retry_after = (end != tmp && *end == '\0' && secs >= 0) ? secs : -1;
	} else if (header_is(data, len, "WWW-Authenticate", &v, &vlen) &&
	           r->www_authenticate.len == 0) {
		while (vlen && isspace((unsigned char)*v)) {
			v++;
			vlen--;
		}
		while (vlen && isspace((unsigned char)v[vlen - 1]))
			vlen--;
		if (bale_buf_append(&r->www_authenticate, v, vlen, NULL) < 0) {
			r->header_error = "a WWW-Authenticate header larger than 8 KiB";
			return 0;
		}
	}
	return len;
}

size_t reg_buf_write_cb(char *data, size_t size, size_t n, void *payload)
{
	bale_buf *b = payload;
	if (bale_buf_append(b, data, size * n, NULL) < 0) {
		b->len = b->cap; /* tells reg_http_perform the cap was hit */
		return 0;
	}
	return size * n;
}

void reg_describe_status(char *out, size_t size, long status, const bale_buf *body)
{
	json_t *doc = NULL;
	const char *code = NULL, *message = NULL;
	if (body && body->len &&
	    bale_json_parse(&doc, body->data, body->len, BALE_CAP_ERROR_BODY, "error", NULL) == 0) {
		json_t *first = json_array_get(json_object_get(doc, "errors"), 0);
		code = bale_json_str(first, "code");
		message = bale_json_str(first, "message");
	}
	if (code)
		snprintf(out, size, "HTTP %ld (%.40s: %.120s)", status, code,
		         message ? message : "");
	else
		snprintf(out, size, "HTTP %ld", status);
	json_decref(doc);
}
