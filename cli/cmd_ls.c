/* bale ls BUNDLE: what a bundle carries, read from its head only. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/bundle.h"
#include "bale/index_db.h"
#include "cli/cli.h"
#include "cli/terminal.h"

static const char usage_text[] =
    "Usage: bale ls BUNDLE [--json]\n"
    "\n"
    "Lists the images of a bundle: reference, digest, platforms carried and size (each\n"
    "blob counted once per image), then the blob count, the content size and the signer.\n"
    "Reads only the head of the bundle; the signature is checked by bale verify.\n"
    "\n";

static const cli_opt options[] = {
    {"json", 0, NULL, "machine-readable output", OPT_JSON},
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

static const cli_verb verb = {"ls", usage_text, options};

/* Bytes per image, each blob counted once: the image_blobs view, spelled out over the
 * base tables, so that no SQL the file carries runs for bale's own listing. */
static const char sizes_sql[] =
    "WITH u(image_id, digest) AS ("
    " SELECT id, digest FROM images"
    " UNION SELECT image_id, manifest_digest FROM image_manifests"
    " UNION SELECT im.image_id, m.config_digest FROM image_manifests im"
    " JOIN manifests m ON m.digest = im.manifest_digest"
    " UNION SELECT im.image_id, ml.layer_digest FROM image_manifests im"
    " JOIN manifest_layers ml ON ml.manifest_digest = im.manifest_digest)"
    " SELECT i.ref, sum(b.size) FROM u JOIN images i ON i.id = u.image_id"
    " JOIN blobs b ON b.digest = u.digest GROUP BY i.ref";

/* Schema version 2: child indexes and the foreign layers carried count too. */
static const char sizes_v2_sql[] =
    "WITH u(image_id, digest) AS ("
    " SELECT id, digest FROM images"
    " UNION SELECT image_id, digest FROM image_indexes WHERE carried = 1"
    " UNION SELECT image_id, manifest_digest FROM image_manifests"
    " UNION SELECT im.image_id, m.config_digest FROM image_manifests im"
    " JOIN manifests m ON m.digest = im.manifest_digest"
    " UNION SELECT im.image_id, ml.layer_digest FROM image_manifests im"
    " JOIN manifest_layers ml ON ml.manifest_digest = im.manifest_digest"
    " UNION SELECT im.image_id, fl.layer_digest FROM image_manifests im"
    " JOIN foreign_layers fl ON fl.manifest_digest = im.manifest_digest"
    " WHERE fl.carried = 1)"
    " SELECT i.ref, sum(b.size) FROM u JOIN images i ON i.id = u.image_id"
    " JOIN blobs b ON b.digest = u.digest GROUP BY i.ref";

/* Foreign layers each image's carried manifests name and the bundle lacks (version 2). */
static const char foreign_sql[] =
    "SELECT i.ref, count(*) FROM images i JOIN image_manifests im ON im.image_id = i.id"
    " JOIN foreign_layers fl ON fl.manifest_digest = im.manifest_digest"
    " WHERE fl.carried = 0 GROUP BY i.ref ORDER BY i.ref";

typedef struct sizes {
	json_t *by_ref; /* ref -> bytes */
} sizes;

static int collect_size(void *payload, int ncols, const char *const *names,
                        const char *const *values)
{
	sizes *s = payload;
	if (!values || !values[0])
		return 0;
	json_object_set_new(s->by_ref, values[0],
	                    json_integer(values[1] ? strtoll(values[1], NULL, 10) : 0));
	return 0;
}

static const char *join_strings(char *buf, size_t size, const char *const *list, size_t n)
{
	size_t at = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(buf + at, size - at, "%s%s", i ? "," : "", list[i]);
		if (w < 0 || (size_t)w >= size - at)
			break;
		at += (size_t)w;
	}
	return buf[0] ? buf : "-";
}

