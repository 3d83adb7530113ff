/* bale/slots.h: positions by key, in open addressing with linear probing. A slot holds a
 * position + 1; 0 is free. */
#include "bale/slots.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct bale_slots {
	bale_slots_key_fn key_of;
	size_t *slot;
	size_t mask; /* slots - 1, a power of two less one; 0 before the first put */
	size_t used;
};

/* FNV-1a: digests and names spread well enough for a table kept half empty. */
static size_t hash_of(const char *key)
{
	uint64_t h = 14695981039346656037ull;
	for (const unsigned char *c = (const unsigned char *)key; *c; c++)
		h = (h ^ *c) * 1099511628211ull;
	return (size_t)h;
}

/* The slot holding key, or the free one where it goes. */
static size_t find_slot(const bale_slots *s, const void *items, const char *key)
{
	size_t i = hash_of(key) & s->mask;
	while (s->slot[i] && strcmp(s->key_of(items, s->slot[i] - 1), key) != 0)
		i = (i + 1) & s->mask;
	return i;
}

int bale_slots_new(bale_slots **out, bale_slots_key_fn key_of, bale_error **err)
{
	if (!(*out = calloc(1, sizeof(**out))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	(*out)->key_of = key_of;
	return 0;
}

void bale_slots_free(bale_slots *s)
{
	if (!s)
		return;
	free(s->slot);
	free(s);
}

size_t bale_slots_find(const bale_slots *s, const void *items, const char *key)
{
	if (!s->used)
		return SIZE_MAX;
	size_t i = find_slot(s, items, key);
	return s->slot[i] ? s->slot[i] - 1 : SIZE_MAX;
}

/* Twice the slots, every position put again. */
static int grow(bale_slots *s, const void *items, bale_error **err)
{
	size_t n = s->mask ? 2 * (s->mask + 1) : 64, *old = s->slot, old_n = s->mask + 1;
	size_t *slot = calloc(n, sizeof(*slot));
	if (!slot)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	s->slot = slot;
	s->mask = n - 1;
	for (size_t i = 0; old && i < old_n; i++)
		if (old[i])
			s->slot[find_slot(s, items, s->key_of(items, old[i] - 1))] = old[i];
	free(old);
	return 0;
}

int bale_slots_put(bale_slots *s, const void *items, size_t pos, bale_error **err)
{
	int rc;
	if (2 * (s->used + 1) > (s->slot ? s->mask + 1 : 0) && (rc = grow(s, items, err)) < 0)
		return rc;
	size_t i = find_slot(s, items, s->key_of(items, pos));
	s->used += !s->slot[i];
	s->slot[i] = pos + 1;
	return 0;
}

void bale_slots_drop(bale_slots *s, const void *items, const char *key)
{
	if (!s->used)
		return;
	size_t i = find_slot(s, items, key), j = i;
	if (!s->slot[i])
		return;
	/* Linear probing's deletion: the slots after i that could have been placed in it
	 * move up, so that no look-up stops short at the hole. */
	for (;;) {
		j = (j + 1) & s->mask;
		if (!s->slot[j])
			break;
		size_t home = hash_of(s->key_of(items, s->slot[j] - 1)) & s->mask;
		bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!between) {
			s->slot[i] = s->slot[j];
			i = j;
		}
	}
	s->slot[i] = 0;
	s->used--;
}
