/* The containerd store's commit, image by image: what each image is (runnable or
 * content only), the unpack of the runnable ones, and what a failed image loses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/json.h"
#include "bale/manifest.h"
#include "store/containerd_private.h"

/* ---- what each image is ---- */

/* The bytes of a manifest or index the node holds: kept from the stream, else from
 * containerd (checked against the digest either way). */
int ctrd_read_blob(ctr_store *s, const bale_descriptor *d, bale_buf *out, bale_error **err)
{
	for (size_t i = 0; i < s->n_kept; i++)
		if (strcmp(s->kept[i].digest.str, d->digest.str) == 0) {
			bale_buf_init(out, BALE_CAP_MANIFEST, "manifest");
			return bale_buf_append(out, s->kept[i].bytes.data, s->kept[i].bytes.len,
			                       err);
		}
	const char *args[] = {"content", "get", d->digest.str, NULL};
	int rc = store_ctr_run(&s->ctr, args, "content get", out, err);
	bale_digest got;
	if (rc == 0)
		bale_digest_of(&got, out->data, out->len);
	if (rc == 0 && (out->len != (size_t)d->size || strcmp(got.str, d->digest.str) != 0))
		rc = bale_error_set(err, BALE_EVERIFY, "%s: containerd gave other bytes",
		                    d->digest.str);
	return rc;
}

static bool type_in(const char *type, const char *const *list)
{
	for (; type && *list; list++)
		if (strcmp(type, *list) == 0)
			return true;
	return false;
}

/* What containerd's unpacker takes: an image config and layers that are tars. Anything
 * else (a Helm chart, a cosign signature, an SBOM, an attestation) is content to keep. */
static const char *const config_types[] = {
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
    NULL,
};
static const char *const layer_types[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    NULL,
};

static int add_use(named *n, const char *digest, bale_error **err)
{
	for (size_t i = 0; i < n->n_uses; i++)
		if (strcmp(n->uses[i], digest) == 0)
			return 0;
	return ctrd_push_string(&n->uses, &n->n_uses, digest, strlen(digest), err);
}

bool ctrd_holds(ctr_store *s, const bale_descriptor *d)
{
	bool held = false;
	ctrd_has_blob(&s->base, d, &held, NULL);
	return held;
}

/* An image manifest: what it refers to that the node holds, and whether containerd can
 * unpack it (no artifactType, an image config, tar layers). */
static int walk_manifest(ctr_store *s, named *n, const bale_descriptor *d, bool *runnable,
                         bale_error **err)
{
	bale_buf bytes;
	json_t *doc = NULL;
	bale_descriptor config, *layers = NULL;
	size_t n_layers = 0, foreign = 0;
	*runnable = false;
	int rc = ctrd_read_blob(s, d, &bytes, err);
	if (rc == 0 &&
	    (rc = bale_json_parse(&doc, bytes.data, bytes.len, BALE_CAP_MANIFEST, d->digest.str,
	                          err)) == 0 &&
	    (rc = bale_manifest_parse_image(&config, &layers, &n_layers, &foreign, bytes.data,
	                                    bytes.len, err)) == 0) {
		json_t *list = json_object_get(doc, "layers");
		bool tars = json_is_array(list);
		for (size_t i = 0; tars && i < json_array_size(list); i++)
			tars = type_in(bale_json_str(json_array_get(list, i), "mediaType"),
			               layer_types);
		*runnable = bale_manifest_type_is_manifest(d->media_type) &&
		            !json_object_get(doc, "artifactType") && tars &&
		            type_in(config.media_type, config_types);
		if (ctrd_holds(s, &config))
			rc = add_use(n, config.digest.str, err);
		for (size_t i = 0; rc == 0 && i < n_layers; i++)
			if (ctrd_holds(s, &layers[i]))
				rc = add_use(n, layers[i].digest.str, err);
	}
	free(layers);
	json_decref(doc);
	bale_buf_free(&bytes);
	return rc;
}

/* Sorts an image: the content it refers to (for rollback and labels), and whether it is
 * to be unpacked: a manifest containerd can unpack, or an index with one for a platform
 * the node unpacks. Decided from the manifests, never from the name. */
