/* store/: what the store kinds and bale check's reading of them share. */
#ifndef STORE_PRIVATE_H
#define STORE_PRIVATE_H

#include "bale/error.h"

/* BALE_EUSAGE for a store spec of no kind bale knows; an address that may carry a
 * password ("…@…") is not repeated. */
int store_unknown_spec(const char *spec, bale_error **err);

#endif
