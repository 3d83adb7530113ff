/* The read-only guard every SQLite handle bale hands to a user's SQL goes through: the
 * index a bundle carries (bale query) and the node ledger (bale ledger). One copy, so
 * the two cannot drift apart. */
#ifndef BALE_BUNDLE_SQL_GUARD_H
#define BALE_BUNDLE_SQL_GUARD_H

#include <sqlite3.h>

#include "bale/error.h"

/* Work one statement may do on a guarded handle: VM steps (about 2.5 s of one core
 * here), CPU time (also spent inside functions), the longest string or blob, and SQLite's heap
 * above what the process held when the handle was guarded (the index itself, among others).
 * Statements bale runs without a reset share one step budget and have no deadline. */
#define BALE_SQL_MAX_STEPS 100000000LL
#define BALE_SQL_MAX_SECONDS 10
#define BALE_SQL_MAX_LENGTH (1 << 20)
#define BALE_SQL_HEAP_MAX (256LL << 20)

/* Locks db down for reading: SQLite's defences for files of unknown origin (defensive
 * mode, untrusted schema, no triggers, cell sizes checked), no ATTACH, query_only, an
 * authorizer that allows SELECT, WITH, the PRAGMAs that only look and every function but
 * those that reveal memory or reach files (fts3_tokenizer, load_extension, ...), and the
 * limits above: a step budget and deadline through a progress handler, SQLite's limits on
 * lengths and depths, printf()/format() refusing to repeat %c past the length limit
 * (SQLite's own would spend seconds on it), temporary tables in memory, and a hard
 * ceiling on SQLite's heap. That ceiling is SQLite's, process-wide:
 * the guard only ever raises it to BALE_SQL_HEAP_MAX above what SQLite holds now. Call it
 * right after opening, before any other statement; the caller's own checks may run
 * afterwards, since reading is all they do. BALE_EGENERIC when SQLite refuses a setting. */
int bale_sql_guard(sqlite3 *db, bale_error **err);
/* A fresh step budget and CPU deadline (BALE_SQL_MAX_SECONDS) for the next statement. */
void bale_sql_guard_reset(sqlite3 *db);
/* When a statement on a guarded handle failed (src: what SQLite returned) because of the
 * guard or its limits (steps, a refused function, the heap ceiling, a value too long),
 * sets err to say which, in words, and returns BALE_EUSAGE; else returns 0. */
int bale_sql_guard_error(sqlite3 *db, int src, bale_error **err);

#endif
