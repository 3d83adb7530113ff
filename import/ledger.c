/* The node ledger (docs/design.md §7, docs/ledger-schema.md): one row per import attempt,
 * appended by every `bale import` on the node, read by auditors. Keep the schema text
 * here and docs/ledger-schema.md in step: the unit test compares them.
 *
 * Journal mode: DELETE (a rollback journal), not WAL. Imports are rare and short, so
 * WAL's one gain, readers not blocking the writer, buys nothing here; what it costs does
 * matter: a WAL database cannot be opened read-only by a user who may not create its
 * -shm file beside it (an auditor reading root's /var/lib/bale/ledger.db), and its data
 * is spread over three files, so a plain copy of ledger.db off the node can miss the
 * latest imports. With DELETE the ledger is one self-contained file between imports. */
#include <stdbool.h> /* before bale/ledger.h, which uses bool without including it */

#include "bale/ledger.h"

#include <assert.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bale/fs.h"
#include "bale/sys/sql_guard.h"
#include "import/ledger_private.h"

#define STRINGIFY(x) #x
#define XSTRINGIFY(x) STRINGIFY(x)

/* "bale", as in index.db: lets file(1) and bale tell a bale database from another. */
#define LEDGER_APPLICATION_ID 0x62616c65

/* Imports on one node queue behind each other; one takes milliseconds to record, so
 * waiting this long means something is stuck, not busy. */
#define LEDGER_BUSY_TIMEOUT_MS 10000

/* Version 2: imported_images lists the images that landed, also of an import that failed
 * for others (version 1 listed none for a failed import), so the view takes every row;
 * imports.bundle_created, for tags that only move forward. */
#define CURRENT_IMAGES_VIEW                                                                        \
	"CREATE VIEW current_images AS"                                                            \
	" SELECT ii.ref AS ref, ii.digest AS digest, ii.platforms AS platforms, i.time AS time,"   \
	" i.id AS import_id, i.bundle_id AS bundle_id, i.store AS store"                           \
	" FROM imported_images ii JOIN imports i ON i.id = ii.import_id"                           \
	" WHERE i.id = (SELECT max(x.import_id) FROM imported_images x WHERE x.ref = "             \
	"ii.ref)" PRUNED_SINCE("ii", "i") ";"

/* A version 1 ledger becomes version 2 in the transaction of the next entry: one column
 * more, the view over every listed image (a version 1 ledger lists only those of imports
 * that succeeded, so it shows the same rows). */
static const char upgrade_v1_sql[] = "ALTER TABLE imports ADD COLUMN bundle_created TEXT;";

/* Version 3: the prunes (bale prune --apply) and the images each removed. after_import
 * orders a prune among the imports: the highest imports.id when it was recorded. */
#define PRUNES_SCHEMA                                                                              \
	"CREATE TABLE prunes ("                                                                    \
	" id INTEGER PRIMARY KEY,"                                                                 \
	" time TEXT NOT NULL,"                                                                     \
	" host TEXT,"                                                                              \
	" store TEXT,"                                                                             \
	" plan_path TEXT,"                                                                         \
	" plan_digest TEXT,"                                                                       \
	" after_import INTEGER NOT NULL,"                                                          \
	" result TEXT NOT NULL CHECK (result IN ('ok', 'partial', 'failed')),"                     \
	" exit_status INTEGER NOT NULL CHECK ((exit_status = 0) = (result = 'ok')),"               \
	" error TEXT,"                                                                             \
	" names_removed INTEGER NOT NULL CHECK (names_removed >= 0),"                              \
	" blobs_removed INTEGER NOT NULL CHECK (blobs_removed >= 0),"                              \
	" bytes_freed INTEGER NOT NULL CHECK (bytes_freed >= 0),"                                  \
	" images_kept INTEGER NOT NULL CHECK (images_kept >= 0),"                                  \
	" seconds REAL NOT NULL CHECK (seconds >= 0));"                                            \
	"CREATE TABLE pruned_images ("                                                             \
	" prune_id INTEGER NOT NULL REFERENCES prunes (id),"                                       \
	" ref TEXT NOT NULL,"                                                                      \
	" digest TEXT NOT NULL,"                                                                   \
	" PRIMARY KEY (prune_id, ref));"                                                           \
	"CREATE INDEX pruned_images_ref ON pruned_images (ref);"

