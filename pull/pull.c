/* The pull engine: registry -> content sink. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/buf.h"
#include "bale/manifest.h"
#include "bale/pull.h"
#include "bale/ref.h"
#include "bale/slots.h"
#include "bale/store.h"
#include "pull/pull_private.h"

#define DEFAULT_PARALLEL 4
/* Images resolved at once, then written to the spill: what bounds the pull's memory. */
#define RESOLVE_BATCH 128

typedef struct registry_entry {
	bale_registry *reg;
	struct registry_entry *next;
} registry_entry;

struct bale_pull {
	bale_pull_options opts;
	bale_platform_set *host_platforms; /* used when opts.platforms is NULL */
	registry_entry *registries;
	/* Every image asked for, by its normalized reference; once resolved, where it lies in
	 * the spill (pull/pull_private.h). */
	struct pulled {
		char *ref;
		pull_spilled at;
		pull_attachment *attach; /* for an attachment of another image (ref NULL) */
		bool resolved;           /* in the spill at `at` */
		/* the platforms asked for it (bale_pull_want), else the run's */
		const bale_platform_set *platforms;
		const char *rule; /* what chose it (bale_pull_want), or NULL */
	} * images;
	size_t n_images;
	size_t n_failed; /* references the last resolve_all could not resolve */
	/* Platforms asked for one image (bale_pull_want): its normalized reference and set. */
	struct want {
		char *ref;
		bale_platform_set *platforms; /* NULL: the run's */
		char *rule;                   /* what chose it (an image set's rule), or NULL */
	} * wants;
	size_t n_wants;
	bale_slots *by_ref;     /* images by ref */
	pull_spill *spill;      /* made on the first resolution */
	bale_sink *source;      /* a store already holding some content: read before fetching */
	size_t first_unfetched; /* images resolved but not yet fetched start here */
	/* Where verified indexes, manifests and configs wait (opts.keep, or own_keep, a
	 * scratch store made on first use): their bytes never stay in memory. Resolver
	 * threads write it at once, hence the lock. */
	pthread_mutex_t keep_mu;
	pull_tags *tags; /* the repositories' tag listings, for attachments */
	bale_sink *keep;
	bale_sink *own_keep;
};

int bale_pull_new(bale_pull **out, const bale_pull_options *opts, bale_error **err)
{
	bale_pull *p = calloc(1, sizeof(*p));
	if (!p)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	p->opts = *opts;
	p->keep = opts->keep;
	pthread_mutex_init(&p->keep_mu, NULL);
	if (!p->opts.registry.log)
		p->opts.registry.log = opts->log;
	int rc = opts->referrers ? pull_tags_new(&p->tags, err) : 0;
	if (rc == 0 && !opts->platforms) {
		rc = bale_platform_set_parse(&p->host_platforms, NULL, err);
		p->opts.platforms = p->host_platforms;
	}
	if (rc < 0) {
		bale_pull_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* Transfers (and resolutions) at once: --jobs, or the default. */
static int jobs(const bale_pull *p)
{
	return p->opts.max_parallel > 0 ? p->opts.max_parallel : DEFAULT_PARALLEL;
}

static void registries_free(registry_entry *list)
{
	for (registry_entry *e = list, *next; e; e = next) {
		next = e->next;
		bale_registry_free(e->reg);
		free(e);
	}
}

void bale_pull_free(bale_pull *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_images; i++) {
		free(p->images[i].ref);
		free(p->images[i].attach);
	}
	free(p->images);
	bale_slots_free(p->by_ref);
	pull_spill_free(p->spill);
	registries_free(p->registries);
	bale_platform_set_free(p->host_platforms);
	bale_sink_free(p->own_keep); /* a scratch store: its directory goes with it */
	pthread_mutex_destroy(&p->keep_mu);
	pull_tags_free(p->tags);
	for (size_t i = 0; i < p->n_wants; i++) {
		free(p->wants[i].ref);
		bale_platform_set_free(p->wants[i].platforms);
		free(p->wants[i].rule);
	}
	free(p->wants);
	free(p);
}

int bale_pull_want(bale_pull *p, const char *text, const char *platforms, const char *rule,
                   bale_error **err)
{
	bale_ref *ref = NULL;
	bale_platform_set *set = NULL;
	int rc = bale_ref_parse(&ref, text, err);
	if (rc == 0 && platforms)
		rc = bale_platform_set_parse(&set, platforms, err);
	struct want *grown = rc == 0 ? realloc(p->wants, (p->n_wants + 1) * sizeof(*grown)) : NULL;
	char *name = grown ? strdup(bale_ref_string(ref)) : NULL;
	char *why = rule && name ? strdup(rule) : NULL;
	if (grown)
		p->wants = grown;
	if (rc == 0 && (!name || (rule && !why))) {
		free(name);
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	if (rc == 0) {
		p->wants[p->n_wants++] = (struct want){name, set, why};
		set = NULL;
	} else {
		free(why);
	}
	bale_platform_set_free(set);
	bale_ref_free(ref);
	return rc;
}

/* The platforms asked for the image named ref (normalized): its own, else the run's. */
static const bale_platform_set *wanted_platforms(const bale_pull *p, const char *ref)
{
	for (size_t i = p->n_wants; i-- > 0;) /* the last word wins */
		if (p->wants[i].platforms && strcmp(p->wants[i].ref, ref) == 0)
			return p->wants[i].platforms;
	return p->opts.platforms;
}

/* The rule that chose the image named ref, or NULL. */
static const char *wanted_rule(const bale_pull *p, const char *ref)
{
	for (size_t i = p->n_wants; i-- > 0;)
		if (p->wants[i].rule && strcmp(p->wants[i].ref, ref) == 0)
			return p->wants[i].rule;
	return NULL;
}

size_t bale_pull_rule_count(const bale_pull *p)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n_images; i++)
		n += p->images[i].rule != NULL;
	return n;
}

/* The keeper, made on first use when the caller gave none. Call with keep_mu held. */
static int keeper_locked(bale_pull *p, bale_sink **out, bale_error **err)
{
	if (!p->keep) {
		int rc = bale_store_scratch_open(&p->own_keep, err);
		if (rc < 0)
			return rc;
		p->keep = p->own_keep;
	}
	*out = p->keep;
	return 0;
}

static int keeper(bale_pull *p, bale_sink **out, bale_error **err)
{
	pthread_mutex_lock(&p->keep_mu);
	int rc = keeper_locked(p, out, err);
	pthread_mutex_unlock(&p->keep_mu);
	return rc;
}

/* Frees a buffer of manifest or config bytes: public content, so not wiped first (as
 * bale_buf_free wipes what may be a secret), which spares touching megabytes of pages. */
static void drop_public(bale_buf *b)
{
	free(bale_buf_detach(b, NULL));
}

