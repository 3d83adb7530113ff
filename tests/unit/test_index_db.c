/* index.db: built from hand-made images, read back from its bytes as a bundle reader
 * would, checked row by row and view by view, opened by the sqlite3 CLI, and held to
 * being read-only. The schema doc is checked against what the code creates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bale/buf.h"
#include "bale/index_db.h"
#include "bale/manifest.h"
#include "testutil.h"

#define MT_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define REF_A "docker.io/library/alpha:1.0"
#define REF_B "ghcr.io/org/beta:2.0"

/* The fixture: A (OCI index: amd64, arm64 carried, s390x left out), B (Docker list:
 * amd64, arm64) sharing A's base layers, and C (one manifest, digest-only ref) sharing
 * the amd64 base layer. */
enum { L_BASE_AMD64, L_A1, L_BASE_ARM64, L_A2, L_B1, L_B2, L_B3, L_C1, N_LAYERS };
enum { M_A_AMD64, M_A_ARM64, M_A_S390X, M_B_AMD64, M_B_ARM64, M_C, N_MANIFESTS };

typedef struct fixture {
	char *dir;
	char *path;
	bale_descriptor layer[N_LAYERS];
	bale_descriptor layers[N_MANIFESTS][3];
	bale_image_manifest man[N_MANIFESTS];
	char config[N_MANIFESTS][256];
	char ref_c[128];
	bale_image img[3];
	const char *extra_config; /* one more config read_config knows */
	bale_digest extra_digest;
} fixture;

static const struct {
	const char *seed;
	int64_t size;
} layer_spec[N_LAYERS] = {
    [L_BASE_AMD64] = {"base-amd64", 1000},
    [L_A1] = {"a1", 200},
    [L_BASE_ARM64] = {"base-arm64", 1100},
    [L_A2] = {"a2", 210},
    [L_B1] = {"b1", 300},
    [L_B2] = {"b2", 400},
    [L_B3] = {"b3", 310},
    [L_C1] = {"c1", 50},
};

static void descriptor(bale_descriptor *d, const char *seed, int64_t size, const char *media_type)
{
	memset(d, 0, sizeof(*d));
	bale_digest_of(&d->digest, seed, strlen(seed));
	d->size = size;
	snprintf(d->media_type, sizeof(d->media_type), "%s", media_type);
}

static void manifest(fixture *f, int i, const char *seed, int64_t size, const char *media_type,
                     const char *platform, bool selected, const char *created, const char *config,
                     const int *layers, size_t n_layers)
{
	bale_image_manifest *m = &f->man[i];
	descriptor(&m->desc, seed, size, media_type);
	if (platform) {
		assert_int_equal(bale_platform_parse(&m->platform, platform, NULL), 0);
		m->has_platform = true;
	}
	m->selected = selected;
	if (!selected)
		return;
	snprintf(f->config[i], sizeof(f->config[i]), "%s", config);
	descriptor(&m->config, "", 0, MT_CONFIG);
	bale_digest_of(&m->config.digest, config, strlen(config));
	m->config.size = (int64_t)strlen(config);
	snprintf(m->created, sizeof(m->created), "%s", created);
	for (size_t k = 0; k < n_layers; k++)
		f->layers[i][k] = f->layer[layers[k]];
	m->layers = f->layers[i];
	m->n_layers = n_layers;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	void *dir = NULL;
	assert_int_equal(tmpdir_setup(&dir), 0);
	f->dir = dir;
	f->path = path_join(f->dir, "index.db");
	for (int i = 0; i < N_LAYERS; i++)
		descriptor(&f->layer[i], layer_spec[i].seed, layer_spec[i].size, MT_LAYER);

	manifest(f, M_A_AMD64, "manifest-a-amd64", 500, BALE_MT_OCI_MANIFEST, "linux/amd64", true,
	         "2024-01-02T03:04:05Z",
	         "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":"
	         "{\"maintainer\":\"alpha team\",\"org.opencontainers.image.version\":\"1.0\"}}}",
	         (int[]){L_BASE_AMD64, L_A1}, 2);
	manifest(f, M_A_ARM64, "manifest-a-arm64", 510, BALE_MT_OCI_MANIFEST, "linux/arm64", true,
	         "2024-01-02T03:04:06Z",
	         "{\"architecture\":\"arm64\",\"variant\":\"v8\",\"os\":\"linux\",\"config\":{"
	         "\"Labels\":{\"maintainer\":\"alpha team\",\"org.opencontainers.image.version\":"
	         "\"1.0\"}}}",
	         (int[]){L_BASE_ARM64, L_A2}, 2);
	manifest(f, M_A_S390X, "manifest-a-s390x", 520, BALE_MT_OCI_MANIFEST, "linux/s390x", false,
	         NULL, NULL, NULL, 0);
	manifest(f, M_B_AMD64, "manifest-b-amd64", 600, BALE_MT_DOCKER_MANIFEST, "linux/amd64",
	         true, "2024-02-01T00:00:00Z",
	         "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":"
	         "{\"maintainer\":\"beta\"}}}",
	         (int[]){L_BASE_AMD64, L_B1, L_B2}, 3);
	manifest(f, M_B_ARM64, "manifest-b-arm64", 610, BALE_MT_DOCKER_MANIFEST, "linux/arm64",
	         true, "",
	         "{\"architecture\":\"arm64\",\"os\":\"linux\",\"config\":{\"Labels\":null}}",
	         (int[]){L_BASE_ARM64, L_B3}, 2);
	/* As the pull engine leaves a single manifest: platform taken from its config. */
	manifest(f, M_C, "manifest-c", 700, BALE_MT_OCI_MANIFEST, "linux/amd64", true,
	         "2023-12-31T23:59:59Z",
	         "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":"
	         "{\"b\":\"2\",\"a\":\"1\",\"n\":3}}}",
	         (int[]){L_BASE_AMD64, L_C1}, 2);

	bale_image *a = &f->img[0], *b = &f->img[1], *c = &f->img[2];
	a->ref = REF_A;
	a->domain = "docker.io";
	a->repository = "library/alpha";
	descriptor(&a->root, "index-a", 900, BALE_MT_OCI_INDEX);
	a->manifests = &f->man[M_A_AMD64];
	a->n_manifests = 3;
	b->ref = REF_B;
	b->domain = "ghcr.io";
	b->repository = "org/beta";
	descriptor(&b->root, "index-b", 800, BALE_MT_DOCKER_LIST);
	b->manifests = &f->man[M_B_AMD64];
	b->n_manifests = 2;
	snprintf(f->ref_c, sizeof(f->ref_c), "docker.io/library/gamma@%s",
	         f->man[M_C].desc.digest.str);
	c->ref = f->ref_c;
	c->domain = "docker.io";
	c->repository = "library/gamma";
	c->root = f->man[M_C].desc;
	c->manifests = &f->man[M_C];
	c->n_manifests = 1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	void *dir = f->dir;
	int rc = tmpdir_teardown(&dir);
	free(f->path);
	free(f);
	return rc;
}

