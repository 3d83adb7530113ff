/* index.db read back from bytes taken out of a bundle that may not be trusted: held to the
 * schema bale wrote, object for object, before any query runs, and every query under the
 * SQL guard. */
#include "bale/index_db.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/text.h"
#include "bale/sys/sql_guard.h"
#include "bundle/index_private.h"

/* Runs a statement that returns one integer (a PRAGMA of ours). */
static int query_int(sqlite3 *db, const char *sql, sqlite3_int64 *out, bale_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
		goto cleanup;
	}
	*out = sqlite3_column_int64(st, 0);
cleanup:
	sqlite3_finalize(st);
	return rc;
}

/* The schema objects of db, in one order: type, name, table and the SQL that made them. */
static const char schema_listing[] =
    "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name";

static const char *text_or_empty(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? (const char *)t : "";
}

/* The schema must be the one bale writes, object for object and byte for byte: views
 * run SQL the file itself supplies (bale ls, inspect and users' queries read them), so a
 * view or trigger of another making is refused before anything is asked of the file. */
static int check_schema(sqlite3 *db, sqlite3_int64 version, bale_error **err)
{
	sqlite3 *ref = NULL;
	sqlite3_stmt *want = NULL, *have = NULL;
	int rc = 0, w = SQLITE_DONE, h = SQLITE_DONE;
	if (sqlite3_open_v2(":memory:", &ref, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_exec(ref, bundle_index_schema(version), NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ref, schema_listing, -1, &want, NULL) != SQLITE_OK) {
		rc = bale_error_set(err, BALE_EGENERIC, "index.db: the reference schema: %s",
		                    ref ? sqlite3_errmsg(ref) : "out of memory");
		goto cleanup;
	}
	if (sqlite3_prepare_v2(db, schema_listing, -1, &have, NULL) != SQLITE_OK) {
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
		goto cleanup;
	}
	for (;;) {
		w = sqlite3_step(want);
		h = sqlite3_step(have);
		if (w != SQLITE_ROW || h != SQLITE_ROW)
			break;
		const char *wt = text_or_empty(want, 0), *wn = text_or_empty(want, 1);
		const char *ht = text_or_empty(have, 0), *hn = text_or_empty(have, 1);
		int order = strcmp(wt, ht) ? strcmp(wt, ht) : strcmp(wn, hn);
		char quoted[BALE_TEXT_QUOTE_SIZE];
		if (order < 0) {
			rc = bale_error_set(err, BALE_EVERIFY,
			                    "index.db: no %s %s (schema version %d)", wt, wn,
			                    (int)version);
			goto cleanup;
		}
		if (order > 0) {
			bale_text_quote(quoted, sizeof(quoted), hn);
			rc = bale_error_set(err, BALE_EVERIFY,
			                    "index.db: %s \"%s\" is not part of bale's schema "
			                    "(version %d): refused",
			                    ht, quoted, (int)version);
			goto cleanup;
		}
		if (strcmp(text_or_empty(want, 2), text_or_empty(have, 2)) != 0 ||
		    strcmp(text_or_empty(want, 3), text_or_empty(have, 3)) != 0) {
			rc = bale_error_set(err, BALE_EVERIFY,
			                    "index.db: %s %s is not the one bale writes (schema "
			                    "version %d): refused",
			                    wt, wn, (int)version);
			goto cleanup;
		}
	}
	if (w == SQLITE_ROW)
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: no %s %s (schema version %d)",
		                    text_or_empty(want, 0), text_or_empty(want, 1), (int)version);
	else if (h == SQLITE_ROW) {
		char quoted[BALE_TEXT_QUOTE_SIZE];
		bale_text_quote(quoted, sizeof(quoted), text_or_empty(have, 1));
		rc =
		    bale_error_set(err, BALE_EVERIFY,
		                   "index.db: %s \"%s\" is not part of bale's schema (version %d): "
		                   "refused",
		                   text_or_empty(have, 0), quoted, (int)version);
	} else if (w != SQLITE_DONE || h != SQLITE_DONE)
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
cleanup:
	sqlite3_finalize(want);
	sqlite3_finalize(have);
	sqlite3_close(ref);
	return rc;
}

