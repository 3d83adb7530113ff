/* The node ledger: a SQLite record of every import on this node, successful or not
 * (docs/design.md §7, docs/ledger-schema.md). Default /var/lib/bale/ledger.db. */
#ifndef BALE_LEDGER_H
#define BALE_LEDGER_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/error.h"

#define BALE_DEFAULT_LEDGER "/var/lib/bale/ledger.db"
#define BALE_LEDGER_SCHEMA_VERSION 3

/* One image an import named in the store (also when others of the same import failed). */
typedef struct bale_ledger_image {
	const char *ref;       /* normalized reference */
	const char *digest;    /* root digest */
	const char *platforms; /* "linux/amd64,linux/arm64/v8" as imported */
} bale_ledger_image;

/* One import attempt. Strings may be NULL when not known (e.g. a bundle that could not
 * be opened has no id). */
typedef struct bale_ledger_entry {
	const char *bundle_path;
	const char *bundle_id;
	const char *bundle_created; /* RFC 3339 UTC, as the bundle's manifest says */
	const char
	    *bundle_digest; /* "sha256:…" of the bundle's data, as its digest frame records */
	const char *signer_key_id;
	bool signature_checked;
	const char *store;     /* "oci:/var/lib/bale/store", "containerd:/run/…" */
	int exit_status;       /* 0 on success */
	const char *error;     /* the one-line error, NULL on success */
	int64_t blobs_written; /* blobs the store did not have */
	int64_t blobs_present; /* blobs it had already */
	int64_t bytes_written;
	double seconds;
	const bale_ledger_image *images;
	size_t n_images;
} bale_ledger_entry;

/* Appends one entry (time = now UTC, host = this host's name) in one transaction,
 * creating the file, its directory and the schema when missing. Safe when several
 * processes record at once (SQLite locking with a busy timeout). */
int bale_ledger_record(const char *path, const bale_ledger_entry *entry, bale_error **err);

/* Opens a ledger read-only for queries (bale ledger "SQL"), with the same guards as
 * bale_index_db_open_bytes: no writes, no ATTACH. BALE_ENOTFOUND when there is none. */
int bale_ledger_open_readonly(sqlite3 **out, const char *path, bale_error **err);

/* Opens the ledger for the checks of an import (bale_ledger_last_set), read-write as the
 * import that records its entry, so a journal an interrupted import left is rolled back
 * rather than refused. BALE_ENOTFOUND when there is no ledger yet. */
int bale_ledger_open_for_import(sqlite3 **out, const char *path, bale_error **err);

/* What set ref in a store last, as the ledger tells: the digest, the bundle that carried
 * it (id and creation time, "" when not recorded: ledgers of schema 1 have no creation
 * time) and when. stores: the spellings of one store (n_stores of them). BALE_ENOTFOUND
 * when no import on record named ref there. db: from bale_ledger_open_for_import or
 * bale_ledger_open_readonly. */
typedef struct bale_ledger_setter {
	char digest[80];
	char bundle_id[80];
	char bundle_created[40];
	char time[32];
} bale_ledger_setter;
int bale_ledger_last_set(sqlite3 *db, const char *ref, const char *const *stores, size_t n_stores,
                         bale_ledger_setter *out, bale_error **err);

/* ---- prunes ---- */

/* One bale prune --apply: what it removed and how it ended. result "ok" (exit_status 0),
 * "partial" (the plan's images a re-check kept), or "failed". */
typedef struct bale_ledger_prune {
	const char *store;
	const char *plan_path, *plan_digest; /* the plan applied, "sha256:…" of its bytes */
	int exit_status;
	bool partial;
	const char *error;
	int64_t names_removed, blobs_removed, bytes_freed, images_kept;
	double seconds;
	const bale_ledger_image *images; /* the names removed, at their digests */
	size_t n_images;
} bale_ledger_prune;

/* Appends a prune, as bale_ledger_record appends an import: from then on the names it
 * removed are out of current_images and bale_ledger_last_set, until an import sets them
 * again. */
int bale_ledger_record_prune(const char *path, const bale_ledger_prune *prune, bale_error **err);

/* Every image that imports into the store (stores: its spellings) landed and no later
 * prune removed, latest import first: fn(payload, ref, digest, import id) per row; a
 * negative return stops the walk and becomes the result. */
typedef int (*bale_ledger_image_fn)(void *payload, const char *ref, const char *digest,
                                    int64_t import_id, bale_error **err);
int bale_ledger_each_image(sqlite3 *db, const char *const *stores, size_t n_stores,
                           bale_ledger_image_fn fn, void *payload, bale_error **err);

#endif
