/* Inside bundle/: what the index.db writer (index_db.c) and its readers (index_read.c)
 * share. */
#ifndef BALE_BUNDLE_INDEX_PRIVATE_H
#define BALE_BUNDLE_INDEX_PRIVATE_H

#include <sqlite3.h>

/* "bale" in ASCII: lets file(1) and bale itself tell a bale index from another
 * SQLite file before looking at the schema version. */
#define INDEX_APPLICATION_ID 0x62616c65

/* The schema text of a version this bale reads (1 or BALE_INDEX_SCHEMA_VERSION), or NULL. */
const char *bundle_index_schema(sqlite3_int64 version);

#endif
