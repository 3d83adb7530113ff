/* bale_node_remove: names first, then the content no remaining name needs, under each
 * store's own rules (bale/node.h). A crash at any point leaves a store whose names are
 * whole: names go before anything they reach, and a blob goes only once no name of the
 * store reaches it. Running the same removal again finishes what a crash interrupted. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bale/fs.h"
#include "bale/json.h"
#include "bale/node.h"
#include "bale/ref.h"
#include "bale/registry.h"
#include "store/check_private.h"
#include "store/ctr.h"
#include "store/store_private.h"
#include "store/oci_layout.h"

static bool listed(const bale_node_removal *r, const char *name)
{
	for (size_t i = 0; i < r->n_names; i++)
		if (strcmp(r->names[i], name) == 0)
			return true;
	return false;
}

/* ---- oci: ---- */

typedef struct oci_blobs {
	int fd; /* DIR/blobs/sha256 */
} oci_blobs;

static int oci_read(void *ctx, const bale_descriptor *d, bale_buf *out, bale_error **err)
{
	const oci_blobs *b = ctx;
	char path[128];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", b->fd, bale_digest_hex(&d->digest));
	int rc = bale_buf_read_file(out, path, err);
	return rc < 0 && errno == ENOENT ? BALE_ENOTFOUND : rc;
}

static bool oci_has(void *ctx, const bale_digest *d)
{
	const oci_blobs *b = ctx;
	struct stat st;
	return fstatat(b->fd, bale_digest_hex(d), &st, 0) == 0;
}

static bool drop_listed(void *payload, json_t *entry)
{
	const char *name = store_oci_entry_name(entry);
	return name && listed(payload, name);
}

