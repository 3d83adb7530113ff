/* What an image brings beside it in its registry (bale_pull_options.referrers): cosign's
 * tags next to each manifest it carries (sha256-<hex>.sig, .att, .sbom), and the manifests
 * that name one of them as their subject, through the referrers API or, where a registry
 * lacks it, the referrers tag schema (an index under the tag sha256-<hex>). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/json.h"
#include "bale/manifest.h"
#include "pull/pull_private.h"

/* A referrers listing: thousands of descriptors at most. */
#define REFERRERS_CAP (4u << 20)
/* What one image brings at most: a registry that lists more is refused, not followed. */
#define ATTACHMENTS_MAX 1000

/* Artifact types that are signatures: cosign's, Sigstore bundles, Notary Project's. */
static const char *const signature_types[] = {
    "application/vnd.dev.cosign.artifact.sig.v1+json",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.cncf.notary.signature",
};

static const struct {
	const char *suffix, *kind;
	bale_pull_referrers from; /* the least --referrers that carries it */
} cosign_tags[] = {
    {"sig", "cosign-signature", BALE_PULL_REFERRERS_SIGNATURES},
    {"att", "cosign-attestation", BALE_PULL_REFERRERS_ALL},
    {"sbom", "cosign-sbom", BALE_PULL_REFERRERS_ALL},
};

typedef struct finder {
	bale_registry *reg;
	const bale_image *img;
	bale_pull_referrers mode;
	char *const *tags; /* the repository's tags, sorted (the run's cache) */
	size_t n_tags;
	bool listed; /* false: the registry would not list them, so each is asked for */
	int api;     /* the referrers API: -1 not asked yet, 0 absent, 1 there */
	pull_attachment *list;
	size_t n, alloc;
} finder;

void pull_attachments_free(pull_attachment *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i].ref);
	free(list);
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is tag in the repository? From its listing, else asked with HEAD. */
static int has_tag(finder *f, const char *tag, bool *found, bale_error **err)
{
	if (f->listed) {
		*found = bsearch(&tag, f->tags, f->n_tags, sizeof(*f->tags), by_string) != NULL;
		return 0;
	}
	bale_registry_head head;
	int rc = bale_registry_head_manifest(f->reg, f->img->repository, tag, &head, err);
	*found = rc == 0 && head.found;
	return rc;
}

static int add(finder *f, const char *sep, const char *name, const char *kind,
               const bale_digest *subject, const char *artifact_type, bale_error **err)
{
	size_t len = strlen(f->img->domain) + strlen(f->img->repository) + strlen(name) + 3;
	char *ref = malloc(len);
	if (!ref)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	snprintf(ref, len, "%s/%s%s%s", f->img->domain, f->img->repository, sep, name);
	for (size_t i = 0; i < f->n; i++) /* a referrer of two manifests of the image: once */
		if (strcmp(f->list[i].ref, ref) == 0) {
			free(ref);
			return 0;
		}
	if (f->n == ATTACHMENTS_MAX) {
		free(ref);
		return bale_error_set(err, BALE_EVERIFY,
		                      "more than %d signatures, attestations and referrers; bale "
		                      "carries at most %d an image (--referrers none leaves them)",
		                      ATTACHMENTS_MAX, ATTACHMENTS_MAX);
	}
	if (f->n == f->alloc) {
		size_t alloc = f->alloc ? 2 * f->alloc : 8;
		pull_attachment *grown = realloc(f->list, alloc * sizeof(*grown));
		if (!grown) {
			free(ref);
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		}
		f->list = grown;
		f->alloc = alloc;
	}
	pull_attachment *a = &f->list[f->n++];
	memset(a, 0, sizeof(*a));
	a->ref = ref;
	snprintf(a->kind, sizeof(a->kind), "%s", kind);
	snprintf(a->artifact_type, sizeof(a->artifact_type), "%s",
	         artifact_type ? artifact_type : "");
	a->subject = *subject;
	return 0;
}

static bool is_signature(const char *artifact_type)
{
	for (size_t i = 0; artifact_type && i < sizeof(signature_types) / sizeof(*signature_types);
	     i++)
		if (strcmp(artifact_type, signature_types[i]) == 0)
			return true;
	return false;
}

