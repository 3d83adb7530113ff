/* bale ls BUNDLE: what a bundle carries, read from its head only. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/bundle.h"
#include "bale/index_db.h"
#include "bale/json.h"
#include "cli/cli.h"

static const char usage_text[] =
    "Usage: bale ls BUNDLE [--json]\n"
    "\n"
    "Lists the images of a bundle: reference, digest, platforms carried and size (each\n"
    "blob counted once per image), then the blob count, the content size and the signer.\n"
    "Reads only the head of the bundle; the signature is checked by bale verify.\n"
    "\n"
    "      --json       machine-readable output\n"
    "  -h, --help       this help\n";

typedef struct sizes {
	json_t *by_ref; /* ref -> bytes */
} sizes;

static int collect_size(void *payload, int ncols, const char *const *names,
                        const char *const *values)
{
	sizes *s = payload;
	if (!values)
		return 0;
	json_object_set_new(s->by_ref, values[0], json_integer(strtoll(values[1], NULL, 10)));
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

static void print_text(json_t *doc, json_t *by_ref)
{
	size_t i, wref = 9;
	json_t *img;
	char plats[512], human[32];
	json_t *images = json_object_get(doc, "images");
	json_array_foreach(images, i, img)
	{
		size_t l = strlen(bale_json_str(img, "ref"));
		wref = l > wref ? l : wref;
	}
	printf("%-*s  %-19s  %-9s  %s\n", (int)wref, "REFERENCE", "DIGEST", "SIZE", "PLATFORMS");
	json_array_foreach(images, i, img)
	{
		const char *ref = bale_json_str(img, "ref"), *digest = bale_json_str(img, "digest");
		json_int_t bytes = json_integer_value(json_object_get(by_ref, ref));
		printf("%-*s  %.19s  %-9s  %s\n", (int)wref, ref, digest ? digest : "?",
		       cli_human_size(human, sizeof(human), bytes),
		       join_strings(plats, sizeof(plats), json_object_get(img, "platforms")));
	}
	json_int_t total = 0;
	json_t *b;
	json_array_foreach(json_object_get(doc, "blobs"), i, b) total +=
	    json_integer_value(json_object_get(b, "size"));
	const char *signer = bale_json_str(doc, "signer");
	printf("\n%zu image%s, %zu blobs, %s of content; %s%s\n", json_array_size(images),
	       json_array_size(images) == 1 ? "" : "s",
	       json_array_size(json_object_get(doc, "blobs")),
	       cli_human_size(human, sizeof(human), total), signer ? "signer " : "unsigned",
	       signer ? signer : "");
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
	    bale_json_parse(&doc, head->manifest, head->manifest_len, head->manifest_len + 1,
	                    BALE_BUNDLE_MANIFEST, &err) < 0 ||
	    bale_index_db_query(db, "SELECT ref, SUM(size) FROM image_blobs GROUP BY ref",
	                        collect_size, &s, &err) < 0) {
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
