/* An index of the elements of an array the caller owns, by a text key each holds (a
 * digest, an image name): open addressing with linear probing, at most half full. It holds
 * positions, never copies: the caller's array keeps the keys, and key_of reads them from
 * it as it is at each call (so the array may move when it grows). */
#ifndef BALE_SLOTS_H
#define BALE_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#include "bale/error.h"

typedef struct bale_slots bale_slots;

/* The key of the element at pos of items. */
typedef const char *(*bale_slots_key_fn)(const void *items, size_t pos);

int bale_slots_new(bale_slots **out, bale_slots_key_fn key_of, bale_error **err);
void bale_slots_free(bale_slots *s);
/* The position recorded for key, SIZE_MAX when none is. */
size_t bale_slots_find(const bale_slots *s, const void *items, const char *key);
/* Records pos under its key (key_of(items, pos)); a position recorded for the same key
 * before is replaced: the later one wins. */
int bale_slots_put(bale_slots *s, const void *items, size_t pos, bale_error **err);
/* Forgets the position recorded for key (nothing when none is). */
void bale_slots_drop(bale_slots *s, const void *items, const char *key);

#endif