static int remove_oci(const char *dir, const bale_node_removal *r, bale_node_removed *out,
                      bale_error **err)
{
	check_digests kept = {0};
	char *blobs_dir = bale_fs_join(dir, "blobs/sha256");
	oci_blobs blobs = {.fd = -1};
	int rc = 0, lock_fd = -1;
	if (!blobs_dir)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if ((blobs.fd = open(blobs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "%s is not an OCI image layout",
		                          dir);
		goto cleanup;
	}
	/* Under the lock an import's blobs are named by index.json the moment they are in
	 * blobs/ (its commit publishes both under it): what no name reaches is nobody's. */
	if ((lock_fd = store_oci_lock(dir)) < 0) {
		rc = bale_error_set_errno(err, BALE_ESTORE, errno, "lock %s", dir);
		goto cleanup;
	}
	check_source src = {.ctx = &blobs, .read = oci_read, .has = oci_has};
	if ((rc = check_oci_drop_entries(dir, drop_listed, (void *)r, &src, &kept, &out->names,
	                                 err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < r->n_blobs; i++) {
		const bale_digest *d = &r->blobs[i].digest;
		struct stat st;
		if (fstatat(blobs.fd, bale_digest_hex(d), &st, 0) < 0)
			continue; /* gone already */
		if (check_digests_has(&kept, d) || unlinkat(blobs.fd, bale_digest_hex(d), 0) < 0) {
			out->blobs_kept++;
			continue;
		}
		out->blobs++;
		out->bytes += st.st_size;
	}
	if (out->blobs)
		rc = bale_fs_fsync_dir(blobs_dir, err);
cleanup:
	if (lock_fd >= 0)
		close(lock_fd);
	if (blobs.fd >= 0)
		close(blobs.fd);
	check_digests_free(&kept);
	free(blobs_dir);
	return rc;
}

/* ---- containerd ---- */

/* `ctr content ls -q`, sorted. */
static int content_list(const store_ctr *ctr, check_digests *set, bale_error **err)
{
	const char *args[] = {"content", "ls", "-q", NULL};
	bale_buf out;
	char *save = NULL;
	int rc = store_ctr_run(ctr, args, "content ls", &out, err);
	for (char *line = rc == 0 && out.data ? strtok_r(out.data, "\n", &save) : NULL;
	     line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
		bale_digest d;
		if (bale_digest_parse(&d, line, NULL) == 0)
			rc = check_digests_add(set, &d, err);
	}
	bale_buf_free(&out);
	return rc;
}

/* Names per `ctr images rm` run: ctr's argument list stays short. */
#define RM_BATCH 32

static int remove_containerd(const char *socket, const bale_store_options *opts,
                             const bale_node_removal *r, bale_node_removed *out, bale_error **err)
{
	store_ctr ctr;
	bale_node now = {0};
	check_digests before = {0}, after = {0};
	const char *args[RM_BATCH + 5];
	char spec[4200];
	int rc = store_ctr_init(&ctr, opts ? opts->ctr : NULL, socket,
	                        opts ? opts->namespace : NULL, err);
	if (rc < 0)
		return rc;
	snprintf(spec, sizeof(spec), "containerd:%s", socket);
	if ((rc = bale_node_read(&now, spec, opts, err)) < 0 ||
	    (rc = content_list(&ctr, &before, err)) < 0)
		goto cleanup;
	/* Only names still there: ctr stops at one it does not find. --sync waits for
	 * containerd's garbage collector, which drops the content and snapshots nothing
	 * references any more. */
	size_t k = 0;
	for (size_t i = 0; i <= r->n_names && rc == 0; i++) {
		if (i < r->n_names && bale_node_find(&now, r->names[i])) {
			if (k == 0) {
				args[k++] = "images";
				args[k++] = "rm";
				args[k++] = "--sync";
			}
			args[k++] = r->names[i];
			out->names++;
		}
		if (k && (k == RM_BATCH + 3 || i == r->n_names)) {
			bale_buf said;
			args[k] = NULL;
			rc = store_ctr_run(&ctr, args, "images rm", &said, err);
			bale_buf_free(&said);
			k = 0;
		}
	}
	if (rc < 0 || (rc = content_list(&ctr, &after, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < r->n_blobs; i++) {
		const bale_digest *d = &r->blobs[i].digest;
		if (!check_digests_has(&before, d))
			continue;
		if (check_digests_has(&after, d)) {
			out->blobs_kept++;
		} else {
			out->blobs++;
			out->bytes += r->blobs[i].size > 0 ? r->blobs[i].size : 0;
		}
	}
	if (out->blobs_kept)
		snprintf(
		    out->note, sizeof(out->note),
		    "containerd keeps %zu of the blobs: something else references them (another "
		    "name, namespace or lease)",
		    out->blobs_kept);
cleanup:
	check_digests_free(&before);
	check_digests_free(&after);
	bale_node_free(&now);
	store_ctr_free(&ctr);
	return rc;
}

/* ---- registry:// ---- */

/* The repository and digest a name of the registry resolves to; found false when the
 * registry no longer has it. */
static int registry_target(bale_registry *reg, const char *name, char *repo, size_t repo_size,
                           char digest[80], bool *found, bale_error **err)
{
	bale_ref *ref = NULL;
	bale_registry_head head;
	int rc = bale_ref_parse(&ref, name, err);
	*found = false;
	if (rc < 0)
		return rc;
	snprintf(repo, repo_size, "%s", bale_ref_path(ref));
	if (bale_ref_digest(ref)) {
		snprintf(digest, 80, "%s", bale_ref_digest(ref));
		*found = true;
	} else if ((rc = bale_registry_head_manifest(reg, repo, bale_ref_tag(ref), &head, err)) ==
	               0 &&
	           head.found && head.has_digest) {
		snprintf(digest, 80, "%s", head.digest.str);
		*found = true;
	}
	bale_ref_free(ref);
	return rc;
}

static int remove_registry(const char *location, const bale_store_options *opts,
                           const bale_node_removal *r, bale_node_removed *out, bale_error **err)
{
	bale_registry_options ro;
	bale_registry *reg = NULL;
	char *domain = NULL, *prefix = NULL, **done = NULL;
	size_t n_done = 0;
	int rc = bale_store_registry_location(location, &domain, &prefix, err);
	if (rc < 0)
		return rc;
	if (opts && opts->registry)
		ro = *opts->registry;
	else
		bale_registry_options_init(&ro);
	ro.delete_access = true; /* tokens scoped "pull,delete" */
	if ((rc = bale_registry_open(&reg, domain, &ro, err)) < 0 ||
	    !(done = calloc(r->n_names + 1, sizeof(*done)))) {
		rc = rc < 0 ? rc : bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < r->n_names && rc == 0; i++) {
		char repo[1024], digest[80], key[1200];
		bool found = false, again = false;
		if ((rc = registry_target(reg, r->names[i], repo, sizeof(repo), digest, &found,
		                          err)) < 0 ||
		    !found)
			continue;
		/* By digest: distribution deletes manifests by digest only, and every tag on it
		 * in the repository goes with it. */
		snprintf(key, sizeof(key), "%s@%s", repo, digest);
		for (size_t k = 0; k < n_done && !again; k++)
			again = strcmp(done[k], key) == 0;
		if (again)
			continue;
		if (!(done[n_done++] = strdup(key))) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			break;
		}
		rc = bale_registry_delete_manifest(reg, repo, digest, err);
		if (rc == BALE_ENOTFOUND) {
			bale_error_clear(err);
			rc = 0;
		} else if (rc == 0) {
			out->names++;
		}
	}
	/* A registry keeps blobs until its own garbage collection. */
	out->blobs_kept = r->n_blobs;
	if (rc == 0 && out->names)
		snprintf(out->note, sizeof(out->note),
		         "%s keeps the blobs until its garbage collector runs (distribution: "
		         "registry garbage-collect --delete-untagged CONFIG, with the registry "
		         "stopped or read-only)",
		         domain);
cleanup:
	for (size_t i = 0; i < n_done; i++)
		free(done[i]);
	free(done);
	bale_registry_free(reg);
	free(domain);
	free(prefix);
	return rc;
}

int bale_node_remove(const char *spec, const bale_store_options *opts, const bale_node_removal *r,
                     bale_node_removed *out, bale_error **err)
{
	store_kind kind = STORE_OCI;
	const char *where = NULL;
	int rc;
	memset(out, 0, sizeof(*out));
	if ((rc = store_spec_parse(spec, &kind, &where, err)) < 0)
		return rc;
	if (kind == STORE_OCI)
		rc = remove_oci(where, r, out, err);
	else if (kind == STORE_CONTAINERD)
		rc = remove_containerd(where, opts, r, out, err);
	else
		rc = remove_registry(where, opts, r, out, err);
	return rc < 0 ? bale_error_wrap(err, "store %s", spec) : 0;
}
