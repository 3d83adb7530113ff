/* import/: the staging area of a volume set (staging.c), for the import (import.c). */
#ifndef IMPORT_PRIVATE_H
#define IMPORT_PRIVATE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "bale/buf.h"
#include "bale/bundle.h"
#include "bale/sink.h"
#include "bale/trust.h"

typedef struct import_staging import_staging;

/* Does the store hold the blob already (then a volume's copy is not staged)? */
typedef bool (*import_store_has_fn)(void *payload, const bale_digest *blob);

/* The staging area of set set_id under root, created as needed (mode 0700). */
int import_staging_open(import_staging **out, const char *root, const char *set_id,
                        bale_error **err);
void import_staging_free(import_staging *s);
/* Takes member (a whole blob) from r into the store now: 1 when it did, 0 to stage it. */
typedef int (*import_take_fn)(void *payload, bale_bundle_reader *r, const char *member,
                              const bale_digest *blob, bale_error **err);

/* The number of the volume at path, whose head is checked against trust and must be of the
 * set set_id. */
int import_staging_volume_of(const char *path, const bale_trust *trust, const char *set_id,
                             int *number, bale_error **err);
/* Can the blob be had from the staging area and the volumes given (given[k] for volume k,
 * 1…volumes): staged whole, or each of its parts staged or in a given volume? */
bool import_staging_obtainable(import_staging *s, sqlite3 *db, const bale_digest *blob,
                               const bool *given, int volumes);
/* Stages what the volume at path brings that the store lacks and is not staged yet, each
 * blob or part checked against its digest, but for the whole blobs take takes into the
 * store itself; the volume's head is checked against trust (NULL: not) and must be of the
 * set set_id. *taken counts the members staged. */
int import_staging_take(import_staging *s, const char *path, const bale_trust *trust,
                        const char *set_id, import_store_has_fn has, import_take_fn take,
                        void *payload, size_t *taken, bale_error **err);
/* Is the blob staged whole, or every part of it (db: the set's index)? */
bool import_staging_has(import_staging *s, sqlite3 *db, const bale_digest *blob);
/* Streams a staged blob (its parts in order) into the store, hashed against desc. */
int import_staging_copy(import_staging *s, sqlite3 *db, bale_sink *store,
                        const bale_descriptor *desc, bale_error **err);
/* How many parts the set cut blob into (0: carried whole). */
int import_staging_parts(sqlite3 *db, const bale_digest *blob, int *parts, bale_error **err);
/* Removes the staged files of a blob (whole and parts 1…parts). */
void import_staging_drop(import_staging *s, const bale_descriptor *desc, int parts);
/* Appends to out the volumes that hold what is not staged of blob, as ",2,3,". */
int import_staging_volumes(import_staging *s, sqlite3 *db, const bale_digest *blob, bale_buf *out,
                           bale_error **err);
/* Removes the set's staging area (its images are all in the store). */
void import_staging_remove(import_staging *s);

#endif
