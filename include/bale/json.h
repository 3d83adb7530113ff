/* JSON through jansson, with a hard size cap on untrusted input. */
#ifndef BALE_JSON_H
#define BALE_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "bale/error.h"

/* Parses data (len bytes) as one JSON value; refuses more than cap bytes and names
 * `what` in every error. Errors are BALE_EVERIFY: the bytes came from outside. */
int bale_json_parse(json_t **out, const char *data, size_t len, size_t cap, const char *what,
                    bale_error **err);
/* The string member `key` of obj, or NULL when absent or not a string. */
const char *bale_json_str(const json_t *obj, const char *key);
/* Compact serialization, keys in insertion order (stable for the same input). */
int bale_json_dump(char **out, size_t *len, const json_t *value, bale_error **err);

#endif