/* What the bundle says, escaped: a bundle is read here before anyone checked it. */
static void print_text(const bale_bundle_manifest *m, json_t *by_ref, json_t *foreign)
{
	size_t wref = 9;
	char plats[512], human[32];
	for (size_t i = 0; i < m->n_images; i++) {
		size_t l = cli_text_width(m->images[i].ref);
		wref = l > wref ? l : wref;
	}
	printf("%-*s  %-19s  %-9s  %s\n", (int)wref, "REFERENCE", "DIGEST", "SIZE", "PLATFORMS");
	for (size_t i = 0; i < m->n_images; i++) {
		const bale_bundle_image *img = &m->images[i];
		json_int_t bytes =
		    img->ref ? json_integer_value(json_object_get(by_ref, img->ref)) : 0;
		char short_digest[20];
		snprintf(short_digest, sizeof(short_digest), "%s", img->digest ? img->digest : "?");
		cli_put_padded(stdout, img->ref ? img->ref : "?", wref);
		fputs("  ", stdout);
		cli_put_text(stdout, short_digest);
		printf("  %-9s  ", cli_human_size(human, sizeof(human), bytes));
		cli_put_text(stdout,
		             join_strings(plats, sizeof(plats), img->platforms, img->n_platforms));
		putchar('\n');
	}
	json_int_t total = 0;
	for (size_t i = 0; i < m->n_blobs; i++)
		total += m->blobs[i].size;
	printf("\n%zu image%s, %zu blobs, %s of content; %s", m->n_images,
	       m->n_images == 1 ? "" : "s", m->n_blobs, cli_human_size(human, sizeof(human), total),
	       m->signer ? "signer " : "unsigned");
	cli_put_text(stdout, m->signer ? m->signer : "");
	putchar('\n');
	const char *ref;
	json_t *count;
	json_object_foreach(foreign, ref, count)
	{
		cli_put_text(stdout, ref);
		printf(
		    ": lacks %lld foreign layer%s (not distributable: the node's runtime fetches "
		    "them from their URLs)\n",
		    (long long)json_integer_value(count),
		    json_integer_value(count) == 1 ? "" : "s");
	}
}

/* A string member, when the bundle gives one. */
static void set_string(json_t *o, const char *key, const char *value)
{
	if (value)
		json_object_set_new(o, key, json_string(value));
}

static json_t *string_list(const char *const *list, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

/* Each image with the members bale writes for it, in its order, and its content size. */
static void print_json(const bale_bundle_manifest *m, json_t *by_ref, json_t *foreign)
{
	json_t *out = json_object(), *list = json_array();
	for (size_t i = 0; i < m->n_images; i++) {
		const bale_bundle_image *img = &m->images[i];
		json_t *o = json_object();
		set_string(o, "ref", img->ref);
		set_string(o, "registry", img->registry);
		set_string(o, "repository", img->repository);
		set_string(o, "digest", img->digest);
		set_string(o, "mediaType", img->media_type);
		if (img->size >= 0)
			json_object_set_new(o, "size", json_integer((json_int_t)img->size));
		json_object_set_new(o, "platforms", string_list(img->platforms, img->n_platforms));
		json_object_set_new(
		    o, "platformsLeftOut",
		    string_list(img->platforms_left_out, img->n_platforms_left_out));
		json_object_set(o, "contentBytes",
		                json_object_get(by_ref, img->ref ? img->ref : ""));
		json_t *lacking = json_object_get(foreign, img->ref ? img->ref : "");
		json_object_set_new(o, "foreignLayersLacking",
		                    json_integer(lacking ? json_integer_value(lacking) : 0));
		json_array_append_new(list, o);
	}
	json_object_set_new(out, "images", list);
	json_object_set_new(out, "blobs", json_integer((json_int_t)m->n_blobs));
	json_object_set_new(out, "signer", m->signer ? json_string(m->signer) : json_null());
	set_string(out, "bundleId", m->bundle_id);
	set_string(out, "created", m->created);
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(out);
}

static int ls_option(void *payload, int opt, const char *arg, bale_error **err)
{
	if (opt == OPT_JSON)
		*(bool *)payload = true;
	return 0;
}

int cmd_ls(int argc, char **argv, bale_error **err)
{
	cli_common c;
	bool as_json = false;
	bale_bundle_reader *reader = NULL;
	const bale_bundle_manifest *manifest = NULL;
	sqlite3 *db = NULL;
	sizes s = {json_object()}, foreign = {json_object()};
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &verb, ls_option, &as_json, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	if (optind + 1 != argc) {
		rc = cli_usage(err, "want one BUNDLE (see bale ls --help)");
		goto cleanup;
	}
	if ((rc = bale_index_db_open_bundle(&reader, &db, argv[optind], err)) < 0 ||
	    (rc = bale_bundle_read_manifest(reader, &manifest, err)) < 0)
		goto cleanup;
	/* A bundle of schema version 1 has no child indexes and no foreign layers recorded. */
	bool v2 = bale_index_db_version(db) >= 2;
	if ((rc = bale_index_db_query(db, v2 ? sizes_v2_sql : sizes_sql, collect_size, &s, err)) <
	        0 ||
	    (v2 && (rc = bale_index_db_query(db, foreign_sql, collect_size, &foreign, err)) < 0))
		goto cleanup;
	if (as_json)
		print_json(manifest, s.by_ref, foreign.by_ref);
	else
		print_text(manifest, s.by_ref, foreign.by_ref);
cleanup:
	json_decref(foreign.by_ref);
	json_decref(s.by_ref);
	sqlite3_close(db);
	bale_bundle_close(reader);
	cli_common_free(&c);
	return rc;
}
