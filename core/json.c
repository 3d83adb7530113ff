#include "bale/json.h"

#include <stdlib.h>
#include <string.h>

int bale_json_parse(json_t **out, const char *data, size_t len, size_t cap, const char *what,
                    bale_error **err)
{
	if (len > cap)
		return bale_error_set(err, BALE_EVERIFY, "%s: %zu bytes is over the %zu byte limit",
		                      what, len, cap);
	json_error_t jerr;
	json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		return bale_error_set(err, BALE_EVERIFY,
		                      "%s: invalid JSON at line %d column %d: %s", what, jerr.line,
		                      jerr.column, jerr.text);
	*out = v;
	return 0;
}

const char *bale_json_str(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int bale_json_dump(char **out, size_t *len, const json_t *value, bale_error **err)
{
	char *s = json_dumps(value, JSON_COMPACT);
	if (!s)
		return bale_error_set(err, BALE_EGENERIC, "out of memory serializing JSON");
	*out = s;
	if (len)
		*len = strlen(s);
	return 0;
}
