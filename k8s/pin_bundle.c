/* bale plan --pin: every manifest pinned in memory, then written out all together, so a
 * missing image leaves no output half-pinned. Directories map to a directory tree. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bale/bundle.h"
#include "bale/fs.h"
#include "bale/index_db.h"
#include "bale/k8s.h"
#include "bale/k8s_pin.h"
#include "bale/ref.h"

typedef struct pinned {
	char *dest; /* NULL: the single output stream */
	char *text;
	size_t len;
} pinned;

typedef struct pin_run {
	const bale_k8s_pin_request *req;
	sqlite3 *db;
	bool tree;        /* the output is a directory */
	const char *root; /* the directory being walked, or NULL for a file argument */
	pinned *files;
	size_t n_files;
	bale_buf missing; /* what each file could not pin, "; " between */
	size_t n_missing; /* files with an image the bundle lacks */
} pin_run;

/* NAME[:TAG]@DIGEST of the bundle for an image as written. */
static int pin_image(void *payload, const char *image, char **out, bale_error **err)
{
	pin_run *run = payload;
	bale_ref *ref = NULL;
	char digest[80];
	int rc = bale_ref_parse(&ref, image, err);
	if (rc < 0)
		return rc;
	rc = bale_index_db_image_digest(run->db, bale_ref_string(ref), digest, err);
	if (rc == 0 && !digest[0])
		rc = bale_error_set(err, BALE_ENOTFOUND, "%s: not in the bundle", image);
	if (rc == 0 && bale_ref_digest(ref) && strcmp(bale_ref_digest(ref), digest) != 0)
		rc =
		    bale_error_set(err, BALE_EVERIFY, "%s: the bundle has it at %s", image, digest);
	if (rc == 0) {
		const char *registry = run->req->registry;
		const char *path =
		    bale_ref_path_tail(bale_ref_path(ref), run->req->repository_depth);
		size_t n = strlen(bale_ref_name(ref)) + (registry ? strlen(registry) : 0) + 200;
		if (!(*out = malloc(n)))
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		else if (registry)
			snprintf(*out, n, "%s/%s%s%s@%s", registry, path,
			         bale_ref_tag(ref) ? ":" : "",
			         bale_ref_tag(ref) ? bale_ref_tag(ref) : "", digest);
		else
			snprintf(*out, n, "%s%s%s@%s", bale_ref_name(ref),
			         bale_ref_tag(ref) ? ":" : "",
			         bale_ref_tag(ref) ? bale_ref_tag(ref) : "", digest);
	}
	bale_ref *moved = NULL; /* a site registry's name must read back as a reference */
	if (rc == 0 && run->req->registry && bale_ref_parse(&moved, *out, err) < 0) {
		rc = BALE_EUSAGE;
		bale_error_wrap(err, "--registry %s: %s would be %s", run->req->registry, image,
		                *out);
		free(*out);
		*out = NULL;
	}
	bale_ref_free(moved);
	bale_ref_free(ref);
	return rc;
}

/* Where a file's pinned form goes in the output tree: its path under the directory
 * argument, or its base name for a file argument. */
static char *tree_dest(const pin_run *run, const char *file)
{
	const char *rel = file;
	if (run->root) {
		rel = file + strlen(run->root);
		while (*rel == '/')
			rel++;
	} else if (strrchr(file, '/')) {
		rel = strrchr(file, '/') + 1;
	}
	return bale_fs_join(run->req->output, rel);
}

static int pin_one(void *payload, const char *file, bale_error **err)
{
	pin_run *run = payload;
	pinned p = {0};
	int rc = 0;
	if (run->tree && strcmp(file, "-") == 0)
		return bale_error_set(err, BALE_EUSAGE,
		                      "standard input cannot go into an output directory");
	FILE *mem = open_memstream(&p.text, &p.len);
	if (!mem)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	bale_error *why = NULL;
	rc = bale_k8s_pin_file(file, mem, pin_image, run,
	                       run->req->registry ? "IfNotPresent" : "Never", &why);
	fclose(mem);
	if (rc == BALE_ENOTFOUND) { /* the next files are pinned too, to name every image */
		bale_buf_appendf(&run->missing, NULL, "%s%s", run->n_missing ? "; " : "",
		                 bale_error_message(why));
		run->n_missing++;
		bale_error_free(why);
		free(p.text);
		return 0;
	}
	if (rc < 0 && err && !*err)
		*err = why;
	else
		bale_error_free(why);
	if (rc == 0 && run->tree && !(p.dest = tree_dest(run, file)))
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; rc == 0 && p.dest && i < run->n_files; i++)
		if (strcmp(run->files[i].dest, p.dest) == 0)
			rc = bale_error_set(err, BALE_EUSAGE,
			                    "%s: two inputs would be written there", p.dest);
	pinned *grown = rc == 0 ? realloc(run->files, (run->n_files + 1) * sizeof(*grown)) : NULL;
	if (rc == 0 && !grown)
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (rc < 0) {
		free(p.dest);
		free(p.text);
		return rc;
	}
	run->files = grown;
	run->files[run->n_files++] = p;
	return 0;
}

