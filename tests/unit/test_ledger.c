/* The node ledger: entries recorded (into a directory that does not exist yet, by two
 * processes at once), read back row by row through the read-only query path, held to
 * being read-only, refusing files that are not a ledger of this version. The schema doc
 * is checked against what the code creates and its examples are run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bale/buf.h"
#include "bale/index_db.h"
#include "bale/ledger.h"
#include "testutil.h"

#define D_NGINX_1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D_NGINX_2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D_ALPINE "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define D_BUNDLE "sha256:4444444444444444444444444444444444444444444444444444444444444444"
#define NGINX "docker.io/library/nginx:1.25"
#define ALPINE "docker.io/library/alpine:3.19"
#define STORE "oci:/var/lib/bale/store"

static const bale_ledger_image ok_images[] = {
    {.ref = NGINX, .digest = D_NGINX_1, .platforms = "linux/amd64,linux/arm64/v8"},
    {.ref = ALPINE, .digest = D_ALPINE, .platforms = "linux/amd64"},
};

static const bale_ledger_entry ok_entry = {
    .bundle_path = "/media/usb/site.tar.zst",
    .bundle_id = "0123456789abcdef0123456789abcdef",
    .bundle_digest = D_BUNDLE,
    .signer_key_id = "ab12cd34",
    .signature_checked = true,
    .store = STORE,
    .exit_status = 0,
    .blobs_written = 7,
    .blobs_present = 3,
    .bytes_written = 123456789,
    .seconds = 1.5,
    .images = ok_images,
    .n_images = 2,
};

static const bale_ledger_entry failed_entry = {
    .bundle_path = "/media/usb/forged.tar.zst",
    .store = STORE,
    .exit_status = 4,
    .error = "verify forged.tar.zst: signature does not match",
    .seconds = 0.25,
};

static void record(const char *path, const bale_ledger_entry *e)
{
	bale_error *err = NULL;
	if (bale_ledger_record(path, e, &err) != 0)
		fail_msg("record %s: %s", path, bale_error_message(err));
}

static sqlite3 *open_ro(const char *path)
{
	sqlite3 *db = NULL;
	bale_error *err = NULL;
	if (bale_ledger_open_readonly(&db, path, &err) != 0)
		fail_msg("open_readonly %s: %s", path, bale_error_message(err));
	assert_non_null(db);
	return db;
}

/* Rows as "a|b\n" through bale_index_db_query; the query must succeed. */
static void expect(sqlite3 *db, const char *sql, const char *want)
{
	bale_buf out;
	bale_error *err = NULL;
	bale_buf_init(&out, 1 << 20, "rows");
	if (bale_index_db_query(db, sql, collect, &out, &err) != 0)
		fail_msg("%s: %s", sql, bale_error_message(err));
	assert_string_equal(out.data ? out.data : "", want);
	bale_buf_free(&out);
}

/* Plain SQLite, as another program (or another bale) would use the file. */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static long long raw_count(const char *path, const char *table)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Takes &err, not err: the call that fills it is an argument of the same call. Frees
 * and clears it for the next one. */
static void expect_error(int got, int want, bale_error **err, const char *why)
{
	if (got != want)
		fail_msg("expected %d, got %d (%s)", want, got,
		         *err ? bale_error_message(*err) : "");
	if (!strstr(bale_error_message(*err), why))
		fail_msg("message \"%s\" lacks \"%s\"", bale_error_message(*err), why);
	bale_error_clear(err);
}

