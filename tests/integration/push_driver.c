/* Drives the registry client's push API against a real registry, for
 * test_push_client.sh (there is no push verb yet):
 *
 *   push_driver [--insecure [--insecure-also HOST]] [--creds] HOST REPO MOUNT_REPO TAG
 *               SMALL BIG CONFIG
 *
 * Pushes SMALL (one monolithic PUT), BIG (chunked) and CONFIG as blobs of REPO, checking
 * existence before and after; mounts BIG into MOUNT_REPO; puts an OCI manifest (config =
 * CONFIG, layers = [BIG]) by digest and by TAG; then checks the refusals: a manifest
 * naming a missing blob, bytes that are not the declared blob, an abandoned upload.
 * --creds takes BALE_TEST_USER and BALE_TEST_PASS from the environment (never argv);
 * --insecure-also names another plain-HTTP host (a token server on its own port).
 * Prints "blob|manifest DIGEST" lines and "refused CODE: MESSAGE" lines; exits 1 on
 * anything unexpected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/hasher.h"
#include "bale/registry.h"

/* Odd-sized writes, so chunk boundaries fall inside them. */
#define PIECE ((1u << 20) + 13)

typedef struct ctx {
	bale_registry *reg;
	const char *host, *repo, *mount_repo;
} ctx;

static int fail(bale_error *err, const char *what)
{
	fprintf(stderr, "push_driver: %s: %s\n", what,
	        err ? bale_error_message(err) : "unexpected");
	bale_error_free(err);
	return 1;
}

static int describe_file(bale_descriptor *d, const char *path, const char *media_type)
{
	int rc = 1;
	unsigned char buf[65536];
	bale_hasher *h = NULL;
	FILE *f = fopen(path, "rb");
	memset(d, 0, sizeof(*d));
	snprintf(d->media_type, sizeof(d->media_type), "%s", media_type);
	if (!f || bale_hasher_new(&h, NULL) < 0)
		goto cleanup;
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		bale_hasher_update(h, buf, n);
		d->size += (int64_t)n;
	}
	bale_hasher_final(h, &d->digest);
	rc = ferror(f) ? 1 : 0;
cleanup:
	if (f)
		fclose(f);
	bale_hasher_free(h);
	if (rc)
		fprintf(stderr, "push_driver: cannot read %s\n", path);
	return rc;
}

/* Streams a file into an upload in PIECE-sized writes; stops after `limit` bytes
 * (abandoned upload) when limit >= 0. */
static int stream_file(bale_registry_upload *u, const char *path, long long limit, bale_error **err)
{
	int rc = 0;
	long long done = 0;
	unsigned char *buf = malloc(PIECE);
	FILE *f = fopen(path, "rb");
	if (!buf || !f) {
		rc = bale_error_set(err, BALE_EGENERIC, "cannot read %s", path);
		goto cleanup;
	}
	size_t n;
	while ((limit < 0 || done < limit) && (n = fread(buf, 1, PIECE, f)) > 0) {
		if ((rc = bale_registry_upload_write(u, buf, n, err)) < 0)
			goto cleanup;
		done += (long long)n;
	}
cleanup:
	if (f)
		fclose(f);
	free(buf);
	return rc;
}

static int push_blob(ctx *c, const char *path, const bale_descriptor *d)
{
	bale_error *err = NULL;
	bale_registry_upload *u = NULL;
	bool there = true;
	if (bale_registry_blob_exists(c->reg, c->repo, d, &there, &err) < 0)
		return fail(err, "blob_exists before");
	if (there)
		return fail(NULL, "blob there before the upload");
	if (bale_registry_upload_begin(&u, c->reg, c->repo, d, &err) < 0 ||
	    stream_file(u, path, -1, &err) < 0 || bale_registry_upload_finish(u, &err) < 0) {
		bale_registry_upload_free(u);
		return fail(err, path);
	}
	bale_registry_upload_free(u);
	if (bale_registry_blob_exists(c->reg, c->repo, d, &there, &err) < 0)
		return fail(err, "blob_exists after");
	if (!there)
		return fail(NULL, "blob missing after the upload");
	printf("blob %s %lld\n", d->digest.str, (long long)d->size);
	return 0;
}

