/* index.db read back from bytes taken out of a bundle that may not be trusted: held to the
 * schema bale wrote, object for object, before any query runs, and every query under the
 * SQL guard. */
#include "bale/index_db.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bale/fs.h"
#include "bale/text.h"
#include "bale/sys/sql_guard.h"
#include "bundle/bundle_private.h"
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
	    bundle_index_schema_create(ref, version) != SQLITE_OK ||
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
	if (!bundle_index_schema_known(version)) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "index.db: schema version %lld, this bale reads 1 to %d: "
		                    "read it with a newer bale",
		                    (long long)version, BALE_INDEX_SCHEMA_RULES);
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

/* Guarded before the first look inside (the file may not be ours), then held to the
 * schema bale writes. */
static int guard_and_check(sqlite3 *db, bale_error **err)
{
	int rc = bale_sql_guard(db, err);
	if (rc < 0)
		return bale_error_wrap(err, "index.db");
	return check_index(db, err);
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
	if ((rc = guard_and_check(db, err)) < 0)
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

typedef struct untyped {
	bale_index_row_fn row;
	void *payload;
} untyped;

static int drop_types(void *payload, int ncols, const char *const *names, const char *const *values,
                      const int *types)
{
	untyped *u = payload;
	(void)types;
	return u->row(u->payload, ncols, names, values);
}

int bale_index_db_query(sqlite3 *db, const char *sql, bale_index_row_fn row, void *payload,
                        bale_error **err)
{
	untyped u = {.row = row, .payload = payload};
	return bale_index_db_query_typed(db, sql, drop_types, &u, err);
}

int bale_index_db_query_typed(sqlite3 *db, const char *sql, bale_index_typed_row_fn row,
                              void *payload, bale_error **err)
{
	assert(db && sql && row);
	sqlite3_stmt *st = NULL;
	const char **names = NULL, **values = NULL;
	int *types = NULL;
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
	types = calloc((size_t)ncols + 1, sizeof(*types));
	if (!names || !values || !types) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	for (int i = 0; i < ncols; i++)
		if (!(names[i] = sqlite3_column_name(st, i))) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
	/* The column names first, so an empty result still has a header. */
	if ((rc = row(payload, ncols, names, NULL, NULL)) != 0)
		goto cleanup;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < ncols; i++) {
			types[i] = sqlite3_column_type(st, i);
			bool is_null = types[i] == SQLITE_NULL;
			values[i] = is_null ? NULL : (const char *)sqlite3_column_text(st, i);
			if (!is_null && !values[i]) {
				rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
				goto cleanup;
			}
		}
		/* A callback that says stop ends the query; its value is the result. */
		if ((rc = row(payload, ncols, names, values, types)) != 0)
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
	free(types);
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

/* ---- index.db out of a bundle: into a temporary file, so that SQLite pages it in as a
 * query needs it (its page cache is bounded) instead of the whole index in memory ---- */

typedef struct index_temp {
	char *path;
	int fd;
	bool linked; /* path still names it */
} index_temp;

static int write_chunk(void *payload, const void *data, size_t len, bale_error **err)
{
	const index_temp *t = payload;
	if (bale_fs_write_all(t->fd, data, len) < 0)
		return bale_error_set_errno(err, BALE_EGENERIC, errno,
		                            "index.db: write %s (TMPDIR names where it goes)",
		                            t->path);
	return 0;
}

/* "file:PATH?immutable=1": written once, never changed while open, so SQLite takes no
 * locks and looks for no journal beside it. */
static char *immutable_uri(const char *path)
{
	static const char tail[] = "?immutable=1";
	size_t size = 5 + 3 * strlen(path) + sizeof(tail), at = 0;
	char *uri = malloc(size);
	if (!uri)
		return NULL;
	at += (size_t)snprintf(uri, size, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/._-", *p))
			uri[at++] = (char)*p;
		else
			at += (size_t)snprintf(uri + at, size - at, "%%%02X", *p);
	snprintf(uri + at, size - at, "%s", tail);
	return uri;
}

#define INDEX_DB_CACHE_KIB "256"

/* Opens the complete temporary file read-only and unlinks it at once: SQLite holds it
 * open, and nothing is left behind however the process ends. */
static int open_temp(sqlite3 **out, index_temp *t, bale_error **err)
{
	sqlite3 *db = NULL;
	char *uri = immutable_uri(t->path);
	int rc = 0;
	if (!uri) {
		rc = bale_error_set(err, BALE_EGENERIC, "index.db: out of memory");
		goto cleanup;
	}
	int src = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
	if (unlink(t->path) == 0)
		t->linked = false;
	if (src != SQLITE_OK) {
		rc = bale_error_set(err, BALE_EGENERIC, "index.db: open %s: %s", t->path,
		                    db ? sqlite3_errmsg(db) : "out of memory");
		goto cleanup;
	}
	/* The file is read through the system's page cache: SQLite's own (2 MiB by default)
	 * would only make a reader's memory grow with the bundle's number of images. */
	sqlite3_exec(db, "PRAGMA cache_size = -" INDEX_DB_CACHE_KIB, NULL, NULL, NULL);
	if ((rc = guard_and_check(db, err)) < 0)
		goto cleanup;
	*out = db;
	db = NULL;
cleanup:
	sqlite3_close(db);
	free(uri);
	return rc;
}

int bale_index_db_open_member(sqlite3 **out, bale_bundle_reader *r, const bale_bundle_file *entry,
                              bale_error **err)
{
	index_temp t = {.fd = -1};
	const bale_descriptor want = {.digest = entry->digest, .size = entry->size};
	const char *dir = getenv("TMPDIR");
	int rc = 0;
	if (!dir || !*dir)
		dir = "/tmp";
	if (entry->size > (int64_t)BUNDLE_CAP_INDEX_DB)
		return bale_error_set(err, BALE_EVERIFY, "%s: %lld bytes is over the %u byte limit",
		                      BALE_BUNDLE_INDEX_DB, (long long)entry->size,
		                      BUNDLE_CAP_INDEX_DB);
	if (!(t.path = bale_fs_join(dir, "bale-index-XXXXXX"))) {
		rc = bale_error_set(err, BALE_EGENERIC, "index.db: out of memory");
		goto cleanup;
	}
	if ((t.fd = mkostemp(t.path, O_CLOEXEC)) < 0) {
		rc = bale_error_set_errno(err, BALE_EGENERIC, errno,
		                          "index.db: a temporary file in %s (TMPDIR)", dir);
		goto cleanup;
	}
	t.linked = true;
	rc = bale_bundle_check_member(r, BALE_BUNDLE_INDEX_DB, &want, write_chunk, &t, err);
	if (rc == 0)
		rc = open_temp(out, &t, err);
cleanup:
	if (t.linked)
		unlink(t.path);
	if (t.fd >= 0)
		close(t.fd);
	free(t.path);
	return rc;
}

int bale_index_db_open_bundle(bale_bundle_reader **reader, sqlite3 **db, const char *path,
                              bale_error **err)
{
	const bale_bundle_head *head = NULL;
	bale_bundle_file entry;
	int rc = bale_bundle_open(reader, path, err); /* its errors name the file */
	if (rc < 0)
		return rc;
	if ((rc = bale_bundle_read_head(*reader, &head, err)) < 0 ||
	    (rc = bundle_index_entry(*reader, head, &entry, err)) < 0 ||
	    (rc = bale_index_db_open_member(db, *reader, &entry, err)) < 0) {
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
