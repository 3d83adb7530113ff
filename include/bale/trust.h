/* Trust sets: the public keys a verifier accepts. */
#ifndef BALE_TRUST_H
#define BALE_TRUST_H

#include <stddef.h>

#include "bale/error.h"
#include "bale/key.h"

/* A set of trusted public keys: --key PUB, or every *.pub in a directory. */
typedef struct bale_trust bale_trust;

int bale_trust_from_key(bale_trust **out, const char *pub_path, bale_error **err);
/* A missing directory is an empty trust set (then nothing verifies). */
int bale_trust_from_dir(bale_trust **out, const char *dir, bale_error **err);
/* The trusted key with this id, or NULL. */
const bale_key *bale_trust_find(const bale_trust *trust, const char *key_id);
size_t bale_trust_count(const bale_trust *trust);
void bale_trust_free(bale_trust *trust);

#define BALE_DEFAULT_TRUST_DIR "/etc/bale/trust.d"

#endif
