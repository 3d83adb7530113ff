/* Fuzz target for bale doctor's reader of containerd's TOML (config.toml, hosts.toml):
 * whatever bytes arrive, the reader and the containerd configuration read from them must
 * end in a result or a clean error: no crash, no leak, no undefined behaviour, and every
 * value it keeps must have the key path and the content its kind says. libFuzzer runs it
 * (scripts/fuzz.sh); replay.c runs it in the test suite. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/doctor.h"
#include "doctor/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_values(const doctor_toml *t)
{
	for (size_t i = 0; i < t->n; i++) {
		const doctor_toml_value *v = &t->values[i];
		if (!v->n_parts || (v->kind == DOCTOR_TOML_STRING && !v->str)) {
			fprintf(stderr, "fuzz_toml: a value without a key or a string\n");
			abort();
		}
		for (size_t k = 0; k < v->n_items; k++)
			if (!v->items[k])
				abort();
		const char *const *path = (const char *const *)v->parts;
		if (!doctor_toml_get(t, path, v->n_parts))
			abort(); /* a value kept must be found again */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > DOCTOR_TOML_CAP + 1)
		return 0;
	const char *text = (const char *)data;
	doctor_toml t;
	bale_error *err = NULL;
	if (doctor_toml_parse(&t, "fuzz.toml", text, size, &err) == 0) {
		check_values(&t);
		doctor_toml_free(&t);
	} else if (!bale_error_message(err)) {
		fprintf(stderr, "fuzz_toml: refused without a message\n");
		abort();
	}
	bale_error_free(err);
	err = NULL;
	bale_doctor_containerd c = {0};
	if (bale_doctor_containerd_parse(&c, "fuzz.toml", text, size, &err) < 0)
		bale_error_free(err);
	bale_doctor_containerd_free(&c);
	return 0;
}