static int refuse_existing(const char *path, bool force, bale_error **err)
{
	struct stat st;
	if (!force && lstat(path, &st) == 0)
		return bale_error_set(err, BALE_EUSAGE, "%s exists (use --force to replace it)",
		                      path);
	return 0;
}

/* The tree: each file in place (atomically), directories made as needed. */
static int write_tree(const pin_run *run, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < run->n_files; i++)
		rc = refuse_existing(run->files[i].dest, run->req->force, err);
	for (size_t i = 0; rc == 0 && i < run->n_files; i++) {
		const pinned *p = &run->files[i];
		char *dir = strdup(p->dest);
		if (!dir)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		*strrchr(dir, '/') = '\0';
		rc = bale_fs_mkdir_p(dir, 0755, err);
		free(dir);
		if (rc == 0)
			rc = bale_fs_write_atomic(p->dest, p->text, p->len, 0644, err);
	}
	return rc;
}

/* One stream: every file's documents in argument order, to stdout or one file. */
static int write_stream(const pin_run *run, bale_error **err)
{
	const char *out = run->req->output;
	char *all = NULL;
	size_t len = 0;
	int rc = out ? refuse_existing(out, run->req->force, err) : 0;
	FILE *mem = rc == 0 ? open_memstream(&all, &len) : NULL;
	if (rc == 0 && !mem)
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; mem && i < run->n_files; i++)
		fwrite(run->files[i].text, 1, run->files[i].len, mem);
	if (mem)
		fclose(mem);
	if (rc == 0 && out)
		rc = bale_fs_write_atomic(out, all, len, 0644, err);
	else if (rc == 0 && fwrite(all, 1, len, stdout) != len)
		rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "write standard output");
	free(all);
	return rc;
}

int bale_k8s_pin_bundle(const bale_k8s_pin_request *req, bale_error **err)
{
	pin_run run = {.req = req};
	bale_buf_init(&run.missing, 4u << 20, "images not pinned");
	bale_bundle_reader *reader = NULL;
	struct stat st;
	int rc = 0;
	for (size_t i = 0; i < req->n_paths; i++)
		if (strcmp(req->paths[i], "-") != 0 && stat(req->paths[i], &st) == 0 &&
		    S_ISDIR(st.st_mode))
			run.tree = true;
	if (run.tree && !req->output)
		return bale_error_set(err, BALE_EUSAGE,
		                      "pinning a directory needs an output directory (-o DIR)");
	if ((rc = bale_index_db_open_bundle(&reader, &run.db, req->bundle, err)) < 0)
		goto cleanup;
	for (size_t i = 0; rc == 0 && i < req->n_paths; i++) {
		run.root = run.tree && stat(req->paths[i], &st) == 0 && S_ISDIR(st.st_mode)
		               ? req->paths[i]
		               : NULL;
		rc = bale_k8s_each_file(req->paths[i], pin_one, &run, err);
	}
	if (rc == 0 && run.n_missing) /* every image of every file the bundle lacks, named */
		rc = bale_error_set(err, BALE_ENOTFOUND, "%s", run.missing.data);
	if (rc == 0)
		rc = run.tree ? write_tree(&run, err) : write_stream(&run, err);
cleanup:
	for (size_t i = 0; i < run.n_files; i++) {
		free(run.files[i].dest);
		free(run.files[i].text);
	}
	free(run.files);
	bale_buf_free(&run.missing);
	sqlite3_close(run.db);
	bale_bundle_close(reader);
	return rc;
}
