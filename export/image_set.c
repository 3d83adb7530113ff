/* Image sets (include/bale/image_set.h, docs/image-set.md): read strictly, resolved
 * through the caller's registry access. */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/buf.h"
#include "bale/digest.h"
#include "bale/image_set.h"
#include "bale/ref.h"
#include "bale/semver.h"
#include "bale/yaml.h"

#define IMAGE_SET_VERSION 1
/* "newest" at most, and entries at most: an image set is written by hand. */
#define NEWEST_MAX 1000
/* Tags whose images are read for their creation time (newest by created): each costs a
 * manifest and a config. */
#define CREATED_MAX 200
#define ENTRIES_MAX 10000

typedef struct entry {
	char *ref;        /* a plain reference, or NULL */
	char *repository; /* else the repository whose tags the rules choose */
	char *regex_text, *semver_text;
	regex_t regex;
	bool has_regex;
	bale_semver_range *semver;
	long newest;     /* 0: every tag the other rules choose */
	bool by_created; /* newest by the images' creation time, not by version */
	char **exclude;
	size_t n_exclude;
	char *platforms; /* "linux/amd64,linux/arm64", or NULL */
	int line;
} entry;

struct bale_image_set {
	entry *entries;
	size_t n;
};

bool bale_image_set_detect(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		if (p < end && *p != '\n' && *p != '#')
			return (size_t)(end - p) >= 9 && strncmp(p, "imageSet:", 9) == 0;
		while (p < end && *p != '\n')
			p++;
		p++;
	}
	return false;
}

void bale_image_set_free(bale_image_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++) {
		entry *e = &set->entries[i];
		free(e->ref);
		free(e->repository);
		free(e->regex_text);
		free(e->semver_text);
		if (e->has_regex)
			regfree(&e->regex);
		bale_semver_range_free(e->semver);
		for (size_t k = 0; k < e->n_exclude; k++)
			free(e->exclude[k]);
		free(e->exclude);
		free(e->platforms);
	}
	free(set->entries);
	free(set);
}

/* ---- reading ---- */

typedef struct reader {
	const char *name;
	yaml_document_t *doc;
	bale_error **err;
} reader;

static int fail(const reader *r, const yaml_node_t *n, const char *what)
{
	return bale_error_set(r->err, BALE_EUSAGE, "%s:%zu: %s", r->name,
	                      n ? n->start_mark.line + 1 : 1, what);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A mapping's pairs, each key one of allowed (NULL-terminated). */
static int only_keys(const reader *r, yaml_node_t *map, const char *const *allowed)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return fail(r, map, "want a mapping");
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(r->doc, p->key);
		const char *key = scalar(k);
		bool known = false;
		for (const char *const *a = allowed; key && *a && !known; a++)
			known = strcmp(*a, key) == 0;
		if (!known) {
			char what[160];
			snprintf(what, sizeof(what), "unknown field \"%.64s\"", key ? key : "?");
			return fail(r, k, what);
		}
	}
	return 0;
}

static yaml_node_t *get(const reader *r, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(yaml_document_get_node(r->doc, p->key));
		if (k && strcmp(k, key) == 0)
			return yaml_document_get_node(r->doc, p->value);
	}
	return NULL;
}

static int text_of(const reader *r, yaml_node_t *n, const char *what, char **out)
{
	char msg[96];
	if (!scalar(n) || !*scalar(n)) {
		snprintf(msg, sizeof(msg), "%s: want a text", what);
		return fail(r, n, msg);
	}
	if (!(*out = strdup(scalar(n))))
		return bale_error_set(r->err, BALE_EGENERIC, "out of memory");
	return 0;
}

/* platforms: [a, b] or "a,b" */
static int read_platforms(const reader *r, yaml_node_t *n, entry *e)
{
	if (n->type == YAML_SCALAR_NODE)
		return text_of(r, n, "platforms", &e->platforms);
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(r, n, "platforms: want a list");
	bale_buf b;
	bale_buf_init(&b, 4096, "platforms");
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
	     i++) {
		const char *p = scalar(yaml_document_get_node(r->doc, *i));
		if (!p || !*p || strchr(p, ',')) {
			bale_buf_free(&b);
			return fail(r, n, "platforms: want os/arch[/variant] each");
		}
		bale_buf_appendf(&b, NULL, "%s%s", b.len ? "," : "", p);
	}
	if (!b.len)
		return fail(r, n, "platforms: an empty list");
	e->platforms = b.data; /* the buffer's, now the entry's */
	return 0;
}

