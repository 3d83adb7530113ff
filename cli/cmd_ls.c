/* bale ls BUNDLE: what a bundle carries, read from its head only. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/bundle.h"
#include "bale/index_db.h"
#include "bale/json.h"
#include "bundle/bundle_private.h"
#include "cli/cli.h"
#include "cli/terminal.h"

static const char usage_text[] =
    "Usage: bale ls BUNDLE [--json]\n"
    "\n"
    "Lists the images of a bundle: reference, digest, platforms carried and size (each\n"
    "blob counted once per image), then the blob count, the content size and the signer.\n"
    "Reads only the head of the bundle; the signature is checked by bale verify.\n"
    "\n"
    "      --json       machine-readable output\n"
    "  -h, --help       this help\n";

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

static const char *join_strings(char *buf, size_t size, const json_t *list)
{
	size_t at = 0, i;
	json_t *v;
	buf[0] = '\0';
	json_array_foreach(list, i, v)
	{
		int n = snprintf(buf + at, size - at, "%s%s", i ? "," : "", json_string_value(v));
		if (n < 0 || (size_t)n >= size - at)
			break;
		at += (size_t)n;
	}
	return buf[0] ? buf : "-";
}

/* What the bundle says, escaped: a bundle is read here before anyone checked it. */
static void print_text(json_t *doc, json_t *by_ref)
{
	size_t i, wref = 9;
	json_t *img;
	char plats[512], human[32];
	json_t *images = json_object_get(doc, "images");
	json_array_foreach(images, i, img)
	{
		size_t l = cli_text_width(bale_json_str(img, "ref"));
		wref = l > wref ? l : wref;
	}
	printf("%-*s  %-19s  %-9s  %s\n", (int)wref, "REFERENCE", "DIGEST", "SIZE", "PLATFORMS");
	json_array_foreach(images, i, img)
	{
		const char *ref = bale_json_str(img, "ref"), *digest = bale_json_str(img, "digest");
		json_int_t bytes = ref ? json_integer_value(json_object_get(by_ref, ref)) : 0;
		char short_digest[20];
		snprintf(short_digest, sizeof(short_digest), "%s", digest ? digest : "?");
		cli_put_padded(stdout, ref ? ref : "?", wref);
		fputs("  ", stdout);
		cli_put_text(stdout, short_digest);
		printf("  %-9s  ", cli_human_size(human, sizeof(human), bytes));
		cli_put_text(stdout,
		             join_strings(plats, sizeof(plats), json_object_get(img, "platforms")));
		putchar('\n');
	}
	json_int_t total = 0;
	json_t *b;
	json_array_foreach(json_object_get(doc, "blobs"), i, b) total +=
	    json_integer_value(json_object_get(b, "size"));
	const char *signer = bale_json_str(doc, "signer");
	printf("\n%zu image%s, %zu blobs, %s of content; %s", json_array_size(images),
	       json_array_size(images) == 1 ? "" : "s",
	       json_array_size(json_object_get(doc, "blobs")),
	       cli_human_size(human, sizeof(human), total), signer ? "signer " : "unsigned");
	cli_put_text(stdout, signer ? signer : "");
	putchar('\n');
}

static void print_json(json_t *doc, json_t *by_ref)
{
	json_t *out = json_object(), *list = json_array();
	size_t i;
	json_t *img;
	json_array_foreach(json_object_get(doc, "images"), i, img)
	{
		json_t *o = json_deep_copy(img);
		json_object_set(o, "contentBytes",
		                json_object_get(by_ref, bale_json_str(img, "ref")));
		json_array_append_new(list, o);
	}
	json_object_set_new(out, "images", list);
	json_object_set_new(
	    out, "blobs", json_integer((json_int_t)json_array_size(json_object_get(doc, "blobs"))));
	json_object_set(out, "signer", json_object_get(doc, "signer"));
	json_object_set(out, "bundleId", json_object_get(doc, "bundleId"));
	json_object_set(out, "created", json_object_get(doc, "created"));
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(out);
}

static int ls_option(void *payload, int opt, const char *arg)
{
	if (opt != OPT_JSON)
		return -1;
	*(bool *)payload = true;
	return 0;
}

int cmd_ls(int argc, char **argv)
{
	static const struct option longopts[] = {
	    CLI_BUNDLE_LONG_OPTIONS,
	    {"json", no_argument, NULL, OPT_JSON},
	    {NULL, 0, NULL, 0},
	};
	cli_common c;
	bool as_json = false;
	bale_error *err = NULL;
	bale_bundle_reader *reader = NULL;
	const bale_bundle_head *head = NULL;
	sqlite3 *db = NULL;
	json_t *doc = NULL;
	sizes s = {json_object()};
	int status = 0;
	cli_common_init(&c);
	int parsed = cli_parse(&c, argc, argv, "hqv", longopts, usage_text, ls_option, &as_json);
	if (parsed != CLI_PARSED) {
		status = parsed == CLI_HELP_SHOWN ? 0 : 2;
		goto cleanup;
	}
	if (optind + 1 != argc) {
		cli_usage_error("ls", "want one BUNDLE (see bale ls --help)");
		status = 2;
		goto cleanup;
	}
	if (cli_open_index(&reader, &db, argv[optind], &err) < 0 ||
	    bale_bundle_read_index(reader, &head, &err) < 0 ||
	    bundle_parse_manifest(&doc, head->manifest, head->manifest_len, &err) < 0 ||
	    bale_index_db_query(db, sizes_sql, collect_size, &s, &err) < 0) {
		status = cli_report("ls", err);
		goto cleanup;
	}
	if (as_json)
		print_json(doc, s.by_ref);
	else
		print_text(doc, s.by_ref);
cleanup:
	json_decref(s.by_ref);
	json_decref(doc);
	sqlite3_close(db);
	bale_bundle_close(reader);
	cli_common_free(&c);
	return status;
}