static const bale_index_bundle_info info = {
    .bundle_id = "0123456789abcdef0123456789abcdef",
    .created = "2026-11-01T10:00:00Z",
    .tool_version = "0.1.0",
    .signer_key_id = NULL,
};

/* Configs as a bundle writer reads them back, by digest. */
static int read_config(void *payload, const bale_descriptor *config, bale_buf *out,
                       bale_error **err)
{
	const fixture *f = payload;
	bale_buf_reset(out);
	if (f->extra_config && bale_digest_equal(&f->extra_digest, &config->digest))
		return bale_buf_append(out, f->extra_config, strlen(f->extra_config), err);
	for (int i = 0; i < N_MANIFESTS; i++)
		if (f->man[i].selected &&
		    bale_digest_equal(&f->man[i].config.digest, &config->digest))
			return bale_buf_append(out, f->config[i], strlen(f->config[i]), err);
	return bale_error_set(err, BALE_ENOTFOUND, "no config %s", config->digest.str);
}

static int add(bale_index_db *db, const fixture *f, const bale_image *img, bale_error **err)
{
	return bale_index_db_add_image(db, img, "2026-11-01T09:00:00Z", read_config, (void *)f,
	                               err);
}

/* Gives the blob its archive position unless an earlier call did (shared blobs). */
static void number_one(bale_index_db *db, const bale_descriptor *d, bale_digest *seen, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		if (bale_digest_equal(&seen[i], &d->digest))
			return;
	assert_true(*n < 256);
	seen[*n] = d->digest;
	assert_int_equal(bale_index_db_set_member(db, &d->digest, (int64_t)*n, NULL), 0);
	(*n)++;
}

/* Every blob the images carry gets its archive position, as bundle/writer.c gives them:
 * without one, finish refuses the index. */
static void number_blobs(bale_index_db *db, const bale_image *const *imgs, size_t n_images)
{
	bale_digest seen[256];
	size_t n = 0;
	for (size_t i = 0; i < n_images; i++) {
		const bale_image *img = imgs[i];
		number_one(db, &img->root, seen, &n);
		for (size_t j = 0; j < img->n_indexes; j++)
			if (img->indexes[j].selected)
				number_one(db, &img->indexes[j].desc, seen, &n);
		for (size_t j = 0; j < img->n_manifests; j++) {
			const bale_image_manifest *m = &img->manifests[j];
			if (!m->selected)
				continue;
			if (bale_manifest_type_is_index(img->root.media_type))
				number_one(db, &m->desc, seen, &n);
			number_one(db, &m->config, seen, &n);
			for (size_t k = 0; k < m->n_layers; k++)
				number_one(db, &m->layers[k], seen, &n);
			for (size_t k = 0; m->foreign_carried && k < m->n_foreign; k++)
				number_one(db, &m->foreign[k], seen, &n);
		}
	}
}

static void build(const fixture *f, size_t n_images)
{
	bale_index_db *db = NULL;
	const bale_image *imgs[8];
	assert_true(n_images <= 8);
	assert_int_equal(bale_index_db_create(&db, f->path, &info, NULL), 0);
	for (size_t i = 0; i < n_images; i++) {
		assert_int_equal(add(db, f, &f->img[i], NULL), 0);
		imgs[i] = &f->img[i];
	}
	number_blobs(db, imgs, n_images);
	assert_int_equal(bale_index_db_finish(db, NULL), 0);
	bale_index_db_free(db);
}

/* The file's bytes, opened the way a bundle reader opens them. */
static sqlite3 *open_file(const char *path)
{
	bale_buf b;
	sqlite3 *db = NULL;
	bale_error *err = NULL;
	bale_buf_init(&b, 64u << 20, "index.db");
	assert_int_equal(bale_buf_read_file(&b, path, NULL), 0);
	int rc = bale_index_db_open_bytes(&db, b.data, b.len, &err);
	if (rc < 0)
		fail_msg("open_bytes: %s", bale_error_message(err));
	bale_buf_free(&b);
	return db;
}

/* Rows as "a|b\n"; the query must succeed. */
static void expect(sqlite3 *db, const char *sql, const char *want)
{
	bale_buf out;
	bale_error *err = NULL;
	bale_buf_init(&out, 1 << 20, "rows");
	int rc = bale_index_db_query(db, sql, collect, &out, &err);
	if (rc != 0)
		fail_msg("%s: %s", sql, bale_error_message(err));
	assert_string_equal(out.data ? out.data : "", want);
	bale_buf_free(&out);
}