/* Writes a verified blob (without asking whether it is there: callers did). */
static int put_blob(bale_sink *sink, const bale_descriptor *desc, const bale_buf *bytes,
                    bale_error **err)
{
	bale_sink_blob *blob = NULL;
	int rc = bale_sink_blob_open(sink, desc, &blob, err);
	if (rc < 0)
		return rc;
	if ((rc = bale_sink_blob_write(sink, blob, bytes->data, bytes->len, err)) < 0) {
		bale_sink_blob_abort(sink, blob);
		return rc;
	}
	return bale_sink_blob_commit(sink, blob, err);
}

/* Keeps verified bytes until they are needed (once per digest). */
static int keep_bytes(bale_pull *p, const bale_descriptor *desc, const bale_buf *bytes,
                      bale_error **err)
{
	bale_sink *keep = NULL;
	bool have = false;
	pthread_mutex_lock(&p->keep_mu);
	int rc = keeper_locked(p, &keep, err);
	if (rc == 0 && (rc = bale_sink_has_blob(keep, desc, &have, err)) == 0 && !have)
		rc = put_blob(keep, desc, bytes, err);
	pthread_mutex_unlock(&p->keep_mu);
	return rc;
}

/* Verified bytes the pull kept, else those the source holds (then kept as well, so that
 * everything resolved can be read back from one place). BALE_ENOTFOUND, err untouched,
 * when neither has them. */
static int find_bytes(bale_pull *p, const bale_descriptor *desc, bale_buf *out, bale_error **err)
{
	bale_sink *keep = NULL;
	pthread_mutex_lock(&p->keep_mu);
	int rc = keeper_locked(p, &keep, err);
	if (rc == 0)
		rc = bale_sink_read(keep, desc, out, err);
	pthread_mutex_unlock(&p->keep_mu);
	if (rc != BALE_ENOTFOUND || !p->source || p->source == keep)
		return rc;
	if ((rc = bale_sink_read(p->source, desc, out, err)) == 0)
		rc = keep_bytes(p, desc, out, err);
	return rc;
}

int bale_pull_read(bale_pull *p, const bale_descriptor *desc, bale_buf *out, bale_error **err)
{
	int rc = find_bytes(p, desc, out, err);
	if (rc == BALE_ENOTFOUND)
		bale_error_set(err, rc, "%s: not among the blobs this pull resolved",
		               desc->digest.str);
	return rc;
}

/* Copies a kept blob into sink unless it is there already. */
static int copy_kept(bale_pull *p, bale_sink *sink, const bale_descriptor *desc, bale_error **err)
{
	bool have = false;
	bale_buf bytes;
	int rc = bale_sink_has_blob(sink, desc, &have, err);
	if (rc < 0 || have)
		return rc;
	bale_buf_init(&bytes, BALE_CAP_CONFIG, "manifest or config");
	if ((rc = bale_pull_read(p, desc, &bytes, err)) == 0)
		rc = put_blob(sink, desc, &bytes, err);
	drop_public(&bytes);
	return rc;
}

size_t bale_pull_image_count(const bale_pull *p)
{
	return p->n_images;
}

int bale_pull_image_store(bale_pull *p, size_t i, const bale_image *img, bale_error **err)
{
	/* appended anew: the spill's records are never rewritten in place */
	return pull_spill_put(p->spill, img, &p->images[i].at, err);
}

bool bale_pull_image_resolved(const bale_pull *p, size_t i)
{
	return p->images[i].resolved;
}

size_t bale_pull_failed_count(const bale_pull *p)
{
	return p->n_failed;
}

size_t bale_pull_attachment_count(const bale_pull *p)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n_images; i++)
		n += p->images[i].attach != NULL;
	return n;
}

int bale_pull_image_load(bale_pull *p, size_t i, bale_image **out, bale_error **err)
{
	return pull_spill_get(p->spill, &p->images[i].at, out, err);
}

/* The client for a domain from list (a resolver thread's own, or the pull's), opened on
 * first use: a client and its tokens belong to one thread. */
static int registry_in(bale_pull *p, registry_entry **list, const char *domain, bale_registry **out,
                       bale_error **err)
{
	for (registry_entry *e = *list; e; e = e->next)
		if (strcmp(bale_registry_domain(e->reg), domain) == 0) {
			*out = e->reg;
			return 0;
		}
	registry_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	int rc = bale_registry_open(&e->reg, domain, &p->opts.registry, err);
	if (rc < 0) {
		free(e);
		return rc;
	}
	e->next = *list;
	*list = e;
	*out = e->reg;
	return 0;
}

static int registry_for(bale_pull *p, const char *domain, bale_registry **out, bale_error **err)
{
	return registry_in(p, &p->registries, domain, out, err);
}

int bale_pull_tags(bale_pull *p, const char *repository, char ***tags, size_t *n, bale_error **err)
{
	bale_ref *ref = NULL;
	bale_registry *reg = NULL;
	int rc = bale_ref_parse(&ref, repository, err);
	if (rc == 0 && (rc = registry_for(p, bale_ref_domain(ref), &reg, err)) == 0)
		rc = bale_registry_tags(reg, bale_ref_path(ref), tags, n, err);
	bale_ref_free(ref);
	return rc;
}

int bale_pull_digest(bale_pull *p, const char *text, char digest[80], bale_error **err)
{
	bale_ref *ref = NULL;
	bale_registry *reg = NULL;
	bale_registry_head head;
	digest[0] = '\0';
	int rc = bale_ref_parse(&ref, text, err);
	if (rc == 0 && (rc = registry_for(p, bale_ref_domain(ref), &reg, err)) == 0 &&
	    (rc = bale_registry_head_manifest(reg, bale_ref_path(ref), bale_ref_lookup(ref), &head,
	                                      err)) == 0) {
		if (!head.found)
			rc = bale_error_set(err, BALE_ENOTFOUND, "%s: not found", text);
		else if (head.has_digest)
			snprintf(digest, 80, "%s", head.digest.str);
	}
	bale_ref_free(ref);
	return rc;
}

/* The platform and creation time of a verified config. An artifact's config is whatever
 * its author chose (often the two bytes "{}"): it is carried, not read. */
static int take_config(const bale_image *img, bale_image_manifest *m, const bale_buf *cfg,
                       bale_error **err)
{
	bale_platform platform;
	if (!bale_manifest_config_is_image(m->config.media_type))
		return 0;
	int rc = bale_manifest_parse_config(&platform, m->created, cfg->data, cfg->len, err);
	if (rc < 0)
		return bale_error_wrap(err, "%s: config %s", img->ref, m->config.digest.str);
	if (!m->has_platform && platform.os[0]) {
		m->platform = platform;
		m->has_platform = true;
	}
	return 0;
}

