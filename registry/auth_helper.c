/* docker-credential-* programs, asked the way docker asks them: `get` with the server on
 * stdin, a JSON answer on stdout. The program's name comes from a config file, so it is
 * checked before anything runs, and its output is capped and wiped. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bale/buf.h"
#include "bale/json.h"
#include "registry/auth_private.h"

#define HELPER_PREFIX "docker-credential-"
#define HELPER_OUTPUT_CAP (64u << 10)
/* What docker hands a helper for Docker Hub, whatever the reference says. */
#define DOCKER_HUB_SERVER "https://index.docker.io/v1/"

extern char **environ;

static bool helper_name_ok(const char *name)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static void send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* the helper stopped reading; its exit status tells the rest */
		data += n;
		len -= (size_t)n;
	}
}

/* Runs `program get` with `input` and a newline on stdin (the Go helpers trim it, shell
 * ones need it for `read`) and collects stdout, capped. stderr stays the caller's: a
 * helper may need it to ask for a passphrase. */
static int helper_run(bale_buf *output, int *status, const char *program, const char *input,
                      bale_error **err)
{
	int rc = 0, e;
	int in[2] = {-1, -1}, outp[2] = {-1, -1};
	pid_t pid = -1;
	bool fa_ready = false;
	posix_spawn_file_actions_t fa;
	char *argv[] = {(char *)program, (char *)"get", NULL};

	/* A socket, not a pipe, for stdin: send(MSG_NOSIGNAL) turns a helper that exits
	 * without reading into EPIPE rather than a SIGPIPE killing us, with no process-wide
	 * signal disposition to change. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 ||
	    pipe2(outp, O_CLOEXEC) < 0) {
		rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "credential helper %s",
		                          program);
		goto cleanup;
	}
	if ((e = posix_spawn_file_actions_init(&fa)) != 0) {
		rc = bale_error_set_errno(err, BALE_EGENERIC, e, "credential helper %s", program);
		goto cleanup;
	}
	fa_ready = true;
	if ((e = posix_spawn_file_actions_adddup2(&fa, in[1], STDIN_FILENO)) != 0 ||
	    (e = posix_spawn_file_actions_adddup2(&fa, outp[1], STDOUT_FILENO)) != 0) {
		rc = bale_error_set_errno(err, BALE_EGENERIC, e, "credential helper %s", program);
		goto cleanup;
	}
	if ((e = posix_spawnp(&pid, program, &fa, NULL, argv, environ)) != 0) {
		if (e == ENOENT)
			rc = bale_error_set(err, BALE_EAUTH,
			                    "credential helper %s is not installed (not in PATH)",
			                    program);
		else
			rc = bale_error_set_errno(err, BALE_EAUTH, e, "credential helper %s",
			                          program);
		goto cleanup;
	}
	close(in[1]);
	in[1] = -1;
	close(outp[1]);
	outp[1] = -1;

	send_all(in[0], input, strlen(input));
	send_all(in[0], "\n", 1);
	shutdown(in[0], SHUT_WR);

	char chunk[4096];
	for (;;) {
		ssize_t n = read(outp[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = bale_error_set_errno(err, BALE_EAUTH, errno, "credential helper %s",
			                          program);
			break;
		}
		if (n == 0)
			break;
		bale_error *too_big = NULL;
		if (bale_buf_append(output, chunk, (size_t)n, &too_big) < 0) {
			rc = bale_error_code(too_big) == BALE_EVERIFY
			         ? bale_error_set(
			               err, BALE_EAUTH,
			               "credential helper %s: output over the %zu byte limit",
			               program, output->cap)
			         : bale_error_set(err, BALE_EGENERIC, "out of memory");
			bale_error_free(too_big);
			break;
		}
	}
	OPENSSL_cleanse(chunk, sizeof(chunk));
	/* Closing first: a helper still writing past the cap gets EPIPE instead of blocking
	 * the wait below forever. */
	close(outp[0]);
	outp[0] = -1;
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR) {
			if (rc == 0)
				rc = bale_error_set_errno(err, BALE_EAUTH, errno,
				                          "credential helper %s", program);
			break;
		}
	}
cleanup:
	if (fa_ready)
		posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	return rc;
}

int reg_auth_helper_lookup(bale_credential **out, const char *name, const reg_auth_want *w,
                           bale_error **err)
{
	int rc = 0, status = 0;
	char program[128], source[160];
	json_t *reply = NULL;
	bale_buf output;
	bale_buf_init(&output, HELPER_OUTPUT_CAP, "credential helper output");
	if (!helper_name_ok(name) || strlen(name) > sizeof(program) - sizeof(HELPER_PREFIX)) {
		char shown[65];
		reg_auth_printable(shown, sizeof(shown), name, strlen(name));
		return bale_error_set(err, BALE_EUSAGE,
		                      "credential helper name \"%s\" is not [A-Za-z0-9._-]+",
		                      shown);
	}
	snprintf(program, sizeof(program), HELPER_PREFIX "%s", name);
	snprintf(source, sizeof(source), "credential helper %s", program);

	const char *server = reg_auth_is_docker_hub(w->domain) ? DOCKER_HUB_SERVER : w->domain;
	if ((rc = helper_run(&output, &status, program, server, err)) < 0)
		goto cleanup;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		static const char not_found[] = "credentials not found";
		if (WIFEXITED(status) && output.len &&
		    memmem(output.data, output.len, not_found, strlen(not_found)))
			goto cleanup;
		/* The output is not quoted: a confused helper may have printed the secret. */
		if (WIFEXITED(status))
			rc = bale_error_set(err, BALE_EAUTH, "%s failed (exit status %d)", source,
			                    WEXITSTATUS(status));
		else
			rc = bale_error_set(err, BALE_EAUTH, "%s killed by signal %d", source,
			                    WTERMSIG(status));
		goto cleanup;
	}
	if ((rc = reg_auth_json_load(&reply, output.data ? output.data : "", output.len, BALE_EAUTH,
	                             err)) < 0 ||
	    !json_is_object(reply)) {
		if (rc == 0)
			rc = bale_error_set(err, BALE_EAUTH, "not a JSON object");
		bale_error_wrap(err, "%s: invalid answer", source);
		goto cleanup;
	}
	const char *username = bale_json_str(reply, "Username");
	const char *secret = bale_json_str(reply, "Secret");
	if (!secret || !*secret)
		goto cleanup;
	if (username && strcmp(username, "<token>") == 0) /* docker's marker for a token */
		rc = reg_auth_credential_new(out, NULL, NULL, secret, source, err);
	else
		rc = reg_auth_credential_new(out, username, secret, NULL, source, err);
cleanup:
	reg_auth_json_wipe_decref(reply);
	bale_buf_free(&output);
	return rc;
}
