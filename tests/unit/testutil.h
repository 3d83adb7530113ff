/* Shared by the cmocka unit tests: run a test in a fresh temporary directory of its own.
 *
 *	cmocka_unit_test_setup_teardown(test_x, tmpdir_setup, tmpdir_teardown)
 *
 * gives test_x the directory's path in *state. Also: reading a document of the source
 * tree's docs/, and holding a schema document (index-schema.md, ledger-schema.md) to the
 * tables, views and columns of a database and running its SQL examples. Every function
 * here is static (each test is its own executable) and marked unused, so a test can take
 * only what it needs. Include after <cmocka.h>. */
#ifndef BALE_TESTS_UNIT_TESTUTIL_H
#define BALE_TESTS_UNIT_TESTUTIL_H

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bale/buf.h"
#include "bale/index_db.h"

/* "dir/name" in fresh memory (caller frees). */
__attribute__((unused)) static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* cmocka setup: makes $TMPDIR/bale-test-XXXXXX (or under /tmp) and puts its malloc'd
 * path in *state. */
__attribute__((unused)) static int tmpdir_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	char *dir = path_join(tmp, "bale-test-XXXXXX");
	if (!mkdtemp(dir)) {
		int e = errno;
		free(dir);
		fail_msg("mkdtemp in %s: %s", tmp, strerror(e));
	}
	*state = dir;
	return 0;
}

__attribute__((unused)) static int tmpdir_remove_entry(const char *path, const struct stat *st,
                                                       int flag, struct FTW *ftw)
{
	return remove(path);
}

/* cmocka teardown: removes the directory in *state and everything under it (symlinks
 * themselves, never what they point to), then frees the path. Fails if anything stays. */
__attribute__((unused)) static int tmpdir_teardown(void **state)
{
	char *dir = *state;
	int rc = nftw(dir, tmpdir_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (rc != 0)
		print_error("remove %s: %s\n", dir, strerror(errno));
	free(dir);
	*state = NULL;
	return rc == 0 ? 0 : -1;
}

/* A bale_index_db_query callback: each row as "a|b\n" (NULL as "NULL") appended to the
 * bale_buf in payload. */
__attribute__((unused)) static int collect(void *payload, int ncols, const char *const *names,
                                           const char *const *values)
{
	bale_buf *out = payload;
	if (!values) /* the column names come first; these tests compare rows only */
		return 0;
	for (int i = 0; i < ncols; i++)
		bale_buf_appendf(out, NULL, "%s%s", i ? "|" : "", values[i] ? values[i] : "NULL");
	bale_buf_append(out, "\n", 1, NULL);
	return 0;
}

/* The query must be refused as a usage error whose message contains `why`, before any row
 * reaches the callback. */
__attribute__((unused)) static void refused(sqlite3 *db, const char *sql, const char *why)
{
	bale_buf out;
	bale_error *err = NULL;
	bale_buf_init(&out, 1 << 20, "rows");
	int rc = bale_index_db_query(db, sql, collect, &out, &err);
	if (rc != BALE_EUSAGE)
		fail_msg("%s: expected BALE_EUSAGE, got %d (%s)", sql, rc, bale_error_message(err));
	if (!strstr(bale_error_message(err), why))
		fail_msg("%s: message \"%s\" lacks \"%s\"", sql, bale_error_message(err), why);
	assert_null(out.data);
	bale_error_free(err);
	bale_buf_free(&out);
}

__attribute__((unused)) static int compare_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of text (at most 256) in byte order, each ending in a newline (caller
 * frees). */
__attribute__((unused)) static char *sorted_lines(const char *text)
{
	char *copy = strdup(text ? text : ""), *save = NULL, *lines[256];
	size_t n = 0;
	assert_non_null(copy);
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		assert_true(n < sizeof(lines) / sizeof(lines[0]));
		lines[n++] = l;
	}
	qsort(lines, n, sizeof(lines[0]), compare_lines);
	bale_buf out;
	bale_buf_init(&out, 1 << 16, "lines");
	for (size_t i = 0; i < n; i++)
		bale_buf_appendf(&out, NULL, "%s\n", lines[i]);
	free(copy);
	char *joined = bale_buf_detach(&out, NULL);
	return joined ? joined : strdup("");
}

/* The text of docs/<name> in the source tree (caller frees): found from $BALE_TEST_DATA
 * (tests/data, as ctest sets it) or, when run by hand, from the path this file was
 * compiled from. */
