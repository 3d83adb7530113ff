/* bale/manifest.json read into bale_bundle_manifest: parsed within the limits of
 * docs/bundle-format.md, then its shape checked once, so that bale verify, bale import and
 * bale ls read typed fields instead of walking JSON each in its own way. The strings are
 * jansson's, kept alive by the parse they came from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/bundle.h"
#include "bale/json.h"
#include "bundle/bundle_private.h"

/* The public struct first: bale_bundle_manifest_free casts back. */
typedef struct manifest_doc {
	bale_bundle_manifest pub;
	json_t *doc;
	bale_bundle_image *images;
	bale_bundle_file *files;
	bale_bundle_blob *blobs;
	const char **strings; /* every image's platforms, one list after another */
} manifest_doc;

bool bale_bundle_path_is_safe(const char *path)
{
	if (!*path || path[0] == '/')
		return false;
	const char *p = path;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!slash)
			break;
		p = slash + 1;
		if (!*p) /* a trailing slash: a directory name, not a file */
			return false;
	}
	return true;
}

/* Parses bale/manifest.json within the limits of bundle_private.h: size, depth, JSON
 * values, and at most BUNDLE_MAX_MEMBERS members. BALE_EVERIFY naming the file. */
static int parse_json(json_t **out, const char *data, size_t len, bale_error **err)
{
	const bale_json_limits limits = {.max_bytes = BUNDLE_CAP_MANIFEST,
	                                 .max_values = BUNDLE_MAX_MANIFEST_VALUES};
	static const char *const lists[] = {"files", "blobs", "images"};
	size_t n[3] = {0, 0, 0};
	/* Counted in the raw text first: jansson holds about 1 KiB a member, so a list of
	 * millions is refused before it is built. */
	if (len <= BUNDLE_CAP_MANIFEST)
		bale_json_top_array_sizes(data, len, lists, 3, n);
	if (n[0] + n[1] > BUNDLE_MAX_MEMBERS || n[2] > BUNDLE_MAX_MEMBERS)
		return bale_error_set(err, BALE_EVERIFY,
		                      "%s: lists %zu members and %zu images, more than the %u a "
		                      "bundle may hold",
		                      BALE_BUNDLE_MANIFEST, n[0] + n[1], n[2], BUNDLE_MAX_MEMBERS);
	return bale_json_parse_limits(out, data, len, &limits, BALE_BUNDLE_MANIFEST, err);
}

/* One entry of "files" or "blobs": a member's path (given, or blobs/sha256/<hex> for a
 * blob), digest and size. */
static int read_entry(json_t *v, const char *path, bale_digest *digest, int64_t *size,
                      bale_error **err)
{
	const char *d = bale_json_str(v, "digest");
	json_t *s = json_object_get(v, "size");
	if (!path || !d || !json_is_integer(s) || json_integer_value(s) < 0)
		return bale_error_set(err, BALE_EVERIFY,
		                      "%s: an entry without path, digest or size",
		                      BALE_BUNDLE_MANIFEST);
	if (bale_digest_parse(digest, d, NULL) < 0)
		return bale_error_set(err, BALE_EVERIFY, "%s: bad digest for %s",
		                      BALE_BUNDLE_MANIFEST, path);
	if (!bale_bundle_path_is_safe(path))
		return bale_error_set(err, BALE_EVERIFY, "%s: unsafe path %.200s",
		                      BALE_BUNDLE_MANIFEST, path);
	*size = (int64_t)json_integer_value(s);
	return 0;
}