/* An older ledger becomes version 3 in the transaction of the next entry. */
static const char upgrade_v2_sql[] =
    PRUNES_SCHEMA "DROP VIEW current_images;" CURRENT_IMAGES_VIEW "PRAGMA user_version = 3;";

/* Rows are never updated or deleted, so ids grow in commit order: "latest" is the
 * highest id, which, unlike time, survives clock steps and two imports in one second. */
static const char schema_sql[] =
    "CREATE TABLE imports ("
    " id INTEGER PRIMARY KEY,"
    " time TEXT NOT NULL,"
    " host TEXT,"
    " bundle_path TEXT,"
    " bundle_id TEXT,"
    " bundle_digest TEXT,"
    " signer_key_id TEXT,"
    " signature_checked INTEGER NOT NULL CHECK (signature_checked IN (0, 1)),"
    " store TEXT,"
    " result TEXT NOT NULL CHECK (result IN ('ok', 'failed')),"
    " exit_status INTEGER NOT NULL CHECK ((exit_status = 0) = (result = 'ok')),"
    " error TEXT,"
    " blobs_written INTEGER NOT NULL CHECK (blobs_written >= 0),"
    " blobs_present INTEGER NOT NULL CHECK (blobs_present >= 0),"
    " bytes_written INTEGER NOT NULL CHECK (bytes_written >= 0),"
    " seconds REAL NOT NULL CHECK (seconds >= 0),"
    " bundle_created TEXT);"
    "CREATE INDEX imports_bundle ON imports (bundle_id);"

    "CREATE TABLE imported_images ("
    " import_id INTEGER NOT NULL REFERENCES imports (id),"
    " ref TEXT NOT NULL,"
    " digest TEXT NOT NULL,"
    " platforms TEXT,"
    " PRIMARY KEY (import_id, ref));"
    "CREATE INDEX imported_images_ref ON imported_images (ref);"

    PRUNES_SCHEMA CURRENT_IMAGES_VIEW

    "PRAGMA application_id = " XSTRINGIFY(
        LEDGER_APPLICATION_ID) ";"
                               "PRAGMA user_version = " XSTRINGIFY(BALE_LEDGER_SCHEMA_VERSION) ";";

static const char insert_import_sql[] =
    "INSERT INTO imports (time, host, bundle_path, bundle_id, bundle_digest, signer_key_id,"
    " signature_checked, store, result, exit_status, error, blobs_written, blobs_present,"
    " bytes_written, seconds, bundle_created)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

static const char insert_image_sql[] =
    "INSERT INTO imported_images (import_id, ref, digest, platforms) VALUES (?1, ?2, ?3, ?4)";

int ledger_fail(sqlite3 *db, const char *path, const char *what, bale_error **err)
{
	/* A reader cannot roll back what a crashed writer left; only a writer can. */
	if (db && sqlite3_extended_errcode(db) == SQLITE_READONLY_ROLLBACK)
		return bale_error_set(err, BALE_ESTORE,
		                      "ledger %s: an import was interrupted and left its journal "
		                      "behind; the next import rolls it back",
		                      path);
	return bale_error_set(err, BALE_ESTORE, "ledger %s: %s: %s", path, what,
	                      db ? sqlite3_errmsg(db) : "out of memory");
}

static int exec(sqlite3 *db, const char *path, const char *sql, const char *what, bale_error **err)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return ledger_fail(db, path, what, err);
	return 0;
}

static int query_int(sqlite3 *db, const char *path, const char *sql, sqlite3_int64 *out,
                     bale_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = ledger_fail(db, path, "read", err);
		goto cleanup;
	}
	*out = sqlite3_column_int64(st, 0);
