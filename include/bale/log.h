/* Log and progress hooks: libbale never prints; the CLI installs these callbacks.
 * Messages never contain secrets: callers pass hosts, repositories and digests only. */
#ifndef BALE_LOG_H
#define BALE_LOG_H

#include <stdint.h>

typedef enum bale_log_level {
	BALE_LOG_ERROR = 0,
	BALE_LOG_WARN = 1,
	BALE_LOG_INFO = 2,
	BALE_LOG_DEBUG = 3,
} bale_log_level;

/* One transfer under way: what it belongs to (a repository, an image) and which blob. */
typedef struct bale_progress_item {
	const char *name;
	const char *digest;
	int64_t bytes_done, bytes_total;
} bale_progress_item;

/* At most this many items in one report: a terminal shows each on a line of its own. */
#define BALE_PROGRESS_ITEMS_MAX 6

/* Progress of a batch of blob transfers, or (phase not NULL) of a phase that moves no
 * bytes a user would count, so that a long quiet wait says what it waits for: phase
 * "resolving references", done of total. images_total is 0 when the run does not count
 * images whole; items, when not NULL, are the transfers under way. */
typedef struct bale_progress {
	int64_t bytes_done;
	int64_t bytes_total;
	int blobs_done;
	int blobs_total;
	const char *phase;
	int done, total;
	int images_done, images_total;
	const bale_progress_item *items;
	int n_items;
} bale_progress;

typedef struct bale_log {
	void (*message)(void *payload, bale_log_level level, const char *text);
	void (*progress)(void *payload, const bale_progress *p);
	void *payload;
	bale_log_level level; /* messages above this level are dropped */
} bale_log;

/* No-op when log or log->message is NULL. */
void bale_log_printf(const bale_log *log, bale_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
