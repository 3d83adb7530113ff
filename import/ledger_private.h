/* Inside the node ledger: what the import entries (ledger.c) and the prune entries
 * (ledger_prune.c) share: one transaction per entry, one schema check, one way to fail. */
#ifndef IMPORT_LEDGER_PRIVATE_H
#define IMPORT_LEDGER_PRIVATE_H

#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "bale/error.h"

/* Version 3: a prune recorded after the import removed the image that import landed
 * (a prune removes every name of an image, so its root digest says which). */
#define PRUNED_SINCE(ii, i)                                                                        \
	" AND NOT EXISTS (SELECT 1 FROM pruned_images pi JOIN prunes p ON p.id = pi.prune_id"      \
	" WHERE pi.digest = " ii ".digest AND p.after_import >= " i ".id)"

/* BALE_ESTORE naming the ledger, what was being done and SQLite's message. */
int ledger_fail(sqlite3 *db, const char *path, const char *what, bale_error **err);
/* Binds text, NULL for an absent or empty value (never ''). */
int ledger_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Whether db is a ledger this bale reads: *empty for a file with nothing in it yet. */
int ledger_check(sqlite3 *db, const char *path, bool *empty, sqlite3_int64 *version,
                 bale_error **err);
/* Now (RFC 3339 UTC) and this host's name; false when the name cannot be read. */
bool ledger_now_host(char now[32], char host[HOST_NAME_MAX + 1]);

/* Inserts one entry's rows; called inside the transaction. */
typedef int (*ledger_insert_fn)(sqlite3 *db, const char *path, const void *payload,
                                bale_error **err);
/* One entry, in one transaction, into the ledger at path (created or upgraded first). */
int ledger_record(const char *path, ledger_insert_fn insert, const void *payload, bale_error **err);

#endif