cleanup:
	sqlite3_finalize(st);
	return rc;
}

/* Whether db is a ledger this bale can read and write: *empty when the file has nothing
 * in it yet (new, or created by a writer that has not committed), so the schema is ours
 * to create. Anything else must be a bale ledger of this schema version. */
int ledger_check(sqlite3 *db, const char *path, bool *empty, sqlite3_int64 *version_out,
                 bale_error **err)
{
	sqlite3_int64 app = 0, version = 0, objects = 0;
	int rc = 0;
	*empty = false;
	*version_out = 0;
	if ((rc = query_int(db, path, "PRAGMA application_id", &app, err)) < 0 ||
	    (rc = query_int(db, path, "PRAGMA user_version", &version, err)) < 0 ||
	    (rc = query_int(db, path, "SELECT count(*) FROM sqlite_master", &objects, err)) < 0)
		return rc;
	if (objects == 0 && version == 0 && (app == 0 || app == LEDGER_APPLICATION_ID)) {
		*empty = true;
		return 0;
	}
	if (app != LEDGER_APPLICATION_ID)
		return bale_error_set(err, BALE_ESTORE,
		                      "ledger %s: not a bale ledger (application id %lld)", path,
		                      (long long)app);
	if (version > BALE_LEDGER_SCHEMA_VERSION)
		return bale_error_set(err, BALE_ESTORE,
		                      "ledger %s: schema version %lld is newer than this bale's "
		                      "(%d); use a newer bale",
		                      path, (long long)version, BALE_LEDGER_SCHEMA_VERSION);
	if (version < 1)
		return bale_error_set(err, BALE_ESTORE,
		                      "ledger %s: schema version %lld, this bale knows 1 to %d",
		                      path, (long long)version, BALE_LEDGER_SCHEMA_VERSION);
	*version_out = version;
	return 0;
}

/* Absent values are NULL, never '' (as in index.db). */
int ledger_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (!s || !*s)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static int insert_images(sqlite3 *db, const char *path, sqlite3_int64 import_id,
                         const bale_ledger_entry *e, bale_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(db, insert_image_sql, -1, &st, NULL) != SQLITE_OK) {
		rc = ledger_fail(db, path, "prepare", err);
		goto cleanup;
	}
	for (size_t i = 0; i < e->n_images; i++) {
		const bale_ledger_image *im = &e->images[i];
		assert(im->ref && *im->ref && im->digest && *im->digest);
		sqlite3_bind_int64(st, 1, import_id);
		ledger_bind_text(st, 2, im->ref);
		ledger_bind_text(st, 3, im->digest);
		ledger_bind_text(st, 4, im->platforms);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = ledger_fail(db, path, im->ref, err);
			goto cleanup;
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
cleanup:
	sqlite3_finalize(st);
	return rc;
}