static int read_rules(const reader *r, yaml_node_t *n, entry *e)
{
	static const char *const keys[] = {"regex", "semver", "newest", "by", NULL};
	int rc = only_keys(r, n, keys);
	yaml_node_t *v;
	if (rc == 0 && (v = get(r, n, "regex"))) {
		if ((rc = text_of(r, v, "regex", &e->regex_text)) < 0)
			return rc;
		if (regcomp(&e->regex, e->regex_text, REG_EXTENDED | REG_NOSUB) != 0)
			return fail(r, v, "regex: not a POSIX extended regular expression");
		e->has_regex = true;
	}
	if (rc == 0 && (v = get(r, n, "semver"))) {
		if ((rc = text_of(r, v, "semver", &e->semver_text)) < 0)
			return rc;
		if (bale_semver_range_parse(&e->semver, e->semver_text, r->err) < 0)
			return bale_error_wrap(r->err, "%s:%zu", r->name, v->start_mark.line + 1);
	}
	if (rc == 0 && (v = get(r, n, "newest"))) {
		char *end = NULL;
		e->newest = scalar(v) ? strtol(scalar(v), &end, 10) : 0;
		if (!scalar(v) || *end || e->newest < 1 || e->newest > NEWEST_MAX)
			return fail(r, v, "newest: want a count from 1 to 1000");
	}
	if (rc == 0 && (v = get(r, n, "by"))) {
		e->by_created = scalar(v) && strcmp(scalar(v), "created") == 0;
		if (!e->by_created && !(scalar(v) && strcmp(scalar(v), "version") == 0))
			return fail(r, v, "by: want version or created");
		if (!e->newest)
			return fail(r, v, "by goes with newest");
	}
	if (rc == 0 && !e->has_regex && !e->semver && !e->newest)
		return fail(r, n, "tags: want regex, semver or newest");
	return rc;
}

static int read_entry(const reader *r, yaml_node_t *n, entry *e)
{
	static const char *const keys[] = {"ref",     "repository", "tags",
	                                   "exclude", "platforms",  NULL};
	bale_ref *ref = NULL;
	yaml_node_t *v;
	int rc = only_keys(r, n, keys);
	e->line = (int)n->start_mark.line + 1;
	if (rc < 0)
		return rc;
	yaml_node_t *plain = get(r, n, "ref"), *repo = get(r, n, "repository");
	if (!plain == !repo)
		return fail(r, n, "want one of ref and repository");
	if (plain && (get(r, n, "tags") || get(r, n, "exclude")))
		return fail(r, n, "tags and exclude go with repository, not ref");
	if (plain)
		rc = text_of(r, plain, "ref", &e->ref);
	else if ((rc = text_of(r, repo, "repository", &e->repository)) == 0) {
		if (!(v = get(r, n, "tags")))
			return fail(r, n, "repository: want tags (regex, semver, newest)");
		rc = read_rules(r, v, e);
	}
	/* a name bale reads, as the run will */
	if (rc == 0 && bale_ref_parse(&ref, plain ? e->ref : e->repository, r->err) < 0)
		rc = bale_error_wrap(r->err, "%s:%d", r->name, e->line);
	bale_ref_free(ref);
	if (rc == 0 && repo &&
	    (strchr(e->repository, '@') ||
	     strrchr(e->repository, ':') > strrchr(e->repository, '/')))
		rc = fail(r, repo, "repository: a name without a tag or digest");
	if (rc == 0 && (v = get(r, n, "exclude"))) {
		if (v->type != YAML_SEQUENCE_NODE)
			return fail(r, v, "exclude: want a list of digests");
		size_t count = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
		if (!(e->exclude = calloc(count + 1, sizeof(*e->exclude))))
			return bale_error_set(r->err, BALE_EGENERIC, "out of memory");
		for (size_t i = 0; i < count && rc == 0; i++) {
			yaml_node_t *d =
			    yaml_document_get_node(r->doc, v->data.sequence.items.start[i]);
			bale_digest digest;
			if (!scalar(d) || bale_digest_parse(&digest, scalar(d), NULL) < 0)
				return fail(r, d, "exclude: want sha256:<64 hex> digests");
			rc = text_of(r, d, "exclude", &e->exclude[e->n_exclude++]);
		}
	}
	if (rc == 0 && (v = get(r, n, "platforms")))
		rc = read_platforms(r, v, e);
	return rc;
}

