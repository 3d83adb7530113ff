/* See sql_guard.h. Moved here from index_db.c when the node ledger came to need the same
 * guard; bounds on work (steps, time, lengths, heap) and refused functions added since. */
#include "bale/sys/sql_guard.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The progress handler runs every STEP_CHUNK VM instructions, and looks at the CPU clock
 * every CLOCK_EVERY. */
#define STEP_CHUNK 100
#define CLOCK_EVERY 1000
/* printf() arguments at most (SQLite's own limit on function arguments is higher). */
#define PRINTF_MAX_ARGS 32

/* The state a guarded handle carries: held by SQLite (the user data of the bale_guard()
 * function, freed when the handle closes) and reached through that function, whose
 * value SQL cannot see (SQLite's pointer-passing interface). */
typedef struct guard_state {
	sqlite3_int64 steps;   /* VM steps since the last reset, counted by the progress handler */
	long long deadline_ns; /* this thread's CPU time the statement must end by; 0: none */
	const char *stopped;   /* why the progress handler stopped a statement, or NULL */
	char denied[64];       /* the last function the authorizer refused */
	sqlite3 *fmt;          /* a private in-memory handle whose printf() does the work */
	sqlite3_stmt *fmt_st[PRINTF_MAX_ARGS + 1]; /* SELECT printf(?1, …, ?n), by n */
} guard_state;

#define GUARD_POINTER_TYPE "bale_sql_guard_state"

/* Functions no query may call: fts3_tokenizer() hands out a raw pointer (an address in
 * bale's memory), the others reach files or load code (most are absent from the library
 * build, listed in case a build has them). */
static const char *const denied_functions[] = {
    "fts3_tokenizer", "load_extension", "readfile", "writefile", "edit", "sqlite_dbpage",
};

/* CPU time of the calling thread: time spent waiting for a reader of the output (a pager)
 * does not count against a statement. */