/* Structure, version and the exact schema, before anyone queries. */
static int check_index(sqlite3 *db, bale_error **err)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 app = 0, version = 0;
	int rc = 0;
	if ((rc = query_int(db, "PRAGMA application_id", &app, err)) < 0 ||
	    (rc = query_int(db, "PRAGMA user_version", &version, err)) < 0)
		goto cleanup;
	if (app != INDEX_APPLICATION_ID) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "index.db: not a bale index (application id %lld)",
		                    (long long)app);
		goto cleanup;
	}
	/* Older versions are read as they were written; newer ones are another bale's. */
	if (!bundle_index_schema(version)) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "index.db: schema version %lld, this bale reads 1 to %d: "
		                    "read it with a newer bale",
		                    (long long)version, BALE_INDEX_SCHEMA_VERSION);
		goto cleanup;
	}
	/* The file did not come from us: let SQLite walk every page once before a query
	 * does, so damage is reported as such rather than as a strange query result. */
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: damaged: %s", sqlite3_errmsg(db));
		goto cleanup;
	}
	const char *verdict = (const char *)sqlite3_column_text(st, 0);
	if (!verdict || strcmp(verdict, "ok") != 0) {
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: damaged: %s",
		                    verdict ? verdict : "?");
		goto cleanup;
	}
	rc = check_schema(db, version, err);
cleanup:
	sqlite3_finalize(st);
	return rc;
}

int bale_index_db_open_bytes(sqlite3 **out, const void *bytes, size_t len, bale_error **err)
{
	sqlite3 *db = NULL;
	unsigned char *copy = NULL;
	int rc = 0;
	if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		rc = bale_error_set(err, BALE_EGENERIC, "index.db: open: %s",
		                    db ? sqlite3_errmsg(db) : "out of memory");
		goto cleanup;
	}
	/* SQLite owns the copy from here on (FREEONCLOSE frees it even when deserialize
	 * fails); the caller's bytes stay the caller's. */
	if (!(copy = sqlite3_malloc64(len ? len : 1))) {
		rc = bale_error_set(err, BALE_EGENERIC, "index.db: out of memory");
		goto cleanup;
	}
	if (len)
		memcpy(copy, bytes, len);
	if (sqlite3_deserialize(db, "main", copy, (sqlite3_int64)len, (sqlite3_int64)len,
	                        SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY) !=
	    SQLITE_OK) {
		rc = bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
		goto cleanup;
	}
	/* Guarded before the first look inside: the bytes may not be ours. */
	if ((rc = bale_sql_guard(db, err)) < 0) {
		bale_error_wrap(err, "index.db");
		goto cleanup;
	}
	if ((rc = check_index(db, err)) < 0)
		goto cleanup;
	*out = db;
	db = NULL;
cleanup:
	sqlite3_close(db);
	return rc;
}

static int prepare_fail(sqlite3 *db, int src, bale_error **err)
{
	/* What SQLite said, before the guard is asked (asking runs a statement). */
	char msg[512];
	int at = -1;
	snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(db));
#if SQLITE_VERSION_NUMBER >= 3038000 /* sqlite3_error_offset */
	at = sqlite3_error_offset(db);
#endif
	if (bale_sql_guard_error(db, src, err) < 0)
		return bale_error_wrap(err, "query");
	/* Denied by the authorizer; SQLite says so with SQLITE_AUTH, or from inside a
	 * table-valued function, with SQLITE_ERROR and this message. */
	if (src == SQLITE_AUTH || strcmp(msg, "not authorized") == 0)
		return bale_error_set(err, BALE_EUSAGE,
		                      "query: %s: the index is read-only (SELECT, WITH and "
		                      "read-only PRAGMAs only; no ATTACH)",
		                      msg);
	if (at >= 0)
		return bale_error_set(err, BALE_EUSAGE, "query: %s (at character %d)", msg, at + 1);
	return bale_error_set(err, BALE_EUSAGE, "query: %s", msg);
}

/* Where a second statement starts in text (what follows the first), or NULL when
 * there are only spaces, semicolons and comments. */
static const char *more_sql(sqlite3 *db, const char *text)
{
	sqlite3_stmt *st = NULL;
	while (*text == ';' || *text == ' ' || (*text >= '\t' && *text <= '\r'))
		text++;
	if (!*text)
		return NULL;
	/* Only comments prepare to no statement at all. */
	int src = sqlite3_prepare_v2(db, text, -1, &st, NULL);
	bool more = src != SQLITE_OK || st != NULL;
	sqlite3_finalize(st);
	return more ? text : NULL;
}

