/* The node ledger's prunes (docs/ledger-schema.md, version 3): each bale prune --apply
 * appends one row and the names it removed, in one transaction as an import does; and
 * what imports into a store landed that no prune removed since, for the next plan. */
#include <stdbool.h> /* before bale/ledger.h, which uses bool without including it */

#include "bale/ledger.h"

#include <stdio.h>

#include "import/ledger_private.h"

static const char insert_prune_sql[] =
    "INSERT INTO prunes (time, host, store, plan_path, plan_digest, after_import, result,"
    " exit_status, error, names_removed, blobs_removed, bytes_freed, images_kept, seconds)"
    " VALUES (?1, ?2, ?3, ?4, ?5, (SELECT coalesce(max(id), 0) FROM imports), ?6, ?7, ?8,"
    " ?9, ?10, ?11, ?12, ?13)";

static const char insert_pruned_sql[] =
    "INSERT OR IGNORE INTO pruned_images (prune_id, ref, digest) VALUES (?1, ?2, ?3)";

static int insert_prune(sqlite3 *db, const char *path, const void *payload, bale_error **err)
{
	const bale_ledger_prune *p = payload;
	sqlite3_stmt *st = NULL;
	char now[32], host[HOST_NAME_MAX + 1];
	bool have_host = ledger_now_host(now, host);
	int rc = 0;
	if (sqlite3_prepare_v2(db, insert_prune_sql, -1, &st, NULL) != SQLITE_OK) {
		rc = ledger_fail(db, path, "prepare", err);
		goto cleanup;
	}
	ledger_bind_text(st, 1, now);
	ledger_bind_text(st, 2, have_host ? host : NULL);
	ledger_bind_text(st, 3, p->store);
	ledger_bind_text(st, 4, p->plan_path);
	ledger_bind_text(st, 5, p->plan_digest);
	ledger_bind_text(st, 6, p->exit_status == 0 ? "ok" : p->partial ? "partial" : "failed");
	sqlite3_bind_int(st, 7, p->exit_status);
	ledger_bind_text(st, 8, p->error);
	sqlite3_bind_int64(st, 9, p->names_removed);
	sqlite3_bind_int64(st, 10, p->blobs_removed);
	sqlite3_bind_int64(st, 11, p->bytes_freed);
	sqlite3_bind_int64(st, 12, p->images_kept);
	sqlite3_bind_double(st, 13, p->seconds);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = ledger_fail(db, path, "insert", err);
		goto cleanup;
	}
	sqlite3_int64 id = sqlite3_last_insert_rowid(db);
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, insert_pruned_sql, -1, &st, NULL) != SQLITE_OK) {
		rc = ledger_fail(db, path, "prepare", err);
		goto cleanup;
	}
	for (size_t i = 0; i < p->n_images; i++) {
		sqlite3_bind_int64(st, 1, id);
		ledger_bind_text(st, 2, p->images[i].ref);
		ledger_bind_text(st, 3, p->images[i].digest);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = ledger_fail(db, path, p->images[i].ref, err);
			goto cleanup;
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
cleanup:
	sqlite3_finalize(st);
	return rc;
}

int bale_ledger_record_prune(const char *path, const bale_ledger_prune *prune, bale_error **err)
{
	return ledger_record(path, insert_prune, prune, err);
}

int bale_ledger_each_image(sqlite3 *db, const char *const *stores, size_t n_stores,
                           bale_ledger_image_fn fn, void *payload, bale_error **err)
{
	sqlite3_int64 version = 0;
	sqlite3_stmt *st = NULL;
	bool empty = false;
	char sql[1024];
	int rc = ledger_check(db, "", &empty, &version, err);
	if (rc < 0 || empty)
		return rc;
	snprintf(sql, sizeof(sql),
	         "SELECT ii.ref, ii.digest, i.id FROM imported_images ii"
	         " JOIN imports i ON i.id = ii.import_id WHERE i.store = ?1%s"
	         " ORDER BY i.id DESC, ii.ref",
	         version >= 3 ? PRUNED_SINCE("ii", "i") : "");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return ledger_fail(db, "", "read", err);
	/* One spelling after the other: ids still order the rows within each. */
	for (size_t k = 0; k < n_stores && rc == 0; k++) {
		sqlite3_bind_text(st, 1, stores[k], -1, SQLITE_STATIC);
		int step;
		while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
			rc = fn(payload, (const char *)sqlite3_column_text(st, 0),
			        (const char *)sqlite3_column_text(st, 1),
			        sqlite3_column_int64(st, 2), err);
		if (rc == 0 && step != SQLITE_DONE)
			rc = ledger_fail(db, "", "read", err);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}
