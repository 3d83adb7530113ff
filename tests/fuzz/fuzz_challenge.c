/* Fuzz target for what a registry or its token server sends back before any content:
 * WWW-Authenticate challenges, the response headers bale keeps (status line,
 * Content-Type, Docker-Content-Digest, ranges, Location, Retry-After), token server
 * JSON and registry error bodies. Every one must end in a result or a clean error.
 * Input: the first line is a WWW-Authenticate value; every line is also a header line,
 * as libcurl hands them over (a status line starts a response again); what follows the
 * first line is a response body. libFuzzer runs it (scripts/fuzz.sh); replay.c runs it in the test
 * suite. */
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/auth.h"
#include "registry/scheme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Headers and token answers are small; the body readers have their own caps. */
#define INPUT_CAP (256u << 10)
/* A fixed "now", so token lifetimes come out the same on every run. */
#define FUZZ_NOW ((time_t)1700000000)

static void challenge(const char *value)
{
	bale_challenge c;
	bale_error *err = NULL;
	if (bale_auth_challenge_parse(&c, value, &err) == 0) {
		if (!c.scheme || !*c.scheme) {
			fprintf(stderr, "fuzz_challenge: parsed without a scheme\n");
			abort();
		}
		bale_auth_challenge_clear(&c);
	} else if (!bale_error_message(err)) {
		fprintf(stderr, "fuzz_challenge: refused without a message\n");
		abort();
	}
	bale_error_free(err);
}

/* Each header line as libcurl gives it: its bytes with the line end, in a buffer of
 * its own that libcurl keeps NUL-terminated one past the end. */
static void headers(const char *text, size_t len)
{
	reg_response resp;
	reg_response_init(&resp);
	for (size_t at = 0; at < len;) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (text + at)) + 1 : len - at;
		char *line = malloc(n + 1);
		if (!line)
			break;
		memcpy(line, text + at, n);
		line[n] = '\0';
		size_t taken = reg_header_cb(line, 1, n, &resp);
		free(line);
		if (taken != n) /* refused: libcurl would abort the transfer */
			break;
		at += n;
	}
	if (resp.www_authenticate.len)
		challenge(resp.www_authenticate.data);
	reg_response_free(&resp);
}

/* The body as a transfer leaves it: in a bale_buf, NUL-terminated. */
static void bodies(const bale_buf *body)
{
	bale_error *err = NULL;
	char *token = NULL;
	time_t expires = 0;
	if (reg_token_parse(&token, &expires, body->data, body->len, FUZZ_NOW, &err) == 0) {
		if (!token || !*token || expires <= FUZZ_NOW) {
			fprintf(stderr, "fuzz_challenge: token %s, expiring at %lld\n",
			        token && *token ? "given" : "empty", (long long)expires);
			abort();
		}
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	bale_error_free(err);

	char status[200];
	reg_describe_status(status, sizeof(status), 401, body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > INPUT_CAP)
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	const char *nl = memchr(text, '\n', size);
	size_t first = nl ? (size_t)(nl - text) : size;
	char *value = strndup(text, first);
	if (value) {
		challenge(value);
		free(value);
	}
	headers(text, size);
	size_t body_len = nl ? size - first - 1 : 0;
	bale_buf body;
	bale_buf_init(&body, INPUT_CAP, "body");
	if (bale_buf_append(&body, text + size - body_len, body_len, NULL) == 0)
		bodies(&body);
	bale_buf_free(&body);
	free(text);
	return 0;
}