static int read_files(manifest_doc *m, json_t *files, bale_error **err)
{
	size_t i;
	json_t *v;
	if (!(m->files = calloc(json_array_size(files) + 1, sizeof(*m->files))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	json_array_foreach(files, i, v)
	{
		bale_bundle_file *f = &m->files[i];
		f->path = bale_json_str(v, "path");
		int rc = read_entry(v, f->path, &f->digest, &f->size, err);
		if (rc < 0)
			return rc;
	}
	m->pub.files = m->files;
	m->pub.n_files = json_array_size(files);
	return 0;
}

static int read_blobs(manifest_doc *m, json_t *blobs, bale_error **err)
{
	size_t i;
	json_t *v;
	if (!(m->blobs = calloc(json_array_size(blobs) + 1, sizeof(*m->blobs))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	json_array_foreach(blobs, i, v)
	{
		bale_bundle_blob *b = &m->blobs[i];
		const char *digest = bale_json_str(v, "digest");
		const char *media_type = bale_json_str(v, "mediaType");
		char path[128];
		snprintf(path, sizeof(path), "blobs/sha256/%s",
		         digest && strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : "?");
		int rc = read_entry(v, path, &b->digest, &b->size, err);
		if (rc < 0)
			return rc;
		b->media_type = media_type ? media_type : "";
		b->kind = bale_json_str(v, "kind");
	}
	m->pub.blobs = m->blobs;
	m->pub.n_blobs = json_array_size(blobs);
	return 0;
}

/* The strings of a list into *pool (entries that are not strings are left out). */
static void read_strings(const char *const **out, size_t *n, const char ***pool, json_t *list)
{
	size_t i;
	json_t *v;
	*out = *pool;
	*n = 0;
	json_array_foreach(list, i, v)
	{
		if (json_is_string(v))
			(*pool)[(*n)++] = json_string_value(v);
	}
	*pool += *n;
}

/* The images, as the bundle gives them: bale ls shows them before anyone checked them,
 * so nothing here is refused for what it says (bale verify holds the names to what bale
 * writes). */
static int read_images(manifest_doc *m, json_t *images, bale_error **err)
{
	size_t i, strings = 0;
	json_t *v;
	json_array_foreach(images, i, v)
	{
		strings += json_array_size(json_object_get(v, "platforms")) +
		           json_array_size(json_object_get(v, "platformsLeftOut"));
	}
	if (!(m->images = calloc(json_array_size(images) + 1, sizeof(*m->images))) ||
	    !(m->strings = calloc(strings + 1, sizeof(*m->strings))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	const char **pool = m->strings;
	json_array_foreach(images, i, v)
	{
		bale_bundle_image *img = &m->images[i];
		json_t *size = json_object_get(v, "size");
		img->ref = bale_json_str(v, "ref");
		img->registry = bale_json_str(v, "registry");
		img->repository = bale_json_str(v, "repository");
		img->digest = bale_json_str(v, "digest");
		img->media_type = bale_json_str(v, "mediaType");
		img->size = json_is_integer(size) ? (int64_t)json_integer_value(size) : -1;
		read_strings(&img->platforms, &img->n_platforms, &pool,
		             json_object_get(v, "platforms"));
		read_strings(&img->platforms_left_out, &img->n_platforms_left_out, &pool,
		             json_object_get(v, "platformsLeftOut"));
	}
	m->pub.images = m->images;
	m->pub.n_images = json_array_size(images);
	return 0;
}

int bale_bundle_manifest_parse(bale_bundle_manifest **out, const char *data, size_t len,
                               bale_error **err)
{
	manifest_doc *m = calloc(1, sizeof(*m));
	int rc = 0;
	*out = NULL;
	if (!m)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if ((rc = parse_json(&m->doc, data, len, err)) < 0)
		goto out;
	/* The version first: a newer bale may lay out the rest differently. */
	json_int_t version = json_integer_value(json_object_get(m->doc, "formatVersion"));
	if (version < BALE_BUNDLE_FORMAT_OLDEST || version > BALE_BUNDLE_FORMAT_VERSION) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "%s: format version %lld, this bale reads %d to %d",
		                    BALE_BUNDLE_MANIFEST, (long long)version,
		                    BALE_BUNDLE_FORMAT_OLDEST, BALE_BUNDLE_FORMAT_VERSION);
		goto out;
	}
	json_t *files = json_object_get(m->doc, "files"), *blobs = json_object_get(m->doc, "blobs");
	json_t *images = json_object_get(m->doc, "images");
	/* Format 2 lists its blobs and images in bale/index.db only: one list to trust. */
	if (version >= 2 && (blobs || images)) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "%s: format version %lld lists %s, which bale/index.db holds",
		                    BALE_BUNDLE_MANIFEST, (long long)version,
		                    blobs ? "blobs" : "images");
		goto out;
	}
	if (!json_is_array(files) || (version == 1 && !json_is_array(blobs))) {
		rc = bale_error_set(err, BALE_EVERIFY, "%s: no files or blobs list",
		                    BALE_BUNDLE_MANIFEST);
		goto out;
	}
	/* Format 3 is a delta and says so: how much it leaves for the site to have. */
	json_t *delta = json_object_get(m->doc, "delta");
	json_t *eb = json_object_get(delta, "expectedBlobs"),
	       *ey = json_object_get(delta, "expectedBytes");
	/* format 3 is a delta; a volume (4) may be one too */
	if ((version == BALE_BUNDLE_FORMAT_DELTA && !delta) ||
	    (delta && version < BALE_BUNDLE_FORMAT_DELTA) ||
	    (delta &&
	     (!json_is_integer(eb) || !json_is_integer(ey) || json_integer_value(eb) < 1 ||
	      json_integer_value(eb) > BALE_BUNDLE_MAX_MEMBERS || json_integer_value(ey) < 0))) {
		rc = bale_error_set(
		    err, BALE_EVERIFY, "%s: format version %lld %s", BALE_BUNDLE_MANIFEST,
		    (long long)version,
		    delta ? (version >= BALE_BUNDLE_FORMAT_DELTA
		                 ? "with a malformed \"delta\""
		                 : "with a \"delta\", which only formats 3 and 4 have")
		          : "without its \"delta\"");
		goto out;
	}
	/* Format 4 is a volume of a set and says which. */
	json_t *volume = json_object_get(m->doc, "volume");
	json_t *number = json_object_get(volume, "number"),
	       *count = json_object_get(volume, "count");
	if ((version == BALE_BUNDLE_FORMAT_VOLUME) != (volume != NULL) ||
	    (volume && (!json_is_integer(number) || !json_is_integer(count) ||
	                json_integer_value(number) < 1 ||
	                json_integer_value(number) > json_integer_value(count) ||
	                json_integer_value(count) > BALE_BUNDLE_MAX_VOLUMES))) {
		rc = bale_error_set(err, BALE_EVERIFY, "%s: format version %lld %s",
		                    BALE_BUNDLE_MANIFEST, (long long)version,
		                    volume ? (version == BALE_BUNDLE_FORMAT_VOLUME
		                                  ? "with a malformed \"volume\""
		                                  : "with a \"volume\", which only format 4 has")
		                           : "without its \"volume\"");
		goto out;
	}
	m->pub.volume = volume ? (int)json_integer_value(number) : 0;
	m->pub.volumes = volume ? (int)json_integer_value(count) : 0;
	m->pub.expected_blobs = delta ? json_integer_value(eb) : 0;
	m->pub.expected_bytes = delta ? json_integer_value(ey) : 0;
	m->pub.format_version = (int)version;
	m->pub.bundle_id = bale_json_str(m->doc, "bundleId");
	m->pub.created = bale_json_str(m->doc, "created");
	m->pub.tool = bale_json_str(m->doc, "tool");
	m->pub.signer = bale_json_str(m->doc, "signer");
	if ((rc = read_files(m, files, err)) < 0 ||
	    (blobs && (rc = read_blobs(m, blobs, err)) < 0) ||
	    (images && (rc = read_images(m, images, err)) < 0))
		goto out;
	*out = &m->pub;
	m = NULL;
out:
	bale_bundle_manifest_free(m ? &m->pub : NULL);
	return rc;
}

/* "files" lists three members as bale writes it; more than this is left to the whole
 * parse. */
#define FILES_FAST_MAX (64u << 10)

int bundle_manifest_index_entry(const char *data, size_t len, bale_bundle_file *out)
{
	const char *version = NULL, *files = NULL;
	size_t version_len = 0, files_len = 0, i;
	json_t *list = NULL, *v;
	bale_bundle_file found = {0};
	int rc = 0;
	/* The version first, as the whole parse does: another may lay out "files" otherwise
	 * (formats 2 to 4 lay it out alike). */
	if (bale_json_top_value(data, len, "formatVersion", &version, &version_len) != 1 ||
	    version_len != 1 || version[0] < '0' + BALE_BUNDLE_FORMAT_PLAIN ||
	    version[0] > '0' + BALE_BUNDLE_FORMAT_VOLUME ||
	    bale_json_top_value(data, len, "files", &files, &files_len) != 1 ||
	    files_len > FILES_FAST_MAX || files[0] != '[' ||
	    bale_json_parse(&list, files, files_len, FILES_FAST_MAX, BALE_BUNDLE_MANIFEST, NULL) <
	        0)
		goto out;
	/* The last of its name, as bale_bundle_manifest_file finds it. */
	json_array_foreach(list, i, v)
	{
		const char *path = bale_json_str(v, "path");
		if (!path || strcmp(path, BALE_BUNDLE_INDEX_DB) != 0)
			continue;
		rc = read_entry(v, path, &found.digest, &found.size, NULL) == 0;
	}
	if (rc == 1) {
		*out = found;
		out->path = BALE_BUNDLE_INDEX_DB;
	}
out:
	json_decref(list);
	return rc;
}

const bale_bundle_file *bale_bundle_manifest_file(const bale_bundle_manifest *m, const char *path)
{
	const bale_bundle_file *found = NULL;
	/* The last of its name, as a JSON object would keep it; bale verify refuses a
	 * member listed twice. */
	for (size_t i = 0; i < m->n_files; i++)
		if (strcmp(m->files[i].path, path) == 0)
			found = &m->files[i];
	return found;
}

void bale_bundle_manifest_free(bale_bundle_manifest *pub)
{
	if (!pub)
		return;
	manifest_doc *m = (manifest_doc *)pub;
	free(m->images);
	free(m->strings);
	free(m->files);
	free(m->blobs);
	json_decref(m->doc);
	free(m);
}