static void utc(char out[32], time_t t)
{
	struct tm tm;
	assert_non_null(gmtime_r(&t, &tm));
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void test_record_creates_directory(void **state)
{
	const char *dir = *state;
	char *parent = path_join(dir, "var/lib/bale"), *path = path_join(parent, "ledger.db");
	char *journal = path_join(parent, "ledger.db-journal");
	struct stat st;
	mode_t mask = umask(022);
	record(path, &ok_entry);
	umask(mask);
	assert_int_equal(stat(parent, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* DELETE journal mode: between imports the ledger is one file. */
	assert_int_not_equal(stat(journal, &st), 0);
	assert_int_equal(raw_count(path, "imports"), 1);
	assert_int_equal(raw_count(path, "imported_images"), 2);

	/* A parent that is a file cannot be made a directory. */
	char *blocked = path_join(path, "ledger.db");
	bale_error *err = NULL;
	expect_error(bale_ledger_record(blocked, &ok_entry, &err), BALE_ESTORE, &err, blocked);
	free(blocked);
	free(journal);
	free(path);
	free(parent);
}

static void test_rows(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "ledger.db");
	char before[32], after[32], host[HOST_NAME_MAX + 1], sql[512], want[512];
	utc(before, time(NULL));
	record(path, &ok_entry);
	record(path, &failed_entry);
	utc(after, time(NULL));
	sqlite3 *db = open_ro(path);

	expect(db,
	       "SELECT id, bundle_path, bundle_id, bundle_digest, signer_key_id, signature_checked,"
	       " store, result, exit_status, error, blobs_written, blobs_present, bytes_written,"
	       " seconds FROM imports ORDER BY id",
	       "1|/media/usb/site.tar.zst|0123456789abcdef0123456789abcdef|" D_BUNDLE
	       "|ab12cd34|1|" STORE "|ok|0|NULL|7|3|123456789|1.5\n"
	       "2|/media/usb/forged.tar.zst|NULL|NULL|NULL|0|" STORE
	       "|failed|4|verify forged.tar.zst: signature does not match|0|0|0|0.25\n");
	expect(db, "SELECT import_id, ref, digest, platforms FROM imported_images ORDER BY ref",
	       "1|" ALPINE "|" D_ALPINE "|linux/amd64\n"
	       "1|" NGINX "|" D_NGINX_1 "|linux/amd64,linux/arm64/v8\n");
	expect(db, "SELECT typeof(seconds), typeof(bytes_written) FROM imports WHERE id = 1",
	       "real|integer\n");

	/* RFC 3339 UTC, taken while the test ran (the format sorts as text). */
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM imports WHERE time GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-"
	         "[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z' AND length(time) = 20"
	         " AND time >= '%s' AND time <= '%s'",
	         before, after);
	expect(db, sql, "2\n");
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = '\0';
	snprintf(want, sizeof(want), "%s\n%s\n", host, host);
	expect(db, "SELECT host FROM imports ORDER BY id", want);

	expect(db, "PRAGMA user_version", "3\n");
	expect(db, "PRAGMA application_id", "1650551909\n");
	expect(db, "PRAGMA foreign_key_check", "");
	expect(db, "PRAGMA integrity_check", "ok\n");
	sqlite3_close(db);

	/* Rollback journal, as the schema doc says. */
	sqlite3 *raw = NULL;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_open_v2(path, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "delete");
	sqlite3_finalize(st);
	sqlite3_close(raw);
	free(path);
}

/* An entry is recorded whole or not at all. */
static void test_entry_is_atomic(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "ledger.db");
	static const bale_ledger_image twice[] = {
	    {.ref = NGINX, .digest = D_NGINX_1},
	    {.ref = NGINX, .digest = D_NGINX_2},
	};
	bale_ledger_entry e = ok_entry;
	e.images = twice;
	e.n_images = 2;
	record(path, &ok_entry);
	bale_error *err = NULL;
	int rc = bale_ledger_record(path, &e, &err);
	assert_int_equal(rc, BALE_ESTORE);
	assert_non_null(strstr(bale_error_message(err), path));
	assert_non_null(strstr(bale_error_message(err), "UNIQUE constraint failed"));
	bale_error_free(err);
	assert_int_equal(raw_count(path, "imports"), 1);
	assert_int_equal(raw_count(path, "imported_images"), 2);
	free(path);
}

static void test_current_images(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "ledger.db");
	static const bale_ledger_image newer[] = {{.ref = NGINX, .digest = D_NGINX_2}};
	static const bale_ledger_image landed[] = {
	    {.ref = "docker.io/library/redis:7", .digest = D_BUNDLE},
	};
	bale_ledger_entry second = ok_entry, third = failed_entry, fourth = failed_entry;
	second.bundle_id = "fedcba9876543210fedcba9876543210";
	second.images = newer;
	second.n_images = 1;
	third.exit_status = 8; /* some images failed; redis landed */
	third.error = "containerd at /run/x.sock: 1 of 2 images did not land";
	third.images = landed;
	third.n_images = 1;
	record(path, &ok_entry); /* 1: nginx 1, alpine */
	record(path, &second);   /* 2: nginx 2 */
	record(path, &third);    /* 3: failed for nginx, redis landed */
	record(path, &fourth);   /* 4: failed, lists nothing */
	sqlite3 *db = open_ro(path);
	expect(db,
	       "SELECT ref, digest, import_id, bundle_id, store FROM current_images ORDER BY ref",
	       ALPINE "|" D_ALPINE "|1|0123456789abcdef0123456789abcdef|" STORE "\n" NGINX
	              "|" D_NGINX_2 "|2|fedcba9876543210fedcba9876543210|" STORE
	              "\ndocker.io/library/redis:7|" D_BUNDLE "|3|NULL|" STORE "\n");
	sqlite3_close(db);
	free(path);
}