static int mount_blob(ctx *c, const bale_descriptor *big)
{
	bale_error *err = NULL;
	bool there = true, mounted = false;
	if (bale_registry_blob_exists(c->reg, c->mount_repo, big, &there, &err) < 0)
		return fail(err, "blob_exists in the mount target");
	if (there)
		return fail(NULL, "blob in the mount target before the mount");
	if (bale_registry_blob_mount(c->reg, c->mount_repo, c->repo, big, &mounted, &err) < 0)
		return fail(err, "mount");
	if (!mounted)
		return fail(NULL, "mount declined");
	if (bale_registry_blob_exists(c->reg, c->mount_repo, big, &there, &err) < 0)
		return fail(err, "blob_exists after the mount");
	if (!there)
		return fail(NULL, "blob missing after the mount");
	printf("mounted %s\n", big->digest.str);
	/* A blob the source does not have: declined, the upload it opened cancelled. */
	bale_descriptor absent = *big;
	bale_digest_of(&absent.digest, "absent", 6);
	if (bale_registry_blob_mount(c->reg, c->mount_repo, c->repo, &absent, &mounted, &err) < 0)
		return fail(err, "mount of an absent blob");
	if (mounted)
		return fail(NULL, "mounted a blob the source does not have");
	printf("declined %s\n", absent.digest.str);
	return 0;
}

static int manifest_json(char *out, size_t size, const bale_descriptor *config,
                         const bale_descriptor *layer)
{
	int n = snprintf(out, size,
	                 "{\"schemaVersion\":2,"
	                 "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	                 "\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld},"
	                 "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld}]}",
	                 config->media_type, config->digest.str, (long long)config->size,
	                 layer->media_type, layer->digest.str, (long long)layer->size);
	return n > 0 && (size_t)n < size ? n : -1;
}

static const char oci_manifest[] = "application/vnd.oci.image.manifest.v1+json";

static int put_manifests(ctx *c, const char *tag, const bale_descriptor *config,
                         const bale_descriptor *layer)
{
	bale_error *err = NULL;
	char json[1024];
	bale_digest d;
	bool there = true;
	int n = manifest_json(json, sizeof(json), config, layer);
	if (n < 0)
		return fail(NULL, "manifest too long");
	bale_digest_of(&d, json, (size_t)n);
	if (bale_registry_manifest_exists(c->reg, c->repo, &d, &there, &err) < 0)
		return fail(err, "manifest_exists before");
	if (there)
		return fail(NULL, "manifest there before the put");
	if (bale_registry_put_manifest(c->reg, c->repo, d.str, oci_manifest, json, (size_t)n,
	                               &err) < 0)
		return fail(err, "put_manifest by digest");
	if (bale_registry_manifest_exists(c->reg, c->repo, &d, &there, &err) < 0)
		return fail(err, "manifest_exists after");
	if (!there)
		return fail(NULL, "manifest missing after the put");
	if (bale_registry_put_manifest(c->reg, c->repo, tag, oci_manifest, json, (size_t)n, &err) <
	    0)
		return fail(err, "put_manifest by tag");
	printf("manifest %s\n", d.str);
	return 0;
}

/* Prints an expected refusal, or fails when it did not come with `want`. */
static int refused(int rc, bale_error *err, int want, const char *what)
{
	if (rc != want) {
		fprintf(stderr, "push_driver: %s: expected code %d, got %d\n", what, want, rc);
		return fail(err, what);
	}
	printf("refused %d: %s\n", rc, bale_error_message(err));
	bale_error_free(err);
	return 0;
}