int ctrd_walk_image(ctr_store *s, named *n, bale_error **err)
{
	bale_buf bytes;
	json_t *doc = NULL;
	bale_index_entry *children = NULL;
	size_t n_children = 0;
	int rc = add_use(n, n->root.digest.str, err);
	if (rc < 0 || !bale_manifest_type_is_index(n->root.media_type))
		return rc < 0 ? rc : walk_manifest(s, n, &n->root, &n->runnable, err);
	if ((rc = ctrd_read_blob(s, &n->root, &bytes, err)) == 0 &&
	    (rc = bale_json_parse(&doc, bytes.data, bytes.len, BALE_CAP_MANIFEST,
	                          n->root.digest.str, err)) == 0)
		rc = bale_manifest_parse_index(&children, &n_children, bytes.data, bytes.len, err);
	bool artifact = doc && json_object_get(doc, "artifactType");
	for (size_t i = 0; rc == 0 && i < n_children; i++) {
		const bale_index_entry *c = &children[i];
		bool runnable = false;
		if (!ctrd_holds(s, &c->desc) || !bale_manifest_type_is_manifest(c->desc.media_type))
			continue;
		if ((rc = add_use(n, c->desc.digest.str, err)) < 0 ||
		    (rc = walk_manifest(s, n, &c->desc, &runnable, err)) < 0)
			break;
		/* A child without a platform is left to containerd's matcher. */
		if (runnable && !artifact &&
		    (!c->has_platform || bale_platform_set_contains(s->platforms, &c->platform)))
			n->runnable = true;
	}
	free(children);
	json_decref(doc);
	bale_buf_free(&bytes);
	return rc;
}

/* ---- landing image by image ---- */

/* n did not land: "REF: WHAT DETAIL" says why. */
void ctrd_fail_image(named *n, int code, const char *what, const char *detail)
{
	if (n->why)
		return;
	n->state = NAME_FAILED;
	bale_error_set(&n->why, code, "%s: %s%s", n->ref, what, detail);
}

/* What an unpack stream did to the images in it. ctr unpacks them in the order of its
 * index.json and stops at the first that fails: those before it landed, that one
 * failed, the rest go again in a stream of their own. */
static void unpack_settle(ctr_store *s, int rc, const bale_buf *out, const bale_error *e)
{
	/* "unpacking NAME (sha256:…)...done" per image; the failing one has no done */
	const char *at = NULL;
	for (const char *p = out->data; p && (p = strstr(p, "unpacking ")); p++)
		if (p == out->data || p[-1] == '\n')
			at = p;
	named *stopped = NULL;
	const char *cause = e ? bale_error_message(e) : "failed";
	if (rc < 0 && at) {
		const char *name = at + 10, *end = strstr(name, " (");
		const char *dots = strstr(name, "...");
		for (size_t i = 0; end && !stopped && i < s->n_names; i++)
			if (s->names[i].unpacking &&
			    strlen(s->names[i].by_digest) == (size_t)(end - name) &&
			    strncmp(s->names[i].by_digest, name, (size_t)(end - name)) == 0)
				stopped = &s->names[i];
		if (dots) {
			cause = dots + 3;
			cause += strncmp(cause, "ctr: ", 5) == 0 ? 5 : 0;
		}
	}
	for (size_t i = 0; i < s->n_names; i++) {
		named *n = &s->names[i];
		if (!n->unpacking)
			continue;
		n->unpacking = false;
		if (rc == 0 || (stopped && n < stopped)) {
			n->state = NAME_LANDED;
		} else if (!stopped || strcmp(n->by_digest, stopped->by_digest) == 0) {
			char line[512];
			snprintf(line, sizeof(line), "%.*s", (int)strcspn(cause, "\n"), cause);
			ctrd_fail_image(n, BALE_ESTORE, "containerd could not unpack it: ", line);
		}
	}
}

