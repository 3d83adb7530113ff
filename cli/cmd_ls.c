/* bale ls BUNDLE: what a bundle carries, read from its head only. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/bundle.h"
#include "bale/index_db.h"
#include "bale/json.h"
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

const cli_verb cli_verb_ls = {"ls", usage_text, options};

/* One row per image, then one per entry of its index tree (the carried and the left-out
 * platforms), in export order: ordered by image id, then position, with the image's own
 * row first (position -1). Both halves are read in the order of their primary keys, so
 * SQLite merges them as it goes and nothing is sorted or held. The SIZE is every blob the
 * image needs, each once (the image_blobs view, spelled out over the base tables so that
 * no SQL the file carries runs for bale's own listing). */
#define LS_IMAGE_COLUMNS                                                                           \
	"SELECT i.id, -1, i.ref, i.registry, i.repository, i.digest, i.media_type, i.size,"
#define LS_MANIFEST_BLOBS                                                                          \
	" UNION SELECT manifest_digest FROM image_manifests WHERE image_id = i.id"                 \
	" UNION SELECT m.config_digest FROM image_manifests im"                                    \
	" JOIN manifests m ON m.digest = im.manifest_digest WHERE im.image_id = i.id"              \
	" UNION SELECT ml.layer_digest FROM image_manifests im"                                    \
	" JOIN manifest_layers ml ON ml.manifest_digest = im.manifest_digest"                      \
	" WHERE im.image_id = i.id"

static const char images_v1_sql[] = LS_IMAGE_COLUMNS
    " (SELECT sum(size) FROM blobs WHERE digest IN (SELECT i.digest" LS_MANIFEST_BLOBS ")),"
    " 0, NULL, NULL FROM images i"
    " UNION ALL SELECT image_id, position, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " carried, CASE WHEN os IS NULL THEN 'unknown'"
    " ELSE os || '/' || coalesce(architecture, '') || coalesce('/' || variant, '') END"
    " FROM image_platforms ORDER BY 1, 2";

/* Schema version 2: child indexes and the foreign layers carried count too; the foreign
 * layers lacking are counted; artifacts and a Windows build's os.version and os.features
 * are named as bale/manifest.json names them. */
/* From schema version 2 on, the sizes in one pass: every (image, blob) pair once, summed
 * by image; a subquery per image costs twice as much at 2,000 images. */
static const char images_v2_sql[] = LS_IMAGE_COLUMNS
    " coalesce(s.bytes, 0),"
    " (SELECT count(*) FROM image_manifests im"
    " JOIN foreign_layers fl ON fl.manifest_digest = im.manifest_digest"
    " WHERE im.image_id = i.id AND fl.carried = 0),"
    " NULL, NULL FROM images i LEFT JOIN (SELECT u.image_id AS image_id, sum(b.size) AS bytes"
    " FROM (SELECT id AS image_id, digest FROM images"
    " UNION SELECT image_id, digest FROM image_indexes WHERE carried = 1"
    " UNION SELECT image_id, manifest_digest FROM image_manifests"
    " UNION SELECT im.image_id, m.config_digest FROM image_manifests im"
    " JOIN manifests m ON m.digest = im.manifest_digest"
    " UNION SELECT im.image_id, ml.layer_digest FROM image_manifests im"
    " JOIN manifest_layers ml ON ml.manifest_digest = im.manifest_digest"
    " UNION SELECT im.image_id, fl.layer_digest FROM image_manifests im"
    " JOIN foreign_layers fl ON fl.manifest_digest = im.manifest_digest WHERE fl.carried = 1)"
    " u JOIN blobs b ON b.digest = u.digest GROUP BY u.image_id) s ON s.image_id = i.id"
    " UNION ALL SELECT image_id, position, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " carried, CASE WHEN os IS NOT NULL AND NOT (artifact = 1 AND os = 'unknown')"
    " THEN os || '/' || coalesce(architecture, '') || coalesce('/' || variant, '')"
    " || coalesce(':' || os_version, '') || coalesce('+' || os_features, '')"
    " WHEN artifact = 1 THEN 'artifact' ELSE 'unknown' END"
    " FROM image_platforms ORDER BY 1, 2";

