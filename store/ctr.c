#include "store/ctr.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bale/fs.h"

extern char **environ;

#define MAX_WORDS STORE_CTR_MAX_WORDS
#define OUTPUT_CAP (1u << 20)

static int add_word(store_ctr *c, const char *w, size_t len, bale_error **err)
{
	if (c->n_words >= STORE_CTR_MAX_WORDS - 1)
		return bale_error_set(err, BALE_EUSAGE, "--ctr: too many words");
	if (!(c->words[c->n_words] = strndup(w, len)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	c->n_words++;
	return 0;
}

/* Something listens on the socket, asked before ctr is: ctr waits 10 s for a socket that
 * is not there, or where nothing listens, and then says only that it timed out. */
static int check_socket(const char *socket_path, bale_error **err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	const char *path = strncmp(socket_path, "unix://", 7) == 0 ? socket_path + 7 : socket_path;
	struct stat st;
	if (stat(path, &st) < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno,
		                            "no socket there (is containerd running? name its "
		                            "socket: --store containerd:PATH)");
	if (!S_ISSOCK(st.st_mode))
		return bale_error_set(err, BALE_ESTORE, "not a socket (--store containerd:PATH)");
	if (strlen(path) >= sizeof(addr.sun_path))
		return 0; /* ctr will say */
	memcpy(addr.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = 0;
	if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "%s",
		                          errno == EACCES         ? "its socket is root's"
		                          : errno == ECONNREFUSED ? "nothing listens there"
		                                                  : "connect");
	if (fd >= 0)
		close(fd);
	return rc;
}

int store_ctr_init(store_ctr *c, const char *ctr_cmd, const char *socket, const char *ns,
                   bale_error **err)
{
	int rc = check_socket(socket, err);
	memset(c, 0, sizeof(*c));
	if (rc < 0)
		return rc;
	const char *cmd = ctr_cmd && *ctr_cmd ? ctr_cmd : "ctr";
	for (const char *p = cmd; *p && rc == 0;) { /* "k3s ctr" is two words */
		size_t len = strcspn(p, " ");
		if (len)
			rc = add_word(c, p, len, err);
		p += len + (p[len] == ' ');
	}
	if (!ns || !*ns)
		ns = "k8s.io";
	if (rc < 0 || (rc = add_word(c, "-a", 2, err)) < 0 ||
	    (rc = add_word(c, socket, strlen(socket), err)) < 0 ||
	    (rc = add_word(c, "-n", 2, err)) < 0 || (rc = add_word(c, ns, strlen(ns), err)) < 0) {
		store_ctr_free(c);
		return rc;
	}
	c->socket = c->words[c->n_words - 3];
	c->ns = c->words[c->n_words - 1];
	return 0;
}

void store_ctr_free(store_ctr *c)
{
	for (size_t i = 0; i < c->n_words; i++)
		free(c->words[i]);
	memset(c, 0, sizeof(*c));
}

#define ARGV_MAX (MAX_WORDS + 24)

/* ctr's words, then args: the argv of one run (NULL-terminated, at most ARGV_MAX). */
static void build_argv(const store_ctr *s, const char *const *args, char *argv[ARGV_MAX])
{
	size_t n = 0;
	for (size_t i = 0; i < s->n_words; i++)
		argv[n++] = s->words[i];
	for (size_t i = 0; args[i] && n < ARGV_MAX - 1; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
}

/* An unnamed temporary file for what ctr says. */
static int output_file(int *fd, bale_error **err)
{
	return bale_fs_temp_unnamed(fd, BALE_ESTORE, "temporary file for ctr output", err);
}

/* Runs ctr with extra arguments; its output (stdout and stderr) goes to *out_fd, a
 * temporary file, so neither pipe can fill up while we write its stdin. */
int store_ctr_spawn(const store_ctr *s, const char *const *args, int *stdin_fd, pid_t *pid,
                    int *out_fd, bale_error **err)
{
	char *argv[ARGV_MAX];
	int rc = 0, in[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	build_argv(s, args, argv);
	if ((rc = output_file(out_fd, err)) < 0)
		return rc;
	if (stdin_fd && pipe2(in, O_CLOEXEC) < 0) {
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "pipe to ctr");
		close(*out_fd);
		*out_fd = -1;
		return rc;
	}
	posix_spawn_file_actions_init(&fa);
	if (stdin_fd)
		posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, *out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, *out_fd, 2);
	int e = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (in[0] >= 0)
		close(in[0]);
	if (e != 0) {
		if (in[1] >= 0)
			close(in[1]);
		return bale_error_set_errno(err, BALE_ESTORE, e, "run %s", argv[0]);
	}
	if (stdin_fd)
		*stdin_fd = in[1];
	return rc;
}

int store_ctr_spawn_reader(const store_ctr *s, const char *const *args, int in_fd, pid_t *pid,
                           int *out_fd, int *err_fd, bale_error **err)
{
	char *argv[ARGV_MAX];
	int rc, out[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	build_argv(s, args, argv);
	*out_fd = -1;
	if ((rc = output_file(err_fd, err)) < 0)
		return rc;
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(*err_fd);
		*err_fd = -1;
		return bale_error_set_errno(err, BALE_ESTORE, errno, "pipe from ctr");
	}
	posix_spawn_file_actions_init(&fa);
	if (in_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, *err_fd, 2);
	int e = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	if (e != 0) {
		close(out[0]);
		close(*err_fd);
		*err_fd = -1;
		return bale_error_set_errno(err, BALE_ESTORE, e, "run %s", argv[0]);
	}
	*out_fd = out[0];
	return 0;
}

/* Reads what ctr said (capped), NUL-terminated, for messages and parsing. */
static int read_output(int fd, bale_buf *out, bale_error **err)
{
	char chunk[8192];
	bale_buf_init(out, OUTPUT_CAP, "ctr output");
	if (lseek(fd, 0, SEEK_SET) < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "read ctr output");
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (bale_buf_append(out, chunk, (size_t)n, NULL) < 0)
			break; /* the start is what matters */
	}
	return bale_buf_append(out, "", 0, err);
}

/* The last non-empty line of ctr's output: where it says what went wrong. */
static const char *last_line(bale_buf *out)
{
	char *end = out->data + out->len;
	while (end > out->data && (end[-1] == '\n' || end[-1] == ' '))
		*--end = '\0';
	char *nl = end;
	while (nl > out->data && nl[-1] != '\n')
		nl--;
	return *nl ? nl : "no output";
}

/* What ctr said and how it ended, once it has. */
static int collect(int status, int out_fd, const char *what, bale_buf *output, bale_error **err)
{
	int rc = read_output(out_fd, output, err);
	close(out_fd);
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = bale_error_set(err, BALE_ESTORE, "ctr %s failed: %.300s", what,
		                    last_line(output));
	return rc;
}

int store_ctr_wait(pid_t pid, int out_fd, const char *what, bale_buf *output, bale_error **err)
{
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return collect(status, out_fd, what, output, err);
}

int store_ctr_poll(pid_t pid, int out_fd, const char *what, bool *done, bale_buf *output,
                   bale_error **err)
{
	int status = 0;
	pid_t r;
	while ((r = waitpid(pid, &status, WNOHANG)) < 0 && errno == EINTR)
		;
	*done = r != 0;
	return *done ? collect(status, out_fd, what, output, err) : 0;
}

/* Runs ctr to completion; *output holds what it printed (caller frees). */
int store_ctr_run(const store_ctr *s, const char *const *args, const char *what, bale_buf *output,
                  bale_error **err)
{
	pid_t pid;
	int out_fd = -1;
	int rc = store_ctr_spawn(s, args, NULL, &pid, &out_fd, err);
	if (rc < 0) {
		if (out_fd >= 0)
			close(out_fd);
		bale_buf_init(output, 1, "ctr output");
		return rc;
	}
	return store_ctr_wait(pid, out_fd, what, output, err);
}

void store_ctr_run_all(const store_ctr *s, store_ctr_job *jobs, size_t n, size_t parallel)
{
	pid_t pids[STORE_CTR_MAX_PARALLEL];
	int fds[STORE_CTR_MAX_PARALLEL];
	size_t started = 0;
	if (parallel < 1)
		parallel = 1;
	if (parallel > STORE_CTR_MAX_PARALLEL)
		parallel = STORE_CTR_MAX_PARALLEL;
	/* Started in order and waited for in order: slot i % parallel is job i's. */
	for (size_t done = 0; done < n; done++) {
		for (; started < n && started - done < parallel; started++) {
			store_ctr_job *j = &jobs[started];
			size_t slot = started % parallel;
			j->err = NULL;
			fds[slot] = -1;
			j->rc = store_ctr_spawn(s, j->args, NULL, &pids[slot], &fds[slot], &j->err);
			if (j->rc < 0 && fds[slot] >= 0)
				close(fds[slot]);
		}
		store_ctr_job *j = &jobs[done];
		size_t slot = done % parallel;
		if (j->rc < 0)
			continue; /* it did not start */
		bale_buf out;
		j->rc = store_ctr_wait(pids[slot], fds[slot], j->what, &out, &j->err);
		bale_buf_free(&out);
	}
}
