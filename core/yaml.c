/* A bounded YAML loader on libyaml's event parser (see bale/yaml.h). It makes the
 * documents yaml_parser_load would (same nodes in the same order, default tags, marks),
 * except that limits are checked as the events arrive, before the nodes they describe
 * exist, and aliases must name a node that is complete.
 *
 * Every node is counted with what it stands for: a scalar or a collection start is one,
 * an alias is the count of the node it names, and a collection's count is everything
 * counted between its start and its end. So the counts grow exactly as fast as a full
 * expansion of the document would, and a billion laughs is refused after half a million. */
#include "bale/yaml.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* An anchor of the current document: the node it names and that node's count. */
struct anchor {
	char *name; /* NULL: free slot */
	int node;
	size_t count;
	bool open; /* the collection it names has not ended: an alias to it is a cycle */
};

/* A collection being filled. */
struct frame {
	int node;
	int key; /* a mapping's key waiting for its value, 0 when none */
	bool mapping;
	size_t start; /* the document's count when it began */
	char *anchor; /* its anchor, closed at its end */
};

struct bale_yaml_stream {
	yaml_parser_t parser;
	bool parser_ready;
	char *name;
	const char *text;
	size_t len;
	bool done;
	size_t stream_count; /* nodes of the documents before the current one */
	size_t doc_count;
	struct anchor *anchors; /* open addressing, a power of two slots */
	size_t n_anchors, anchors_cap;
	struct frame *frames;
	size_t depth, frames_cap;
};

static int oom(bale_error **err)
{
	return bale_error_set(err, BALE_EGENERIC, "out of memory");
}

/* libyaml counts lines from 0. */
static size_t line_of(const yaml_mark_t *m)
{
	return m->line + 1;
}

/* The line of a byte offset: libyaml's reader errors (bad UTF-8) give only the offset. */
static size_t line_at(const char *text, size_t len, size_t offset)
{
	size_t line = 1;
	for (size_t i = 0; i < offset && i < len; i++)
		line += text[i] == '\n';
	return line;
}

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

/* The slot of name: its entry, or the free slot where it would go. */
static struct anchor *anchor_slot(struct anchor *table, size_t cap, const char *name)
{
	size_t mask = cap - 1;
	for (size_t i = (size_t)hash_name(name) & mask;; i = (i + 1) & mask)
		if (!table[i].name || strcmp(table[i].name, name) == 0)
			return &table[i];
}

static struct anchor *anchor_find(bale_yaml_stream *s, const char *name)
{
	if (!s->anchors_cap)
		return NULL;
	struct anchor *a = anchor_slot(s->anchors, s->anchors_cap, name);
	return a->name ? a : NULL;
}

/* Defines (or redefines: the later definition wins, as in YAML) an anchor. */
static int anchor_set(bale_yaml_stream *s, const char *name, int node, size_t count, bool open,
                      bale_error **err)
{
	if ((s->n_anchors + 1) * 2 > s->anchors_cap) {
		size_t cap = s->anchors_cap ? s->anchors_cap * 2 : 64;
		struct anchor *grown = calloc(cap, sizeof(*grown));
		if (!grown)
			return oom(err);
		for (size_t i = 0; i < s->anchors_cap; i++)
			if (s->anchors[i].name)
				*anchor_slot(grown, cap, s->anchors[i].name) = s->anchors[i];
		free(s->anchors);
		s->anchors = grown;
		s->anchors_cap = cap;
	}
	struct anchor *a = anchor_slot(s->anchors, s->anchors_cap, name);
	if (!a->name) {
		if (!(a->name = strdup(name)))
			return oom(err);
		s->n_anchors++;
	}
	a->node = node;
	a->count = count;
	a->open = open;
	return 0;
}

static void anchors_clear(bale_yaml_stream *s)
{
	for (size_t i = 0; i < s->anchors_cap; i++) {
		free(s->anchors[i].name);
		s->anchors[i].name = NULL;
	}
	s->n_anchors = 0;
}

static void frames_clear(bale_yaml_stream *s)
{
	while (s->depth)
		free(s->frames[--s->depth].anchor);
}