/* A single-platform image for another platform than the ones asked for is refused, as an
 * index without them is: carried, it would fail only when a pod starts on the node. Its
 * platform is its config's; a manifest whose config says none (an artifact) is carried. */
static int check_single_platform(const bale_platform_set *want, const bale_image *img,
                                 const bale_image_manifest *m, bale_error **err)
{
	char have[BALE_PLATFORM_TEXT], one[BALE_PLATFORM_TEXT];
	bale_buf asked;
	if (bale_manifest_type_is_index(img->root.media_type) || !m->has_platform || m->artifact ||
	    img->attachment_kind[0] || bale_platform_set_is_all(want) ||
	    bale_platform_set_contains(want, &m->platform))
		return 0;
	bale_buf_init(&asked, 4096, "platforms");
	for (size_t i = 0; i < bale_platform_set_count(want); i++)
		bale_buf_appendf(
		    &asked, NULL, "%s%s", i ? ", " : "",
		    bale_platform_format(bale_platform_set_at(want, i), one, sizeof(one)));
	int rc = bale_error_set(err, BALE_ENOTFOUND,
	                        "%s: a single-platform image for %s only, not for %s; name that "
	                        "platform with --platform, or leave the image out",
	                        img->ref, bale_platform_format(&m->platform, have, sizeof(have)),
	                        asked.data ? asked.data : "?");
	bale_buf_free(&asked);
	return rc;
}

/* The layer of a cosign signature: its payload, which the signature signs. */
#define SIMPLE_SIGNING "application/vnd.dev.cosign.simplesigning.v1+json"

/* Every config of the given images: those neither kept nor in the source are fetched in
 * one batch of parallel transfers into the keeper (once their sizes are known to fit),
 * then each is read back on its own for its platform and creation time. */
