/* index.db: the SQLite index a bundle carries of everything inside it (docs/design.md §7,
 * docs/index-schema.md). Built in one transaction with prepared statements; read
 * back read-only for `bale ls`, `inspect` and `query`. */
#ifndef BALE_INDEX_DB_H
#define BALE_INDEX_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/buf.h"
#include "bale/bundle.h"
#include "bale/error.h"
#include "bale/image.h"

/* PRAGMA user_version of the schema this code writes. Version 3 adds the archive order of
 * the blobs (blobs.member); versions 2 and 1 (no nested indexes, artifacts, os.version or
 * foreign layers recorded) are still read. */
#define BALE_INDEX_SCHEMA_VERSION 3
/* Written for a bundle cut into volumes: version 3 and table volume_members. */
#define BALE_INDEX_SCHEMA_VOLUMES 4
/* Written for a bundle that carries attachments (signatures, SBOMs, attestations,
 * referrers): version 4 and table referrers. */
#define BALE_INDEX_SCHEMA_REFERRERS 5
/* Written for a bundle some of whose images an image set's rules chose: version 5 and
 * table image_rules. The newest version bale reads. */
#define BALE_INDEX_SCHEMA_RULES 6

typedef struct bale_index_bundle_info {
	const char *bundle_id;
	const char *created; /* RFC 3339 UTC */
	const char *tool_version;
	const char *signer_key_id; /* NULL or "" for unsigned bundles */
	bool volumes;              /* a bundle cut into volumes: schema 4 */
	bool referrers;            /* it carries attachments: schema 5 */
	bool rules;                /* an image set chose some images: schema 6 */
} bale_index_bundle_info;

typedef struct bale_index_db bale_index_db;

/* Creates a new database file at path (which must not exist), with the schema, and
 * opens the one transaction the whole index is written in. */
int bale_index_db_create(bale_index_db **out, const char *path, const bale_index_bundle_info *info,
                         bale_error **err);
/* Reads the verified bytes of a config (into out, reset first) for its labels. */
typedef int (*bale_index_config_fn)(void *payload, const bale_descriptor *config, bale_buf *out,
                                    bale_error **err);
/* Records one image: its reference, root, the manifests carried (with platform, config,
 * created, layers in order), config labels, and every blob (each once, with its kind:
 * index, manifest, config or layer). pulled_at: RFC 3339 UTC. Configs are read one at a
 * time through read_config (NULL: no labels are recorded). */
int bale_index_db_add_image(bale_index_db *db, const bale_image *image, const char *pulled_at,
                            bale_index_config_fn read_config, void *payload, bale_error **err);
/* Records where a blob recorded by add_image sits among the bundle's blob members: its
 * archive order, from 0. Every blob gets one before finish. */
int bale_index_db_set_member(bale_index_db *db, const bale_digest *blob, int64_t member,
                             bale_error **err);
/* A volume set: member position of volume holds blob (part 0: whole; k: its k-th part,
 * size bytes from offset, whose SHA-256 is part_digest). */
int bale_index_db_add_volume_member(bale_index_db *db, int volume, int64_t position,
                                    const bale_digest *blob, int part, int64_t offset, int64_t size,
                                    const bale_digest *part_digest, bale_error **err);
/* A delta: the layer recorded by add_image is left out, expected at the site; it gets no
 * member position (docs/index-schema.md: blobs.member NULL). */
int bale_index_db_expect(bale_index_db *db, const bale_digest *blob, bale_error **err);
/* Commits and closes: the file is complete and no longer written. BALE_EGENERIC when a
 * blob recorded has no member position and was not expected, or is not a layer. */
int bale_index_db_finish(bale_index_db *db, bale_error **err);
/* Closes; an unfinished database is rolled back. */
void bale_index_db_free(bale_index_db *db);

/* Opens an index read-only from its bytes in memory (as read out of a bundle). Checks
 * the schema version; refuses ATTACH and anything that writes. */
int bale_index_db_open_bytes(sqlite3 **out, const void *bytes, size_t len, bale_error **err);

/* The schema version of an index opened by bale_index_db_open_bytes: 1 or
 * BALE_INDEX_SCHEMA_VERSION (a reader of a newer table asks first). */
int bale_index_db_version(sqlite3 *db);

/* Reads bale/index.db out of a bundle (r is at it: bale_bundle_read_head has run) into a
 * temporary file under $TMPDIR (else /tmp), held to the size and digest entry gives it
 * (BALE_EVERIFY), and opens it read-only; the file is unlinked at once, so SQLite pages
 * it in as queries need it and nothing is left behind. Close with sqlite3_close. */
int bale_index_db_open_member(sqlite3 **out, bale_bundle_reader *r, const bale_bundle_file *entry,
                              bale_error **err);

/* Opens the bundle at path and its index (read-only, in memory), for `bale ls`, `query`,
 * `inspect`, `plan` and the preflight. On failure nothing stays open; on success close
 * both (sqlite3_close, bale_bundle_close). */
int bale_index_db_open_bundle(bale_bundle_reader **reader, sqlite3 **db, const char *path,
                              bale_error **err);

/* Runs one read-only SQL statement; calls row once with values == NULL (the column
 * names), then for each result row (values as text, SQL NULL as NULL). A non-zero
 * return from row stops the query and is returned. A statement that would write is
 * refused (BALE_EUSAGE). */
typedef int (*bale_index_row_fn)(void *payload, int ncols, const char *const *names,
                                 const char *const *values);
int bale_index_db_query(sqlite3 *db, const char *sql, bale_index_row_fn row, void *payload,
                        bale_error **err);
/* The same, with each value's SQLite type (SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT,
 * SQLITE_BLOB, SQLITE_NULL; NULL in the header call), for output that keeps numbers
 * numbers (bale query --json). */
typedef int (*bale_index_typed_row_fn)(void *payload, int ncols, const char *const *names,
                                       const char *const *values, const int *types);
int bale_index_db_query_typed(sqlite3 *db, const char *sql, bale_index_typed_row_fn row,
                              void *payload, bale_error **err);

/* The root digest the index records for a normalized reference (as images.ref holds it)
 * into digest; "" when the bundle has no image of that name. */
int bale_index_db_image_digest(sqlite3 *db, const char *ref, char digest[80], bale_error **err);

#endif