__attribute__((unused)) static char *read_source_doc(const char *name)
{
	char path[1024];
	const char *data = getenv("BALE_TEST_DATA");
	if (data) {
		snprintf(path, sizeof(path), "%s/../../docs/%s", data, name);
	} else { /* run by hand: the source tree this file was compiled from */
		const char *self = __FILE__;
		const char *cut = strstr(self, "tests/unit/");
		assert_non_null(cut);
		snprintf(path, sizeof(path), "%.*sdocs/%s", (int)(cut - self), self, name);
	}
	bale_buf b;
	bale_buf_init(&b, 1 << 20, "doc");
	assert_int_equal(bale_buf_read_file(&b, path, NULL), 0);
	return bale_buf_detach(&b, NULL);
}

/* Holds docs/<doc_name> to the database file at path: the headings "### Table `name`"
 * and "### View `name`" are exactly the tables and views in it (sqlite_* aside), every
 * column stands as "`name`" under its table's or view's heading, and every ```sql
 * example runs through bale_index_db_query on db and finds something; there must be at
 * least min_examples of them. on is put after "found nothing" in that failure's message
 * (" on the fixture", or ""). */
__attribute__((unused)) static void check_schema_doc(sqlite3 *db, const char *path,
                                                     const char *doc_name, int min_examples,
                                                     const char *on)
{
	char *doc = read_source_doc(doc_name), *whole = strdup(doc), *save = NULL;
	assert_non_null(whole);
	bale_buf documented, sql, actual;
	bale_buf_init(&documented, 1 << 16, "names");
	bale_buf_init(&sql, 1 << 16, "sql");
	bale_buf_init(&actual, 1 << 16, "names");
	bool in_sql = false;
	int examples = 0;

	for (char *line = strtok_r(doc, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *type = NULL, *name = NULL;
		if (strncmp(line, "### Table `", 11) == 0) {
			type = "table";
			name = line + 11;
		} else if (strncmp(line, "### View `", 10) == 0) {
			type = "view";
			name = line + 10;
		}
		if (name) {
			const char *end = strchr(name, '`');
			assert_non_null(end);
			bale_buf_appendf(&documented, NULL, "%s|%.*s\n", type, (int)(end - name),
			                 name);
		} else if (strcmp(line, "```sql") == 0) {
			in_sql = true;
			bale_buf_reset(&sql);
		} else if (in_sql && strcmp(line, "```") == 0) {
			bale_buf out;
			bale_error *err = NULL;
			bale_buf_init(&out, 1 << 20, "rows");
			if (bale_index_db_query(db, sql.data, collect, &out, &err) != 0)
				fail_msg("example\n%s\nfailed: %s", sql.data,
				         bale_error_message(err));
			if (!out.data)
				fail_msg("example\n%s\nfound nothing%s", sql.data, on);
			bale_buf_free(&out);
			examples++;
			in_sql = false;
		} else if (in_sql) {
			bale_buf_appendf(&sql, NULL, "%s\n", line);
		}
	}
	assert_true(examples >= min_examples);

	sqlite3 *raw = NULL;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_open_v2(path, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(raw,
	                                    "SELECT type, name FROM sqlite_master WHERE type IN "
	                                    "('table', 'view') AND name NOT LIKE 'sqlite_%'",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		bale_buf_appendf(&actual, NULL, "%s|%s\n", sqlite3_column_text(st, 0),
		                 sqlite3_column_text(st, 1));
	sqlite3_finalize(st);
	st = NULL;

	/* Every column under its table's or view's heading: "`name`". */
	assert_int_equal(sqlite3_prepare_v2(raw,
	                                    "SELECT m.type, m.name, c.name FROM sqlite_master m, "
	                                    "pragma_table_info(m.name) c WHERE m.type IN ('table', "
	                                    "'view') AND m.name NOT LIKE 'sqlite_%'",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		char heading[128], column[128];
		const char *type = (const char *)sqlite3_column_text(st, 0);
		snprintf(heading, sizeof(heading), "### %s `%s`",
		         strcmp(type, "table") == 0 ? "Table" : "View", sqlite3_column_text(st, 1));
		snprintf(column, sizeof(column), "`%s`", sqlite3_column_text(st, 2));
		const char *section = strstr(whole, heading);
		assert_non_null(section);
		const char *next = strstr(section + 1, "\n#");
		const char *found = strstr(section + strlen(heading), column);
		if (!found || (next && found > next))
			fail_msg("%s: column %s is not documented", heading, column);
	}
	sqlite3_finalize(st);
	sqlite3_close(raw);
	char *want = sorted_lines(documented.data), *have = sorted_lines(actual.data);
	assert_string_equal(want, have);

	free(want);
	free(have);
	bale_buf_free(&actual);
	bale_buf_free(&sql);
	bale_buf_free(&documented);
	free(whole);
	free(doc);
}

#endif
