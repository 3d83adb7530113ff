/* bale export --dry-run: a line (or a JSON object) per image resolved, then what the export
 * would move; nothing downloaded, nothing written. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "bale/export.h"
#include "cli/export.h"
#include "cli/report.h"

/* --dry-run: one line (or JSON object) per image resolved, then what the export would move. */
typedef struct dry_state {
	json_t *images; /* --json */
	size_t wref;
} dry_state;

static int dry_image(void *payload, const bale_image *img, int64_t adds, bale_error **err)
{
	dry_state *d = payload;
	char platforms[1024] = "", one[BALE_PLATFORM_TEXT], size[32];
	json_t *list = json_array();
	for (size_t i = 0; i < img->n_manifests && list; i++) {
		const bale_image_manifest *m = &img->manifests[i];
		if (!m->selected)
			continue;
		const char *text = m->artifact || !m->has_platform
		                       ? "artifact"
		                       : bale_platform_format(&m->platform, one, sizeof(one));
		json_array_append_new(list, json_string(text));
		size_t used = strlen(platforms);
		snprintf(platforms + used, sizeof(platforms) - used, "%s%s", used ? "," : "", text);
	}
	if (!list)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (d->images) {
		json_array_append_new(
		    d->images, json_pack("{s:s,s:s,s:s?,s:o,s:I}", "ref", img->ref, "digest",
		                         img->root.digest.str, "attachment",
		                         img->attachment_kind[0] ? img->attachment_kind : NULL,
		                         "platforms", list, "downloadBytes", (json_int_t)adds));
		return 0;
	}
	json_decref(list);
	printf("%-*s  %.19s  %-9s  %s\n", (int)d->wref, img->ref, img->root.digest.str,
	       cli_human_size(size, sizeof(size), adds), platforms);
	return 0;
}

int export_dry_run(cli_common *c, const export_args *a, bale_pull *pull, bale_sink *cache,
                   const bale_have *have, bale_error **err)
{
	dry_state d = {.images = a->json ? json_array() : NULL, .wref = 9};
	bale_export_dry_report r;
	char down[32], cached[32], site[32];
	for (size_t i = 0; i < a->refs.n; i++)
		if (strlen(a->refs.refs[i]) > d.wref)
			d.wref = strlen(a->refs.refs[i]);
	if (d.wref > 80)
		d.wref = 80;
	if (!a->json)
		printf("%-*s  %-19s  %-9s  %s\n", (int)d.wref, "REFERENCE", "DIGEST", "DOWNLOAD",
		       "PLATFORMS");
	int rc = bale_export_dry_run(pull, (const char *const *)a->refs.refs, a->refs.n, cache,
	                             have, dry_image, &d, &r, err);
	cli_progress_clear(c);
	if (a->json) {
		json_t *doc = json_pack(
		    "{s:o,s:{s:I,s:I},s:{s:I,s:I},s:{s:I,s:I},s:I,s:i}", "images", d.images,
		    "download", "blobs", (json_int_t)r.download_blobs, "bytes",
		    (json_int_t)r.download_bytes, "cached", "blobs", (json_int_t)r.cached_blobs,
		    "bytes", (json_int_t)r.cached_bytes, "atSite", "blobs",
		    (json_int_t)r.site_blobs, "bytes", (json_int_t)r.site_bytes, "failed",
		    (json_int_t)r.failed, "exitStatus", rc < 0 ? cli_exit_status(rc) : 0);
		if (doc && rc < 0 && err && *err)
			json_object_set_new(doc, "error", json_string(bale_error_message(*err)));
		cli_print_json(doc);
		return rc;
	}
	if (rc < 0 && !r.images)
		return rc;
	printf("\n%zu image%s resolved: %lld layer%s to download (%s), %lld in the cache (%s), "
	       "%lld at the site (%s); nothing written\n",
	       r.images, r.images == 1 ? "" : "s", (long long)r.download_blobs,
	       r.download_blobs == 1 ? "" : "s",
	       cli_human_size(down, sizeof(down), r.download_bytes), (long long)r.cached_blobs,
	       cli_human_size(cached, sizeof(cached), r.cached_bytes), (long long)r.site_blobs,
	       cli_human_size(site, sizeof(site), r.site_bytes));
	return rc;
}