static int read_document(bale_image_set *set, const reader *r, yaml_node_t *root)
{
	static const char *const keys[] = {"imageSet", "images", NULL};
	int rc = only_keys(r, root, keys);
	if (rc < 0)
		return rc;
	yaml_node_t *version = get(r, root, "imageSet"), *images = get(r, root, "images");
	if (!scalar(version) || strcmp(scalar(version), "1") != 0)
		return scalar(version) && isdigit((unsigned char)scalar(version)[0])
		           ? bale_error_set(
		                 r->err, BALE_EFORMAT,
		                 "%s: image set version %.16s; this bale reads version %d", r->name,
		                 scalar(version), IMAGE_SET_VERSION)
		           : fail(r, root, "imageSet: want the version, 1");
	if (!images || images->type != YAML_SEQUENCE_NODE ||
	    images->data.sequence.items.start == images->data.sequence.items.top)
		return fail(r, images ? images : root, "images: want a list of entries");
	size_t count =
	    (size_t)(images->data.sequence.items.top - images->data.sequence.items.start);
	if (count > ENTRIES_MAX)
		return fail(r, images, "images: more than 10000 entries");
	if (!(set->entries = calloc(count, sizeof(*set->entries))))
		return bale_error_set(r->err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; i < count && rc == 0; i++, set->n++)
		rc = read_entry(
		    r, yaml_document_get_node(r->doc, images->data.sequence.items.start[i]),
		    &set->entries[i]);
	return rc;
}

int bale_image_set_read(bale_image_set **out, const char *name, const char *text, size_t len,
                        bale_error **err)
{
	bale_yaml_stream *stream = NULL;
	bale_image_set *set = calloc(1, sizeof(*set));
	yaml_document_t doc;
	bool have_doc = false;
	*out = NULL;
	int rc = set ? bale_yaml_stream_new(&stream, name, text, len, err)
	             : bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (rc == 0 && (rc = bale_yaml_stream_next(stream, &doc, err)) == 0)
		rc = bale_error_set(err, BALE_EUSAGE, "%s: empty", name);
	have_doc = rc == 1;
	if (have_doc) {
		reader r = {name, &doc, err};
		rc = read_document(set, &r, yaml_document_get_root_node(&doc));
	}
	if (have_doc)
		bale_yaml_document_delete(&doc);
	bale_yaml_stream_free(stream);
	if (rc < 0) {
		bale_image_set_free(set);
		return rc;
	}
	*out = set;
	return 0;
}

/* ---- resolving ---- */

void bale_image_set_choices_free(bale_image_set_choice *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].ref);
		free(c[i].platforms);
		free(c[i].rule);
	}
	free(c);
}

typedef struct choices {
	bale_image_set_choice *list;
	size_t n;
} choices;

