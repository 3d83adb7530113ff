/* bale/slots.h: positions by key, growing, replaced, dropped (linear probing's deletion). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bale/slots.h"

#define N 3000

static const char *key_at(const void *items, size_t pos)
{
	return ((const char(*)[16])items)[pos];
}

static void test_find_put_drop(void **state)
{
	(void)state;
	static char keys[N][16];
	bale_slots *s = NULL;
	assert_int_equal(bale_slots_new(&s, key_at, NULL), 0);
	assert_true(bale_slots_find(s, keys, "absent") == SIZE_MAX);
	for (size_t i = 0; i < N; i++) { /* through many growths */
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i % 1000);
		assert_int_equal(bale_slots_put(s, keys, i, NULL), 0);
	}
	/* each key was put three times: the last position counts */
	for (size_t i = 0; i < 1000; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%zu", i);
		assert_int_equal(bale_slots_find(s, keys, k), 2000 + i);
	}
	/* dropping every other key leaves the others found, whatever probing moved */
	for (size_t i = 0; i < 1000; i += 2)
		bale_slots_drop(s, keys, keys[2000 + i]);
	for (size_t i = 0; i < 1000; i++) {
		size_t want = i % 2 ? 2000 + i : SIZE_MAX;
		assert_true(bale_slots_find(s, keys, keys[2000 + i]) == want);
	}
	bale_slots_drop(s, keys, "absent");
	bale_slots_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_find_put_drop)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