/* What set a name last, for tags that only move forward: per store (both spellings of
 * containerd's default socket are one store), with the bundle's creation time. */
static void test_last_set(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "ledger.db");
	static const bale_ledger_image newer[] = {{.ref = NGINX, .digest = D_NGINX_2}};
	bale_ledger_entry first = ok_entry, second = ok_entry, elsewhere = ok_entry;
	first.bundle_created = "2026-10-01T00:00:00Z";
	first.store = "containerd";
	second.bundle_id = "fedcba9876543210fedcba9876543210";
	second.bundle_created = "2026-11-01T00:00:00Z";
	second.store = "containerd:/run/containerd/containerd.sock";
	second.images = newer;
	second.n_images = 1;
	elsewhere.store = "oci:/tmp/other";
	record(path, &first);
	record(path, &second);
	record(path, &elsewhere);
	sqlite3 *db = open_ro(path);
	const char *both[] = {"containerd", "containerd:/run/containerd/containerd.sock"};
	bale_ledger_setter set;
	bale_error *err = NULL;
	assert_int_equal(bale_ledger_last_set(db, NGINX, both, 2, &set, &err), 0);
	assert_string_equal(set.digest, D_NGINX_2);
	assert_string_equal(set.bundle_id, "fedcba9876543210fedcba9876543210");
	assert_string_equal(set.bundle_created, "2026-11-01T00:00:00Z");
	assert_int_equal(bale_ledger_last_set(db, NGINX, both, 1, &set, &err), 0);
	assert_string_equal(set.digest, D_NGINX_1);
	const char *other[] = {"oci:/tmp/other"};
	assert_int_equal(bale_ledger_last_set(db, NGINX, other, 1, &set, &err), 0);
	assert_string_equal(set.bundle_created, ""); /* recorded without one */
	const char *none[] = {"oci:/nowhere"};
	assert_int_equal(bale_ledger_last_set(db, NGINX, none, 1, &set, &err), BALE_ENOTFOUND);
	sqlite3_close(db);
	free(path);
}

/* A ledger of schema 1 is read as it is and becomes schema 3 with the next entry, every
 * row kept; its entries have no bundle creation time. */
static void test_upgrade_from_v1(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "ledger.db");
	raw_exec(path,
	         "CREATE TABLE imports (id INTEGER PRIMARY KEY, time TEXT NOT NULL, host TEXT,"
	         " bundle_path TEXT, bundle_id TEXT, bundle_digest TEXT, signer_key_id TEXT,"
	         " signature_checked INTEGER NOT NULL, store TEXT, result TEXT NOT NULL,"
	         " exit_status INTEGER NOT NULL, error TEXT, blobs_written INTEGER NOT NULL,"
	         " blobs_present INTEGER NOT NULL, bytes_written INTEGER NOT NULL,"
	         " seconds REAL NOT NULL);"
	         "CREATE INDEX imports_bundle ON imports (bundle_id);"
	         "CREATE TABLE imported_images (import_id INTEGER NOT NULL REFERENCES imports (id),"
	         " ref TEXT NOT NULL, digest TEXT NOT NULL, platforms TEXT,"
	         " PRIMARY KEY (import_id, ref));"
	         "CREATE INDEX imported_images_ref ON imported_images (ref);"
	         "CREATE VIEW current_images AS SELECT ii.ref AS ref, ii.digest AS digest,"
	         " ii.platforms AS platforms, i.time AS time, i.id AS import_id,"
	         " i.bundle_id AS bundle_id, i.store AS store FROM imported_images ii"
	         " JOIN imports i ON i.id = ii.import_id WHERE i.id = (SELECT max(x.import_id)"
	         " FROM imported_images x JOIN imports y ON y.id = x.import_id"
	         " WHERE x.ref = ii.ref AND y.result = 'ok');"
	         "INSERT INTO imports VALUES (1, '2026-01-01T00:00:00Z', 'n', 'b', 'id1', NULL,"
	         " NULL, 1, '" STORE "', 'ok', 0, NULL, 1, 0, 10, 0.5);"
	         "INSERT INTO imported_images VALUES (1, '" NGINX "', '" D_NGINX_1 "', NULL);"
	         "PRAGMA application_id = 1650551909; PRAGMA user_version = 1;");
	sqlite3 *db = open_ro(path); /* read as it is */
	expect(db, "SELECT ref, digest FROM current_images", NGINX "|" D_NGINX_1 "\n");
	const char *store[] = {STORE};
	bale_ledger_setter set;
	bale_error *err = NULL;
	assert_int_equal(bale_ledger_last_set(db, NGINX, store, 1, &set, &err), 0);
	assert_string_equal(set.bundle_created, "");
	sqlite3_close(db);
	bale_ledger_entry e = ok_entry;
	e.bundle_created = "2026-11-01T00:00:00Z";
	record(path, &e);
	db = open_ro(path);
	expect(db, "PRAGMA user_version", "3\n");
	expect(db, "SELECT id, bundle_created FROM imports ORDER BY id",
	       "1|NULL\n2|2026-11-01T00:00:00Z\n");
	expect(db, "SELECT ref, import_id FROM current_images ORDER BY ref",
	       ALPINE "|2\n" NGINX "|2\n");
	sqlite3_close(db);
	free(path);
}

