/* Running containerd's ctr: the containerd store and the preflight talk to containerd
 * through it (docs/containerd.md says why). Output goes to an unnamed temporary file, so
 * neither pipe can fill while we write to ctr's stdin. */
#ifndef STORE_CTR_H
#define STORE_CTR_H

#include <stdbool.h>
#include <sys/types.h>

#include "bale/buf.h"
#include "bale/error.h"

#define STORE_CTR_MAX_WORDS 24

typedef struct store_ctr {
	char *words[STORE_CTR_MAX_WORDS]; /* ctr …, -a SOCKET, -n NAMESPACE */
	size_t n_words;
	const char *socket, *ns; /* point into words */
} store_ctr;

/* ctr_cmd: "ctr" when NULL or empty; "k3s ctr" is two words. ns: "k8s.io" when NULL. */
int store_ctr_init(store_ctr *c, const char *ctr_cmd, const char *socket, const char *ns,
                   bale_error **err);
void store_ctr_free(store_ctr *c);
/* Starts ctr ARGS…; with stdin_fd, a pipe to its standard input. */
int store_ctr_spawn(const store_ctr *c, const char *const *args, int *stdin_fd, pid_t *pid,
                    int *out_fd, bale_error **err);
/* Starts ctr ARGS… with its standard input from in_fd (-1: /dev/null), its standard
 * output on a pipe (*out_fd: read it as it comes, for content too large to keep) and its
 * error output in a temporary file (*err_fd: give it to store_ctr_wait). */
int store_ctr_spawn_reader(const store_ctr *c, const char *const *args, int in_fd, pid_t *pid,
                           int *out_fd, int *err_fd, bale_error **err);
/* Waits for it; *output gets what it printed; a failure names its last line. */
int store_ctr_wait(pid_t pid, int out_fd, const char *what, bale_buf *output, bale_error **err);
/* Like store_ctr_wait, without blocking: *done = false (and nothing else happens) while
 * ctr still runs. */
int store_ctr_poll(pid_t pid, int out_fd, const char *what, bool *done, bale_buf *output,
                   bale_error **err);
/* Both in one: runs ctr ARGS… to completion. */
int store_ctr_run(const store_ctr *c, const char *const *args, const char *what, bale_buf *output,
                  bale_error **err);

/* One of the runs of store_ctr_run_all. */
typedef struct store_ctr_job {
	const char *const *args; /* ctr's arguments, NULL-terminated */
	const char *what;        /* for messages: "content label" */
	int rc;                  /* how it went: 0, or a failure err tells */
	bale_error *err;         /* the caller frees it */
} store_ctr_job;

#define STORE_CTR_MAX_PARALLEL 8

/* Runs every job, up to parallel (at most STORE_CTR_MAX_PARALLEL) at once, and waits for
 * them all: each ctr run mostly starts up and waits on containerd, so runs that do not
 * depend on each other overlap. Each job's rc and err say how it went. */
void store_ctr_run_all(const store_ctr *c, store_ctr_job *jobs, size_t n, size_t parallel);

#endif
