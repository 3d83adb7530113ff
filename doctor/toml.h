/* The subset of TOML that containerd's config.toml and hosts.toml use, read into a flat
 * list of values by full key path: table headers with bare, "basic" and 'literal' key
 * parts, dotted keys, strings (basic, literal, multi-line), booleans, integers, and
 * arrays whose strings are kept. Inline tables, floats and dates are read past and kept
 * as DOCTOR_TOML_OTHER. Untrusted-ish input: bounded in size, depth and count, and
 * malformed input is an error naming NAME:LINE, never a crash. */
#ifndef BALE_DOCTOR_TOML_H
#define BALE_DOCTOR_TOML_H

#include <stdbool.h>
#include <stddef.h>

#include "bale/error.h"

/* Files larger than this are refused. */
#define DOCTOR_TOML_CAP (1u << 20)
/* Arrays nested deeper than this are refused. */
#define DOCTOR_TOML_MAX_DEPTH 32
/* More keys and tables than this are refused. */
#define DOCTOR_TOML_MAX_ENTRIES 20000

typedef enum doctor_toml_kind {
	DOCTOR_TOML_TABLE, /* a [table] header: the table exists */
	DOCTOR_TOML_STRING,
	DOCTOR_TOML_BOOL,
	DOCTOR_TOML_INT,
	DOCTOR_TOML_ARRAY, /* items: its strings (other elements are not kept) */
	DOCTOR_TOML_OTHER,
} doctor_toml_kind;

typedef struct doctor_toml_value {
	doctor_toml_kind kind;
	char **parts; /* the key path, e.g. {"plugins", "io.containerd.grpc.v1.cri", "root"} */
	size_t n_parts;
	char *str;
	bool boolean;
	long long integer;
	char **items;
	size_t n_items;
	int line;
} doctor_toml_value;

typedef struct doctor_toml {
	doctor_toml_value *values; /* in file order */
	size_t n;
} doctor_toml;

/* BALE_EUSAGE "NAME:LINE: what" on malformed input. */
int doctor_toml_parse(doctor_toml *out, const char *name, const char *text, size_t len,
                      bale_error **err);
void doctor_toml_free(doctor_toml *t);
/* The last value at exactly this key path, or NULL. */
const doctor_toml_value *doctor_toml_get(const doctor_toml *t, const char *const *path, size_t n);

#endif