/* Each child records n entries as soon as the parent lets both go. */
static void child_records(int go, const char *path, int child, int n)
{
	char ref[64], byte;
	int failures = 0;
	if (read(go, &byte, 1) < 0) /* returns 0 when the parent closes its end */
		_exit(3);
	for (int i = 0; i < n; i++) {
		snprintf(ref, sizeof(ref), "example.org/child%d/image:%d", child, i);
		bale_ledger_image im = {
		    .ref = ref, .digest = D_NGINX_1, .platforms = "linux/amd64"};
		bale_ledger_entry e = ok_entry;
		e.images = &im;
		e.n_images = 1;
		e.exit_status = 0;
		bale_error *err = NULL;
		if (bale_ledger_record(path, &e, &err) != 0) {
			fprintf(stderr, "child %d entry %d: %s\n", child, i,
			        bale_error_message(err));
			failures++;
		}
		bale_error_free(err);
	}
	_exit(failures ? 1 : 0);
}

static void test_concurrent_processes(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "ledger.db");
	int go[2];
	pid_t pid[2];
	assert_int_equal(pipe(go), 0);
	fflush(NULL); /* nothing buffered is written twice by the children */
	for (int c = 0; c < 2; c++) {
		pid[c] = fork();
		assert_true(pid[c] >= 0);
		if (pid[c] == 0) {
			close(go[1]);
			child_records(go[0], path, c, 50);
		}
	}
	/* Both start at once, racing even to create the schema. */
	close(go[0]);
	close(go[1]);
	for (int c = 0; c < 2; c++) {
		int status = 0;
		assert_int_equal(waitpid(pid[c], &status, 0), pid[c]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	sqlite3 *db = open_ro(path);
	expect(db, "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM imports",
	       "100|100|1|100\n");
	expect(db,
	       "SELECT count(*) FROM imported_images WHERE ref LIKE 'example.org/child0/%'"
	       " UNION ALL SELECT count(*) FROM imported_images"
	       " WHERE ref LIKE 'example.org/child1/%'",
	       "50\n50\n");
	expect(db, "SELECT count(*) FROM current_images", "100\n");
	sqlite3_close(db);
	free(path);
}

static void test_refuses_other_files(void **state)
{
	const char *dir = *state;
	bale_error *err = NULL;
	sqlite3 *db = NULL;

	char *other = path_join(dir, "other.db");
	raw_exec(other, "CREATE TABLE t (x); INSERT INTO t VALUES (1)");
	expect_error(bale_ledger_record(other, &ok_entry, &err), BALE_ESTORE, &err, other);
	expect_error(bale_ledger_record(other, &ok_entry, &err), BALE_ESTORE, &err,
	             "not a bale ledger (application id 0)");
	expect_error(bale_ledger_open_readonly(&db, other, &err), BALE_ESTORE, &err,
	             "not a bale ledger");
	assert_null(db);
	assert_int_equal(raw_count(other, "t"), 1);
	assert_int_equal(raw_count(other, "sqlite_master"), 1); /* left as it was */

	/* Another program's empty database: its application id says so. */
	char *foreign = path_join(dir, "foreign.db");
	raw_exec(foreign, "PRAGMA application_id = 42");
	expect_error(bale_ledger_record(foreign, &ok_entry, &err), BALE_ESTORE, &err,
	             "not a bale ledger (application id 42)");

	char *newer = path_join(dir, "newer.db");
	record(newer, &ok_entry);
	raw_exec(newer, "PRAGMA user_version = 99");
	expect_error(bale_ledger_record(newer, &ok_entry, &err), BALE_ESTORE, &err,
	             "schema version 99 is newer than this bale's (3)");
	expect_error(bale_ledger_open_readonly(&db, newer, &err), BALE_ESTORE, &err, newer);
	assert_null(db);
	assert_int_equal(raw_count(newer, "imports"), 1);

	char *junk = path_join(dir, "junk.db");
	FILE *f = fopen(junk, "w");
	assert_non_null(f);
	for (int i = 0; i < 64; i++)
		fputs("this is not an SQLite database. ", f);
	assert_int_equal(fclose(f), 0);
	expect_error(bale_ledger_record(junk, &ok_entry, &err), BALE_ESTORE, &err,
	             "file is not a database");
	expect_error(bale_ledger_open_readonly(&db, junk, &err), BALE_ESTORE, &err, junk);
	assert_null(db);

	free(junk);
	free(newer);
	free(foreign);
	free(other);
}

static void test_missing_ledger(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "none/ledger.db");
	bale_error *err = NULL;
	sqlite3 *db = NULL;
	struct stat st;
	expect_error(bale_ledger_open_readonly(&db, path, &err), BALE_ENOTFOUND, &err, path);
	assert_null(db);
	assert_int_not_equal(stat(path, &st), 0); /* reading creates nothing */
	free(path);

	/* A file the first import created but has not committed to yet. */
	path = path_join(dir, "empty.db");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
	expect_error(bale_ledger_open_readonly(&db, path, &err), BALE_ENOTFOUND, &err,
	             "no import was recorded");
	assert_null(db);
	/* ... which the next import fills in. */
	record(path, &failed_entry);
	assert_int_equal(raw_count(path, "imports"), 1);
	free(path);
}