bool ledger_now_host(char now[32], char host[HOST_NAME_MAX + 1])
{
	struct tm tm;
	time_t t = time(NULL);
	now[0] = '\0';
	if (gmtime_r(&t, &tm))
		strftime(now, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* Truncation may leave no terminator; an unknown host is NULL, not a made-up name. */
	bool have_host = gethostname(host, HOST_NAME_MAX + 1) == 0;
	host[HOST_NAME_MAX] = '\0';
	return have_host;
}

static int insert_entry(sqlite3 *db, const char *path, const void *payload, bale_error **err)
{
	const bale_ledger_entry *e = payload;
	sqlite3_stmt *st = NULL;
	char now[32], host[HOST_NAME_MAX + 1];
	bool have_host = ledger_now_host(now, host);
	int rc = 0;
	if (sqlite3_prepare_v2(db, insert_import_sql, -1, &st, NULL) != SQLITE_OK) {
		rc = ledger_fail(db, path, "prepare", err);
		goto cleanup;
	}
	ledger_bind_text(st, 1, now);
	ledger_bind_text(st, 2, have_host ? host : NULL);
	ledger_bind_text(st, 3, e->bundle_path);
	ledger_bind_text(st, 4, e->bundle_id);
	ledger_bind_text(st, 5, e->bundle_digest);
	ledger_bind_text(st, 6, e->signer_key_id);
	sqlite3_bind_int(st, 7, e->signature_checked ? 1 : 0);
	ledger_bind_text(st, 8, e->store);
	ledger_bind_text(st, 9, e->exit_status == 0 ? "ok" : "failed");
	sqlite3_bind_int(st, 10, e->exit_status);
	ledger_bind_text(st, 11, e->error);
	sqlite3_bind_int64(st, 12, e->blobs_written);
	sqlite3_bind_int64(st, 13, e->blobs_present);
	sqlite3_bind_int64(st, 14, e->bytes_written);
	sqlite3_bind_double(st, 15, e->seconds);
	ledger_bind_text(st, 16, e->bundle_created);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = ledger_fail(db, path, "insert", err);
		goto cleanup;
	}
	rc = insert_images(db, path, sqlite3_last_insert_rowid(db), e, err);
cleanup:
	sqlite3_finalize(st);
	return rc;
}

int ledger_record(const char *path, ledger_insert_fn insert, const void *payload, bale_error **err)
{
	sqlite3 *db = NULL;
	char *copy = NULL;
	bool in_tx = false, empty = false;
	sqlite3_int64 version = 0;
	int rc = 0;
	if (!(copy = strdup(path))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = bale_fs_mkdir_p(dirname(copy), 0755, err)) < 0) {
		bale_error_wrap(err, "ledger %s", path);
		goto cleanup;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		rc = ledger_fail(db, path, "open", err);
		goto cleanup;
	}
	sqlite3_busy_timeout(db, LEDGER_BUSY_TIMEOUT_MS);
	/* FULL: an import that reported success has its ledger row on disk, crash or not.
	 * The journal mode is per connection for rollback journals, so set it each time. */
	if ((rc = exec(db, path,
	               "PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL;"
	               "PRAGMA foreign_keys = ON",
	               "settings", err)) < 0)
		goto cleanup;
	/* IMMEDIATE takes the write lock before the first read, through the busy handler:
	 * two processes never both decide to create the schema, and a writer never has to
	 * upgrade a read lock another writer is waiting on (SQLite's deadlock case, which it
	 * reports as "database is locked" without waiting). */
	if ((rc = exec(db, path, "BEGIN IMMEDIATE", "begin", err)) < 0)
		goto cleanup;
	in_tx = true;
	if ((rc = ledger_check(db, path, &empty, &version, err)) < 0)
		goto cleanup;
	if (empty && (rc = exec(db, path, schema_sql, "create schema", err)) < 0)
		goto cleanup;
	if (version == 1 && (rc = exec(db, path, upgrade_v1_sql, "upgrade schema", err)) < 0)
		goto cleanup;
	if (version && version < 3 &&
	    (rc = exec(db, path, upgrade_v2_sql, "upgrade schema", err)) < 0)
		goto cleanup;
	if ((rc = insert(db, path, payload, err)) < 0 ||
	    (rc = exec(db, path, "COMMIT", "commit", err)) < 0)
		goto cleanup;
	in_tx = false;
cleanup:
	if (in_tx)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	free(copy);
	return rc;
}

int bale_ledger_record(const char *path, const bale_ledger_entry *entry, bale_error **err)
{
	assert(path && *path && entry && (entry->images || entry->n_images == 0));
	assert(entry->exit_status >= 0);
	return ledger_record(path, insert_entry, entry, err);
}