/* The descriptors of a referrers index (the API's answer, or the tag schema's index). */
static int take_referrers(finder *f, const bale_digest *subject, const bale_buf *index,
                          const char *what, bale_error **err)
{
	json_t *doc = NULL, *entry;
	size_t i;
	int rc = bale_json_parse(&doc, index->data, index->len, REFERRERS_CAP, what, err);
	json_t *manifests = json_object_get(doc, "manifests");
	if (rc == 0 && !json_is_array(manifests))
		rc = bale_error_set(err, BALE_EVERIFY, "%s: not an image index", what);
	json_array_foreach(manifests, i, entry)
	{
		bale_digest digest;
		const char *type = bale_json_str(entry, "artifactType");
		const char *text = bale_json_str(entry, "digest");
		if (rc < 0)
			break;
		if (!text || bale_digest_parse(&digest, text, NULL) < 0) {
			rc = bale_error_set(err, BALE_EVERIFY, "%s: entry %zu: not a sha256 digest",
			                    what, i);
			break;
		}
		if (f->mode == BALE_PULL_REFERRERS_ALL || is_signature(type))
			rc = add(f, "@", digest.str, "oci-referrer", subject, type, err);
	}
	json_decref(doc);
	return rc;
}

static int find_referrers(finder *f, const bale_digest *subject, bale_error **err)
{
	char what[600], tag[80], media_type[128];
	bale_digest got;
	bale_buf index;
	bool supported = false, found = false;
	int rc = 0;
	bale_buf_init(&index, REFERRERS_CAP, "referrers");
	snprintf(what, sizeof(what), "%s: referrers of %s", f->img->ref, subject->str);
	if (f->api != 0) {
		if ((rc = bale_registry_referrers(f->reg, f->img->repository, subject, &index,
		                                  &supported, err)) < 0)
			goto cleanup;
		f->api = supported;
		if (supported) {
			rc = take_referrers(f, subject, &index, what, err);
			goto cleanup;
		}
	}
	/* the referrers tag schema: sha256-<hex>, an index of them */
	snprintf(tag, sizeof(tag), "sha256-%s", bale_digest_hex(subject));
	if ((rc = has_tag(f, tag, &found, err)) < 0 || !found)
		goto cleanup;
	bale_buf_free(&index);
	bale_buf_init(&index, REFERRERS_CAP, "referrers");
	if ((rc = bale_registry_get_manifest(f->reg, f->img->repository, tag, &index, media_type,
	                                     &got, err)) < 0)
		goto cleanup;
	if (!bale_manifest_type_is_index(media_type)) /* not the schema's: no referrers */
		goto cleanup;
	rc = take_referrers(f, subject, &index, what, err);
cleanup:
	bale_buf_free(&index);
	return rc;
}

static int find_for(finder *f, const bale_digest *subject, bale_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < sizeof(cosign_tags) / sizeof(*cosign_tags) && rc == 0; i++) {
		char tag[80];
		bool found = false;
		if (f->mode < cosign_tags[i].from)
			continue;
		snprintf(tag, sizeof(tag), "sha256-%s.%s", bale_digest_hex(subject),
		         cosign_tags[i].suffix);
		if ((rc = has_tag(f, tag, &found, err)) == 0 && found)
			rc = add(f, ":", tag, cosign_tags[i].kind, subject, NULL, err);
	}
	return rc == 0 ? find_referrers(f, subject, err) : rc;
}

int pull_attachments_find(bale_registry *reg, pull_tags *tags, const bale_image *img,
                          bale_pull_referrers mode, pull_attachment **out, size_t *n,
                          bale_error **err)
{
	finder f = {.reg = reg, .img = img, .mode = mode, .api = -1};
	*out = NULL;
	*n = 0;
	/* One listing answers every tag question of the repository, for the whole run; a
	 * registry that will not list (its token scope, an old proxy) is asked tag by tag. */
	int rc = pull_tags_get(tags, reg, img->domain, img->repository, &f.tags, &f.n_tags,
	                       &f.listed, err);
	if (rc == 0)
		rc = find_for(&f, &img->root.digest, err);
	for (size_t i = 0; i < img->n_manifests && rc == 0; i++)
		if (img->manifests[i].selected &&
		    !bale_digest_equal(&img->manifests[i].desc.digest, &img->root.digest))
			rc = find_for(&f, &img->manifests[i].desc.digest, err);
	if (rc < 0) {
		pull_attachments_free(f.list, f.n);
		return bale_error_wrap(err, "%s: its attachments", img->ref);
	}
	*out = f.list;
	*n = f.n;
	return 0;
}