/* A writer killed mid-transaction leaves a hot journal: readers say so, the next
 * import rolls it back and records. */
static void test_interrupted_import(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "ledger.db"), *journal = path_join(dir, "ledger.db-journal");
	struct stat st;
	record(path, &ok_entry);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sqlite3 *db = NULL;
		/* A one-page cache spills the change into the file before the commit. */
		if (sqlite3_open(path, &db) != SQLITE_OK ||
		    sqlite3_exec(
		        db,
		        "PRAGMA cache_size = 1; BEGIN IMMEDIATE;"
		        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
		        " WHERE i < 200) INSERT INTO imports (time, signature_checked,"
		        " result, exit_status, blobs_written, blobs_present, bytes_written,"
		        " seconds) SELECT zeroblob(4000), 0, 'ok', 0, 0, 0, 0, 0 FROM n",
		        NULL, NULL, NULL) != SQLITE_OK)
			_exit(1);
		kill(getpid(), SIGKILL);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(stat(journal, &st), 0);

	bale_error *err = NULL;
	sqlite3 *db = NULL;
	expect_error(bale_ledger_open_readonly(&db, path, &err), BALE_ESTORE, &err,
	             "an import was interrupted and left its journal behind");
	assert_null(db);
	/* The checks of the next import read it (rolling the journal back), then it records. */
	const char *store[] = {STORE};
	bale_ledger_setter set;
	assert_int_equal(bale_ledger_open_for_import(&db, path, &err), 0);
	assert_int_equal(bale_ledger_last_set(db, NGINX, store, 1, &set, &err), 0);
	assert_string_equal(set.digest, D_NGINX_1);
	sqlite3_close(db);
	db = NULL;
	assert_int_not_equal(stat(journal, &st), 0);
	record(path, &failed_entry);
	assert_int_not_equal(stat(journal, &st), 0);
	db = open_ro(path);
	expect(db, "SELECT id, result FROM imports ORDER BY id", "1|ok\n2|failed\n");
	expect(db, "PRAGMA integrity_check", "ok\n");
	sqlite3_close(db);
	free(journal);
	free(path);
}