static int fetch_configs(bale_pull *p, bale_image **images, size_t n, bale_error **err)
{
	bale_buf cfg;
	bale_buf_init(&cfg, BALE_CAP_CONFIG, "image config");
	bale_sink *keep = NULL;
	bale_registry_fetch *f = NULL;
	uint64_t need = 0;
	int rc = 0;
	if ((rc = keeper(p, &keep, err)) < 0 ||
	    (rc = bale_registry_fetch_new(&f, jobs(p), NULL, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		bale_registry *reg = NULL;
		if ((rc = registry_for(p, images[i]->domain, &reg, err)) < 0)
			goto cleanup;
		for (size_t j = 0; j < images[i]->n_manifests; j++) {
			bale_image_manifest *m = &images[i]->manifests[j];
			if (!m->selected)
				continue;
			if (m->config.size > (int64_t)BALE_CAP_CONFIG) {
				rc = bale_error_set(err, BALE_EVERIFY,
				                    "%s: config %s: %lld bytes is over the limit",
				                    images[i]->ref, m->config.digest.str,
				                    (long long)m->config.size);
				goto cleanup;
			}
			rc = find_bytes(p, &m->config, &cfg, err);
			if (rc == BALE_ENOTFOUND) {
				need += (uint64_t)m->config.size;
				rc = bale_registry_fetch_add(f, reg, images[i]->repository,
				                             &m->config, keep, err);
			}
			/* A signature's payloads (some 250 bytes each) are kept as configs are: a
			 * site policy reads them before the bundle is written (bale export
			 * --policy). */
			for (size_t k = 0;
			     rc == 0 && k < m->n_layers &&
			     strcmp(images[i]->attachment_kind, "cosign-signature") == 0;
			     k++)
				if (strcmp(m->layers[k].media_type, SIMPLE_SIGNING) == 0 &&
				    m->layers[k].size <= (int64_t)BALE_CAP_CONFIG &&
				    (rc = find_bytes(p, &m->layers[k], &cfg, err)) ==
				        BALE_ENOTFOUND) {
					need += (uint64_t)m->layers[k].size;
					rc = bale_registry_fetch_add(f, reg, images[i]->repository,
					                             &m->layers[k], keep, err);
				}
			if (rc < 0)
				goto cleanup;
		}
	}
	if ((rc = bale_sink_check_space(keep, need, "image configs", err)) < 0 ||
	    (rc = bale_registry_fetch_run(f, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < images[i]->n_manifests; j++) {
			bale_image_manifest *m = &images[i]->manifests[j];
			if (!m->selected)
				continue;
			if ((rc = bale_pull_read(p, &m->config, &cfg, err)) < 0 ||
			    (rc = take_config(images[i], m, &cfg, err)) < 0)
				goto cleanup;
		}
cleanup:
	drop_public(&cfg);
	bale_registry_fetch_free(f);
	return rc;
}

/* The manifest reader gives each list room for every layer; an image keeps only what it
 * uses for the whole run: no foreign list when there is none, no positions when they are
 * 0, 1, ... (most images: thousands of them hold a few hundred bytes each less). */
static void trim_layers(bale_image_manifest *m)
{
	bool in_order = true;
	for (size_t i = 0; i < m->n_layers && in_order; i++)
		in_order = m->positions[i] == i;
	if (in_order) {
		free(m->positions);
		m->positions = NULL;
	}
	if (!m->n_foreign) {
		free(m->foreign);
		free(m->foreign_positions);
		m->foreign = NULL;
		m->foreign_positions = NULL;
	}
	bale_descriptor *layers =
	    m->n_layers < m->n_layers + m->n_foreign
	        ? realloc(m->layers, (m->n_layers ? m->n_layers : 1) * sizeof(*layers))
	        : NULL;
	if (layers) /* a shrink that fails leaves the larger list, which works as well */
		m->layers = layers;
}

/* config, layers and artifact fields of an image manifest from its verified bytes. */
static int parse_manifest(bale_pull *p, const bale_image *img, bale_image_manifest *m,
                          const bale_buf *bytes, bale_error **err)
{
	bale_manifest_image mi;
	int rc = bale_manifest_read_image(&mi, bytes->data, bytes->len, err);
	if (rc < 0)
		return bale_error_wrap(err, "%s: manifest %s", img->ref, m->desc.digest.str);
	free(m->layers);
	free(m->positions);
	free(m->foreign);
	free(m->foreign_positions);
	m->config = mi.config;
	m->layers = mi.layers;
	m->positions = mi.positions;
	m->n_layers = mi.n_layers;
	m->foreign = mi.foreign;
	m->foreign_positions = mi.foreign_positions;
	m->n_foreign = mi.n_foreign;
	trim_layers(m);
	snprintf(m->artifact_type, sizeof(m->artifact_type), "%s", mi.artifact_type);
	if (mi.has_subject) {
		m->has_subject = true;
		m->subject = mi.subject;
	}
	/* An entry with a platform may still be an artifact (a signature, an SBOM): it is
	 * carried as its platform says, and shown as what it is. */
	m->artifact = m->artifact || bale_manifest_image_is_artifact(&mi);
	m->foreign_carried = false;
	if (mi.n_foreign && !p->opts.foreign_layers)
		bale_log_printf(p->opts.log, BALE_LOG_WARN,
		                "%s: %zu foreign layer(s) left to the runtime to fetch", img->ref,
		                mi.n_foreign);
	if (!mi.n_foreign || !p->opts.foreign_layers)
		return 0;
	/* Each needs a URL bale can fetch, known before the bundle is started. */
	for (size_t i = 0; i < m->n_foreign; i++) {
		char **urls = NULL;
		size_t n = 0, k = 0;
		if ((rc = bale_manifest_layer_urls(&urls, &n, bytes->data, bytes->len,
		                                   m->foreign_positions[i], err)) < 0)
			return bale_error_wrap(err, "%s: manifest %s", img->ref,
			                       m->desc.digest.str);
		while (k < n && !bale_registry_url_fetchable(urls[k]))
			k++;
		if (k == n)
			rc = bale_error_set(
			    err, BALE_EFORMAT,
			    "%s: foreign layer %s: none of its urls is http or https "
			    "(%.300s); bale fetches foreign layers over http and "
			    "https only",
			    img->ref, m->foreign[i].digest.str, n ? urls[0] : "none");
		bale_manifest_urls_free(urls, n);
		if (rc < 0)
			return rc;
	}
	m->foreign_carried = true;
	return 0;
}

/* One child manifest of an index: kept or held already, else fetched and kept; only its
 * descriptors stay in memory. */
static int load_manifest(bale_pull *p, bale_registry *reg, bale_image *img, bale_image_manifest *m,
                         bale_error **err)
{
	int rc = 0;
	bale_buf body;
	char media_type[128];
	bale_digest digest;
	bale_buf_init(&body, BALE_CAP_MANIFEST, "manifest");
	if (m->desc.size > (int64_t)BALE_CAP_MANIFEST) {
		rc = bale_error_set(err, BALE_EVERIFY,
		                    "%s: manifest %s declares %lld bytes, over the %u byte limit "
		                    "for a manifest",
		                    img->ref, m->desc.digest.str, (long long)m->desc.size,
		                    BALE_CAP_MANIFEST);
		goto cleanup;
	}
	/* A child manifest kept or held already, verified, needs no request. */
	rc = bale_manifest_type_is_manifest(m->desc.media_type)
	         ? find_bytes(p, &m->desc, &body, err)
	         : BALE_ENOTFOUND;
	if (rc == BALE_ENOTFOUND) {
		rc = bale_registry_get_manifest(reg, img->repository, m->desc.digest.str, &body,
		                                media_type, &digest, err);
		if (rc < 0)
			goto cleanup;
		if ((int64_t)body.len != m->desc.size) {
			rc = bale_error_set(
			    err, BALE_EVERIFY, "%s: manifest %s is %zu bytes, the index says %lld",
			    img->ref, m->desc.digest.str, body.len, (long long)m->desc.size);
			goto cleanup;
		}
		if (!bale_manifest_type_is_manifest(media_type)) {
			rc = bale_error_set(err, BALE_EVERIFY,
			                    "%s: %s is a %s, but index %s lists it as \"%s\"",
			                    img->ref, m->desc.digest.str, media_type, m->parent.str,
			                    m->desc.media_type);
			goto cleanup;
		}
		if ((rc = parse_manifest(p, img, m, &body, err)) < 0 ||
		    (rc = keep_bytes(p, &m->desc, &body, err)) < 0)
			goto cleanup;
	} else if (rc == 0) {
		rc = parse_manifest(p, img, m, &body, err);
	}
cleanup:
	drop_public(&body);
	return rc;
}

/* The bytes of a child index: kept or held already, else fetched, checked against its
 * entry and kept. */
static int load_index(bale_pull *p, bale_registry *reg, const bale_image *img,
                      const bale_image_index *x, bale_buf *body, bale_error **err)
{
	char media_type[128];
	bale_digest digest;
	int rc = find_bytes(p, &x->desc, body, err);
	if (rc != BALE_ENOTFOUND)
		return rc;
	if (x->desc.size > (int64_t)BALE_CAP_MANIFEST)
		return bale_error_set(
		    err, BALE_EVERIFY,
		    "%s: index %s declares %lld bytes, over the %u byte limit for "
		    "a manifest",
		    img->ref, x->desc.digest.str, (long long)x->desc.size, BALE_CAP_MANIFEST);
	if ((rc = bale_registry_get_manifest(reg, img->repository, x->desc.digest.str, body,
	                                     media_type, &digest, err)) < 0)
		return rc;
	if ((int64_t)body->len != x->desc.size)
		return bale_error_set(
		    err, BALE_EVERIFY, "%s: index %s is %zu bytes, index %s says %lld", img->ref,
		    x->desc.digest.str, body->len, x->parent.str, (long long)x->desc.size);
	if (!bale_manifest_type_is_index(media_type))
		return bale_error_set(
		    err, BALE_EVERIFY, "%s: %s is a %s, but index %s lists it as \"%s\"", img->ref,
		    x->desc.digest.str, media_type, x->parent.str, x->desc.media_type);
	return keep_bytes(p, &x->desc, body, err);
}

/* The entries of an index (its verified bytes) into img: manifests in their order, and
 * each child index fetched, kept byte for byte and walked in its place, down to
 * BALE_MANIFEST_MAX_DEPTH levels below the root. */
static int walk_index(bale_pull *p, bale_registry *reg, bale_image *img, const bale_digest *self,
                      const bale_buf *bytes, size_t depth, bale_error **err)
{
	bale_index_entry *entries = NULL;
	size_t n = 0;
	bale_buf child;
	bale_buf_init(&child, BALE_CAP_MANIFEST, "index");
	int rc = bale_manifest_parse_index(&entries, &n, bytes->data, bytes->len, err);
	if (rc < 0) {
		bale_error_wrap(err, "%s: index %s", img->ref, self->str);
		goto cleanup;
	}
	bale_image_manifest *more =
	    realloc(img->manifests, (img->n_manifests + n + 1) * sizeof(*more));
	if (!more) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	img->manifests = more;
	for (size_t i = 0; i < n; i++) {
		const bale_index_entry *e = &entries[i];
		if (!bale_manifest_type_is_index(e->desc.media_type)) {
			bale_image_manifest *m = &img->manifests[img->n_manifests++];
			memset(m, 0, sizeof(*m));
			m->desc = e->desc;
			m->has_platform = e->has_platform;
			m->platform = e->platform;
			m->artifact = e->artifact;
			m->has_subject = e->has_subject;
			m->subject = e->subject;
			m->parent = *self;
			m->position = i;
			continue;
		}
		if (depth + 1 > BALE_MANIFEST_MAX_DEPTH) {
			rc =
			    bale_error_set(err, BALE_EVERIFY,
			                   "%s: index %s lists index %s %zu levels below the root; "
			                   "bale walks indexes %d levels deep at most",
			                   img->ref, self->str, e->desc.digest.str, depth + 1,
			                   BALE_MANIFEST_MAX_DEPTH);
			goto cleanup;
		}
		bale_image_index *grown =
		    realloc(img->indexes, (img->n_indexes + 1) * sizeof(*grown));
		if (!grown) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
		img->indexes = grown;
		bale_image_index *x = &img->indexes[img->n_indexes++];
		*x = (bale_image_index){.desc = e->desc,
		                        .has_platform = e->has_platform,
		                        .platform = e->platform,
		                        .parent = *self,
		                        .position = i,
		                        .depth = depth + 1};
		bale_digest digest = x->desc.digest;
		if ((rc = load_index(p, reg, img, x, &child, err)) < 0 ||
		    (rc = walk_index(p, reg, img, &digest, &child, depth + 1, err)) < 0)
			goto cleanup;
		drop_public(&child);
		bale_buf_init(&child, BALE_CAP_MANIFEST, "index");
		/* the walk below moved the manifests: room again for this index's entries */
		more = realloc(img->manifests, (img->n_manifests + n + 1) * sizeof(*more));
		if (!more) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
		img->manifests = more;
	}
cleanup:
	drop_public(&child);
	free(entries);
	return rc;
}

/* An attachment is carried whole: every manifest and index under its root. */
static void select_whole(bale_image *img)
{
	for (size_t i = 0; i < img->n_manifests; i++) {
		img->manifests[i].selected = true;
		img->manifests[i].artifact = true;
	}
	for (size_t i = 0; i < img->n_indexes; i++)
		img->indexes[i].selected = true;
}

/* found: where the attachments of an image asked for go (NULL: none are looked for). */
static int resolve_image(bale_pull *p, registry_entry **registries, bale_image *img,
                         const bale_platform_set *want, pull_found *found, bale_error **err)
{
	int rc = 0;
	bale_ref *ref = NULL;
	bale_registry *reg = NULL;
	bale_buf body;
	bale_buf_init(&body, BALE_CAP_MANIFEST, "manifest");
	if ((rc = bale_ref_parse(&ref, img->ref, err)) < 0)
		goto cleanup;
	free(img->ref);
	img->ref = strdup(bale_ref_string(ref));
	img->domain = strdup(bale_ref_domain(ref));
	img->repository = strdup(bale_ref_path(ref));
	if (!img->ref || !img->domain || !img->repository) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = registry_in(p, registries, img->domain, &reg, err)) < 0)
		goto cleanup;
	if ((rc = bale_registry_get_manifest(reg, img->repository, bale_ref_lookup(ref), &body,
	                                     img->root.media_type, &img->root.digest, err)) < 0)
		goto cleanup;
	img->root.size = (int64_t)body.len;
	if (bale_manifest_type_is_index(img->root.media_type)) {
		if ((rc = walk_index(p, reg, img, &img->root.digest, &body, 0, err)) < 0)
			goto cleanup;
		if (img->attachment_kind[0])
			select_whole(img);
		else if ((rc = bale_image_select(img, want, err)) < 0)
			goto cleanup;
		if ((rc = keep_bytes(p, &img->root, &body, err)) < 0)
			goto cleanup;
		drop_public(&body);
		/* The manifests to fetch must fit where they are kept, before the first. */
		uint64_t need = 0;
		size_t count = 0;
		bale_sink *keep = NULL;
		char what[700];
		for (size_t i = 0; i < img->n_manifests; i++)
			if (img->manifests[i].selected && img->manifests[i].desc.size > 0) {
				need += (uint64_t)img->manifests[i].desc.size;
				count++;
			}
		snprintf(what, sizeof(what), "%s: its %zu manifest%s", img->ref, count,
		         count == 1 ? "" : "s");
		if ((rc = keeper(p, &keep, err)) < 0 ||
		    (rc = bale_sink_check_space(keep, need, what, err)) < 0)
			goto cleanup;
		/* One at a time: their bytes are kept on disk as they come, so memory does not
		 * grow with the number or the size of an index's children. */
		for (size_t i = 0; i < img->n_manifests; i++)
			if (img->manifests[i].selected &&
			    (rc = load_manifest(p, reg, img, &img->manifests[i], err)) < 0)
				goto cleanup;
		if (!img->attachment_kind[0])
			bale_image_select_loaded(img, want);
	} else {
		/* A single manifest is selected here; its platform, its config's, is held to the
		 * ones asked for once the config is read (check_single_platform). */
		if (!(img->manifests = calloc(1, sizeof(*img->manifests)))) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
		img->n_manifests = 1;
		img->manifests[0].desc = img->root;
		img->manifests[0].selected = true;
		if ((rc = parse_manifest(p, img, &img->manifests[0], &body, err)) < 0 ||
		    (rc = keep_bytes(p, &img->root, &body, err)) < 0)
			goto cleanup;
		img->manifests[0].artifact |= img->attachment_kind[0] != '\0';
	}
	if (found && !img->attachment_kind[0] && p->opts.referrers)
		rc = pull_attachments_find(reg, p->tags, img, p->opts.referrers, &found->list,
		                           &found->n, err);
cleanup:
	drop_public(&body);
	bale_ref_free(ref);
	return rc;
}

static const char *pulled_ref(const void *items, size_t pos)
{
	return ((const struct pulled *)items)[pos].ref;
}

/* A new image of the pull, named by its normalized reference, not resolved yet. A
 * reference already among the images from first on (in any spelling: "nginx",
 * "docker.io/library/nginx:latest") is pulled once: nothing is added. */
static int new_image(bale_pull *p, size_t first, const char *text, bale_error **err)
{
	bale_ref *ref = NULL;
	int rc = bale_ref_parse(&ref, text, err);
	if (rc < 0 || (!p->by_ref && (rc = bale_slots_new(&p->by_ref, pulled_ref, err)) < 0))
		goto cleanup;
	size_t seen = bale_slots_find(p->by_ref, p->images, bale_ref_string(ref));
	if (seen != SIZE_MAX && seen >= first)
		goto cleanup;
	struct pulled *grown = realloc(p->images, (p->n_images + 1) * sizeof(*grown));
	if (grown)
		p->images = grown;
	char *name = grown ? strdup(bale_ref_string(ref)) : NULL;
	if (!name) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	p->images[p->n_images] = (struct pulled){
	    .ref = name, .platforms = wanted_platforms(p, name), .rule = wanted_rule(p, name)};
	if ((rc = bale_slots_put(p->by_ref, p->images, p->n_images, err)) < 0)
		free(name);
	else
		p->n_images++;
cleanup:
	bale_ref_free(ref);
	return rc;
}

/* A new image named ref, not resolved yet: the caller's. */
static int image_named(const char *ref, bale_image **out, bale_error **err)
{
	bale_image *img = calloc(1, sizeof(*img));
	if (!img || !(img->ref = strdup(ref))) {
		free(img);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	*out = img;
	return 0;
}

int bale_pull_resolve(bale_pull *p, const char *text, bale_image **out, bale_error **err)
{
	bale_ref *ref = NULL;
	bale_image *img = NULL;
	int rc = bale_ref_parse(&ref, text, err);
	if (rc == 0 && (rc = image_named(bale_ref_string(ref), &img, err)) == 0 &&
	    (rc = resolve_image(p, &p->registries, img, wanted_platforms(p, img->ref), NULL,
	                        err)) == 0 &&
	    (rc = fetch_configs(p, &img, 1, err)) == 0) {
		*out = img;
		img = NULL;
	}
	bale_image_free(img);
	bale_ref_free(ref);
	return rc;
}

/* Manifests and the root, children first, once their blobs are in; read back from where
 * the pull keeps them, one at a time. */
static int write_image(bale_pull *p, void *payload, const bale_image *img, bale_error **err)
{
	bale_sink *sink = payload;
	int rc = 0;
	bool index = bale_manifest_type_is_index(img->root.media_type);
	for (size_t i = 0; index && i < img->n_manifests && rc == 0; i++) {
		const bale_image_manifest *m = &img->manifests[i];
		if (m->selected && (rc = bale_sink_blob_for(sink, &m->desc, img->ref, err)) == 0)
			rc = copy_kept(p, sink, &m->desc, err);
	}
	/* Child indexes after what they list, deepest first (they are kept parents first). */
	for (size_t i = img->n_indexes; i-- > 0 && rc == 0;) {
		const bale_image_index *x = &img->indexes[i];
		if (x->selected && (rc = bale_sink_blob_for(sink, &x->desc, img->ref, err)) == 0)
			rc = copy_kept(p, sink, &x->desc, err);
	}
	if (rc == 0 && (rc = bale_sink_blob_for(sink, &img->root, img->ref, err)) == 0)
		rc = copy_kept(p, sink, &img->root, err);
	if (rc == 0)
		rc = bale_sink_set_name(sink, img->ref, &img->root, err);
	return rc < 0 ? bale_error_wrap(err, "%s", img->ref) : 0;
}

/* Resolving many images is mostly waiting on round trips: a few threads resolve them at
 * once, each with its own registry clients, taking the next image from a shared count. */
typedef struct resolver {
	bale_pull *p;
	bale_image **images;
	size_t n;
	atomic_size_t next;
	int *rcs;
	bale_error **errs;
	pull_found *found;                    /* each image's attachments */
	const bale_platform_set *const *want; /* each image's platforms */
} resolver;

typedef struct resolver_thread {
	resolver *r;
	registry_entry *registries;
	pthread_t thread;
	bool started;
} resolver_thread;

static void *resolver_main(void *arg)
{
	resolver_thread *t = arg;
	resolver *r = t->r;
	for (size_t i; (i = atomic_fetch_add(&r->next, 1)) < r->n;)
		r->rcs[i] = resolve_image(r->p, &t->registries, r->images[i], r->want[i],
		                          &r->found[i], &r->errs[i]);
	return NULL;
}

/* The references that failed to resolve, every one of them: a run names them all. */
typedef struct failures {
	size_t n;
	bale_error *first; /* returned as it is when it is the only one */
	bale_buf text;     /* "REF: why; REF: why" (an error is one line) */
} failures;

static void failed(failures *f, bale_error *e)
{
	bale_buf_appendf(&f->text, NULL, "%s%s", f->n ? "; " : "", bale_error_message(e));
	if (f->n++ == 0)
		f->first = e;
	else
		bale_error_free(e);
}

/* Resolves images, each of which succeeds (ok[i]) or is one of f's failures. */
static int resolve_images(bale_pull *p, bale_image **images, size_t n, bool *ok, failures *f,
                          pull_found *found, const bale_platform_set *const *want, bale_error **err)
{
	int rc = 0;
	size_t workers = (size_t)jobs(p) < n ? (size_t)jobs(p) : n;
	resolver r = {.p = p, .images = images, .n = n, .found = found, .want = want};
	resolver_thread *threads = calloc(workers ? workers : 1, sizeof(*threads));
	r.rcs = calloc(n ? n : 1, sizeof(*r.rcs));
	r.errs = calloc(n ? n : 1, sizeof(*r.errs));
	atomic_init(&r.next, 0);
	if (!threads || !r.rcs || !r.errs) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	/* The first thread uses the pull's own clients (this thread only waits meanwhile);
	 * a thread that cannot start leaves its share to the others. */
	threads[0].registries = p->registries;
	for (size_t k = 0; k < workers; k++) {
		threads[k].r = &r;
		threads[k].started =
		    pthread_create(&threads[k].thread, NULL, resolver_main, &threads[k]) == 0;
	}
	if (workers && !threads[0].started)
		resolver_main(&threads[0]);
	for (size_t k = 0; k < workers; k++)
		if (threads[k].started)
			pthread_join(threads[k].thread, NULL);
	p->registries = threads[0].registries;
	/* The other threads' tokens and credentials go to the pull's clients, which fetch
	 * the blobs next: nothing is asked of a token server or credential helper twice. */
	for (size_t k = 1; k < workers; k++)
		for (registry_entry *e = threads[k].registries; e; e = e->next) {
			bale_registry *mine = NULL;
			if (registry_for(p, bale_registry_domain(e->reg), &mine, NULL) == 0)
				bale_registry_adopt(mine, e->reg);
		}
	/* Failures in the order of the references, as one thread would have met them. */
	for (size_t i = 0; i < n; i++) {
		ok[i] = r.rcs[i] == 0;
		if (!ok[i]) {
			if (!r.errs[i]) /* err was NULL where it failed: say which one */
				bale_error_set(&r.errs[i], r.rcs[i], "%s: failed", images[i]->ref);
			failed(f, r.errs[i]);
			r.errs[i] = NULL;
		}
	}
cleanup:
	for (size_t k = 1; threads && k < workers; k++)
		registries_free(threads[k].registries);
	for (size_t i = 0; r.errs && i < n; i++)
		bale_error_free(r.errs[i]);
	free(r.errs);
	free(r.rcs);
	free(threads);
	return rc;
}

/* An attachment found for an image of the pull: one more image to resolve (once, however
 * many images it was found for), knowing what it is. */
static int add_attachment(bale_pull *p, const pull_attachment *a, bale_error **err)
{
	size_t before = p->n_images;
	int rc = new_image(p, p->first_unfetched, a->ref, err);
	if (rc < 0 || p->n_images == before)
		return rc;
	pull_attachment *copy = malloc(sizeof(*copy));
	if (!copy)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	*copy = *a;
	copy->ref = NULL; /* the pulled entry's own */
	p->images[before].attach = copy;
	return 0;
}

/* Images [at, at + n): resolved, their configs read, then written to the spill; the
 * attachments found for them join the images still to resolve. A reference that fails is
 * one of f's; what fails for all (memory, the spill, a config that cannot be fetched) is
 * returned. */
static int resolve_batch(bale_pull *p, size_t at, size_t n, failures *f, bale_error **err)
{
	bale_image *batch[RESOLVE_BATCH] = {0}, *good[RESOLVE_BATCH];
	pull_found found[RESOLVE_BATCH] = {0};
	const bale_platform_set *want[RESOLVE_BATCH];
	bool ok[RESOLVE_BATCH] = {false};
	size_t k = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const pull_attachment *a = p->images[at + i].attach;
		want[i] = p->images[at + i].platforms;
		rc = image_named(p->images[at + i].ref, &batch[i], err);
		if (rc == 0 && p->images[at + i].rule)
			snprintf(batch[i]->rule, sizeof(batch[i]->rule), "%s",
			         p->images[at + i].rule);
		if (rc == 0 && a) {
			snprintf(batch[i]->attachment_kind, sizeof(batch[i]->attachment_kind), "%s",
			         a->kind);
			snprintf(batch[i]->attachment_type, sizeof(batch[i]->attachment_type), "%s",
			         a->artifact_type);
			batch[i]->subject = a->subject;
		}
	}
	if (rc == 0)
		rc = resolve_images(p, batch, n, ok, f, found, want, err);
	for (size_t i = 0; i < n && rc == 0; i++)
		if (ok[i])
			good[k++] = batch[i];
	if (rc == 0)
		rc = fetch_configs(p, good, k, err);
	for (size_t i = 0; i < n && rc == 0; i++) {
		bale_error *why = NULL;
		for (size_t j = 0; ok[i] && j < batch[i]->n_manifests; j++)
			if (batch[i]->manifests[j].selected &&
			    check_single_platform(want[i], batch[i], &batch[i]->manifests[j],
			                          &why) < 0) {
				failed(f, why);
				ok[i] = false;
			}
		if (ok[i] &&
		    (rc = pull_spill_put(p->spill, batch[i], &p->images[at + i].at, err)) == 0)
			p->images[at + i].resolved = true;
		for (size_t j = 0; ok[i] && j < found[i].n && rc == 0; j++)
			rc = add_attachment(p, &found[i].list[j], err);
	}
	for (size_t i = 0; i < n; i++) {
		bale_image_free(batch[i]);
		pull_attachments_free(found[i].list, found[i].n);
	}
	return rc;
}

int bale_pull_resolve_all(bale_pull *p, const char *const *refs, size_t n, bale_sink *sink,
                          bale_error **err)
{
	int rc = 0;
	size_t first = p->n_images;
	p->source = sink;
	p->first_unfetched = first;
	/* Every reference parsed and named once before anything is asked of a registry. */
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = new_image(p, first, refs[i], err);
	if (rc == 0 && !p->spill)
		rc = pull_spill_new(&p->spill, err);
	failures f = {0};
	bale_buf_init(&f.text, 1u << 20, "failures");
	bale_progress phase = {.phase = "resolving references",
	                       .total = (int)(p->n_images - first)};
	const bale_log *log = p->opts.log;
	/* Attachments join the images as they are found: the batches run until none is left. */
	for (size_t at = first, batch; at < p->n_images && rc == 0; at += batch) {
		batch = p->n_images - at < RESOLVE_BATCH ? p->n_images - at : RESOLVE_BATCH;
		phase.total = (int)(p->n_images - first);
		if (log && log->progress)
			log->progress(log->payload, &phase);
		rc = resolve_batch(p, at, batch, &f, err);
		phase.done = (int)(at + batch - first);
	}
	phase.total = phase.done = (int)(p->n_images - first);
	if (log && log->progress && rc == 0)
		log->progress(log->payload, &phase);
	p->n_failed = f.n;
	if (rc == 0 && f.n == 1) { /* as it is */
		rc = bale_error_code(f.first);
		if (err)
			*err = f.first;
		f.first = NULL;
	} else if (rc == 0 && f.n) {
		rc = bale_error_set(err, bale_error_code(f.first),
		                    "%zu of %zu references failed: %s", f.n, p->n_images - first,
		                    f.text.data ? f.text.data : "");
	}
	bale_error_free(f.first);
	bale_buf_free(&f.text);
	p->source = NULL;
	return rc;
}

/* One step of a fetch, on one image; payload is the step's own. */
typedef int (*image_step)(bale_pull *p, void *payload, const bale_image *img, bale_error **err);

/* step on images [from, to), each read back from the spill in turn. */
static int each_image(bale_pull *p, size_t from, size_t to, image_step step, void *payload,
                      bale_error **err)
{
	int rc = 0;
	for (size_t i = from; i < to && rc == 0; i++) {
		bale_image *img = NULL;
		if ((rc = bale_pull_image_load(p, i, &img, err)) == 0)
			rc = step(p, payload, img, err);
		bale_image_free(img);
	}
	return rc;
}

/* A blob the sink lacks, counted toward the space it needs. */
typedef struct missing_blob {
	bale_digest digest;
	int64_t size;
} missing_blob;

typedef struct missing {
	bale_sink *sink;
	missing_blob *list;
	size_t n, alloc;
} missing;

static int by_digest(const void *a, const void *b)
{
	return strcmp(((const missing_blob *)a)->digest.str, ((const missing_blob *)b)->digest.str);
}

static int note_missing(missing *x, const bale_descriptor *desc, bale_error **err)
{
	bool have = false;
	int rc = bale_sink_has_blob(x->sink, desc, &have, err);
	if (rc < 0 || have)
		return rc;
	if (x->n == x->alloc) {
		size_t want = x->alloc ? x->alloc * 2 : 64;
		missing_blob *grown = realloc(x->list, want * sizeof(*grown));
		if (!grown)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		x->list = grown;
		x->alloc = want;
	}
	x->list[x->n++] = (missing_blob){.digest = desc->digest, .size = desc->size};
	return 0;
}

/* The blobs of an image that the sink lacks. */
static int note_image(bale_pull *p, void *payload, const bale_image *img, bale_error **err)
{
	missing *x = payload;
	int rc = note_missing(x, &img->root, err);
	(void)p;
	for (size_t j = 0; j < img->n_indexes && rc == 0; j++)
		if (img->indexes[j].selected)
			rc = note_missing(x, &img->indexes[j].desc, err);
	for (size_t j = 0; j < img->n_manifests && rc == 0; j++) {
		const bale_image_manifest *m = &img->manifests[j];
		if (!m->selected)
			continue;
		if (bale_manifest_type_is_index(img->root.media_type))
			rc = note_missing(x, &m->desc, err);
		if (rc == 0)
			rc = note_missing(x, &m->config, err);
		for (size_t k = 0; k < m->n_layers && rc == 0; k++)
			rc = note_missing(x, &m->layers[k], err);
		for (size_t k = 0; m->foreign_carried && k < m->n_foreign && rc == 0; k++)
			rc = note_missing(x, &m->foreign[k], err);
	}
	return rc;
}

/* Before any byte travels: what the sink lacks, each blob counted once, must fit in the
 * space it has (when it can tell). */
static int check_space(bale_pull *p, bale_sink *sink, size_t first, bale_error **err)
{
	missing x = {.sink = sink};
	size_t images = p->n_images - first;
	uint64_t need = 0;
	char what[64];
	if (!bale_sink_tells_space(sink))
		return 0;
	int rc = each_image(p, first, p->n_images, note_image, &x, err);
	missing_blob *list = x.list;
	size_t n = x.n;
	if (rc == 0 && n) {
		qsort(list, n, sizeof(*list), by_digest);
		for (size_t i = 0; i < n; i++)
			if (i == 0 || !bale_digest_equal(&list[i].digest, &list[i - 1].digest))
				need += (uint64_t)list[i].size;
		snprintf(what, sizeof(what), "the blobs of %zu image%s", images,
		         images == 1 ? "" : "s");
		rc = bale_sink_check_space(sink, need, what, err);
	}
	free(list);
	return rc;
}

/* The foreign layers an image carries, each from the urls its manifest names (read back
 * from where the pull keeps it), one at a time: they are not the registry's to serve. */
static int fetch_foreign(bale_pull *p, void *payload, const bale_image *img, bale_error **err)
{
	bale_sink *sink = payload;
	int rc = 0;
	bale_buf bytes;
	bale_buf_init(&bytes, BALE_CAP_MANIFEST, "manifest");
	for (size_t j = 0; j < img->n_manifests && rc == 0; j++) {
		const bale_image_manifest *m = &img->manifests[j];
		if (!m->selected || !m->foreign_carried)
			continue;
		drop_public(&bytes);
		bale_buf_init(&bytes, BALE_CAP_MANIFEST, "manifest");
		if ((rc = bale_pull_read(p, &m->desc, &bytes, err)) < 0)
			break;
		for (size_t k = 0; k < m->n_foreign && rc == 0; k++) {
			char **urls = NULL;
			size_t n = 0;
			bool have = false;
			if ((rc = bale_sink_blob_for(sink, &m->foreign[k], img->ref, err)) < 0 ||
			    (rc = bale_sink_has_blob(sink, &m->foreign[k], &have, err)) < 0 || have)
				continue; /* held already (a shared layer): nothing to fetch */
			if ((rc = bale_manifest_layer_urls(&urls, &n, bytes.data, bytes.len,
			                                   m->foreign_positions[k], err)) == 0)
				rc = bale_registry_fetch_url(&p->opts.registry,
				                             (const char *const *)urls, n,
				                             &m->foreign[k], sink, err);
			bale_manifest_urls_free(urls, n);
		}
	}
	drop_public(&bytes);
	return rc < 0 ? bale_error_wrap(err, "%s", img->ref) : 0;
}

typedef struct queue {
	bale_sink *sink;
	bale_registry_fetch *fetch;
} queue;

/* Queues the configs (copied from where the pull keeps them) and layers of an image. */
static int queue_image(bale_pull *p, void *payload, const bale_image *img, bale_error **err)
{
	queue *q = payload;
	bale_registry *reg = NULL;
	int rc = registry_for(p, img->domain, &reg, err);
	for (size_t j = 0; j < img->n_manifests && rc == 0; j++) {
		const bale_image_manifest *m = &img->manifests[j];
		if (!m->selected)
			continue;
		if ((rc = bale_sink_blob_for(q->sink, &m->config, img->ref, err)) < 0 ||
		    (rc = copy_kept(p, q->sink, &m->config, err)) < 0)
			return bale_error_wrap(err, "%s", img->ref);
		for (size_t k = 0; k < m->n_layers && rc == 0; k++)
			if ((rc = bale_sink_blob_for(q->sink, &m->layers[k], img->ref, err)) == 0)
				rc = bale_registry_fetch_add(q->fetch, reg, img->repository,
				                             &m->layers[k], q->sink, err);
	}
	return rc;
}

/* Images [from, to): their blobs, several at a time, then their foreign layers, then
 * their manifests and names. */
static int fetch_images(bale_pull *p, bale_sink *sink, size_t from, size_t to, bale_error **err)
{
	queue q = {.sink = sink};
	int rc = bale_registry_fetch_new(&q.fetch, jobs(p), p->opts.log, err);
	if (rc == 0 && (rc = each_image(p, from, to, queue_image, &q, err)) == 0)
		rc = bale_registry_fetch_run(q.fetch, err);
	if (rc == 0)
		rc = each_image(p, from, to, fetch_foreign, sink, err);
	if (rc == 0)
		rc = each_image(p, from, to, write_image, sink, err);
	bale_registry_fetch_free(q.fetch);
	return rc;
}

int bale_pull_fetch(bale_pull *p, bale_sink *sink, bale_error **err)
{
	int rc = 0;
	size_t first = p->first_unfetched;
	if ((rc = check_space(p, sink, first, err)) < 0)
		return rc;
	p->first_unfetched = p->n_images;
	/* A sink that unpacks (containerd) gets the images one after the other, each named
	 * as soon as its blobs are in: it unpacks one while the next one downloads. Others
	 * get every blob of every image at once. */
	if (bale_sink_traits(sink) & BALE_SINK_UNPACKS) {
		for (size_t i = first; i < p->n_images && rc == 0; i++)
			rc = fetch_images(p, sink, i, i + 1, err);
	} else {
		rc = fetch_images(p, sink, first, p->n_images, err);
	}
	return rc < 0 ? rc : bale_sink_commit(sink, err);
}

int bale_pull_images(bale_pull *p, const char *const *refs, size_t n, bale_sink *sink,
                     bale_error **err)
{
	int rc = bale_pull_resolve_all(p, refs, n, sink, err);
	return rc < 0 ? rc : bale_pull_fetch(p, sink, err);
}
