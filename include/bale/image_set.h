/* Image sets (docs/image-set.md): what a release engineer asks to carry, as rules rather
 * than a list: plain references, and per repository the tags a regex, a semver range and
 * "the newest N" choose, less excluded digests, each entry with its own platforms.
 *
 *   imageSet: 1
 *   images:
 *   - ref: registry.example.com/tools/busybox:1.36
 *   - repository: registry.example.com/shop/web
 *     tags: {regex: '^1\.', semver: '>=1.27.0 <1.28.0', newest: 3, by: version}
 *     exclude: [sha256:…]
 *     platforms: [linux/amd64, linux/arm64]
 */
#ifndef BALE_IMAGE_SET_H
#define BALE_IMAGE_SET_H

#include <stdbool.h>
#include <stddef.h>

#include "bale/error.h"

typedef struct bale_image_set bale_image_set;

/* Whether text is an image set (a YAML mapping with imageSet:) rather than a list of
 * references: its first line that is not blank or a comment starts with "imageSet:". */
bool bale_image_set_detect(const char *text, size_t len);
/* Reads an image set; BALE_EUSAGE naming file:line for what is not one, BALE_EFORMAT for
 * a version this bale does not read. */
int bale_image_set_read(bale_image_set **out, const char *name, const char *text, size_t len,
                        bale_error **err);
void bale_image_set_free(bale_image_set *set);

/* What the set chooses: a reference, the platforms asked for it (NULL: the run's), and
 * the rule that chose it ("ref" for a plain one). */
typedef struct bale_image_set_choice {
	char *ref;
	char *platforms;
	char *rule;
} bale_image_set_choice;

/* The caller's registry access: the tags of a repository ("HOST/PATH"), the digest a
 * reference resolves to (for excluded digests), and when its image was made (its
 * config's "created", RFC 3339; "" when it does not say), for newest by creation. */
typedef struct bale_image_set_access {
	int (*tags)(void *payload, const char *repository, char ***tags, size_t *n,
	            bale_error **err);
	int (*digest)(void *payload, const char *ref, char digest[80], bale_error **err);
	int (*created)(void *payload, const char *ref, char created[40], bale_error **err);
	void *payload;
} bale_image_set_access;

/* Every choice, in the set's order, a repository's tags newest first. A repository whose
 * rules choose no tag is an error, and every such repository is named (BALE_ENOTFOUND). */
int bale_image_set_resolve(const bale_image_set *set, const bale_image_set_access *access,
                           bale_image_set_choice **out, size_t *n, bale_error **err);
void bale_image_set_choices_free(bale_image_set_choice *choices, size_t n);

#endif
