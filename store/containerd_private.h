/* Inside the containerd store: the store's state, shared by the sink and its stream
 * (store_containerd.c), the sorting and landing of images (containerd_images.c) and the
 * labels (containerd_labels.c). */
#ifndef STORE_CONTAINERD_PRIVATE_H
#define STORE_CONTAINERD_PRIVATE_H

#include <archive.h>
#include <stdbool.h>
#include <sys/types.h>

#include "bale/buf.h"
#include "bale/error.h"
#include "bale/log.h"
#include "bale/platform.h"
#include "bale/sys/sink.h"
#include "store/ctr.h"

enum { NAME_PENDING, NAME_LANDED, NAME_FAILED };

typedef struct named {
	char *ref;
	char by_digest[1024]; /* repo@sha256:…, the name that holds the content */
	bale_descriptor root;
	int state;
	bool runnable;  /* containerd can unpack it for the node's platform */
	bool walked;    /* runnable and uses are known */
	bool held;      /* its digest reference holds its content (a content stream ended) */
	bool unpacking; /* in the unpack stream now running */
	char **uses;    /* the node's content it refers to: root, manifests, blobs */
	size_t n_uses;
	bale_error *why; /* NAME_FAILED: the cause */
} named;

/* The bytes of a manifest or index streamed this run: read again when the images are
 * sorted, without asking containerd. */
typedef struct kept {
	bale_digest digest;
	bale_buf bytes;
} kept;

/* A blob's labels as `ctr content ls` shows them ("k=v,k=v"), kept for those with a
 * distribution source: a new repository is added to the ones there. */
typedef struct source {
	char *digest;
	char *labels;
} source;

typedef struct ctr_store {
	bale_sink base;
	store_ctr ctr;
	bool pin;
	char *platform_flag; /* --platform=… or --all-platforms, or NULL (ctr's default) */
	char **present;      /* digests containerd had when we started, sorted */
	size_t n_present;
	/* the import stream */
	pid_t child;
	int in_fd, out_fd;
	struct archive *a;
	bale_sink_blob *active; /* the blob whose tar member is open */
	size_t stream_covered;  /* sent[…stream_covered): held by a name, or covered by one
	                         * of the images named so far (the open stream's) */
	size_t cuts;            /* content streams ended before the commit */
	pid_t unpack_child;     /* an unpack stream running while content streams, or 0 */
	int unpack_out;
	bale_sink_blob **queue; /* spooled blobs, committed, waiting for their turn */
	size_t n_queue;
	char **sent; /* digests streamed this run: removed again if it fails */
	size_t n_sent;
	named *names;
	size_t n_names;
	char **had_names; /* image names containerd had before the commit, sorted */
	size_t n_had_names;
	bool had_names_loaded;
	kept *kept;
	size_t n_kept;
	source *sources; /* blobs with distribution-source labels, and those labels */
	size_t n_sources;
	const bale_platform_set *platforms; /* what the node unpacks */
	bale_platform_set *host;            /* owned, when opts gave none */
	bool broken, committed, rolled_back;
	char *buf;
	const bale_log *log;
} ctr_store;

/* Which names a stream gives: the digest references of the images still on their way
 * (the content stream, whose names hold the content), of those to unpack, or every name
 * of the images that landed. */
enum { GIVE_HOLDING, GIVE_UNPACK, GIVE_LANDED };

/* store_containerd.c: the sink, its tar streams into ctr, the names the node had. */
/* strcmp for qsort and bsearch over char *. */
int ctrd_by_string(const void *a, const void *b);
int ctrd_has_blob(bale_sink *sink, const bale_descriptor *desc, bool *out, bale_error **err);
int ctrd_names_stream(ctr_store *s, bool unpack, int which, bale_buf *out, bale_error **err);
/* Starts a stream of names alone and ends its input; ctr goes on by itself (*child, its
 * output in *out_fd for store_ctr_wait or store_ctr_poll). */
int ctrd_names_stream_start(ctr_store *s, bool unpack, int which, pid_t *child, int *out_fd,
                            bale_error **err);
void ctrd_remove_name(ctr_store *s, const char *name);
int ctrd_push_string(char ***list, size_t *n, const char *text, size_t len, bale_error **err);
bool ctrd_gives(const named *n, int which);

/* containerd_images.c: what each image is, the unpack, what a failed image loses. */
int ctrd_unpack_images(ctr_store *s);
/* The unpack stream of the images held and runnable, started without waiting for it. */
int ctrd_unpack_start(ctr_store *s, bale_error **err);
/* Waits for (block) or looks in on the unpack stream started; once it has ended, the
 * images in it landed or failed, or go again. */
void ctrd_unpack_reap(ctr_store *s, bool block);
int ctrd_walk_image(ctr_store *s, named *n, bale_error **err);
void ctrd_fail_image(named *n, int code, const char *what, const char *detail);
void ctrd_drop_failed(ctr_store *s);
int ctrd_read_blob(ctr_store *s, const bale_descriptor *d, bale_buf *out, bale_error **err);
bool ctrd_holds(ctr_store *s, const bale_descriptor *d);

/* containerd_labels.c: CRI labels, distribution sources, references across platforms. */
int ctrd_label_landed(ctr_store *s, bale_error **err);
int ctrd_names_in_place(ctr_store *s, bool *out, bale_error **err);
int ctrd_remember_source(ctr_store *s, const char *digest, const char *label, bale_error **err);

#endif