int bale_ledger_open_readonly(sqlite3 **out, const char *path, bale_error **err)
{
	assert(out && path);
	sqlite3 *db = NULL;
	struct stat sb;
	bool empty = false;
	sqlite3_int64 version = 0;
	int rc = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		if (stat(path, &sb) < 0 && errno == ENOENT)
			rc = bale_error_set(err, BALE_ENOTFOUND,
			                    "ledger %s: no such file (no import was recorded on "
			                    "this node)",
			                    path);
		else
			rc = ledger_fail(db, path, "open", err);
		goto cleanup;
	}
	/* A query during an import waits for its commit instead of failing. */
	sqlite3_busy_timeout(db, LEDGER_BUSY_TIMEOUT_MS);
	if ((rc = bale_sql_guard(db, err)) < 0) {
		bale_error_wrap(err, "ledger %s", path);
		goto cleanup;
	}
	if ((rc = ledger_check(db, path, &empty, &version, err)) < 0)
		goto cleanup;
	/* Nothing committed yet: the first import on the node is still being recorded, or
	 * died before it was. Either way no import is on record. */
	if (empty) {
		rc = bale_error_set(err, BALE_ENOTFOUND,
		                    "ledger %s: empty (no import was recorded on this node)", path);
		goto cleanup;
	}
	*out = db;
	db = NULL;
cleanup:
	sqlite3_close(db);
	return rc;
}

int bale_ledger_last_set(sqlite3 *db, const char *ref, const char *const *stores, size_t n_stores,
                         bale_ledger_setter *out, bale_error **err)
{
	sqlite3_int64 version = 0;
	sqlite3_stmt *st = NULL;
	bool empty = false;
	int rc = ledger_check(db, "", &empty, &version, err);
	memset(out, 0, sizeof(*out));
	if (rc < 0)
		return rc;
	if (empty)
		return BALE_ENOTFOUND;
	/* A version 1 ledger knows no bundle's creation time. */
	char sql[1024];
	snprintf(sql, sizeof(sql),
	         "SELECT ii.digest, i.bundle_id, %s, i.time, i.id FROM imported_images ii"
	         " JOIN imports i ON i.id = ii.import_id WHERE ii.ref = ?1 AND i.store = ?2%s"
	         " ORDER BY i.id DESC LIMIT 1",
	         version >= 2 ? "i.bundle_created" : "NULL",
	         version >= 3 ? PRUNED_SINCE("ii", "i") : "");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return ledger_fail(db, "", "read", err);
	rc = BALE_ENOTFOUND;
	sqlite3_int64 best = -1;
	for (size_t k = 0; k < n_stores; k++) {
		sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, stores[k], -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			/* the latest entry across the spellings of one store */
			const char *cols[4];
			for (int c = 0; c < 4; c++)
				cols[c] = (const char *)sqlite3_column_text(st, c);
			if (sqlite3_column_int64(st, 4) > best) {
				best = sqlite3_column_int64(st, 4);
				snprintf(out->digest, sizeof(out->digest), "%s",
				         cols[0] ? cols[0] : "");
				snprintf(out->bundle_id, sizeof(out->bundle_id), "%s",
				         cols[1] ? cols[1] : "");
				snprintf(out->bundle_created, sizeof(out->bundle_created), "%s",
				         cols[2] ? cols[2] : "");
				snprintf(out->time, sizeof(out->time), "%s",
				         cols[3] ? cols[3] : "");
				rc = 0;
			}
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

int bale_ledger_open_for_import(sqlite3 **out, const char *path, bale_error **err)
{
	assert(out && path);
	sqlite3 *db = NULL;
	struct stat sb;
	if (stat(path, &sb) < 0 && errno == ENOENT)
		return bale_error_set(err, BALE_ENOTFOUND, "ledger %s: no such file", path);
	/* Read-write, as the import that records its entry: a journal an interrupted import
	 * left is rolled back by the first read, not refused as a reader must. */
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		int rc = ledger_fail(db, path, "open", err);
		sqlite3_close(db);
		return rc;
	}
	sqlite3_busy_timeout(db, LEDGER_BUSY_TIMEOUT_MS);
	*out = db;
	return 0;
}
