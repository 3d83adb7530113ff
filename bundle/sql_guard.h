/* The read-only guard every SQLite handle bale hands to a user's SQL goes through: the
 * index a bundle carries (bale query) and the node ledger (bale ledger). One copy, so
 * the two cannot drift apart. */
#ifndef BALE_BUNDLE_SQL_GUARD_H
#define BALE_BUNDLE_SQL_GUARD_H

#include <sqlite3.h>

#include "bale/error.h"

/* Locks db down for reading: SQLite's defences for files of unknown origin (defensive
 * mode, untrusted schema, no triggers, cell sizes checked), no ATTACH, query_only, and an
 * authorizer that allows SELECT, WITH and the PRAGMAs that only look. Call it right after
 * opening, before any other statement; the caller's own checks may run afterwards, since
 * reading is all they do. BALE_EGENERIC when SQLite refuses a setting. */
int bale_sql_guard(sqlite3 *db, bale_error **err);

#endif
