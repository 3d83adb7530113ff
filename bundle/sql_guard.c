/* See sql_guard.h. Moved here from index_db.c, unchanged in what it allows, when the node
 * ledger came to need the same guard. */
#include "bundle/sql_guard.h"

#include <stdbool.h>
#include <stddef.h>
#include <strings.h>

/* PRAGMAs a read-only audit may run: those that only look. The first group takes a
 * table or index name (or a limit) as argument; the second must be asked without one,
 * because with one they would write. */
static const char *const pragmas_with_arg[] = {
    "table_info",       "table_xinfo",       "index_list",      "index_info",  "index_xinfo",
    "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check", "table_list",
};
static const char *const pragmas_bare[] = {
    "user_version",   "application_id", "schema_version",  "page_count",     "page_size",
    "freelist_count", "encoding",       "database_list",   "collation_list", "function_list",
    "pragma_list",    "module_list",    "compile_options", "data_version",
};

static bool in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(name, list[i]) == 0)
			return true;
	return false;
}

/* Allows reading and nothing else, whatever the statement: the file is opened read-only
 * already, but ATTACH would reach the file system and writes must fail at prepare
 * with a clear error rather than at step. */
static int read_only_authorizer(void *payload, int action, const char *a1, const char *a2,
                                const char *db_name, const char *trigger)
{
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_READ:
	case SQLITE_FUNCTION:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_PRAGMA:
		if (a1 && in_list(a1, pragmas_with_arg,
		                  sizeof(pragmas_with_arg) / sizeof(pragmas_with_arg[0])))
			return SQLITE_OK;
		if (a1 && !a2 &&
		    in_list(a1, pragmas_bare, sizeof(pragmas_bare) / sizeof(pragmas_bare[0])))
			return SQLITE_OK;
		return SQLITE_DENY;
	default:
		return SQLITE_DENY;
	}
}

int bale_sql_guard(sqlite3 *db, bale_error **err)
{
	/* The defences SQLite recommends for database files of unknown origin: no schema
	 * tricks that reach functions with side effects, no triggers, no ATTACH, and cell
	 * sizes checked as pages are read. */
	if (sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK ||
	    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) != SQLITE_OK ||
	    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL) != SQLITE_OK)
		return bale_error_set(err, BALE_EGENERIC, "read-only settings: %s",
		                      sqlite3_errmsg(db));
	sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
	/* query_only as well as the authorizer: a statement the authorizer let through by
	 * mistake still cannot write. */
	if (sqlite3_exec(db, "PRAGMA cell_size_check = ON; PRAGMA query_only = ON", NULL, NULL,
	                 NULL) != SQLITE_OK)
		return bale_error_set(err, BALE_EGENERIC, "read-only settings: %s",
		                      sqlite3_errmsg(db));
	sqlite3_set_authorizer(db, read_only_authorizer, NULL);
	return 0;
}
