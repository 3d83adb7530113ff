/* The plan file (docs/day-2.md, "The plan file"): JSON a reviewer can read and a tool
 * can diff, written by bale prune -o and read back by bale prune --apply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/buf.h"
#include "bale/digest.h"
#include "bale/json.h"
#include "prune/prune_private.h"

/* A plan of tens of thousands of images and their blobs. */
#define PLAN_CAP (64u << 20)

static json_t *string_list(char *const *list, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

static json_t *image_json(const bale_prune_image *img)
{
	json_t *o = json_object();
	json_object_set_new(o, "digest", json_string(img->digest));
	json_object_set_new(o, "names", string_list(img->names, img->n_names));
	json_object_set_new(o, "action", json_string(img->keep ? "keep" : "remove"));
	if (img->keep) {
		json_t *reasons = json_array();
		for (unsigned bit = 1; bit <= BALE_PRUNE_CHANGED; bit <<= 1)
			if (img->keep & bit)
				json_array_append_new(reasons,
				                      json_string(bale_prune_reason_name(bit)));
		json_object_set_new(o, "reasons", reasons);
		json_object_set_new(o, "why", json_string(img->why ? img->why : ""));
		return o;
	}
	json_t *blobs = json_array();
	for (size_t i = 0; i < img->n_blobs; i++)
		json_array_append_new(blobs, json_pack("{s:s,s:I}", "digest", img->blobs[i].digest,
		                                       "size", (json_int_t)img->blobs[i].size));
	json_object_set_new(o, "blobs", blobs);
	json_object_set_new(o, "bytes", json_integer(img->bytes));
	return o;
}

/* The plan's header, then one image a line (a reviewer diffs two plans line by line),
 * each image's JSON made and dropped in turn: memory holds the text, not a tree of it. */
int bale_prune_plan_json(const bale_prune_plan *plan, char **text, size_t *len, bale_error **err)
{
	json_t *head = json_object();
	bale_buf out;
	char *part = NULL;
	size_t part_len = 0;
	int rc;
	bale_buf_init(&out, PLAN_CAP, "plan");
	json_object_set_new(head, "balePrunePlan", json_integer(plan->version));
	json_object_set_new(head, "created", json_string(plan->created));
	json_object_set_new(head, "store", json_string(plan->store));
	json_object_set_new(head, "ledger", json_string(plan->ledger));
	json_object_set_new(head, "repositoryDepth", json_integer(plan->repository_depth));
	json_object_set_new(head, "keep",
	                    json_pack("{s:o,s:o,s:i}", "bundles",
	                              string_list(plan->keep_bundles, plan->n_keep_bundles),
	                              "manifests",
	                              string_list(plan->keep_manifests, plan->n_keep_manifests),
	                              "newest", plan->keep_newest));
	json_object_set_new(head, "remove",
	                    json_pack("{s:I,s:I,s:I}", "images", (json_int_t)plan->n_removed,
	                              "blobs", (json_int_t)plan->n_blobs, "bytes",
	                              (json_int_t)plan->bytes));
	/* the header without its closing brace, then the images */
	if ((rc = bale_json_dump(&part, &part_len, head, err)) < 0 ||
	    (rc = bale_buf_append(&out, part, part_len - 1, err)) < 0 ||
	    (rc = bale_buf_append(&out, ",\n\"images\":[", 12, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < plan->n_images && rc == 0; i++) {
		json_t *img = image_json(&plan->images[i]);
		free(part);
		part = NULL;
		if ((rc = bale_json_dump(&part, &part_len, img, err)) == 0 &&
		    (rc = bale_buf_append(&out, i ? ",\n" : "\n", i ? 2 : 1, err)) == 0)
			rc = bale_buf_append(&out, part, part_len, err);
		json_decref(img);
	}
	if (rc == 0 && (rc = bale_buf_append(&out, "\n]}\n", 4, err)) == 0) {
		*text = out.data;
		*len = out.len;
		out.data = NULL;
	}
cleanup:
	if (rc < 0)
		bale_error_wrap(err, "the plan (at most %u MiB)", PLAN_CAP >> 20);
	free(part);
	json_decref(head);
	bale_buf_free(&out);
	return rc;
}

/* ---- reading it back ---- */

static int bad(bale_error **err, const char *path, const char *what)
{
	return bale_error_set(err, BALE_EUSAGE, "plan %s: %s (write a new one with bale prune -o)",
	                      path, what);
}

static int read_list(char ***out, size_t *n, json_t *a, const char *path, const char *what,
                     bale_error **err)
{
	size_t i;
	json_t *v;
	*n = 0;
	if (!json_is_array(a))
		return bad(err, path, what);
	if (json_array_size(a) && !(*out = calloc(json_array_size(a), sizeof(**out))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v))
			return bad(err, path, what);
		if (!((*out)[(*n)++] = strdup(json_string_value(v))))
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	return 0;
}

static bool is_digest(const char *s)
{
	bale_digest d;
	return s && bale_digest_parse(&d, s, NULL) == 0;
}

static int read_image(bale_prune_image *img, json_t *o, const char *path, bale_error **err)
{
	const char *digest = bale_json_str(o, "digest"), *action = bale_json_str(o, "action");
	json_t *blobs = json_object_get(o, "blobs"), *b;
	size_t i;
	int rc;
	if (!is_digest(digest) || !action ||
	    (strcmp(action, "keep") != 0 && strcmp(action, "remove") != 0))
		return bad(err, path, "an image without a digest or an action");
	snprintf(img->digest, sizeof(img->digest), "%s", digest);
	if ((rc = read_list(&img->names, &img->n_names, json_object_get(o, "names"), path,
	                    "an image's names", err)) < 0)
		return rc;
	if (strcmp(action, "keep") == 0) {
		const char *why = bale_json_str(o, "why");
		img->keep = BALE_PRUNE_CHANGED; /* what for is the new plan's to say */
		return why && !(img->why = strdup(why))
		           ? bale_error_set(err, BALE_EGENERIC, "out of memory")
		           : 0;
	}
	if (!json_is_array(blobs))
		return bad(err, path, "a removed image without its blobs");
	if (json_array_size(blobs) &&
	    !(img->blobs = calloc(json_array_size(blobs), sizeof(*img->blobs))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	json_array_foreach(blobs, i, b)
	{
		const char *d = bale_json_str(b, "digest");
		json_t *size = json_object_get(b, "size");
		if (!is_digest(d) || !json_is_integer(size))
			return bad(err, path, "a blob without a digest or a size");
		bale_prune_blob *to = &img->blobs[img->n_blobs++];
		snprintf(to->digest, sizeof(to->digest), "%s", d);
		to->size = json_integer_value(size);
		img->bytes += to->size > 0 ? to->size : 0;
	}
	return 0;
}

static int read_plan(bale_prune_plan *p, json_t *root, const char *path, bale_error **err)
{
	json_t *keep = json_object_get(root, "keep"), *images = json_object_get(root, "images"), *o;
	json_t *version = json_object_get(root, "balePrunePlan");
	const char *store = bale_json_str(root, "store"), *ledger = bale_json_str(root, "ledger");
	const char *created = bale_json_str(root, "created");
	size_t i;
	int rc;
	if (!json_is_integer(version))
		return bad(err, path, "not a bale prune plan");
	if (json_integer_value(version) != BALE_PRUNE_PLAN_VERSION)
		return bale_error_set(
		    err, BALE_EUSAGE, "plan %s: version %lld, this bale reads version %d", path,
		    (long long)json_integer_value(version), BALE_PRUNE_PLAN_VERSION);
	if (!store || !ledger || !json_is_object(keep) || !json_is_array(images) ||
	    !json_is_integer(json_object_get(keep, "newest")))
		return bad(err, path, "no store, ledger, keep or images");
	p->version = BALE_PRUNE_PLAN_VERSION;
	p->keep_newest = (int)json_integer_value(json_object_get(keep, "newest"));
	json_t *depth = json_object_get(root, "repositoryDepth");
	if (depth && (!json_is_integer(depth) || json_integer_value(depth) < 0 ||
	              json_integer_value(depth) > 16))
		return bad(err, path, "a repositoryDepth that is not 0 to 16");
	p->repository_depth = depth ? (int)json_integer_value(depth) : 0;
	if (!(p->store = strdup(store)) || !(p->ledger = strdup(ledger)) ||
	    !(p->created = strdup(created ? created : "")))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if ((rc = read_list(&p->keep_bundles, &p->n_keep_bundles, json_object_get(keep, "bundles"),
	                    path, "keep.bundles", err)) < 0 ||
	    (rc = read_list(&p->keep_manifests, &p->n_keep_manifests,
	                    json_object_get(keep, "manifests"), path, "keep.manifests", err)) < 0)
		return rc;
	if (json_array_size(images) &&
	    !(p->images = calloc(json_array_size(images), sizeof(*p->images))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	json_array_foreach(images, i, o)
	{
		if ((rc = read_image(&p->images[p->n_images++], o, path, err)) < 0)
			return rc;
	}
	prune_plan_sort(p);
	for (i = 0; i < p->n_removed; i++) {
		p->n_blobs += p->images[i].n_blobs;
		p->bytes += p->images[i].bytes;
	}
	return 0;
}

int bale_prune_plan_load(bale_prune_plan **out, const char *path, bale_error **err)
{
	bale_buf text;
	json_t *root = NULL;
	bale_prune_plan *p = calloc(1, sizeof(*p));
	int rc;
	*out = NULL;
	bale_buf_init(&text, PLAN_CAP, "plan");
	if (!p)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if ((rc = bale_buf_read_file(&text, path, err)) == BALE_ENOTFOUND) {
		bale_error_clear(err);
		rc = bale_error_set(err, BALE_ENOTFOUND,
		                    "plan %s: no such file (write one with bale prune -o)", path);
		goto cleanup;
	}
	if (rc < 0 || (rc = bale_json_parse(&root, text.data ? text.data : "", text.len, PLAN_CAP,
	                                    path, err)) < 0)
		goto cleanup;
	if ((rc = read_plan(p, root, path, err)) < 0)
		goto cleanup;
	bale_digest d;
	bale_digest_of(&d, text.data ? text.data : "", text.len);
	snprintf(p->digest, sizeof(p->digest), "%s", d.str);
	if (!(p->path = strdup(path))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	*out = p;
	p = NULL;
cleanup:
	if (rc == BALE_EVERIFY && err && *err) { /* not JSON: as any other plan it cannot read */
		char why[512];
		snprintf(why, sizeof(why), "%s", bale_error_message(*err));
		bale_error_clear(err);
		rc = bale_error_set(err, BALE_EUSAGE, "%s (write a new one with bale prune -o)",
		                    why);
	}
	json_decref(root);
	bale_buf_free(&text);
	bale_prune_plan_free(p);
	return rc;
}
