/* Inside bundle/: what the index.db writer (index_db.c) and its readers (index_read.c)
 * share. */
#ifndef BALE_BUNDLE_INDEX_PRIVATE_H
#define BALE_BUNDLE_INDEX_PRIVATE_H

#include <sqlite3.h>
#include <stdbool.h>

/* "bale" in ASCII: lets file(1) and bale itself tell a bale index from another
 * SQLite file before looking at the schema version. */
#define INDEX_APPLICATION_ID 0x62616c65

/* Whether this bale reads a schema version (1 to BALE_INDEX_SCHEMA_VERSION). */
bool bundle_index_schema_known(sqlite3_int64 version);
/* Creates the tables, indexes and views of a known version in db: an sqlite3 result. */
int bundle_index_schema_create(sqlite3 *db, sqlite3_int64 version);

#endif