static long long cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

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
	guard_state *g = payload;
	switch (action) {
	case SQLITE_FUNCTION:
		if (a2 && in_list(a2, denied_functions,
		                  sizeof(denied_functions) / sizeof(denied_functions[0]))) {
			snprintf(g->denied, sizeof(g->denied), "%s", a2);
			return SQLITE_DENY;
		}
		return SQLITE_OK;
	case SQLITE_SELECT:
	case SQLITE_READ:
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

static int progress(void *payload)
{
	guard_state *g = payload;
	g->steps += STEP_CHUNK;
	if (g->steps > BALE_SQL_MAX_STEPS)
		g->stopped = "steps";
	/* the clock costs a system call: looked at every CLOCK_EVERY steps */
	else if (g->deadline_ns && g->steps % CLOCK_EVERY == 0 && cpu_ns() > g->deadline_ns)
		g->stopped = "time";
	return g->stopped != NULL; /* non-zero ends the statement with SQLITE_INTERRUPT */
}

static void guard_function(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	(void)argv;
	sqlite3_result_pointer(ctx, sqlite3_user_data(ctx), GUARD_POINTER_TYPE, NULL);
}

static void guard_free(void *p)
{
	guard_state *g = p;
	for (size_t i = 0; i <= PRINTF_MAX_ARGS; i++)
		sqlite3_finalize(g->fmt_st[i]);
	sqlite3_close(g->fmt);
	sqlite3_free(g);
}

/* The largest repeat count a printf() format asks of %c, the one conversion whose work
 * SQLite does not stop at the length limit ("%.*c" repeats a character precision times,
 * one at a time, whatever the limit). -1 when the format cannot be read. */
static long long printf_repeat(const char *fmt, int argc, sqlite3_value **argv)
{
	long long most = 0;
	int arg = 1;
	for (const char *c = fmt; c && *c; c++) {
		if (*c != '%')
			continue;
		c++;
		while (*c && strchr("-+ #0!,", *c))
			c++;
		if (*c == '*') {
			arg++;
			c++;
		}
		while (*c >= '0' && *c <= '9')
			c++;
		long long precision = -1;
		if (*c == '.') {
			c++;
			if (*c == '*') {
				precision = arg < argc ? sqlite3_value_int64(argv[arg]) : 0;
				arg++;
				c++;
			} else {
				precision = strtoll(c, NULL, 10);
				while (*c >= '0' && *c <= '9')
					c++;
			}
		}
		while (*c == 'l')
			c++;
		if (!*c)
			break;
		if (*c == 'c' && precision > most)
			most = precision;
		if (*c != '%' && *c != 'n')
			arg++;
	}
	return most;
}

/* printf() and format(): SQLite's own, through a private handle, once the format is known
 * not to repeat a character past the length limit. */
static void bounded_printf(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	guard_state *g = sqlite3_user_data(ctx);
	const char *fmt = argc ? (const char *)sqlite3_value_text(argv[0]) : NULL;
	if (argc < 1 || argc > PRINTF_MAX_ARGS) {
		sqlite3_result_error(ctx, "printf: want a format and at most 31 arguments", -1);
		return;
	}
	if (!fmt) {
		sqlite3_result_null(ctx);
		return;
	}
	if (printf_repeat(fmt, argc, argv) > BALE_SQL_MAX_LENGTH) {
		sqlite3_result_error_toobig(ctx);
		return;
	}
	sqlite3_stmt **st = &g->fmt_st[argc];
	if (!*st) {
		char sql[400];
		size_t at = (size_t)snprintf(sql, sizeof(sql), "SELECT printf(?1");
		for (int i = 2; i <= argc; i++)
			at += (size_t)snprintf(sql + at, sizeof(sql) - at, ", ?%d", i);
		snprintf(sql + at, sizeof(sql) - at, ")");
		if (sqlite3_prepare_v2(g->fmt, sql, -1, st, NULL) != SQLITE_OK) {
			sqlite3_result_error(ctx, sqlite3_errmsg(g->fmt), -1);
			return;
		}
	}
	for (int i = 0; i < argc; i++)
		sqlite3_bind_value(*st, i + 1, argv[i]);
	int src = sqlite3_step(*st);
	if (src == SQLITE_ROW)
		sqlite3_result_value(ctx, sqlite3_column_value(*st, 0));
	else if ((src & 0xff) == SQLITE_TOOBIG)
		sqlite3_result_error_toobig(ctx);
	else if ((src & 0xff) == SQLITE_NOMEM)
		sqlite3_result_error_nomem(ctx);
	else
		sqlite3_result_error(ctx, sqlite3_errmsg(g->fmt), -1);
	sqlite3_reset(*st);
	sqlite3_clear_bindings(*st);
}

/* The handle's state, or NULL when it is not guarded. */
static guard_state *state_of(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	guard_state *g = NULL;
	if (sqlite3_prepare_v2(db, "SELECT bale_guard()", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		g = sqlite3_value_pointer(sqlite3_column_value(st, 0), GUARD_POINTER_TYPE);
	sqlite3_finalize(st);
	return g;
}

void bale_sql_guard_reset(sqlite3 *db)
{
	guard_state *g = state_of(db);
	if (g) {
		g->steps = 0;
		g->deadline_ns = cpu_ns() + BALE_SQL_MAX_SECONDS * 1000000000LL;
		g->stopped = NULL;
		g->denied[0] = '\0';
	}
}

int bale_sql_guard_error(sqlite3 *db, int src, bale_error **err)
{
	guard_state *g = state_of(db);
	int primary = src & 0xff;
	if (g && g->stopped && strcmp(g->stopped, "time") == 0)
		return bale_error_set(
		    err, BALE_EUSAGE,
		    "stopped after %d seconds of CPU time, the most one statement "
		    "may take on an index (narrow it with WHERE or LIMIT)",
		    BALE_SQL_MAX_SECONDS);
	if (g && g->stopped)
		return bale_error_set(
		    err, BALE_EUSAGE,
		    "stopped after %lld million steps, the most one statement may "
		    "take on an index (narrow it with WHERE or LIMIT)",
		    (long long)(BALE_SQL_MAX_STEPS / 1000000));
	if (g && g->denied[0] && (primary == SQLITE_AUTH || primary == SQLITE_ERROR))
		return bale_error_set(
		    err, BALE_EUSAGE,
		    "function %s() is not allowed: it can reveal memory addresses "
		    "or reach files",
		    g->denied);
	if (primary == SQLITE_NOMEM)
		return bale_error_set(
		    err, BALE_EUSAGE,
		    "out of memory: SQL on an index may use at most %d MiB beyond "
		    "the index itself",
		    (int)(BALE_SQL_HEAP_MAX >> 20));
	if (primary == SQLITE_TOOBIG)
		return bale_error_set(err, BALE_EUSAGE,
		                      "a string or blob over the %d MiB limit for one value",
		                      BALE_SQL_MAX_LENGTH >> 20);
	return 0;
}

/* Bounded work: no value longer than BALE_SQL_MAX_LENGTH, short SQL, shallow
 * expressions, short LIKE patterns, no helper threads. */
static void set_limits(sqlite3 *db)
{
	sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
	sqlite3_limit(db, SQLITE_LIMIT_LENGTH, BALE_SQL_MAX_LENGTH);
	sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, 1 << 20);
	sqlite3_limit(db, SQLITE_LIMIT_COLUMN, 500);
	sqlite3_limit(db, SQLITE_LIMIT_EXPR_DEPTH, 200);
	sqlite3_limit(db, SQLITE_LIMIT_COMPOUND_SELECT, 100);
	sqlite3_limit(db, SQLITE_LIMIT_FUNCTION_ARG, PRINTF_MAX_ARGS);
	sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 100);
	sqlite3_limit(db, SQLITE_LIMIT_VARIABLE_NUMBER, 100);
	sqlite3_limit(db, SQLITE_LIMIT_TRIGGER_DEPTH, 1);
	sqlite3_limit(db, SQLITE_LIMIT_WORKER_THREADS, 0);
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
	set_limits(db);
	/* SQLite's heap, for the whole process: at most BALE_SQL_HEAP_MAX above what it holds
	 * now (the index itself, among others); only ever raised. */
	sqlite3_int64 ceiling = sqlite3_memory_used() + BALE_SQL_HEAP_MAX;
	sqlite3_int64 now = sqlite3_hard_heap_limit64(-1);
	if (now == 0 || now < ceiling)
		sqlite3_hard_heap_limit64(ceiling);
	guard_state *g = sqlite3_malloc(sizeof(*g));
	if (!g)
		return bale_error_set(err, BALE_EGENERIC, "read-only settings: out of memory");
	memset(g, 0, sizeof(*g));
	if (sqlite3_open_v2(":memory:", &g->fmt, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		guard_free(g);
		return bale_error_set(err, BALE_EGENERIC, "read-only settings: out of memory");
	}
	set_limits(g->fmt);
	/* SQLite frees g with the handle (guard_free), or at once when this fails; the other
	 * functions borrow it. */
	if (sqlite3_create_function_v2(db, "bale_guard", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, g,
	                               guard_function, NULL, NULL, guard_free) != SQLITE_OK ||
	    sqlite3_create_function_v2(db, "printf", -1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, g,
	                               bounded_printf, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function_v2(db, "format", -1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, g,
	                               bounded_printf, NULL, NULL, NULL) != SQLITE_OK)
		return bale_error_set(err, BALE_EGENERIC, "read-only settings: %s",
		                      sqlite3_errmsg(db));
	/* Steps count from here for bale's own statements; bale_sql_guard_reset gives each
	 * statement a fresh budget and a deadline. */
	sqlite3_progress_handler(db, STEP_CHUNK, progress, g);
	/* Temporary b-trees (sorts, DISTINCT) in memory, under the heap ceiling, rather than
	 * in files. query_only as well as the authorizer: a statement the authorizer let
	 * through by mistake still cannot write. */
	if (sqlite3_exec(db,
	                 "PRAGMA cell_size_check = ON; PRAGMA temp_store = MEMORY;"
	                 " PRAGMA query_only = ON",
	                 NULL, NULL, NULL) != SQLITE_OK)
		return bale_error_set(err, BALE_EGENERIC, "read-only settings: %s",
		                      sqlite3_errmsg(db));
	sqlite3_set_authorizer(db, read_only_authorizer, g);
	return 0;
}
