/* Where the volumes of a set wait on the node until their images are whole
 * (docs/bundle-format.md, "Volumes"): each blob or part of a blob a volume brings, checked
 * against its digest as it streams in, as a file of its own under ROOT/SET/, kept across
 * imports; an image lands once every blob it uses is in the store or here (a blob cut into
 * parts, once all its parts are), read back and hashed again on its way into the store. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bale/fs.h"
#include "bale/hasher.h"
#include "bale/verify.h"
#include "import/import_private.h"

#define COPY_CHUNK ((size_t)1 << 20)
/* What staging leaves free on its file system, for the store and everyone else. */
#define STAGING_SPARE (64 << 20)

static const char *human(char out[32], uint64_t bytes)
{
	snprintf(out, 32, "%.1f MiB", (double)bytes / (1 << 20));
	return out;
}

struct import_staging {
	char *dir; /* ROOT/SET */
	char *buf;
};

static void sweep(const import_staging *s);

int import_staging_open(import_staging **out, const char *root, const char *set_id,
                        bale_error **err)
{
	import_staging *s = calloc(1, sizeof(*s));
	int rc = s && (s->buf = malloc(COPY_CHUNK)) && asprintf(&s->dir, "%s/%s", root, set_id) >= 0
	             ? 0
	             : bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (rc == 0 && (rc = bale_fs_mkdir_p(s->dir, 0700, err)) < 0)
		bale_error_wrap(err, "the staging area of the volumes");
	if (rc == 0)
		sweep(s);
	if (rc < 0) {
		import_staging_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void import_staging_free(import_staging *s)
{
	if (!s)
		return;
	free(s->dir);
	free(s->buf);
	free(s);
}

/* What killed imports left: temporaries ("NAME.tmp-XXXXXX") no live import holds. */
static void sweep(const import_staging *s)
{
	DIR *d = opendir(s->dir);
	struct dirent *e;
	char path[4096];
	while (d && (e = readdir(d))) {
		const char *tmp = strstr(e->d_name, ".tmp-");
		if (!tmp)
			continue;
		snprintf(path, sizeof(path), "%s/%.*s", s->dir, (int)(tmp - e->d_name), e->d_name);
		bale_fs_temp_sweep(path, NULL, NULL, NULL);
	}
	if (d)
		closedir(d);
}

static void staged_path(const import_staging *s, char *out, size_t size, const bale_digest *blob,
                        int part)
{
	if (part)
		snprintf(out, size, "%s/%s.part%d", s->dir, bale_digest_hex(blob), part);
	else
		snprintf(out, size, "%s/%s", s->dir, bale_digest_hex(blob));
}

static bool staged(const import_staging *s, const bale_digest *blob, int part)
{
	char path[4096];
	staged_path(s, path, sizeof(path), blob, part);
	return access(path, F_OK) == 0;
}

typedef struct stage_file {
	int fd;
	const char *path;
} stage_file;

static int write_staged(void *payload, const void *data, size_t len, bale_error **err)
{
	stage_file *f = payload;
	if (bale_fs_write_all(f->fd, data, len) < 0)
		return bale_error_set_errno(err, BALE_ESTORE, errno, "write %s", f->path);
	return 0;
}

/* One member of a volume into its file: written under a temporary name, checked against
 * its digest as it streams, synced, then named. */
static int stage_member(import_staging *s, bale_bundle_reader *r, const char *member,
                        const bale_digest *blob, int part, const bale_descriptor *want,
                        bale_error **err)
{
	char path[4096], *tmp = NULL;
	struct statvfs vfs;
	staged_path(s, path, sizeof(path), blob, part);
	if (statvfs(s->dir, &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < (uint64_t)want->size + STAGING_SPARE) {
		char need[32], have[32];
		return bale_error_set(err, BALE_ESTORE,
		                      "%s: %s free, %s needed for %s (and %d MiB to spare): free "
		                      "space there, or stage elsewhere with --staging DIR",
		                      s->dir, human(have, (uint64_t)vfs.f_bavail * vfs.f_frsize),
		                      human(need, (uint64_t)want->size), member,
		                      STAGING_SPARE >> 20);
	}
	/* a temporary of its own, locked while written: two imports of one set do not meet,
	 * and what a killed one left is swept (import_staging_open) */
	stage_file f = {.fd = -1};
	int rc = bale_fs_temp_create(path, 0600, BALE_ESTORE, &f.fd, &tmp, err);
	if (rc < 0)
		return rc;
	f.path = tmp;
	rc = bale_bundle_check_member(r, member, want, write_staged, &f, err);
	if (rc == 0 && fsync(f.fd) < 0)
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "write %s", tmp);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "rename %s", tmp);
	if (rc < 0)
		unlink(tmp);
	close(f.fd);
	free(tmp);
	return rc;
}

/* The member this volume_members row names, and what it must be. */
static int member_row(sqlite3_stmt *st, bale_digest *blob, int *part, bale_descriptor *want,
                      bale_error **err)
{
	const char *b = (const char *)sqlite3_column_text(st, 0);
	const char *pd = (const char *)sqlite3_column_text(st, 2);
	*part = sqlite3_column_int(st, 1);
	memset(want, 0, sizeof(*want));
	want->size = sqlite3_column_int64(st, 3);
	if (bale_digest_parse(blob, b ? b : "", err) < 0 ||
	    bale_digest_parse(&want->digest, pd ? pd : "", err) < 0)
		return bale_error_wrap(err, "%s: volume_members", BALE_BUNDLE_INDEX_DB);
	return 0;
}

/* Is the bundle at path (its manifest m) a volume of the set set_id? */
static int same_set(const bale_bundle_manifest *m, const char *path, const char *set_id,
                    bale_error **err)
{
	if (m->format_version == BALE_BUNDLE_FORMAT_VOLUME && m->bundle_id &&
	    strcmp(m->bundle_id, set_id) == 0)
		return 0;
	return bale_error_set(err, BALE_EUSAGE,
	                      "%s is not a volume of the set %s (import the volumes of one set "
	                      "together)",
	                      path, set_id);
}

/* A volume of set set_id opened and its head checked against trust. */
static int open_volume(const char *path, const bale_trust *trust, const char *set_id,
                       bale_bundle_reader **r, bale_trusted_head *th, bale_error **err)
{
	int rc = bale_bundle_open(r, path, err);
	if (rc == 0)
		rc = bale_verify_head(*r, trust, th, err);
	return rc < 0 ? rc : same_set(th->manifest, path, set_id, err);
}

int import_staging_volume_of(const char *path, const bale_trust *trust, const char *set_id,
                             int *number, bale_error **err)
{
	/* The signed manifest says it; index.db is left for import_staging_take to read. */
	bale_bundle_reader *r = NULL;
	const bale_bundle_head *head = NULL;
	const bale_bundle_manifest *m = NULL;
	char signer[BALE_KEY_ID_LEN + 1];
	int rc = bale_bundle_open(&r, path, err);
	if (rc == 0)
		rc = bale_bundle_read_head(r, &head, err);
	if (rc == 0 && trust)
		rc = bale_verify_signature(head, trust, signer, err);
	if (rc == 0)
		rc = bale_bundle_read_manifest(r, &m, err);
	if (rc == 0 && (rc = same_set(m, path, set_id, err)) == 0)
		*number = m->volume;
	bale_bundle_close(r);
	return rc < 0 ? bale_error_wrap(err, "%s", path) : 0;
}

bool import_staging_obtainable(import_staging *s, sqlite3 *db, const bale_digest *blob,
                               const bool *given, int volumes)
{
	sqlite3_stmt *st = NULL;
	bool all = true, any = false;
	if (staged(s, blob, 0))
		return true;
	if (sqlite3_prepare_v2(db, "SELECT volume, part FROM volume_members WHERE digest = ?1", -1,
	                       &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, blob->str, -1, SQLITE_STATIC);
	while (all && sqlite3_step(st) == SQLITE_ROW) {
		int volume = sqlite3_column_int(st, 0), part = sqlite3_column_int(st, 1);
		any = true;
		all = (volume >= 1 && volume <= volumes && given[volume]) || staged(s, blob, part);
	}
	sqlite3_finalize(st);
	return any && all;
}

int import_staging_take(import_staging *s, const char *path, const bale_trust *trust,
                        const char *set_id, import_store_has_fn has, import_take_fn take,
                        void *payload, size_t *taken, bale_error **err)
{
	bale_bundle_reader *r = NULL;
	bale_trusted_head th = {0};
	sqlite3_stmt *st = NULL;
	int rc = open_volume(path, trust, set_id, &r, &th, err);
	if (rc < 0)
		goto cleanup;
	const bale_bundle_manifest *m = th.manifest;
	if (sqlite3_prepare_v2(th.index_db,
	                       "SELECT digest, part, part_digest, size FROM volume_members"
	                       " WHERE volume = ?1 ORDER BY position",
	                       -1, &st, NULL) != SQLITE_OK) {
		rc = bale_error_set(err, BALE_EVERIFY, "%s: %s", BALE_BUNDLE_INDEX_DB,
		                    sqlite3_errmsg(th.index_db));
		goto cleanup;
	}
	sqlite3_bind_int(st, 1, m->volume);
	/* The members come in the order the index lists them: each is taken as the walk
	 * reaches it, or skipped (through the seek table) when the node has it. */
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		bale_digest blob;
		bale_descriptor want;
		int part = 0;
		char member[160];
		if ((rc = member_row(st, &blob, &part, &want, err)) < 0)
			break;
		if (has(payload, &blob) || staged(s, &blob, part))
			continue;
		bale_bundle_member_path(member, sizeof(member), &blob, part);
		bale_bundle_member bm;
		for (;;) { /* to the member: what comes before it was taken or is not wanted */
			int more = bale_bundle_next(r, &bm, err);
			if (more <= 0) {
				rc = more < 0 ? more
				              : bale_error_set(err, BALE_EVERIFY, "%s: %s: missing",
				                               path, member);
				break;
			}
			if (strcmp(bm.path, member) == 0)
				break;
		}
		/* a whole blob an image landing now needs goes straight to the store */
		int direct = rc == 0 && part == 0 ? take(payload, r, member, &blob, err) : 0;
		if (direct < 0)
			rc = direct;
		else if (rc == 0 && !direct &&
		         (rc = stage_member(s, r, member, &blob, part, &want, err)) == 0)
			(*taken)++;
	}
cleanup:
	sqlite3_finalize(st);
	bale_verify_head_close(&th);
	bale_bundle_close(r);
	return rc < 0 ? bale_error_wrap(err, "%s", path) : 0;
}

/* The parts of blob the set has, from the index: how many, and where each is. */
static int parts_of(sqlite3 *db, const bale_digest *blob, int *parts, bale_error **err)
{
	sqlite3_stmt *st = NULL;
	*parts = 0;
	if (sqlite3_prepare_v2(db, "SELECT max(part) FROM volume_members WHERE digest = ?1", -1,
	                       &st, NULL) != SQLITE_OK)
		return bale_error_set(err, BALE_EVERIFY, "%s: %s", BALE_BUNDLE_INDEX_DB,
		                      sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, blob->str, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		*parts = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

bool import_staging_has(import_staging *s, sqlite3 *db, const bale_digest *blob)
{
	int parts = 0;
	if (staged(s, blob, 0))
		return true;
	if (parts_of(db, blob, &parts, NULL) < 0 || parts == 0)
		return false;
	for (int k = 1; k <= parts; k++)
		if (!staged(s, blob, k))
			return false;
	return true;
}

int import_staging_copy(import_staging *s, sqlite3 *db, bale_sink *store,
                        const bale_descriptor *desc, bale_error **err)
{
	int parts = 0,
	    rc = staged(s, &desc->digest, 0) ? 0 : parts_of(db, &desc->digest, &parts, err);
	bale_sink_blob *b = NULL;
	bale_hasher *h = NULL;
	int64_t done = 0;
	char path[4096];
	if (rc < 0 || (rc = bale_hasher_new(&h, err)) < 0 ||
	    (rc = bale_sink_blob_open(store, desc, &b, err)) < 0)
		goto cleanup;
	for (int k = parts ? 1 : 0; k <= parts && rc == 0; k++) {
		staged_path(s, path, sizeof(path), &desc->digest, k);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = bale_error_set_errno(err, BALE_ESTORE, errno, "open %s", path);
			break;
		}
		for (;;) {
			ssize_t got = read(fd, s->buf, COPY_CHUNK);
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0)
				rc = bale_error_set_errno(err, BALE_ESTORE, errno, "read %s", path);
			if (got <= 0 || done + got > desc->size)
				break;
			bale_hasher_update(h, s->buf, (size_t)got);
			done += got;
			if ((rc = bale_sink_blob_write(store, b, s->buf, (size_t)got, err)) < 0)
				break;
		}
		close(fd);
	}
	bale_digest got;
	bale_hasher_final(h, &got);
	if (rc == 0 && (done != desc->size || !bale_digest_equal(&got, &desc->digest))) {
		/* staged bytes that changed since they were checked: gone, the volume again */
		import_staging_drop(s, desc, parts);
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "%s: staged content is not %s (got %s): removed it; import "
		                    "the volumes that hold it again",
		                    s->dir, desc->digest.str, got.str);
	}
	if (rc == 0) {
		rc = bale_sink_blob_commit(store, b, err);
		b = NULL;
	}
cleanup:
	if (b)
		bale_sink_blob_abort(store, b);
	bale_hasher_free(h);
	return rc;
}

