/* JSON through jansson, with hard caps on untrusted input: its size, its nesting depth
 * and the number of values in it, all checked by a scan that allocates nothing before
 * jansson builds a single value. jansson spends 50 to 250 bytes on every value (an empty
 * object is the dearest), so a few megabytes of `[{},{},…]` would otherwise cost
 * gigabytes; with at most one value per BALE_JSON_BYTES_PER_VALUE bytes of the size cap,
 * memory stays within a small multiple of the cap. */
#ifndef BALE_JSON_H
#define BALE_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "bale/error.h"

/* Deeper than any OCI manifest, image config, auth file or token response (they nest a
 * handful of levels); jansson's own limit is 2048. */
#define BALE_JSON_MAX_DEPTH 64
/* The default value cap: one value per this many bytes of the size cap. */
#define BALE_JSON_BYTES_PER_VALUE 16

typedef struct bale_json_limits {
	size_t max_bytes;
	size_t max_depth;  /* 0: BALE_JSON_MAX_DEPTH */
	size_t max_values; /* 0: max_bytes / BALE_JSON_BYTES_PER_VALUE (at least 1024) */
} bale_json_limits;

/* Parses data (len bytes) as one JSON value; refuses more than cap bytes (and deeper or
 * larger than the default limits) and names `what` in every error. Errors are
 * BALE_EVERIFY: the bytes came from outside. */
int bale_json_parse(json_t **out, const char *data, size_t len, size_t cap, const char *what,
                    bale_error **err);
/* The same with explicit limits. */
int bale_json_parse_limits(json_t **out, const char *data, size_t len,
                           const bale_json_limits *limits, const char *what, bale_error **err);
/* Only the checks, with error code `code` (what may be NULL: "JSON"). The count of values
 * is an upper bound of what jansson allocates: every '{', '[', ',' and ':' outside
 * strings. Never quotes the input (it may hold secrets). */
int bale_json_check(const char *data, size_t len, const bale_json_limits *limits, const char *what,
                    int code, bale_error **err);
/* Finds member `key` of a top-level JSON object without parsing the document: 1 when
 * present (*value, *value_len: the raw bytes of its string value, or NULL when the value
 * is not a string without escapes), 0 when absent, -1 when the key appears more than
 * once. Keys written with escapes are not recognized; the document itself is not
 * validated (parse it before trusting anything else in it). */
int bale_json_top_string(const char *data, size_t len, const char *key, const char **value,
                         size_t *value_len);
/* The same for a value of any kind: *value, *value_len span its raw text (an object or
 * array from its opening to its closing bracket), so that one member of a large document
 * can be parsed alone. Not validated either. */
int bale_json_top_value(const char *data, size_t len, const char *key, const char **value,
                        size_t *value_len);
/* The number of elements of the arrays that are members keys[0..n) (n <= 8) of a
 * top-level object, in sizes[], counted in one pass without building them (0 for a member
 * that is absent, repeated or not an array). */
void bale_json_top_array_sizes(const char *data, size_t len, const char *const *keys, size_t n,
                               size_t *sizes);
/* The string member `key` of obj, or NULL when absent or not a string. */
const char *bale_json_str(const json_t *obj, const char *key);
/* Compact serialization, keys in insertion order (stable for the same input). */
int bale_json_dump(char **out, size_t *len, const json_t *value, bale_error **err);

#endif
