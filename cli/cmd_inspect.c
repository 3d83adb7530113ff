/* bale inspect REF: what a reference resolves to, without pulling layers. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "bale/pull.h"
#include "cli/cli.h"
#include "cli/terminal.h"

static const char usage_text[] =
    "Usage: bale inspect [options] REF\n"
    "       bale inspect [--json] BUNDLE REF\n"
    "\n"
    "With a BUNDLE: the image as the bundle carries it (platforms carried and left out,\n"
    "layers, sizes), read from the bundle's index only.\n"
    "\n"
    "Resolves REF in its registry and shows its digest, media type and, for each\n"
    "platform, the manifest digest and the image size (config + layers, compressed).\n"
    "\n";

static const cli_opt options[] = {
    {"raw", 0, NULL, "print the manifest or index exactly as served", OPT_RAW},
    {"json", 0, NULL, "machine-readable output", OPT_JSON},
    {"platform", 0, "P[,P…]|all", "look only at these platforms (default: all)", OPT_PLATFORM},
    CLI_OPT_HEADING("Registry options:"),
    CLI_OPTS_REGISTRY,
    CLI_OPTS_VERBOSITY,
    CLI_OPT_END,
};

const cli_verb cli_verb_inspect = {"inspect", usage_text, options};

static long long image_size(const bale_image_manifest *m)
{
	long long total = m->config.size;
	for (size_t i = 0; i < m->n_layers; i++)
		total += m->layers[i].size;
	return total;
}

/* What a manifest is, for a listing: its platform, else "artifact" or "unknown". */
static const char *kind_of(const bale_image_manifest *m, char *buf, size_t size)
{
	if (m->has_platform && !(m->artifact && !strcmp(m->platform.os, "unknown")))
		return bale_platform_format(&m->platform, buf, size);
	return m->artifact ? "artifact" : "unknown";
}

static void print_text(const bale_image *img)
{
	char plat[BALE_PLATFORM_TEXT], size[32];
	printf("Name:       %s\nDigest:     %s\nMediaType:  ", img->ref, img->root.digest.str);
	cli_put_text(stdout, img->root.media_type);
	printf("\nSize:       %lld\n", (long long)img->root.size);
	printf("Platforms:\n");
	for (size_t i = 0; i < img->n_manifests; i++) {
		const bale_image_manifest *m = &img->manifests[i];
		fputs("  ", stdout);
		cli_put_padded(stdout, kind_of(m, plat, sizeof(plat)), 16); /* registry's text */
		printf(" %s  %9s  %zu layer%s%s", m->desc.digest.str,
		       m->selected ? cli_human_size(size, sizeof(size), image_size(m)) : "-",
		       m->n_layers, m->n_layers == 1 ? "" : "s", m->created[0] ? "  created " : "");
		cli_put_text(stdout, m->created); /* the registry's text, escaped */
		if (m->n_foreign)
			printf("  %zu foreign layer%s not carried", m->n_foreign,
			       m->n_foreign == 1 ? "" : "s");
		if (m->artifact && m->has_subject)
			printf("  of %.19s", m->subject.str);
		putchar('\n');
	}
	if (img->n_indexes)
		printf("Indexes:\n");
	for (size_t i = 0; i < img->n_indexes; i++) {
		const bale_image_index *x = &img->indexes[i];
		printf("  %*s%s  listed by %.19s\n", (int)(2 * (x->depth - 1)), "",
		       x->desc.digest.str, x->parent.str);
	}
}

