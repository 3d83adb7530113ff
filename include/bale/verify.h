/* Trust decisions about bundles: the signature over bale/manifest.json, then every
 * member of the bundle against what the manifest says. */
#ifndef BALE_VERIFY_H
#define BALE_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "bale/bundle.h"
#include "bale/error.h"
#include "bale/policy.h"
#include "bale/log.h"
#include "bale/trust.h"

/* Checks the head's signature against the trust set. BALE_ETRUST for a missing or
 * malformed signature, a signer outside the set (naming its key id), or a signature
 * that does not verify. signer gets the manifest's signer key id ("" when none). */
int bale_verify_signature(const bale_bundle_head *head, const bale_trust *trust,
                          char signer[BALE_KEY_ID_LEN + 1], bale_error **err);

/* The head of a bundle, checked: the signature (unless trust is NULL), the format
 * version, and index.db against the digest the manifest gives it. */
typedef struct bale_trusted_head {
	const bale_bundle_head *head;         /* the manifest and its signature */
	const bale_bundle_manifest *manifest; /* bale/manifest.json; the reader's */
	struct sqlite3 *index_db;             /* bale/index.db, checked, read-only */
	int64_t index_db_size;
	int64_t images, blobs; /* as many as the bundle lists */
	/* A delta's layers left for the site to have (index.db's blobs without an archive
	 * place), held to its manifest's counts; 0 for any other bundle. */
	int64_t expected_blobs, expected_bytes;
	char signer[BALE_KEY_ID_LEN + 1];
	bool signature_checked;
} bale_trusted_head;

/* Reads and checks the head of an open bundle. The signature is checked before
 * index.db is read; the names of the images (in bale/manifest.json of format 1 and in
 * index.db) are held to normalized references. BALE_ETRUST or BALE_EVERIFY. On success,
 * close the head with bale_verify_head_close. */
int bale_verify_head(bale_bundle_reader *r, const bale_trust *trust, bale_trusted_head *out,
                     bale_error **err);
/* Closes what the head holds open (index.db); nothing when there is nothing. */
void bale_verify_head_close(bale_trusted_head *th);

typedef struct bale_verify_report {
	char signer[BALE_KEY_ID_LEN + 1];
	bool signature_checked;
	char bundle_id[65];
	char created[32];
	int64_t members;       /* tar members checked */
	int64_t content_bytes; /* their bytes, all hashed */
	uint64_t file_bytes;   /* the bundle file */
	int64_t images;
	int64_t blobs;          /* listed, expected ones included */
	int64_t expected_blobs; /* a delta's: left for the site to have */
	int64_t expected_bytes;
	int volume, volumes; /* a volume of a set: its number and the set's count; else 0 */
} bale_verify_report;

/* The whole check: signature first (skipped when trust is NULL), then every member
 * streamed and hashed: sizes, digests, nothing missing, nothing extra, no unsafe paths,
 * links or devices; the zstd frames against the seek table. BALE_ETRUST or
 * BALE_EVERIFY naming the first bad member and what was expected. */
int bale_verify_bundle(const char *path, const bale_trust *trust, bale_verify_report *report,
                       const bale_log *log, bale_error **err);

/* What bale_verify_policy found: images held to the policy, and how many it refused. */
typedef struct bale_verify_policy_report {
	size_t images;
	size_t refused;
} bale_verify_policy_report;

/* After bale_verify_bundle: every image of the bundle that is not an attachment, held to
 * a site's containers-policy.json with the cosign signatures the bundle carries for it
 * (index.db's referrers, schema 5), read from the bundle and hashed again. An image is
 * admitted as bale_policy_check_image says. BALE_ETRUST naming every refused image and
 * why; BALE_EUSAGE for a volume of a set, which need not hold the signatures. */
int bale_verify_policy(const char *path, const bale_policy *policy,
                       bale_verify_policy_report *report, bale_error **err);

#endif