void bale_yaml_document_delete(yaml_document_t *doc)
{
	for (yaml_node_t *n = doc->nodes.start; n && n < doc->nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
			OPENSSL_cleanse(n->data.scalar.value, n->data.scalar.length);
	yaml_document_delete(doc);
}

int bale_yaml_stream_new(bale_yaml_stream **out, const char *name, const char *text, size_t len,
                         bale_error **err)
{
	bale_yaml_stream *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (!s || !(s->name = strdup(name)) || !yaml_parser_initialize(&s->parser)) {
		if (s)
			free(s->name);
		free(s);
		return oom(err);
	}
	s->parser_ready = true;
	s->text = text;
	s->len = len;
	yaml_parser_set_input_string(&s->parser, (const unsigned char *)text, len);
	*out = s;
	return 0;
}

void bale_yaml_stream_free(bale_yaml_stream *s)
{
	if (!s)
		return;
	if (s->parser_ready) {
		/* Best effort: the parser's buffers hold decoded input too. */
		yaml_parser_t *p = &s->parser;
		if (p->buffer.start)
			OPENSSL_cleanse(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
		if (p->raw_buffer.start)
			OPENSSL_cleanse(p->raw_buffer.start,
			                (size_t)(p->raw_buffer.end - p->raw_buffer.start));
		yaml_parser_delete(p);
	}
	frames_clear(s);
	anchors_clear(s);
	free(s->anchors);
	free(s->frames);
	free(s->name);
	free(s);
}

static int parse_error(bale_yaml_stream *s, bale_error **err)
{
	const yaml_parser_t *p = &s->parser;
	if (p->error == YAML_MEMORY_ERROR)
		return oom(err);
	size_t line = p->error == YAML_READER_ERROR ? line_at(s->text, s->len, p->problem_offset)
	                                            : line_of(&p->problem_mark);
	/* libyaml's problem strings are fixed text: they never quote the input. */
	return bale_error_set(err, BALE_EUSAGE, "%s:%zu: %s", s->name, line,
	                      p->problem ? p->problem : "invalid YAML");
}

/* Adds n to the counts of the document and of the stream. */
static int count_nodes(bale_yaml_stream *s, size_t n, const yaml_mark_t *at, bale_error **err)
{
	if (n > BALE_YAML_MAX_DOCUMENT_NODES - s->doc_count)
		return bale_error_set(err, BALE_EUSAGE,
		                      "%s:%zu: more than %u YAML nodes in one document (an alias "
		                      "counts as every node it stands for)",
		                      s->name, line_of(at), BALE_YAML_MAX_DOCUMENT_NODES);
	s->doc_count += n;
	if (s->doc_count > BALE_YAML_MAX_STREAM_NODES - s->stream_count)
		return bale_error_set(
		    err, BALE_EUSAGE,
		    "%s:%zu: more than %u YAML nodes in the file (an alias counts "
		    "as every node it stands for)",
		    s->name, line_of(at), BALE_YAML_MAX_STREAM_NODES);
	return 0;
}

/* Hangs node under the collection being filled (none: it is the root). */
static int attach(bale_yaml_stream *s, yaml_document_t *doc, int node, bale_error **err)
{
	if (!s->depth)
		return 0;
	struct frame *f = &s->frames[s->depth - 1];
	int ok = 1;
	if (!f->mapping)
		ok = yaml_document_append_sequence_item(doc, f->node, node);
	else if (!f->key)
		f->key = node;
	else {
		ok = yaml_document_append_mapping_pair(doc, f->node, f->key, node);
		f->key = 0;
	}
	return ok ? 0 : oom(err);
}

static void set_marks(yaml_document_t *doc, int node, const yaml_event_t *ev)
{
	yaml_node_t *n = yaml_document_get_node(doc, node);
	n->start_mark = ev->start_mark;
	n->end_mark = ev->end_mark;
}

/* An explicit tag, or NULL for the default one ("!" asks for it too). */
static const yaml_char_t *tag_of(const yaml_char_t *tag)
{
	return tag && strcmp((const char *)tag, "!") != 0 ? tag : NULL;
}

static int on_scalar(bale_yaml_stream *s, yaml_document_t *doc, yaml_event_t *ev, bale_error **err)
{
	int rc = 0;
	size_t len = ev->data.scalar.length;
	if (len > BALE_YAML_MAX_SCALAR)
		return bale_error_set(err, BALE_EUSAGE,
		                      "%s:%zu: a scalar of %zu bytes is over the %u byte limit",
		                      s->name, line_of(&ev->start_mark), len, BALE_YAML_MAX_SCALAR);
	if ((rc = count_nodes(s, 1, &ev->start_mark, err)) < 0)
		return rc;
	int node = yaml_document_add_scalar(doc, tag_of(ev->data.scalar.tag), ev->data.scalar.value,
	                                    (int)len, ev->data.scalar.style);
	if (!node)
		return oom(err);
	set_marks(doc, node, ev);
	if (ev->data.scalar.anchor &&
	    (rc = anchor_set(s, (const char *)ev->data.scalar.anchor, node, 1, false, err)) < 0)
		return rc;
	return attach(s, doc, node, err);
}

static int on_alias(bale_yaml_stream *s, yaml_document_t *doc, const yaml_event_t *ev,
                    bale_error **err)
{
	const struct anchor *a = anchor_find(s, (const char *)ev->data.alias.anchor);
	int rc;
	if (!a)
		return bale_error_set(err, BALE_EUSAGE, "%s:%zu: found undefined alias", s->name,
		                      line_of(&ev->start_mark));
	if (a->open)
		return bale_error_set(err, BALE_EUSAGE,
		                      "%s:%zu: an alias inside the node it names (a cycle)",
		                      s->name, line_of(&ev->start_mark));
	if ((rc = count_nodes(s, a->count, &ev->start_mark, err)) < 0)
		return rc;
	return attach(s, doc, a->node, err);
}

static int on_start(bale_yaml_stream *s, yaml_document_t *doc, const yaml_event_t *ev,
                    bale_error **err)
{
	bool mapping = ev->type == YAML_MAPPING_START_EVENT;
	const yaml_char_t *anchor =
	    mapping ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	int rc;
	if (s->depth == BALE_YAML_MAX_DEPTH)
		return bale_error_set(err, BALE_EUSAGE, "%s:%zu: nested deeper than %d levels",
		                      s->name, line_of(&ev->start_mark), BALE_YAML_MAX_DEPTH);
	if ((rc = count_nodes(s, 1, &ev->start_mark, err)) < 0)
		return rc;
	if (s->depth == s->frames_cap) {
		size_t cap = s->frames_cap ? s->frames_cap * 2 : 16;
		struct frame *grown = realloc(s->frames, cap * sizeof(*grown));
		if (!grown)
			return oom(err);
		s->frames = grown;
		s->frames_cap = cap;
	}
	int node = mapping ? yaml_document_add_mapping(doc, tag_of(ev->data.mapping_start.tag),
	                                               ev->data.mapping_start.style)
	                   : yaml_document_add_sequence(doc, tag_of(ev->data.sequence_start.tag),
	                                                ev->data.sequence_start.style);
	if (!node)
		return oom(err);
	set_marks(doc, node, ev);
	if ((rc = attach(s, doc, node, err)) < 0)
		return rc;
	struct frame *f = &s->frames[s->depth];
	*f = (struct frame){.node = node, .mapping = mapping, .start = s->doc_count - 1};
	if (anchor) {
		if (!(f->anchor = strdup((const char *)anchor)))
			return oom(err);
		if ((rc = anchor_set(s, f->anchor, node, 0, true, err)) < 0) {
			free(f->anchor);
			return rc;
		}
	}
	s->depth++;
	return 0;
}

static int on_end(bale_yaml_stream *s, yaml_document_t *doc, const yaml_event_t *ev,
                  bale_error **err)
{
	int rc = 0;
	struct frame *f = &s->frames[--s->depth];
	yaml_document_get_node(doc, f->node)->end_mark = ev->end_mark;
	if (f->anchor) {
		struct anchor *a = anchor_find(s, f->anchor);
		/* Unless an anchor of the same name inside it took the name over. */
		if (a && a->node == f->node)
			rc = anchor_set(s, f->anchor, f->node, s->doc_count - f->start, false, err);
		free(f->anchor);
	}
	return rc;
}

/* One event into the document; 1 when the document (or the stream) is complete. */
static int on_event(bale_yaml_stream *s, yaml_document_t *doc, bool *open, yaml_event_t *ev,
                    bale_error **err)
{
	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		s->done = true;
		return 1;
	case YAML_DOCUMENT_START_EVENT:
		if (!yaml_document_initialize(doc, NULL, NULL, NULL,
		                              ev->data.document_start.implicit, 1))
			return oom(err);
		doc->start_mark = ev->start_mark;
		*open = true;
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		doc->end_implicit = ev->data.document_end.implicit;
		doc->end_mark = ev->end_mark;
		return 1;
	case YAML_SCALAR_EVENT:
		return on_scalar(s, doc, ev, err);
	case YAML_ALIAS_EVENT:
		return on_alias(s, doc, ev, err);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		return on_start(s, doc, ev, err);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return on_end(s, doc, ev, err);
	default: /* stream start */
		return 0;
	}
}

int bale_yaml_stream_next(bale_yaml_stream *s, yaml_document_t *doc, bale_error **err)
{
	int rc = 0;
	bool open = false;
	memset(doc, 0, sizeof(*doc));
	s->stream_count += s->doc_count;
	s->doc_count = 0;
	anchors_clear(s); /* anchors belong to one document */
	while (rc == 0 && !s->done) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&s->parser, &ev)) {
			rc = parse_error(s, err);
			break;
		}
		rc = on_event(s, doc, &open, &ev, err);
		/* The document holds a copy; this one may be a secret. */
		if (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.value)
			OPENSSL_cleanse(ev.data.scalar.value, ev.data.scalar.length);
		yaml_event_delete(&ev);
	}
	if (rc < 0 || (s->done && open)) {
		frames_clear(s);
		if (open)
			bale_yaml_document_delete(doc);
		memset(doc, 0, sizeof(*doc));
		s->done = true; /* a stream that went wrong is not read on */
		return rc < 0 ? rc : 0;
	}
	return open ? 1 : 0;
}