static int refusals(ctx *c, const char *small, const char *big, const bale_descriptor *config)
{
	bale_error *err = NULL;
	bale_registry_upload *u = NULL;
	char json[1024];
	/* A manifest naming a layer the registry does not have. */
	bale_descriptor missing = *config;
	snprintf(missing.media_type, sizeof(missing.media_type), "%s",
	         "application/vnd.oci.image.layer.v1.tar");
	bale_digest_of(&missing.digest, "missing layer", 13);
	int n = manifest_json(json, sizeof(json), config, &missing);
	int rc =
	    bale_registry_put_manifest(c->reg, c->repo, "bad", oci_manifest, json, (size_t)n, &err);
	if (refused(rc, err, BALE_EVERIFY, "manifest with a missing blob"))
		return 1;
	/* The small file's bytes under another digest of the same size. */
	bale_descriptor wrong;
	if (describe_file(&wrong, small, "application/octet-stream"))
		return 1;
	bale_digest_of(&wrong.digest, "not the small file", 18);
	err = NULL;
	rc = bale_registry_upload_begin(&u, c->reg, c->repo, &wrong, &err);
	if (rc == 0 && (rc = stream_file(u, small, -1, &err)) == 0)
		rc = bale_registry_upload_finish(u, &err);
	bale_registry_upload_free(u); /* cancels it */
	if (refused(rc, err, BALE_EVERIFY, "bytes that are not the declared blob"))
		return 1;
	/* Half of the big file (a chunk goes out), then abandoned: cancelled on free. */
	bale_descriptor half;
	if (describe_file(&half, big, "application/octet-stream"))
		return 1;
	bale_digest_of(&half.digest, "abandoned", 9);
	err = NULL;
	u = NULL;
	if (bale_registry_upload_begin(&u, c->reg, c->repo, &half, &err) < 0 ||
	    stream_file(u, big, half.size / 2, &err) < 0) {
		bale_registry_upload_free(u);
		return fail(err, "abandoned upload");
	}
	bale_registry_upload_free(u);
	printf("abandoned %s\n", half.digest.str);
	return 0;
}

int main(int argc, char **argv)
{
	int status = 1;
	bool insecure = false, creds = false;
	const char *insecure_also = NULL;
	char userpass[512] = "";
	int i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--insecure") == 0)
			insecure = true;
		else if (strcmp(argv[i], "--creds") == 0)
			creds = true;
		else if (strcmp(argv[i], "--insecure-also") == 0 && i + 1 < argc)
			insecure_also = argv[++i];
	}
	if (argc - i != 7) {
		fprintf(stderr, "usage: push_driver [--insecure [--insecure-also HOST]] [--creds] "
		                "HOST REPO MOUNT_REPO TAG SMALL BIG CONFIG\n");
		return 2;
	}
	ctx c = {.host = argv[i], .repo = argv[i + 1], .mount_repo = argv[i + 2]};
	const char *tag = argv[i + 3], *small = argv[i + 4], *big = argv[i + 5],
	           *config_file = argv[i + 6];
	if (creds) {
		const char *user = getenv("BALE_TEST_USER"), *pass = getenv("BALE_TEST_PASS");
		if (!user || !pass)
			return fail(NULL, "--creds needs BALE_TEST_USER and BALE_TEST_PASS");
		snprintf(userpass, sizeof(userpass), "%s:%s", user, pass);
	}
	bale_auth_options auth = {.creds = creds ? userpass : NULL};
	const char *insecure_list[] = {c.host, insecure_also};
	bale_registry_options opts;
	bale_registry_options_init(&opts);
	opts.auth = &auth;
	opts.push = true;
	opts.retries = 2;
	opts.retry_delay_ms = 100;
	if (insecure) {
		opts.insecure = insecure_list;
		opts.n_insecure = insecure_also ? 2 : 1;
	}
	bale_error *err = NULL;
	bale_descriptor d_small, d_big, d_config;
	if (describe_file(&d_small, small, "application/octet-stream") ||
	    describe_file(&d_big, big, "application/vnd.oci.image.layer.v1.tar") ||
	    describe_file(&d_config, config_file, "application/vnd.oci.image.config.v1+json"))
		return 1;
	if (bale_registry_open(&c.reg, c.host, &opts, &err) < 0)
		return fail(err, "open");
	if (push_blob(&c, small, &d_small) || push_blob(&c, big, &d_big) ||
	    push_blob(&c, config_file, &d_config) || mount_blob(&c, &d_big) ||
	    put_manifests(&c, tag, &d_config, &d_big) || refusals(&c, small, big, &d_config))
		goto cleanup;
	status = 0;
cleanup:
	bale_registry_free(c.reg);
	memset(userpass, 0, sizeof(userpass));
	return status;
}