int ctrd_unpack_start(ctr_store *s, bale_error **err)
{
	size_t given = 0;
	for (size_t i = 0; i < s->n_names; i++)
		given += ctrd_gives(&s->names[i], GIVE_UNPACK);
	if (!given || s->unpack_child > 0)
		return 0;
	int rc =
	    ctrd_names_stream_start(s, true, GIVE_UNPACK, &s->unpack_child, &s->unpack_out, err);
	for (size_t i = 0; i < s->n_names; i++)
		s->names[i].unpacking = ctrd_gives(&s->names[i], GIVE_UNPACK);
	if (rc < 0) { /* it did not start: the images in it fail with the reason */
		bale_buf none;
		bale_buf_init(&none, 1, "ctr output");
		s->unpack_child = 0;
		unpack_settle(s, rc, &none, err ? *err : NULL);
		bale_buf_free(&none);
	}
	return rc;
}

void ctrd_unpack_reap(ctr_store *s, bool block)
{
	if (s->unpack_child <= 0)
		return;
	bale_buf out;
	bale_error *e = NULL;
	bool done = true;
	int rc = block ? store_ctr_wait(s->unpack_child, s->unpack_out, "images import", &out, &e)
	               : store_ctr_poll(s->unpack_child, s->unpack_out, "images import", &done,
	                                &out, &e);
	if (!done)
		return;
	s->unpack_child = 0;
	s->unpack_out = -1;
	unpack_settle(s, rc, &out, e);
	bale_buf_free(&out);
	bale_error_free(e);
}

/* The unpack of the runnable images held and not unpacked yet, to the end. */
int ctrd_unpack_images(ctr_store *s)
{
	ctrd_unpack_reap(s, true);
	for (;;) {
		size_t left = 0;
		for (size_t i = 0; i < s->n_names; i++)
			left += ctrd_gives(&s->names[i], GIVE_UNPACK);
		if (!left)
			return 0;
		bale_error *e = NULL;
		ctrd_unpack_start(s, &e);
		bale_error_free(e);
		ctrd_unpack_reap(s, true);
	}
}

/* The images that failed lose the names this run gave them and the content this run
 * streamed for them alone: never a name or a blob the node had, never a blob an image
 * that landed refers to. */
void ctrd_drop_failed(ctr_store *s)
{
	bool any = false;
	for (size_t i = 0; i < s->n_names; i++)
		if (s->names[i].state == NAME_FAILED) {
			ctrd_remove_name(s, s->names[i].by_digest);
			any = true;
		}
	if (!any)
		return;
	/* Names others made for them meanwhile go too: containerd's CRI gives every image it
	 * sees appear an id name, sha256:<config digest>, that it never removes itself. */
	const char *ls[] = {"images", "ls", NULL};
	bale_buf list;
	bale_error *unlisted = NULL;
	if (store_ctr_run(&s->ctr, ls, "images ls", &list, &unlisted) == 0) {
		for (char *line = list.data, *next; line && *line; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			char *save = NULL, *name = strtok_r(line, " \t", &save);
			char *type = name ? strtok_r(NULL, " \t", &save) : NULL;
			char *target = type ? strtok_r(NULL, " \t", &save) : NULL;
			for (size_t i = 0; target && i < s->n_names; i++)
				if (s->names[i].state == NAME_FAILED &&
				    strcmp(s->names[i].root.digest.str, target) == 0)
					ctrd_remove_name(s, name);
		}
	}
	bale_error_free(unlisted);
	bale_buf_free(&list);
	for (size_t k = 0; k < s->n_sent; k++) {
		bool failed_uses = false, landed_uses = false;
		for (size_t i = 0; i < s->n_names; i++) {
			const named *n = &s->names[i];
			for (size_t u = 0; u < n->n_uses; u++)
				if (strcmp(n->uses[u], s->sent[k]) == 0) {
					failed_uses |= n->state == NAME_FAILED;
					landed_uses |= n->state != NAME_FAILED;
				}
		}
		if (!failed_uses || landed_uses)
			continue;
		const char *args[] = {"content", "rm", s->sent[k], NULL};
		bale_buf out;
		bale_error *ignored = NULL;
		store_ctr_run(&s->ctr, args, "content rm", &out, &ignored); /* best effort */
		bale_error_free(ignored);
		bale_buf_free(&out);
	}
}