enum {
	COL_ID,
	COL_POS,
	COL_REF,
	COL_REGISTRY,
	COL_REPOSITORY,
	COL_DIGEST,
	COL_MEDIA_TYPE,
	COL_SIZE,
	COL_BYTES,
	COL_LACKING,
	COL_CARRIED,
	COL_PLATFORM,
	N_COLS
};

/* Foreign layers each image's carried manifests name and the bundle lacks (version 2). */
static const char foreign_sql[] =
    "SELECT i.ref, count(*) FROM images i JOIN image_manifests im ON im.image_id = i.id"
    " JOIN foreign_layers fl ON fl.manifest_digest = im.manifest_digest"
    " WHERE fl.carried = 0 GROUP BY i.ref ORDER BY i.ref";

/* The platform strings of one image: carried, then left out. */
typedef struct strings {
	char **items;
	size_t n, alloc;
} strings;

static int strings_add(strings *s, const char *text)
{
	if (s->n == s->alloc) {
		size_t want = s->alloc ? s->alloc * 2 : 8;
		char **grown = realloc(s->items, want * sizeof(*grown));
		if (!grown)
			return -1;
		s->items = grown;
		s->alloc = want;
	}
	if (!(s->items[s->n] = strdup(text ? text : "")))
		return -1;
	s->n++;
	return 0;
}

static void strings_clear(strings *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->items[i]);
	s->n = 0;
}

/* The image being read: its row's values, then its platforms as their rows come. */
typedef struct ls_image {
	bool present;
	char *col[N_COLS]; /* NULL for SQL NULL */
	strings carried, left_out;
} ls_image;

typedef struct ls_state {
	bool as_json;
	size_t wref;     /* text: width of the REFERENCE column */
	size_t n_images; /* printed so far */
	ls_image img;
} ls_state;

static void image_clear(ls_image *img)
{
	for (int j = 0; j < N_COLS; j++) {
		free(img->col[j]);
		img->col[j] = NULL;
	}
	strings_clear(&img->carried);
	strings_clear(&img->left_out);
	img->present = false;
}

static void image_free(ls_image *img)
{
	image_clear(img);
	free(img->carried.items);
	free(img->left_out.items);
}

static const char *join_strings(char *buf, size_t size, char *const *list, size_t n)
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

static long long column_int(const char *value)
{
	return value ? strtoll(value, NULL, 10) : 0;
}

/* What the bundle says, escaped: a bundle is read here before anyone checked it. */
static void print_text_image(const ls_state *s, const ls_image *img)
{
	char plats[512], human[32], short_digest[20];
	const char *ref = img->col[COL_REF], *digest = img->col[COL_DIGEST];
	snprintf(short_digest, sizeof(short_digest), "%s", digest ? digest : "?");
	cli_put_padded(stdout, ref ? ref : "?", s->wref);
	fputs("  ", stdout);
	cli_put_text(stdout, short_digest);
	printf("  %-9s  ", cli_human_size(human, sizeof(human), column_int(img->col[COL_BYTES])));
	cli_put_text(stdout,
	             join_strings(plats, sizeof(plats), img->carried.items, img->carried.n));
	putchar('\n');
}

/* A string member, when the bundle gives one. */
static void set_string(json_t *o, const char *key, const char *value)
{
	if (value)
		json_object_set_new(o, key, json_string(value));
}

