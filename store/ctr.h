/* Running containerd's ctr: the containerd store and the preflight talk to containerd
 * through it (docs/containerd.md says why). Output goes to an unnamed temporary file, so
 * neither pipe can fill while we write to ctr's stdin. */
#ifndef BALE_CTR_H
#define BALE_CTR_H

#include <sys/types.h>

#include "bale/buf.h"
#include "bale/error.h"

#define BALE_CTR_MAX_WORDS 24

typedef struct bale_ctr {
	char *words[BALE_CTR_MAX_WORDS]; /* ctr …, -a SOCKET, -n NAMESPACE */
	size_t n_words;
	const char *socket, *ns; /* point into words */
} bale_ctr;

/* ctr_cmd: "ctr" when NULL or empty; "k3s ctr" is two words. ns: "k8s.io" when NULL. */
int bale_ctr_init(bale_ctr *c, const char *ctr_cmd, const char *socket, const char *ns,
                  bale_error **err);
void bale_ctr_free(bale_ctr *c);
/* Starts ctr ARGS…; with stdin_fd, a pipe to its standard input. */
int bale_ctr_spawn(const bale_ctr *c, const char *const *args, int *stdin_fd, pid_t *pid,
                   int *out_fd, bale_error **err);
/* Starts ctr ARGS… with its standard input from in_fd (-1: /dev/null), its standard
 * output on a pipe (*out_fd: read it as it comes, for content too large to keep) and its
 * error output in a temporary file (*err_fd: give it to bale_ctr_wait). */
int bale_ctr_spawn_reader(const bale_ctr *c, const char *const *args, int in_fd, pid_t *pid,
                          int *out_fd, int *err_fd, bale_error **err);
/* Waits for it; *output gets what it printed; a failure names its last line. */
int bale_ctr_wait(pid_t pid, int out_fd, const char *what, bale_buf *output, bale_error **err);
/* Both in one: runs ctr ARGS… to completion. */
int bale_ctr_run(const bale_ctr *c, const char *const *args, const char *what, bale_buf *output,
                 bale_error **err);

#endif
