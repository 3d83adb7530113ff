/* Platforms (os/arch[/variant]) normalized as containerd does, and matching.
 *   aarch64 -> arm64; x86_64, x86-64 -> amd64; i386, i686 -> 386; armhf -> arm/v7;
 *   armel -> arm/v6; arm64 with no variant = arm64/v8; arm with no variant = arm/v7.
 * A platform set is a comma-separated list of platforms, or "all". */
#ifndef BALE_PLATFORM_H
#define BALE_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "bale/error.h"

typedef struct bale_platform {
	char os[32];
	char arch[32];
	char variant[16]; /* normalized: "v8" for arm64, "v7" for arm when unset */
} bale_platform;

/* "linux/arm64", "linux/arm/v6", "windows/amd64". BALE_EUSAGE on malformed text. */
int bale_platform_parse(bale_platform *out, const char *text, bale_error **err);
/* Builds a platform from the fields of an OCI descriptor/config (variant may be NULL). */
int bale_platform_from_fields(bale_platform *out, const char *os, const char *arch,
                              const char *variant, bale_error **err);
/* The platform of the running host. */
void bale_platform_host(bale_platform *out);
/* True when both name the same normalized platform. */
bool bale_platform_equal(const bale_platform *a, const bale_platform *b);
/* "linux/arm64/v8" etc. into buf; returns buf. */
const char *bale_platform_format(const bale_platform *p, char *buf, size_t size);

typedef struct bale_platform_set bale_platform_set;

/* NULL or "" means the host platform. */
int bale_platform_set_parse(bale_platform_set **out, const char *text, bale_error **err);
void bale_platform_set_free(bale_platform_set *set);
bool bale_platform_set_is_all(const bale_platform_set *set);
bool bale_platform_set_contains(const bale_platform_set *set, const bale_platform *p);
size_t bale_platform_set_count(const bale_platform_set *set);
const bale_platform *bale_platform_set_at(const bale_platform_set *set, size_t i);

#endif