static int print_json(const bale_image *img)
{
	char plat[BALE_PLATFORM_TEXT];
	json_t *root =
	    json_pack("{s:s,s:s,s:s,s:I}", "name", img->ref, "digest", img->root.digest.str,
	              "mediaType", img->root.media_type, "size", (json_int_t)img->root.size);
	json_t *list = json_array();
	for (size_t i = 0; i < img->n_manifests; i++) {
		const bale_image_manifest *m = &img->manifests[i];
		json_t *o =
		    json_pack("{s:s,s:s,s:I}", "digest", m->desc.digest.str, "mediaType",
		              m->desc.media_type[0] ? m->desc.media_type : img->root.media_type,
		              "size", (json_int_t)m->desc.size);
		if (m->has_platform)
			json_object_set_new(
			    o, "platform",
			    json_string(bale_platform_format(&m->platform, plat, sizeof(plat))));
		if (m->artifact)
			json_object_set_new(o, "artifact", json_true());
		if (m->artifact_type[0])
			json_object_set_new(o, "artifactType", json_string(m->artifact_type));
		if (m->has_subject)
			json_object_set_new(o, "subject", json_string(m->subject.str));
		if (m->parent.str[0] && !bale_digest_equal(&m->parent, &img->root.digest))
			json_object_set_new(o, "index", json_string(m->parent.str));
		if (m->selected) {
			json_object_set_new(o, "config", json_string(m->config.digest.str));
			json_object_set_new(o, "foreignLayers",
			                    json_integer((json_int_t)m->n_foreign));
			json_object_set_new(o, "layers", json_integer((json_int_t)m->n_layers));
			json_object_set_new(o, "imageSize", json_integer(image_size(m)));
			if (m->created[0])
				json_object_set_new(o, "created", json_string(m->created));
		}
		json_array_append_new(list, o);
	}
	json_object_set_new(root, "manifests", list);
	json_t *indexes = json_array();
	for (size_t i = 0; i < img->n_indexes; i++) {
		const bale_image_index *x = &img->indexes[i];
		json_array_append_new(indexes,
		                      json_pack("{s:s,s:s,s:I,s:s,s:I}", "digest",
		                                x->desc.digest.str, "mediaType", x->desc.media_type,
		                                "size", (json_int_t)x->desc.size, "parent",
		                                x->parent.str, "depth", (json_int_t)x->depth));
	}
	json_object_set_new(root, "indexes", indexes);
	int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(root);
	return rc;
}

typedef struct inspect_flags {
	bool raw, json;
} inspect_flags;

static int inspect_option(void *payload, int opt, const char *arg, bale_error **err)
{
	inspect_flags *f = payload;
	if (opt == OPT_RAW)
		f->raw = true;
	else if (opt == OPT_JSON)
		f->json = true;
	return 0;
}

int cmd_inspect(int argc, char **argv, bale_error **err)
{
	cli_common c;
	inspect_flags flags = {0};
	bale_platform_set *platforms = NULL;
	bale_pull *pull = NULL;
	bale_image *img = NULL;
	cli_registries regs = {0};
	cli_common_init(&c);
	int rc = cli_parse(&c, argc, argv, &cli_verb_inspect, inspect_option, &flags, err);
	if (rc != CLI_PARSED) {
		rc = rc == CLI_HELP_SHOWN ? 0 : rc;
		goto cleanup;
	}
	if (optind + 2 == argc) { /* BUNDLE REF */
		rc = cmd_inspect_bundle(&c, argv[optind], argv[optind + 1], flags.json, err);
		goto cleanup;
	}
	if (optind + 1 != argc) {
		rc = cli_usage(err, "want REF, or BUNDLE REF (see bale inspect --help)");
		goto cleanup;
	}
	if (cli_registries_add_ref(&regs, argv[optind]) < 0) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	/* Sizes for every platform unless the user narrowed it down. */
	if ((rc = cli_bind_creds(&c, &regs, NULL, err)) < 0 ||
	    (rc = bale_platform_set_parse(&platforms, c.platform ? c.platform : "all", err)) < 0)
		goto cleanup;
	bale_pull_options po = {.registry = c.registry, .platforms = platforms, .log = &c.log};
	if ((rc = bale_pull_new(&pull, &po, err)) < 0 ||
	    (rc = bale_pull_resolve(pull, argv[optind], &img, err)) < 0)
		goto cleanup;
	if (flags.raw) {
		bale_buf raw;
		bale_buf_init(&raw, BALE_CAP_MANIFEST, "manifest");
		rc = bale_pull_read(pull, &img->root, &raw, err);
		if (rc == 0)
			fwrite(raw.data, 1, raw.len, stdout);
		bale_buf_free(&raw);
	} else if (flags.json)
		print_json(img);
	else
		print_text(img);
cleanup:
	bale_image_free(img);
	cli_registries_free(&regs);
	bale_pull_free(pull);
	bale_platform_set_free(platforms);
	cli_common_free(&c);
	return rc;
}