int bale_index_db_query(sqlite3 *db, const char *sql, bale_index_row_fn row, void *payload,
                        bale_error **err)
{
	assert(db && sql && row);
	sqlite3_stmt *st = NULL;
	const char **names = NULL, **values = NULL;
	const char *tail = NULL;
	int rc = 0, src;
	bale_sql_guard_reset(db); /* each statement has the whole budget */
	if ((src = sqlite3_prepare_v2(db, sql, -1, &st, &tail)) != SQLITE_OK) {
		rc = prepare_fail(db, src, err);
		goto cleanup;
	}
	if (!st) {
		rc = bale_error_set(err, BALE_EUSAGE, "query: no SQL statement");
		goto cleanup;
	}
	if ((tail = more_sql(db, tail))) {
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "query: one statement at a time (more SQL at character %zu)",
		                    (size_t)(tail - sql) + 1);
		goto cleanup;
	}
	if (!sqlite3_stmt_readonly(st)) {
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "query: read-only: statements that write are refused");
		goto cleanup;
	}
	int ncols = sqlite3_column_count(st);
	names = calloc((size_t)ncols + 1, sizeof(*names));
	values = calloc((size_t)ncols + 1, sizeof(*values));
	if (!names || !values) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	for (int i = 0; i < ncols; i++)
		if (!(names[i] = sqlite3_column_name(st, i))) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
	/* The column names first, so an empty result still has a header. */
	if ((rc = row(payload, ncols, names, NULL)) != 0)
		goto cleanup;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < ncols; i++) {
			bool is_null = sqlite3_column_type(st, i) == SQLITE_NULL;
			values[i] = is_null ? NULL : (const char *)sqlite3_column_text(st, i);
			if (!is_null && !values[i]) {
				rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
				goto cleanup;
			}
		}
		/* A callback that says stop ends the query; its value is the result. */
		if ((rc = row(payload, ncols, names, values)) != 0)
			goto cleanup;
	}
	if (src != SQLITE_DONE) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(db));
		int code = (src & 0xff) == SQLITE_CORRUPT || (src & 0xff) == SQLITE_NOTADB
		               ? BALE_EVERIFY
		           : (src & 0xff) == SQLITE_NOMEM ? BALE_EGENERIC
		                                          : BALE_EUSAGE;
		rc = bale_sql_guard_error(db, src, err) < 0
		         ? bale_error_wrap(err, "query")
		         : bale_error_set(err, code, "query: %s", msg);
	}
cleanup:
	free(names);
	free(values);
	sqlite3_finalize(st);
	return rc;
}

int bale_index_db_image_digest(sqlite3 *db, const char *ref, char digest[80], bale_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, src;
	digest[0] = '\0';
	bale_sql_guard_reset(db); /* one lookup per image: each has the whole budget */
	if (sqlite3_prepare_v2(db, "SELECT digest FROM images WHERE ref = ?1", -1, &st, NULL) ==
	        SQLITE_OK &&
	    sqlite3_bind_text(st, 1, ref, -1, SQLITE_TRANSIENT) == SQLITE_OK)
		src = sqlite3_step(st);
	else
		src = sqlite3_errcode(db);
	if (src == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(digest, 80, "%s", (const char *)sqlite3_column_text(st, 0));
	else if (src != SQLITE_ROW && src != SQLITE_DONE)
		rc = bale_sql_guard_error(db, src, err) < 0
		         ? bale_error_wrap(err, "index.db: %s", ref)
		         : bale_error_set(err, BALE_EVERIFY, "index.db: %s: %s", ref,
		                          sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

int bale_index_db_open_bundle(bale_bundle_reader **reader, sqlite3 **db, const char *path,
                              bale_error **err)
{
	const bale_bundle_head *head = NULL;
	int rc = bale_bundle_open(reader, path, err); /* its errors name the file */
	if (rc < 0)
		return rc;
	if ((rc = bale_bundle_read_head(*reader, &head, err)) < 0 ||
	    (rc = bale_bundle_read_index(*reader, &head, err)) < 0 ||
	    (rc = bale_index_db_open_bytes(db, head->index_db, head->index_db_len, err)) < 0) {
		bale_bundle_close(*reader);
		*reader = NULL;
	}
	return rc;
}

int bale_index_db_version(sqlite3 *db)
{
	sqlite3_int64 version = 0;
	bale_sql_guard_reset(db);
	if (query_int(db, "PRAGMA user_version", &version, NULL) < 0)
		return 0;
	return (int)version;
}