void import_staging_drop(import_staging *s, const bale_descriptor *desc, int parts)
{
	char path[4096];
	for (int k = 0; k <= parts; k++) {
		staged_path(s, path, sizeof(path), &desc->digest, k);
		unlink(path);
	}
}

int import_staging_parts(sqlite3 *db, const bale_digest *blob, int *parts, bale_error **err)
{
	return parts_of(db, blob, parts, err);
}

int import_staging_volumes(import_staging *s, sqlite3 *db, const bale_digest *blob, bale_buf *out,
                           bale_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(db,
	                       "SELECT DISTINCT volume, part FROM volume_members WHERE digest = ?1"
	                       " ORDER BY volume",
	                       -1, &st, NULL) != SQLITE_OK)
		return bale_error_set(err, BALE_EVERIFY, "%s: %s", BALE_BUNDLE_INDEX_DB,
		                      sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, blob->str, -1, SQLITE_STATIC);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		int volume = sqlite3_column_int(st, 0), part = sqlite3_column_int(st, 1);
		char one[16];
		snprintf(one, sizeof(one), ",%d,", volume);
		if (staged(s, blob, part) || (out->data && strstr(out->data, one)))
			continue;
		if (!out->len)
			rc = bale_buf_appendf(out, err, ",");
		if (rc == 0)
			rc = bale_buf_appendf(out, err, "%d,", volume);
	}
	sqlite3_finalize(st);
	return rc;
}

void import_staging_remove(import_staging *s)
{
	DIR *d = opendir(s->dir);
	struct dirent *e;
	char path[4096];
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(s->dir);
}