static int choose(choices *c, const char *ref, const char *platforms, const char *rule,
                  bale_error **err)
{
	bale_image_set_choice *grown = realloc(c->list, (c->n + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	c->list = grown;
	bale_image_set_choice *x = &c->list[c->n];
	x->ref = strdup(ref);
	x->platforms = platforms ? strdup(platforms) : NULL;
	x->rule = strdup(rule);
	c->n++;
	if (!x->ref || !x->rule || (platforms && !x->platforms))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	return 0;
}

typedef struct candidate {
	const char *tag;
	bale_semver v;
	bool semver;
	char created[40];
} candidate;

/* By creation time, newest first ("" last): RFC 3339 times in UTC order as text. */
static int created_first(const void *a, const void *b)
{
	const candidate *x = a, *y = b;
	int c = strcmp(y->created, x->created);
	return c ? c : strcmp(x->tag, y->tag);
}

static int newest_first(const void *a, const void *b)
{
	const candidate *x = a, *y = b;
	if (x->semver != y->semver)
		return x->semver ? -1 : 1;
	if (x->semver)
		return -bale_semver_compare(&x->v, &y->v);
	return strcmp(x->tag, y->tag);
}

/* The rules of e, as a user reads them back. */
static void describe(const entry *e, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s:", e->repository);
	if (e->has_regex && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " regex %s", e->regex_text);
	if (e->semver && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, "%s semver %s", e->has_regex ? "," : "",
		              e->semver_text);
	if (e->newest && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, "%s newest %ld%s",
		         e->has_regex || e->semver ? "," : "", e->newest,
		         e->by_created ? " by created" : "");
}

static int resolve_entry(const entry *e, const bale_image_set_access *access, choices *out,
                         size_t *chosen, bale_error **err)
{
	char **tags = NULL, rule[512];
	size_t n = 0, k = 0;
	candidate *c = NULL;
	int rc = access->tags(access->payload, e->repository, &tags, &n, err);
	if (rc == 0 && !(c = calloc(n + 1, sizeof(*c))))
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; i < n && rc == 0; i++) {
		candidate x = {.tag = tags[i]};
		x.semver = bale_semver_parse(&x.v, tags[i]) && !x.v.prerelease;
		if (e->has_regex && regexec(&e->regex, tags[i], 0, NULL, 0) != 0)
			continue;
		if (e->semver && !(x.semver && bale_semver_range_contains(e->semver, &x.v)))
			continue;
		if (e->newest && !e->by_created && !x.semver) /* by version: a tag that is none */
			continue;
		c[k++] = x;
	}
	describe(e, rule, sizeof(rule));
	if (rc == 0 && e->by_created && k > CREATED_MAX)
		rc = bale_error_set(
		    err, BALE_EUSAGE,
		    "%s: %zu tags to read the creation time of, over %d; narrow them "
		    "with regex or semver",
		    rule, k, CREATED_MAX);
	for (size_t i = 0; rc == 0 && e->by_created && i < k; i++) {
		char ref[1024];
		snprintf(ref, sizeof(ref), "%s:%s", e->repository, c[i].tag);
		rc = access->created(access->payload, ref, c[i].created, err);
	}
	if (rc == 0)
		qsort(c, k, sizeof(*c), e->by_created ? created_first : newest_first);
	*chosen = 0;
	for (size_t i = 0; i < k && rc == 0 && (!e->newest || *chosen < (size_t)e->newest); i++) {
		char ref[1024], digest[80] = "";
		bool excluded = false;
		snprintf(ref, sizeof(ref), "%s:%s", e->repository, c[i].tag);
		if (e->n_exclude && (rc = access->digest(access->payload, ref, digest, err)) < 0)
			break;
		for (size_t x = 0; x < e->n_exclude && !excluded; x++)
			excluded = strcmp(e->exclude[x], digest) == 0;
		if (!excluded && (rc = choose(out, ref, e->platforms, rule, err)) == 0)
			(*chosen)++;
	}
	free(c);
	for (size_t i = 0; i < n; i++)
		free(tags[i]);
	free(tags);
	return rc;
}

int bale_image_set_resolve(const bale_image_set *set, const bale_image_set_access *access,
                           bale_image_set_choice **out, size_t *n, bale_error **err)
{
	choices c = {0};
	bale_buf none;
	size_t n_none = 0;
	int rc = 0;
	bale_buf_init(&none, 1u << 20, "repositories");
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < set->n && rc == 0; i++) {
		const entry *e = &set->entries[i];
		size_t chosen = 0;
		if (e->ref) {
			rc = choose(&c, e->ref, e->platforms, "ref", err);
			continue;
		}
		rc = resolve_entry(e, access, &c, &chosen, err);
		if (rc == 0 && !chosen) {
			char rule[512];
			describe(e, rule, sizeof(rule));
			bale_buf_appendf(&none, NULL, "%s%s", n_none++ ? "; " : "", rule);
		}
	}
	if (rc == 0 && n_none)
		rc = bale_error_set(err, BALE_ENOTFOUND, "no tag chosen for %zu repositor%s: %s",
		                    n_none, n_none == 1 ? "y" : "ies", none.data);
	bale_buf_free(&none);
	if (rc < 0) {
		bale_image_set_choices_free(c.list, c.n);
		return rc;
	}
	*out = c.list;
	*n = c.n;
	return 0;
}