static void expectf(sqlite3 *db, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void expectf(sqlite3 *db, const char *want, const char *fmt, ...)
{
	char sql[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	expect(db, sql, want);
}

static const char *dg(const fixture *f, int manifest)
{
	return f->man[manifest].desc.digest.str;
}

static const char *ly(const fixture *f, int layer)
{
	return f->layer[layer].digest.str;
}

static long long cfg(const fixture *f, int manifest)
{
	return (long long)f->man[manifest].config.size;
}

static void test_rows(void **state)
{
	fixture *f = *state;
	char want[4096];
	build(f, 3);
	sqlite3 *db = open_file(f->path);

	expect(db,
	       "SELECT bundle_id, created, tool_version, signer_key_id, schema_version FROM bundle",
	       "0123456789abcdef0123456789abcdef|2026-11-01T10:00:00Z|0.1.0|NULL|3\n");
	expect(db, "PRAGMA user_version", "3\n");
	/* every blob has its place in the archive, each a different one from 0 up */
	expect(db,
	       "SELECT count(*) = count(DISTINCT member), min(member), max(member) = count(*) - 1"
	       " FROM blobs",
	       "1|0|1\n");
	assert_int_equal(bale_index_db_version(db), BALE_INDEX_SCHEMA_VERSION);

	snprintf(want, sizeof(want),
	         "1|" REF_A "|docker.io|library/alpha|1.0|%s|" BALE_MT_OCI_INDEX "|900\n"
	         "2|" REF_B "|ghcr.io|org/beta|2.0|%s|" BALE_MT_DOCKER_LIST "|800\n"
	         "3|%s|docker.io|library/gamma|NULL|%s|" BALE_MT_OCI_MANIFEST "|700\n",
	         f->img[0].root.digest.str, f->img[1].root.digest.str, f->ref_c, dg(f, M_C));
	expect(db,
	       "SELECT id, ref, registry, repository, tag, digest, media_type, size FROM images "
	       "ORDER BY id",
	       want);
	expect(db, "SELECT DISTINCT pulled_at FROM images", "2026-11-01T09:00:00Z\n");

	/* Every blob once, with its kind; the s390x manifest was not carried. */
	expect(db, "SELECT kind, count(*) FROM blobs GROUP BY kind ORDER BY kind",
	       "config|5\nindex|2\nlayer|8\nmanifest|5\n");
	expectf(db, "0\n", "SELECT count(*) FROM blobs WHERE digest = '%s'", dg(f, M_A_S390X));
	expectf(db, "1000|" MT_LAYER "|layer\n",
	        "SELECT size, media_type, kind FROM blobs WHERE digest = '%s'",
	        ly(f, L_BASE_AMD64));
	expectf(db, "manifest|700\n", "SELECT kind, size FROM blobs WHERE digest = '%s'",
	        dg(f, M_C));

	snprintf(want, sizeof(want),
	         "%s|" BALE_MT_OCI_MANIFEST "|linux|amd64|NULL|%s|2024-01-02T03:04:05Z|500\n"
	         "%s|" BALE_MT_OCI_MANIFEST "|linux|arm64|v8|%s|2024-01-02T03:04:06Z|510\n"
	         "%s|" BALE_MT_DOCKER_MANIFEST "|linux|amd64|NULL|%s|2024-02-01T00:00:00Z|600\n"
	         "%s|" BALE_MT_DOCKER_MANIFEST "|linux|arm64|v8|%s|NULL|610\n"
	         "%s|" BALE_MT_OCI_MANIFEST "|linux|amd64|NULL|%s|2023-12-31T23:59:59Z|700\n",
	         dg(f, M_A_AMD64), f->man[M_A_AMD64].config.digest.str, dg(f, M_A_ARM64),
	         f->man[M_A_ARM64].config.digest.str, dg(f, M_B_AMD64),
	         f->man[M_B_AMD64].config.digest.str, dg(f, M_B_ARM64),
	         f->man[M_B_ARM64].config.digest.str, dg(f, M_C), f->man[M_C].config.digest.str);
	expect(db,
	       "SELECT digest, media_type, os, architecture, variant, config_digest, created, size "
	       "FROM manifests ORDER BY size",
	       want);

	snprintf(want, sizeof(want), REF_A "|%s|%s\n" REF_B "|%s|%s\n%s|%s\n", dg(f, M_A_AMD64),
	         dg(f, M_A_ARM64), dg(f, M_B_AMD64), dg(f, M_B_ARM64), f->ref_c, dg(f, M_C));
	expect(db,
	       "SELECT i.ref, group_concat(im.manifest_digest, '|') FROM (SELECT * FROM "
	       "image_manifests im JOIN manifests m ON m.digest = im.manifest_digest ORDER BY "
	       "m.size) im JOIN images i ON i.id = im.image_id GROUP BY i.id ORDER BY i.id",
	       want);
	snprintf(want, sizeof(want),
	         "0|linux|amd64|NULL|%s|500|1\n1|linux|arm64|v8|%s|510|1\n"
	         "2|linux|s390x|NULL|%s|520|0\n",
	         dg(f, M_A_AMD64), dg(f, M_A_ARM64), dg(f, M_A_S390X));
	expect(db,
	       "SELECT position, os, architecture, variant, manifest_digest, size, carried FROM "
	       "image_platforms WHERE image_id = 1 ORDER BY position",
	       want);
	expect(db, "SELECT count(*), sum(carried) FROM image_platforms", "6|5\n");

	/* Layers in manifest order. */
	expect(db, "SELECT count(*) FROM manifest_layers", "11\n");
	snprintf(want, sizeof(want), "0|%s\n1|%s\n2|%s\n", ly(f, L_BASE_AMD64), ly(f, L_B1),
	         ly(f, L_B2));
	expectf(db, want,
	        "SELECT position, layer_digest FROM manifest_layers WHERE manifest_digest = '%s' "
	        "ORDER BY position",
	        dg(f, M_B_AMD64));

	/* Labels: string values only; `"Labels": null` gives none. */
	expect(db, "SELECT count(*) FROM labels", "7\n");
	expectf(db, "a|1\nb|2\n",
	        "SELECT key, value FROM labels WHERE config_digest = '%s' ORDER BY key",
	        f->man[M_C].config.digest.str);
	expectf(db, "0\n", "SELECT count(*) FROM labels WHERE config_digest = '%s'",
	        f->man[M_B_ARM64].config.digest.str);
	expect(db,
	       "SELECT i.ref FROM labels l JOIN manifests m ON m.config_digest = l.config_digest "
	       "JOIN image_manifests im ON im.manifest_digest = m.digest JOIN images i ON i.id = "
	       "im.image_id WHERE l.key = 'maintainer' AND l.value = 'beta'",
	       REF_B "\n");
	sqlite3_close(db);
}

static void test_views(void **state)
{
	fixture *f = *state;
	char want[4096];
	build(f, 3);
	sqlite3 *db = open_file(f->path);

	expect(db, "SELECT count(*) FROM layer_images", "8\n");
	expect(db, "SELECT count(*) FROM shared_layers", "2\n");
	snprintf(want, sizeof(want), "1000|3|" REF_A " %s " REF_B "\n", f->ref_c);
	expectf(db, want, "SELECT size, images, refs FROM shared_layers WHERE layer_digest = '%s'",
	        ly(f, L_BASE_AMD64));
	expectf(db, "1100|2|" REF_A " " REF_B "\n",
	        "SELECT size, images, refs FROM shared_layers WHERE layer_digest = '%s'",
	        ly(f, L_BASE_ARM64));
	expectf(db, "1|" REF_B "\n",
	        "SELECT images, refs FROM layer_images WHERE layer_digest = '%s'", ly(f, L_B2));

	/* Per platform: distinct configs and layers the bundle carries for it. */
	snprintf(want, sizeof(want),
	         "linux/amd64|linux|amd64|NULL|3|3|%lld\nlinux/arm64/v8|linux|arm64|v8|2|2|%lld\n",
	         1950 + cfg(f, M_A_AMD64) + cfg(f, M_B_AMD64) + cfg(f, M_C),
	         1620 + cfg(f, M_A_ARM64) + cfg(f, M_B_ARM64));
	expect(db,
	       "SELECT platform, os, architecture, variant, images, manifests, bytes FROM "
	       "platform_sizes ORDER BY platform",
	       want);

	/* Per registry: every distinct blob its images need, roots and manifests included. */
	snprintf(want, sizeof(want), "docker.io|2|2|%lld\nghcr.io|1|1|%lld\n",
	         5170 + cfg(f, M_A_AMD64) + cfg(f, M_A_ARM64) + cfg(f, M_C),
	         5120 + cfg(f, M_B_AMD64) + cfg(f, M_B_ARM64));
	expect(
	    db,
	    "SELECT registry, repositories, images, bytes FROM registry_images ORDER BY registry",
	    want);

	snprintf(want, sizeof(want),
	         REF_A "|linux/amd64|2|%lld\n" REF_A "|linux/arm64/v8|2|%lld\n"
	               "%s|linux/amd64|2|%lld\n" REF_B "|linux/amd64|3|%lld\n" REF_B
	               "|linux/arm64/v8|2|%lld\n",
	         1200 + cfg(f, M_A_AMD64), 1310 + cfg(f, M_A_ARM64), f->ref_c, 1050 + cfg(f, M_C),
	         1700 + cfg(f, M_B_AMD64), 1410 + cfg(f, M_B_ARM64));
	expect(db, "SELECT ref, platform, layers, bytes FROM image_sizes ORDER BY ref, platform",
	       want);

	expect(db, "SELECT count(*) FROM image_layers", "11\n");
	expect(
	    db,
	    "SELECT kind, count(*) FROM image_blobs WHERE image_id = 1 GROUP BY kind ORDER BY kind",
	    "config|2\nindex|1\nlayer|4\nmanifest|2\n");
	expect(
	    db,
	    "SELECT kind, count(*) FROM image_blobs WHERE image_id = 3 GROUP BY kind ORDER BY kind",
	    "config|1\nlayer|2\nmanifest|1\n");
	expectf(db, "config|1\nlayer|2\n",
	        "SELECT kind, count(*) FROM manifest_blobs WHERE manifest_digest = '%s' GROUP BY "
	        "kind ORDER BY kind",
	        dg(f, M_C));
	sqlite3_close(db);
}

/* A second name for the same content adds rows that name it, nothing else. */
static void test_same_content_twice(void **state)
{
	fixture *f = *state;
	char want[256];
	f->img[1] = f->img[0];
	f->img[1].ref = "docker.io/library/alpha:latest";
	build(f, 2);
	sqlite3 *db = open_file(f->path);
	expect(db, "SELECT count(*) FROM images", "2\n");
	expect(db, "SELECT count(*) FROM manifests", "2\n");
	expect(db, "SELECT count(*) FROM image_manifests", "4\n");
	expect(db, "SELECT count(*) FROM image_platforms", "6\n");
	expect(db, "SELECT count(*) FROM manifest_layers", "4\n");
	expect(db, "SELECT count(*) FROM labels", "4\n");
	expect(db, "SELECT kind, count(*) FROM blobs GROUP BY kind ORDER BY kind",
	       "config|2\nindex|1\nlayer|4\nmanifest|2\n");
	expect(db, "SELECT count(*), min(images), max(images) FROM shared_layers", "4|2|2\n");
	snprintf(want, sizeof(want), "docker.io|2|%lld\n",
	         4420 + cfg(f, M_A_AMD64) + cfg(f, M_A_ARM64));
	expect(db, "SELECT registry, images, bytes FROM registry_images", want);
	sqlite3_close(db);
}

static void test_sqlite3_cli(void **state)
{
	fixture *f = *state;
	char cmd[512], out[256] = "";
	build(f, 3);
	snprintf(cmd, sizeof(cmd),
	         "sqlite3 -readonly '%s' 'PRAGMA integrity_check; PRAGMA foreign_key_check; PRAGMA "
	         "user_version; SELECT count(*) FROM images;' 2>&1",
	         f->path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
	assert_string_equal(out, "ok\n3\n3\n");
	/* finish leaves one file: no journal beside it. */
	char journal[160];
	struct stat st;
	snprintf(journal, sizeof(journal), "%s-journal", f->path);
	assert_int_not_equal(stat(journal, &st), 0);
}

static void test_read_only(void **state)
{
	fixture *f = *state;
	char attach[256], sql[512];
	struct stat st;
	build(f, 3);
	sqlite3 *db = open_file(f->path);

	refused(db, "INSERT INTO labels VALUES ('x', 'y', 'z')", "read-only");
	refused(db, "UPDATE images SET tag = 'evil'", "read-only");
	refused(db, "DELETE FROM images", "read-only");
	refused(db, "CREATE TABLE t (x)", "read-only");
	refused(db, "CREATE TEMP TABLE t (x)", "read-only");
	refused(db, "DROP VIEW shared_layers", "read-only");
	refused(db, "BEGIN", "read-only");
	refused(db, "PRAGMA user_version = 7", "read-only");
	refused(db, "PRAGMA query_only = OFF", "read-only");
	refused(db, "PRAGMA journal_mode = WAL", "read-only");
	snprintf(attach, sizeof(attach), "%s/attached.db", f->dir);
	snprintf(sql, sizeof(sql), "ATTACH DATABASE '%s' AS other", attach);
	refused(db, sql, "ATTACH");
	refused(db, "DETACH DATABASE main", "read-only");
	snprintf(sql, sizeof(sql), "VACUUM INTO '%s'", attach);
	refused(db, sql, "read-only");
	assert_int_not_equal(stat(attach, &st), 0); /* nothing reached the file system */

	refused(db, "SELECT 1; SELECT 2", "one statement at a time (more SQL at character 11)");
	refused(db, "SELECT count(*) FROM images; DELETE FROM images", "one statement at a time");
	refused(db, "SELEC 1", "at character 1");
	refused(db, "SELECT * FROM nothing_here", "no such table: nothing_here");
	refused(db, "", "no SQL statement");
	refused(db, "  -- only a comment", "no SQL statement");

	/* What reading needs still works, trailing semicolons and comments included. */
	expect(db, "SELECT count(*) FROM images;  ", "3\n");
	expect(db, "SELECT count(*) FROM images; -- all of them\n", "3\n");
	expect(db,
	       "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4) "
	       "SELECT sum(x) FROM c",
	       "10\n");
	/* Table-valued PRAGMA functions touch sqlite_master in ways the authorizer cannot
	 * tell from a write; the PRAGMA statement is the way in. */
	refused(db, "SELECT name FROM pragma_table_info('labels')", "read-only");
	expect(db, "PRAGMA table_info(bundle)",
	       "0|bundle_id|TEXT|1|NULL|1\n1|created|TEXT|1|NULL|0\n2|tool_version|TEXT|1|NULL|0\n"
	       "3|signer_key_id|TEXT|0|NULL|0\n4|schema_version|INTEGER|1|NULL|0\n");
	expect(db, "SELECT count(*) FROM images", "3\n"); /* nothing was deleted */
	sqlite3_close(db);
}

static int stop_after_first(void *payload, int ncols, const char *const *names,
                            const char *const *values)
{
	int *rows = payload;
	assert_int_equal(ncols, 2);
	assert_string_equal(names[0], "ref");
	assert_string_equal(names[1], "tag");
	if (!values) /* the header, before any row */
		return *rows == 0 ? 0 : -1;
	(*rows)++;
	return 42;
}

/* An empty result still reports its columns (a header for the CLI's table and CSV). */
static int count_calls(void *payload, int ncols, const char *const *names,
                       const char *const *values)
{
	int *calls = payload;
	assert_int_equal(ncols, 1);
	assert_string_equal(names[0], "ref");
	assert_null(values);
	(*calls)++;
	return 0;
}

static void test_empty_result_has_header(void **state)
{
	fixture *f = *state;
	int calls = 0;
	build(f, 3);
	sqlite3 *db = open_file(f->path);
	assert_int_equal(
	    bale_index_db_query(db, "SELECT ref FROM images WHERE 0", count_calls, &calls, NULL),
	    0);
	assert_int_equal(calls, 1);
	sqlite3_close(db);
}

static void test_callback_stops(void **state)
{
	fixture *f = *state;
	int rows = 0;
	build(f, 3);
	sqlite3 *db = open_file(f->path);
	assert_int_equal(bale_index_db_query(db, "SELECT ref, tag FROM images ORDER BY id",
	                                     stop_after_first, &rows, NULL),
	                 42);
	assert_int_equal(rows, 1);
	sqlite3_close(db);
}

/* The root digest of a reference, as bale plan pins it; "" for a name the index lacks. */
static void test_image_digest(void **state)
{
	fixture *f = *state;
	char digest[80];
	build(f, 3);
	sqlite3 *db = open_file(f->path);
	assert_int_equal(bale_index_db_image_digest(db, REF_A, digest, NULL), 0);
	assert_string_equal(digest, f->img[0].root.digest.str);
	assert_int_equal(bale_index_db_image_digest(db, f->ref_c, digest, NULL), 0);
	assert_string_equal(digest, dg(f, M_C));
	assert_int_equal(bale_index_db_image_digest(db, "docker.io/library/absent:1", digest, NULL),
	                 0);
	assert_string_equal(digest, "");
	assert_int_equal(bale_index_db_image_digest(db, "x' OR '1'='1", digest, NULL), 0);
	assert_string_equal(digest, ""); /* bound, never spliced into the SQL */
	sqlite3_close(db);
}

/* Changes the file with plain SQLite, as a different bale or a forger would. */
static void tamper(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void expect_open_fails(const char *path, const char *why)
{
	bale_buf b;
	sqlite3 *db = NULL;
	bale_error *err = NULL;
	bale_buf_init(&b, 64u << 20, "index.db");
	assert_int_equal(bale_buf_read_file(&b, path, NULL), 0);
	assert_int_equal(bale_index_db_open_bytes(&db, b.data, b.len, &err), BALE_EVERIFY);
	assert_null(db);
	if (!strstr(bale_error_message(err), why))
		fail_msg("message \"%s\" lacks \"%s\"", bale_error_message(err), why);
	bale_error_free(err);
	bale_buf_free(&b);
}

static void test_refuses_other_files(void **state)
{
	fixture *f = *state;
	char path[160];
	build(f, 3);
	snprintf(path, sizeof(path), "%s/v4.db", f->dir);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", f->path, path);
	assert_int_equal(system(cmd), 0);
	tamper(path, "PRAGMA user_version = 7");
	expect_open_fails(path, "index.db: schema version 7, this bale reads 1 to 6");

	/* version 2's number on version 3's tables: held to version 2's schema */
	snprintf(path, sizeof(path), "%s/v2.db", f->dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", f->path, path);
	assert_int_equal(system(cmd), 0);
	tamper(path, "PRAGMA user_version = 2");
	expect_open_fails(path, "is not part of bale's schema (version 2): refused");

	/* version 1's number on version 3's tables: held to version 1's schema */
	snprintf(path, sizeof(path), "%s/v1.db", f->dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", f->path, path);
	assert_int_equal(system(cmd), 0);
	tamper(path, "PRAGMA user_version = 1");
	expect_open_fails(path, "is not part of bale's schema (version 1): refused");

	snprintf(path, sizeof(path), "%s/noview.db", f->dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", f->path, path);
	assert_int_equal(system(cmd), 0);
	tamper(path, "DROP VIEW registry_images");
	expect_open_fails(path, "index.db: no view registry_images");

	snprintf(path, sizeof(path), "%s/other.db", f->dir);
	tamper(path, "CREATE TABLE t (x); PRAGMA user_version = 1");
	expect_open_fails(path, "not a bale index");

	bale_error *err = NULL;
	sqlite3 *db = NULL;
	static const char junk[] =
	    "this is not an SQLite database, not even close to one.........."
	    "................................................................";
	assert_int_equal(bale_index_db_open_bytes(&db, junk, sizeof(junk), &err), BALE_EVERIFY);
	assert_non_null(strstr(bale_error_message(err), "index.db: "));
	bale_error_free(err);
	err = NULL;
	assert_int_equal(bale_index_db_open_bytes(&db, "", 0, &err), BALE_EVERIFY);
	bale_error_free(err);
	assert_null(db);
}

/* A failing image leaves nothing behind; the others still go in. */
static void test_failed_image_rolled_back(void **state)
{
	fixture *f = *state;
	bale_index_db *idx = NULL;
	bale_error *err = NULL;
	bale_image bad = f->img[1];
	bale_image_manifest bad_man[2];
	char broken[] = "{\"config\": {\"Labels\": ";
	memcpy(bad_man, bad.manifests, sizeof(bad_man));
	bad.ref = "ghcr.io/org/broken:1";
	descriptor(&bad.root, "index-broken", 321, BALE_MT_OCI_INDEX);
	descriptor(&bad_man[0].desc, "manifest-broken", 123, BALE_MT_OCI_MANIFEST);
	/* a new manifest, then a config that is not JSON */
	descriptor(&bad_man[1].desc, "manifest-broken-2", 124, BALE_MT_OCI_MANIFEST);
	descriptor(&bad_man[1].config, "config-broken", 22, MT_CONFIG);
	f->extra_config = broken;
	f->extra_digest = bad_man[1].config.digest;
	bad.manifests = bad_man;

	assert_int_equal(bale_index_db_create(&idx, f->path, &info, NULL), 0);
	assert_int_equal(add(idx, f, &f->img[0], NULL), 0);
	assert_int_equal(add(idx, f, &bad, &err), BALE_EVERIFY);
	assert_non_null(strstr(bale_error_message(err), "ghcr.io/org/broken:1"));
	bale_error_free(err);
	err = NULL;
	assert_int_equal(add(idx, f, &f->img[0], &err), BALE_EUSAGE);
	assert_non_null(strstr(bale_error_message(err), REF_A ": index.db: already indexed"));
	bale_error_free(err);
	assert_int_equal(add(idx, f, &f->img[2], NULL), 0);
	const bale_image *landed[2] = {&f->img[0], &f->img[2]};
	number_blobs(idx, landed, 2);
	assert_int_equal(bale_index_db_finish(idx, NULL), 0);
	bale_index_db_free(idx);

	sqlite3 *db = open_file(f->path);
	char want[256];
	snprintf(want, sizeof(want), REF_A "\n%s\n", f->ref_c);
	expect(db, "SELECT ref FROM images ORDER BY id", want);
	expectf(db, "0\n", "SELECT count(*) FROM blobs WHERE digest IN ('%s', '%s', '%s')",
	        bad.root.digest.str, bad_man[0].desc.digest.str, ly(f, L_B1));
	expect(db, "SELECT count(*) FROM manifests", "3\n");
	expect(db, "SELECT count(*) FROM labels", "6\n");
	sqlite3_close(db);
}

static void test_create_and_free(void **state)
{
	fixture *f = *state;
	bale_index_db *idx = NULL;
	bale_error *err = NULL;
	/* The path must be new. */
	FILE *fp = fopen(f->path, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(bale_index_db_create(&idx, f->path, &info, &err), BALE_EGENERIC);
	assert_non_null(strstr(bale_error_message(err), "File exists"));
	bale_error_free(err);
	unlink(f->path);

	/* Freed unfinished: rolled back, the schema with it. */
	assert_int_equal(bale_index_db_create(&idx, f->path, &info, NULL), 0);
	assert_int_equal(add(idx, f, &f->img[0], NULL), 0);
	bale_index_db_free(idx);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* A signer key id is kept. */
	unlink(f->path);
	bale_index_bundle_info signed_info = info;
	signed_info.signer_key_id = "ab12";
	assert_int_equal(bale_index_db_create(&idx, f->path, &signed_info, NULL), 0);
	assert_int_equal(bale_index_db_finish(idx, NULL), 0);
	bale_index_db_free(idx);
	db = open_file(f->path);
	expect(db, "SELECT signer_key_id, (SELECT count(*) FROM images) FROM bundle", "ab12|0\n");
	expect(db, "SELECT count(*) FROM platform_sizes", "0\n");
	sqlite3_close(db);
}

/* Every table and view the code creates is documented, and only those; every SQL
 * example in the document runs and finds something on the fixture. */
static void test_doc_matches_schema(void **state)
{
	fixture *f = *state;
	build(f, 3);
	sqlite3 *db = open_file(f->path);
	check_schema_doc(db, f->path, "index-schema.md", 5, " on the fixture");
	sqlite3_close(db);
}

/* Every statement is bounded: steps, value length, memory, and no function that hands
 * out an address; the error says which limit, in words. */
static void test_bounded_work(void **state)
{
	fixture *f = *state;
	build(f, 3);
	sqlite3 *db = open_file(f->path);
	refused(db,
	        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
	        "SELECT count(*) FROM c",
	        "stopped after 100 million steps");
	refused(db, "SELECT length(printf('%.*c', 1000000000, 'x'))", "over the 1 MiB limit");
	refused(db, "SELECT length(format('%.*c', 2000000, 'x'))", "over the 1 MiB limit");
	refused(db, "SELECT length(zeroblob(2000000))", "over the 1 MiB limit");
	refused(db, "SELECT hex(fts3_tokenizer('simple'))",
	        "function fts3_tokenizer() is not allowed");
	refused(db,
	        "SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
	        "FROM c WHERE x < 100000) SELECT DISTINCT randomblob(4000) FROM c)",
	        "out of memory: SQL on an index may use at most 256 MiB");
	/* The budget is per statement: the next one has all of it. */
	expect(db, "SELECT printf('%5.1f|%d|%s|%Q|%.3c', 2.5, 7, 'a', NULL, 'k')",
	       "  2.5|7|a|NULL|kkk\n");
	expect(db, "SELECT count(*) FROM images", "3\n");
	/* bale_guard() hands its state to bale only; SQL sees NULL */
	expect(db, "SELECT quote(bale_guard())", "NULL\n");
	sqlite3_close(db);
}

/* A file whose schema is not bale's, object for object, is refused before any query: its
 * views would run SQL of someone else's making. */
static void test_refuses_foreign_schema(void **state)
{
	fixture *f = *state;
	static const struct {
		const char *sql, *why;
	} cases[] = {
	    {"DROP VIEW image_blobs; CREATE VIEW image_blobs AS WITH RECURSIVE c(x) AS "
	     "(SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT 1 AS image_id, 'r' AS ref, "
	     "'d' AS digest, 'layer' AS kind, x AS size, 't' AS media_type FROM c",
	     "index.db: view image_blobs is not the one bale writes"},
	    {"CREATE TRIGGER t AFTER INSERT ON labels BEGIN SELECT 1; END",
	     "index.db: trigger \"t\" is not part of bale's schema"},
	    {"CREATE VIEW zz AS SELECT fts3_tokenizer('simple')",
	     "index.db: view \"zz\" is not part of bale's schema"},
	    {"CREATE TABLE zzz (x)", "index.db: table \"zzz\" is not part of bale's schema"},
	    {"DROP INDEX labels_key", "index.db: no index labels_key"},
	};
	build(f, 3);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[200], cmd[600];
		snprintf(path, sizeof(path), "%s/foreign%zu.db", f->dir, i);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", f->path, path);
		assert_int_equal(system(cmd), 0);
		tamper(path, cases[i].sql);
		expect_open_fails(path, cases[i].why);
	}
}

/* An image whose root lists a child index (Windows builds told apart by os.version, one
 * manifest with a foreign layer first) and an attestation: every index and manifest of
 * the tree is recorded, the layers at their places in the manifest. */
static void test_tree_rows(void **state)
{
	fixture *f = *state;
	bale_image img;
	bale_image_manifest man[3];
	bale_image_index child;
	bale_descriptor layers[2], foreign[1];
	size_t positions[2] = {1, 2}, foreign_positions[1] = {0};
	char want[4096];
	memset(&img, 0, sizeof(img));
	memset(man, 0, sizeof(man));
	memset(&child, 0, sizeof(child));
	descriptor(&img.root, "tree-root", 300, BALE_MT_OCI_INDEX);
	descriptor(&child.desc, "tree-child", 200, BALE_MT_OCI_INDEX);
	child.parent = img.root.digest;
	child.position = 1;
	child.depth = 1;
	child.selected = true;
	descriptor(&layers[0], "win-layer-1", 30, MT_LAYER);
	descriptor(&layers[1], "win-layer-2", 40, MT_LAYER);
	descriptor(&foreign[0], "win-foreign-base", 9000,
	           "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip");
	const char *builds[2] = {"windows/amd64:10.0.17763.5576", "windows/amd64:10.0.20348.2340"};
	for (int i = 0; i < 2; i++) {
		bale_image_manifest *m = &man[i];
		descriptor(&m->desc, builds[i], 100 + (int64_t)i, BALE_MT_OCI_MANIFEST);
		assert_int_equal(bale_platform_parse(&m->platform, builds[i], NULL), 0);
		m->has_platform = true;
		m->selected = i == 0;
		m->parent = child.desc.digest;
		m->position = (size_t)i;
		descriptor(&m->config, "win-config", 10, MT_CONFIG);
	}
	man[0].layers = layers;
	man[0].positions = positions;
	man[0].n_layers = 2;
	man[0].foreign = foreign;
	man[0].foreign_positions = foreign_positions;
	man[0].n_foreign = 1;
	/* an attestation of the first build, listed by the root */
	descriptor(&man[2].desc, "attestation", 50, BALE_MT_OCI_MANIFEST);
	descriptor(&man[2].config, "{}", 2, "application/vnd.oci.empty.v1+json");
	man[2].artifact = man[2].selected = true;
	man[2].has_subject = true;
	man[2].subject = man[0].desc.digest;
	man[2].parent = img.root.digest;
	man[2].position = 0;
	img.ref = "example.com/win/app:1";
	img.domain = "example.com";
	img.repository = "win/app";
	img.manifests = man;
	img.n_manifests = 3;
	img.indexes = &child;
	img.n_indexes = 1;

	bale_index_db *x = NULL;
	assert_int_equal(bale_index_db_create(&x, f->path, &info, NULL), 0);
	assert_int_equal(bale_index_db_add_image(x, &img, "2026-11-01T09:00:00Z", NULL, NULL, NULL),
	                 0);
	const bale_image *one[1] = {&img};
	number_blobs(x, one, 1);
	assert_int_equal(bale_index_db_finish(x, NULL), 0);
	bale_index_db_free(x);
	sqlite3 *db = open_file(f->path);

	snprintf(want, sizeof(want), "0|%s|%s|1|1|1\n", child.desc.digest.str, img.root.digest.str);
	expect(db,
	       "SELECT position, digest, parent_digest, entry_position, depth, carried FROM "
	       "image_indexes",
	       want);
	expectf(db, "index|200\n", "SELECT kind, size FROM blobs WHERE digest = '%s'",
	        child.desc.digest.str);
	snprintf(want, sizeof(want),
	         "0|windows|10.0.17763.5576|%s|0|1|0\n1|windows|10.0.20348.2340|%s|1|0|0\n"
	         "2|NULL|NULL|%s|0|1|1\n",
	         child.desc.digest.str, child.desc.digest.str, img.root.digest.str);
	expect(db,
	       "SELECT position, os, os_version, parent_digest, entry_position, carried, artifact "
	       "FROM image_platforms ORDER BY position",
	       want);
	/* the foreign layer at 0 keeps its place: the others are at 1 and 2 */
	snprintf(want, sizeof(want), "1|%s\n2|%s\n", layers[0].digest.str, layers[1].digest.str);
	expectf(db, want,
	        "SELECT position, layer_digest FROM manifest_layers WHERE manifest_digest = '%s' "
	        "ORDER BY position",
	        man[0].desc.digest.str);
	snprintf(want, sizeof(want), "0|%s|9000|0\n", foreign[0].digest.str);
	expect(db, "SELECT position, layer_digest, size, carried FROM foreign_layers", want);
	snprintf(want, sizeof(want), "0|NULL|windows/amd64:10.0.17763.5576\n1|%s|NULL\n",
	         man[0].desc.digest.str);
	expect(db,
	       "SELECT m.artifact, m.subject_digest, s.platform FROM manifests m LEFT JOIN "
	       "image_sizes s ON s.manifest_digest = m.digest AND m.artifact = 0 ORDER BY "
	       "m.artifact",
	       want);
	/* the child index is among the image's blobs */
	expectf(db, "1\n", "SELECT count(*) FROM image_blobs WHERE digest = '%s'",
	        child.desc.digest.str);
	sqlite3_close(db);
}

/* A bundle written before schema version 2 (tests/data/bundle, by an older bale) is
 * still read: held to version 1's schema, and its tables answer. */
static void test_reads_version_1(void **state)
{
	(void)state;
	const char *data = getenv("BALE_TEST_DATA");
	bale_bundle_reader *reader = NULL;
	sqlite3 *db = NULL;
	bale_error *err = NULL;
	char path[1024];
	assert_non_null(data);
	snprintf(path, sizeof(path), "%s/bundle/dlist-all-signed.tar.zst", data);
	if (bale_index_db_open_bundle(&reader, &db, path, &err) < 0)
		fail_msg("%s", bale_error_message(err));
	assert_int_equal(bale_index_db_version(db), 1);
	expect(db, "SELECT schema_version FROM bundle", "1\n");
	expect(
	    db,
	    "SELECT group_concat(os || '/' || architecture || coalesce('/' || variant, ''), ',') "
	    "FROM (SELECT * FROM image_platforms ORDER BY position)",
	    "linux/amd64,linux/arm64/v8,linux/arm/v7\n");
	expect(db, "SELECT count(*) FROM manifest_layers", "6\n");
	sqlite3_close(db);
	bale_bundle_close(reader);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_views, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_same_content_twice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sqlite3_cli, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_callback_stops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_image_digest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_result_has_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_other_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_image_rolled_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_and_free, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_doc_matches_schema, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bounded_work, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_foreign_schema, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tree_rows, setup, teardown),
	    cmocka_unit_test(test_reads_version_1),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