static void test_read_only(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "ledger.db"), *attach = path_join(dir, "attached.db");
	char sql[512];
	struct stat st;
	record(path, &ok_entry);
	sqlite3 *db = open_ro(path);

	refused(db, "INSERT INTO imports (time) VALUES ('x')", "read-only");
	refused(db, "UPDATE imports SET result = 'ok'", "read-only");
	refused(db, "DELETE FROM imported_images", "read-only");
	refused(db, "DROP VIEW current_images", "read-only");
	refused(db, "CREATE TEMP TABLE t (x)", "read-only");
	refused(db, "BEGIN IMMEDIATE", "read-only");
	refused(db, "PRAGMA user_version = 7", "read-only");
	refused(db, "PRAGMA query_only = OFF", "read-only");
	refused(db, "PRAGMA journal_mode = WAL", "read-only");
	snprintf(sql, sizeof(sql), "ATTACH DATABASE '%s' AS other", attach);
	refused(db, sql, "ATTACH");
	refused(db, "DETACH DATABASE main", "read-only");
	snprintf(sql, sizeof(sql), "VACUUM INTO '%s'", attach);
	refused(db, sql, "read-only");
	refused(db, "SELECT 1; DELETE FROM imports", "one statement at a time");
	assert_int_not_equal(stat(attach, &st), 0); /* nothing reached the file system */

	/* Readers do not hold the writers up between statements. */
	record(path, &failed_entry);
	expect(db, "SELECT count(*), sum(result = 'ok') FROM imports", "2|1\n");
	expect(db, "SELECT count(*) FROM imported_images", "2\n");
	sqlite3_close(db);
	free(attach);
	free(path);
}

static const bale_ledger_image pruned_images[] = {{.ref = NGINX, .digest = D_NGINX_1}};
static const bale_ledger_prune removed_nginx = {
    .store = STORE,
    .plan_path = "/root/plan.json",
    .plan_digest = D_BUNDLE,
    .names_removed = 1,
    .blobs_removed = 3,
    .bytes_freed = 4096,
    .seconds = 0.5,
    .images = pruned_images,
    .n_images = 1,
};

static void record_prune(const char *path, const bale_ledger_prune *p)
{
	bale_error *err = NULL;
	if (bale_ledger_record_prune(path, p, &err) != 0)
		fail_msg("record prune %s: %s", path, bale_error_message(err));
}

static int count_rows(void *payload, const char *ref, const char *digest, int64_t import_id,
                      bale_error **err)
{
	(void)ref, (void)digest, (void)import_id, (void)err;
	(*(int *)payload)++;
	return 0;
}

/* A prune takes the image it removed out of what the store holds (current_images, the
 * images a plan considers, what set a tag), until an import lands it again. */
static void test_prune_removes_images(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "ledger.db");
	const char *store[] = {STORE};
	bale_ledger_setter set;
	bale_error *err = NULL;
	int rows = 0;
	record(path, &ok_entry);
	record_prune(path, &removed_nginx);
	sqlite3 *db = open_ro(path);
	expect(db, "SELECT ref FROM current_images ORDER BY ref", ALPINE "\n");
	expect(db, "SELECT result, names_removed, bytes_freed, after_import FROM prunes",
	       "ok|1|4096|1\n");
	assert_int_equal(bale_ledger_last_set(db, NGINX, store, 1, &set, &err), BALE_ENOTFOUND);
	assert_int_equal(bale_ledger_each_image(db, store, 1, count_rows, &rows, &err), 0);
	assert_int_equal(rows, 1);
	sqlite3_close(db);
	record(path, &ok_entry); /* imported again */
	db = open_ro(path);
	expect(db, "SELECT ref, import_id FROM current_images ORDER BY ref",
	       ALPINE "|2\n" NGINX "|2\n");
	assert_int_equal(bale_ledger_last_set(db, NGINX, store, 1, &set, &err), 0);
	sqlite3_close(db);
	free(path);
}

/* Every table and view the code creates is documented, with every column, and only
 * those; every SQL example in the document runs and finds something. */
static void test_doc_matches_schema(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "ledger.db");
	bale_ledger_entry second = ok_entry;
	second.signature_checked = false;
	second.signer_key_id = NULL;
	record(path, &ok_entry);
	record(path, &failed_entry);
	record(path, &second);
	record_prune(path, &removed_nginx);
	sqlite3 *db = open_ro(path);
	check_schema_doc(db, path, "ledger-schema.md", 4, "");
	sqlite3_close(db);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_record_creates_directory, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_rows, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_entry_is_atomic, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_current_images, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_processes, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_other_files, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_missing_ledger, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_interrupted_import, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_read_only, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_doc_matches_schema, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_prune_removes_images, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_last_set, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_upgrade_from_v1, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