static json_t *string_list(char *const *list, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

/* Prints text as an element of a list nested depth levels deep in an object printed
 * with JSON_INDENT(2): every line after the first indented as that element's. */
static void put_nested(const char *text, int depth)
{
	for (const char *c = text; *c; c++) {
		putchar(*c);
		if (*c == '\n')
			printf("%*s", 2 * depth, "");
	}
}

/* One element of "images", printed as json_dumpf prints it inside the whole object. */
static int print_json_image(ls_state *s, const ls_image *img)
{
	json_t *o = json_object();
	set_string(o, "ref", img->col[COL_REF]);
	set_string(o, "registry", img->col[COL_REGISTRY]);
	set_string(o, "repository", img->col[COL_REPOSITORY]);
	set_string(o, "digest", img->col[COL_DIGEST]);
	set_string(o, "mediaType", img->col[COL_MEDIA_TYPE]);
	if (img->col[COL_SIZE])
		json_object_set_new(o, "size", json_integer(column_int(img->col[COL_SIZE])));
	json_object_set_new(o, "platforms", string_list(img->carried.items, img->carried.n));
	json_object_set_new(o, "platformsLeftOut",
	                    string_list(img->left_out.items, img->left_out.n));
	if (img->col[COL_BYTES])
		json_object_set_new(o, "contentBytes",
		                    json_integer(column_int(img->col[COL_BYTES])));
	json_object_set_new(o, "foreignLayersLacking",
	                    json_integer(column_int(img->col[COL_LACKING])));
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		return -1;
	fputs(s->n_images ? ",\n    " : "{\n  \"images\": [\n    ", stdout);
	put_nested(text, 2);
	free(text);
	return 0;
}

static int flush_image(ls_state *s)
{
	int rc = 0;
	if (!s->img.present)
		return 0;
	if (s->as_json)
		rc = print_json_image(s, &s->img);
	else
		print_text_image(s, &s->img);
	s->n_images++;
	image_clear(&s->img);
	return rc;
}

static int collect_row(void *payload, int ncols, const char *const *names,
                       const char *const *values)
{
	ls_state *s = payload;
	(void)names;
	if (!values || ncols != N_COLS)
		return 0;
	if (column_int(values[COL_POS]) < 0) { /* an image: the one before is complete */
		if (flush_image(s) < 0)
			return -1;
		for (int j = 0; j < N_COLS; j++)
			if (values[j] && !(s->img.col[j] = strdup(values[j])))
				return -1;
		s->img.present = true;
		return 0;
	}
	/* an entry of an image without a row of its own has nowhere to go */
	if (!s->img.present || !s->img.col[COL_ID] || !values[COL_ID] ||
	    strcmp(s->img.col[COL_ID], values[COL_ID]) != 0)
		return 0;
	strings *list = column_int(values[COL_CARRIED]) ? &s->img.carried : &s->img.left_out;
	return strings_add(list, values[COL_PLATFORM]);
}

static int widest_ref(void *payload, int ncols, const char *const *names, const char *const *values)
{
	ls_state *s = payload;
	(void)ncols;
	(void)names;
	size_t l = values && values[0] ? cli_text_width(values[0]) : 0;
	s->wref = l > s->wref ? l : s->wref;
	return 0;
}

/* The bundle row and the blob totals. */
typedef struct summary {
	char *bundle_id, *created, *signer;
	long long blobs, bytes;
	long long expected_blobs, expected_bytes; /* a delta's, left for the site to have */
	int volume, volumes;                      /* a volume of a set: which, of how many */
	json_t *per_volume;                       /* what each volume holds */
	bale_buf volume_text;
	json_t *attachments; /* schema 5: what each attachment is, and what it is of */
} summary;

/* One volume of the set: what it holds. */
static int collect_volume(void *payload, int ncols, const char *const *names,
                          const char *const *values)
{
	summary *sum = payload;
	char size[32];
	(void)names;
	if (!values || ncols != 4)
		return 0;
	long long k = column_int(values[0]), blobs = column_int(values[1]);
	long long bytes = column_int(values[2]), parts = column_int(values[3]);
	if (!sum->per_volume && !(sum->per_volume = json_array()))
		return -1;
	json_array_append_new(sum->per_volume,
	                      json_pack("{s:I,s:I,s:I,s:I}", "number", (json_int_t)k, "members",
	                                (json_int_t)blobs, "bytes", (json_int_t)bytes, "parts",
	                                (json_int_t)parts));
	return bale_buf_appendf(&sum->volume_text, NULL, "  volume %lld%s: %lld blob%s%s (%s)\n", k,
	                        k == sum->volume ? " (this file)" : "", blobs,
	                        blobs == 1 ? "" : "s", parts ? ", parts of blobs among them" : "",
	                        cli_human_size(size, sizeof(size), bytes));
}

static int collect_summary(void *payload, int ncols, const char *const *names,
                           const char *const *values)
{
	summary *sum = payload;
	(void)names;
	if (!values || ncols != 7)
		return 0;
	if ((values[0] && !(sum->bundle_id = strdup(values[0]))) ||
	    (values[1] && !(sum->created = strdup(values[1]))) ||
	    (values[2] && !(sum->signer = strdup(values[2]))))
		return -1;
	sum->blobs = column_int(values[3]);
	sum->bytes = column_int(values[4]);
	sum->expected_blobs = column_int(values[5]);
	sum->expected_bytes = column_int(values[6]);
	return 0;
}

/* The blobs carried; a delta's expected ones (no archive place: schema 3) apart. */
static const char summary_sql[] =
    "SELECT b.bundle_id, b.created, b.signer_key_id,"
    " (SELECT count(*) FROM blobs WHERE member IS NOT NULL),"
    " (SELECT sum(size) FROM blobs WHERE member IS NOT NULL),"
    " (SELECT count(*) FROM blobs WHERE member IS NULL),"
    " (SELECT coalesce(sum(size), 0) FROM blobs WHERE member IS NULL) FROM bundle b LIMIT 1";
static const char summary_v1_sql[] =
    "SELECT b.bundle_id, b.created, b.signer_key_id, (SELECT count(*) FROM blobs),"
    " (SELECT sum(size) FROM blobs), 0, 0 FROM bundle b LIMIT 1";

static int print_foreign(void *payload, int ncols, const char *const *names,
                         const char *const *values)
{
	(void)payload;
	(void)ncols;
	(void)names;
	if (!values || !values[0])
		return 0;
	long long count = column_int(values[1]);
	cli_put_text(stdout, values[0]);
	printf(": lacks %lld foreign layer%s (not distributable: the node's runtime fetches them "
	       "from their URLs)\n",
	       count, count == 1 ? "" : "s");
	return 0;
}

/* Schema version 5: each attachment with its kind and the image it is about (the image
 * whose root or carried manifest is its subject). */
static const char attachments_sql[] =
    "SELECT i.ref, r.kind, r.subject, r.artifact_type,"
    " coalesce((SELECT s.ref FROM images s WHERE s.digest = r.subject ORDER BY s.id LIMIT 1),"
    " (SELECT s.ref FROM image_manifests im JOIN images s ON s.id = im.image_id"
    " WHERE im.manifest_digest = r.subject ORDER BY s.id LIMIT 1))"
    " FROM referrers r JOIN images i ON i.id = r.image_id ORDER BY r.image_id";

static int collect_attachment(void *payload, int ncols, const char *const *names,
                              const char *const *values)
{
	summary *sum = payload;
	(void)names;
	if (!values || ncols != 5)
		return 0;
	if (!sum->attachments && !(sum->attachments = json_array()))
		return 1;
	return json_array_append_new(sum->attachments,
	                             json_pack("{s:s?,s:s?,s:s?,s:s?,s:s?}", "ref", values[0],
	                                       "kind", values[1], "subject", values[2],
	                                       "artifactType", values[3], "of", values[4])) != 0;
}

static void print_attachments(const summary *sum)
{
	size_t i;
	json_t *a;
	if (!json_array_size(sum->attachments))
		return;
	printf("attachments (bale query BUNDLE \"SELECT * FROM referrers\"):\n");
	json_array_foreach(sum->attachments, i, a)
	{
		const char *of = bale_json_str(a, "of");
		printf("  %-19s of ", bale_json_str(a, "kind"));
		cli_put_text(stdout, of ? of : bale_json_str(a, "subject"));
		fputs(": ", stdout);
		cli_put_text(stdout, bale_json_str(a, "ref"));
		putchar('\n');
	}
}

static void print_text_summary(const ls_state *s, const summary *sum)
{
	char human[32];
	printf("\n%zu image%s, %lld blobs, %s of content; %s", s->n_images,
	       s->n_images == 1 ? "" : "s", sum->blobs,
	       cli_human_size(human, sizeof(human), sum->bytes),
	       sum->signer ? "signer " : "unsigned");
	cli_put_text(stdout, sum->signer ? sum->signer : "");
	putchar('\n');
	if (sum->volume)
		printf("volume %d of a set of %d (bale import takes them in any order):\n%s",
		       sum->volume, sum->volumes,
		       sum->volume_text.data ? sum->volume_text.data : "");
	if (sum->expected_blobs)
		printf("delta: expects %lld layer%s (%s) at the site, which bale import checks the "
		       "store holds\n",
		       sum->expected_blobs, sum->expected_blobs == 1 ? "" : "s",
		       cli_human_size(human, sizeof(human), sum->expected_bytes));
}

/* The members after "images", as json_dumpf prints them in the whole object. */
static int print_json_summary(const ls_state *s, const summary *sum)
{
	json_t *tail = json_object();
	json_object_set_new(tail, "blobs", json_integer(sum->blobs));
	json_object_set_new(tail, "volume",
	                    sum->volume ? json_pack("{s:i,s:i,s:O}", "number", sum->volume, "count",
	                                            sum->volumes, "volumes", sum->per_volume)
	                                : json_null());
	json_object_set_new(tail, "delta",
	                    sum->expected_blobs
	                        ? json_pack("{s:I,s:I}", "expectedBlobs",
	                                    (json_int_t)sum->expected_blobs, "expectedBytes",
	                                    (json_int_t)sum->expected_bytes)
	                        : json_null());
	json_object_set_new(tail, "signer", sum->signer ? json_string(sum->signer) : json_null());
	json_object_set_new(tail, "attachments",
	                    sum->attachments ? json_incref(sum->attachments) : json_array());
	set_string(tail, "bundleId", sum->bundle_id);
	set_string(tail, "created", sum->created);
	char *text = json_dumps(tail, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(tail);
	if (!text)
		return -1;
	/* text is "{\n  "blobs": ...}": its members follow the list of images */
	fputs(s->n_images ? "\n  ],\n" : "{\n  \"images\": [],\n", stdout);
	fputs(text + 2, stdout);
	putchar('\n');
	free(text);
	return 0;
}

/* Lists the images as the bundle's index.db gives them, one image in memory at a time. */
static int list_images(sqlite3 *db, int volume, int volumes, bool as_json, bale_error **err)
{
	ls_state s = {.as_json = as_json, .wref = 9};
	summary sum = {0};
	bale_buf_init(&sum.volume_text, 1 << 20, "volumes");
	/* A bundle of schema version 1 has no child indexes and no foreign layers recorded. */
	bool v2 = bale_index_db_version(db) >= 2;
	int rc =
	    bale_index_db_query(db, bale_index_db_version(db) >= 3 ? summary_sql : summary_v1_sql,
	                        collect_summary, &sum, err);
	if (rc == 0 && !as_json &&
	    (rc = bale_index_db_query(db, "SELECT ref FROM images", widest_ref, &s, err)) == 0)
		printf("%-*s  %-19s  %-9s  %s\n", (int)s.wref, "REFERENCE", "DIGEST", "SIZE",
		       "PLATFORMS");
	if (rc == 0)
		rc = bale_index_db_query(db, v2 ? images_v2_sql : images_v1_sql, collect_row, &s,
		                         err);
	if (rc == 0)
		rc = flush_image(&s);
	sum.volume = volume;
	sum.volumes = volumes;
	if (rc == 0 && volume)
		rc = bale_index_db_query(db,
		                         "SELECT volume, count(*), sum(size), sum(part > 0)"
		                         " FROM volume_members GROUP BY volume ORDER BY volume",
		                         collect_volume, &sum, err);
	if (rc == 0 && bale_index_db_version(db) >= 5)
		rc = bale_index_db_query(db, attachments_sql, collect_attachment, &sum, err);
	if (rc == 0 && as_json)
		rc = print_json_summary(&s, &sum);
	else if (rc == 0) {
		print_text_summary(&s, &sum);
		if (v2)
			rc = bale_index_db_query(db, foreign_sql, print_foreign, NULL, err);
		print_attachments(&sum);
	}
	if (rc > 0 || (rc < 0 && !(err && *err)))
		rc = bale_error_set(err, BALE_EGENERIC, "ls: out of memory");
	image_free(&s.img);
	free(sum.bundle_id);
	free(sum.created);
	json_decref(sum.per_volume);
	json_decref(sum.attachments);
	bale_buf_free(&sum.volume_text);
	free(sum.signer);
	return rc;
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
	sqlite3 *db = NULL;
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_ls, ls_option, &as_json, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	if (optind + 1 != argc) {
		rc = cli_usage(err, "want one BUNDLE (see bale ls --help)");
		goto cleanup;
	}
	const bale_bundle_manifest *m = NULL;
	if ((rc = bale_index_db_open_bundle(&reader, &db, argv[optind], err)) == 0 &&
	    (rc = bale_bundle_read_manifest(reader, &m, err)) == 0)
		rc = list_images(db, m->volume, m->volumes, as_json, err);
cleanup:
	sqlite3_close(db);
	bale_bundle_close(reader);
	cli_common_free(&c);
	return rc;
}
