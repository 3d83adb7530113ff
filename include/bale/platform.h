/* Platforms (os/arch[/variant], and for Windows an os.version and os.features) normalized
 * as containerd does, and matching.
 *   aarch64 -> arm64; x86_64, x86-64 -> amd64; i386, i686 -> 386; armhf -> arm/v7;
 *   armel -> arm/v6; arm64 with no variant = arm64/v8; arm with no variant = arm/v7.
 * Written "os/arch[/variant][:os.version][+feature...]" (windows/amd64:10.0.17763.5576);
 * containerd's "os(os.version[+feature...])/arch[/variant]" is read as well.
 * A platform set is a comma-separated list of platforms, or "all". */
#ifndef BALE_PLATFORM_H
#define BALE_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "bale/error.h"

/* Room for any formatted platform, NUL included. */
#define BALE_PLATFORM_TEXT 288

typedef struct bale_platform {
	char os[32];
	char arch[32];
	char variant[16];      /* normalized: "v8" for arm64, "v7" for arm when unset */
	char os_version[64];   /* "10.0.17763.5576"; "" when none is declared */
	char os_features[128]; /* sorted, each once, joined by '+' ("win32k"); "" for none */
} bale_platform;

/* "linux/arm64", "linux/arm/v6", "windows/amd64:10.0.17763.5576",
 * "windows(10.0.17763.5576+win32k)/amd64". BALE_EUSAGE on malformed text. */
int bale_platform_parse(bale_platform *out, const char *text, bale_error **err);
/* Builds a platform from the fields of an OCI descriptor/config (variant may be NULL). */
int bale_platform_from_fields(bale_platform *out, const char *os, const char *arch,
                              const char *variant, bale_error **err);
/* Sets os.version and os.features (from an OCI descriptor or config; features may be
 * NULL when n_features is 0). BALE_EVERIFY on a value bale cannot write back. */
int bale_platform_set_os_options(bale_platform *p, const char *os_version,
                                 const char *const *features, size_t n_features, bale_error **err);
/* The platform of the running host. */
void bale_platform_host(bale_platform *out);
/* True when both name the same normalized platform, os.version and os.features included. */
bool bale_platform_equal(const bale_platform *a, const bale_platform *b);
/* True when have is what want asks for: the same os, architecture and variant; when want
 * names an os.version, have's is that version or a build of it ("10.0.17763" matches
 * "10.0.17763.5576"); when want names os.features, have's are among them. */
bool bale_platform_matches(const bale_platform *want, const bale_platform *have);
/* "linux/arm64/v8", "windows/amd64:10.0.17763.5576+win32k" into buf; returns buf. */
const char *bale_platform_format(const bale_platform *p, char *buf, size_t size);

typedef struct bale_platform_set bale_platform_set;

/* NULL or "" means the host platform. */
int bale_platform_set_parse(bale_platform_set **out, const char *text, bale_error **err);
void bale_platform_set_free(bale_platform_set *set);
bool bale_platform_set_is_all(const bale_platform_set *set);
/* True when some platform of the set matches p (bale_platform_matches). */
bool bale_platform_set_contains(const bale_platform_set *set, const bale_platform *p);
size_t bale_platform_set_count(const bale_platform_set *set);
const bale_platform *bale_platform_set_at(const bale_platform_set *set, size_t i);

#endif
