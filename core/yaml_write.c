/* JSON values written out as YAML documents through libyaml's emitter (bale plan
 * --daemonset): kubectl and GitOps tools read either, people read YAML. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "bale/yaml.h"

/* Would a plain scalar of this text read back as something else than a string (a number,
 * a boolean, null) under YAML 1.1 or 1.2? Then it is quoted. */
static bool needs_quotes(const char *s)
{
	static const char *const words[] = {"y",   "yes",  "n", "no",   "true",  "false", "on",
	                                    "off", "null", "~", ".inf", "-.inf", ".nan"};
	if (!*s || strchr("0123456789+-.", *s))
		return true;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	return false;
}

static int emit_scalar(yaml_emitter_t *em, const char *text, bool plain)
{
	yaml_event_t ev;
	/* not plain-implicit: the emitter must quote it (it has no tag to say "string") */
	return yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text),
	                                    plain, 1, YAML_ANY_SCALAR_STYLE) &&
	       yaml_emitter_emit(em, &ev);
}

/* 1 on success, as libyaml counts. */
static int emit_value(yaml_emitter_t *em, const json_t *v, int depth)
{
	yaml_event_t ev;
	char number[64];
	if (depth > BALE_YAML_MAX_DEPTH)
		return 0;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *value;
		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
		                                         YAML_BLOCK_MAPPING_STYLE) ||
		    !yaml_emitter_emit(em, &ev))
			return 0;
		json_object_foreach((json_t *)v, key, value)
		{
			if (!emit_scalar(em, key, !needs_quotes(key)) ||
			    !emit_value(em, value, depth + 1))
				return 0;
		}
		return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev);
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *item;
		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
		                                          YAML_BLOCK_SEQUENCE_STYLE) ||
		    !yaml_emitter_emit(em, &ev))
			return 0;
		json_array_foreach(v, i, item)
		{
			if (!emit_value(em, item, depth + 1))
				return 0;
		}
		return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev);
	}
	case JSON_STRING:
		return emit_scalar(em, json_string_value(v), !needs_quotes(json_string_value(v)));
	case JSON_INTEGER:
		snprintf(number, sizeof(number), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return emit_scalar(em, number, true);
	case JSON_TRUE:
	case JSON_FALSE:
		return emit_scalar(em, json_is_true(v) ? "true" : "false", true);
	default: /* reals and null: not in what bale writes */
		return 0;
	}
}

static int write_out(void *data, unsigned char *buffer, size_t size)
{
	return fwrite(buffer, 1, size, data) == size;
}

int bale_yaml_write_json(FILE *out, json_t *const *docs, size_t n, bale_error **err)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	if (!yaml_emitter_initialize(&em))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	yaml_emitter_set_output(&em, write_out, out);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	int ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) &&
	         yaml_emitter_emit(&em, &ev);
	for (size_t i = 0; ok && i < n; i++)
		ok = yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0) &&
		     yaml_emitter_emit(&em, &ev) && emit_value(&em, docs[i], 0) &&
		     yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(&em, &ev);
	ok = ok && yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&em, &ev) &&
	     yaml_emitter_flush(&em);
	int rc = ok && !ferror(out) ? 0
	                            : bale_error_set(err, BALE_EGENERIC, "write YAML: %s",
	                                             em.problem ? em.problem : strerror(EIO));
	yaml_emitter_delete(&em);
	return rc;
}
