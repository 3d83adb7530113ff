/* Runs a fuzz target without libFuzzer, so the test suite (gcc, ASan + UBSan) exercises it
 * on every build: each input file as it is, then a bounded number of deterministic
 * mutants of it, each one to four stacked edits: for text, bit flips, YAML and JSON
 * punctuation, cuts and repeated spans; for binary formats (bundles), deleted spans,
 * boundary bytes and little-endian 32-bit fields (sizes, counts, magics) set to edge
 * values or nudged.
 *   replay [--mutate N] FILE|DIR…   exit 0 when every run returned */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_CAP (1u << 20)

static uint64_t next_random(uint64_t *state) /* xorshift64: the same runs every time */
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* A little-endian 32-bit field at p: an edge value, or the old one nudged. */
static void edit_u32(uint8_t *p, size_t len, uint64_t *rng)
{
	static const uint32_t edges[] = {0, 1, 0x7f, 0xff, 0x7fffffff, 0x80000000, 0xffffffff};
	uint32_t v =
	    (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	uint64_t pick = next_random(rng) % (sizeof(edges) / sizeof(edges[0]) + 3);
	if (pick < sizeof(edges) / sizeof(edges[0]))
		v = edges[pick];
	else if (pick == sizeof(edges) / sizeof(edges[0]))
		v = (uint32_t)len; /* the input's own size: a plausible offset or length */
	else
		v += (uint32_t)(next_random(rng) % 33) - 16u;
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* One edit of in[0..len) into out (room for len + 64); returns the new length. */
static size_t edit(const uint8_t *in, size_t len, uint8_t *out, uint64_t *rng)
{
	static const char punct[] = ":-[]{}&*!|>'\"#\n ,?%@\t\\";
	static const uint8_t boundary[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '0', '9'};
	memmove(out, in, len);
	if (!len)
		return 0;
	size_t at = next_random(rng) % len;
	switch (next_random(rng) % 8) {
	case 0: /* a bit flipped */
		out[at] ^= (uint8_t)(1u << (next_random(rng) % 8));
		return len;
	case 1: /* YAML punctuation overwritten */
		out[at] = (uint8_t)punct[next_random(rng) % (sizeof(punct) - 1)];
		return len;
	case 2: /* punctuation inserted */
		memmove(out + at + 1, out + at, len - at);
		out[at] = (uint8_t)punct[next_random(rng) % (sizeof(punct) - 1)];
		return len + 1;
	case 3: /* cut short */
		return at;
	case 4: { /* a span repeated in place */
		size_t span = 1 + next_random(rng) % (len - at < 64 ? len - at : 64);
		memmove(out + at + span, out + at, len - at);
		return len + span;
	}
	case 5: { /* a span deleted */
		size_t span = 1 + next_random(rng) % (len - at < 64 ? len - at : 64);
		memmove(out + at, out + at + span, len - at - span);
		return len - span;
	}
	case 6: /* a boundary byte */
		out[at] = boundary[next_random(rng) % sizeof(boundary)];
		return len;
	default: /* a 32-bit field */
		if (len - at >= 4)
			edit_u32(out + at, len, rng);
		return len;
	}
}

static int run_file(const char *path, long mutations)
{
	FILE *f = fopen(path, "rb");
	uint8_t *in = malloc(REPLAY_CAP), *out = malloc(REPLAY_CAP + 4 * 64);
	size_t len = 0;
	int rc = 0;
	if (!f || !in || !out) {
		fprintf(stderr, "replay: %s: %s\n", path, f ? "out of memory" : strerror(errno));
		rc = 1;
		goto cleanup;
	}
	len = fread(in, 1, REPLAY_CAP, f);
	LLVMFuzzerTestOneInput(in, len);
	uint64_t rng = 0x9E3779B97F4A7C15ull ^ len;
	for (long i = 0; i < mutations; i++) {
		size_t n = edit(in, len, out, &rng);
		for (uint64_t more = next_random(&rng) % 4; more > 0; more--)
			n = edit(out, n, out, &rng);
		LLVMFuzzerTestOneInput(out, n);
	}
cleanup:
	if (f)
		fclose(f);
	free(in);
	free(out);
	return rc;
}

static int run_path(const char *path, long mutations, int *files)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*files)++;
		return run_file(path, mutations);
	}
	DIR *d = opendir(path);
	int rc = d ? 0 : 1;
	for (struct dirent *e; d && rc == 0 && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		size_t n = strlen(path) + strlen(e->d_name) + 2;
		char *child = malloc(n);
		if (!child)
			return 1;
		snprintf(child, n, "%s/%s", path, e->d_name);
		rc = run_path(child, mutations, files);
		free(child);
	}
	if (d)
		closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	long mutations = 0;
	int first = 1, files = 0, rc = 0;
	if (argc > 2 && strcmp(argv[1], "--mutate") == 0) {
		mutations = strtol(argv[2], NULL, 10);
		first = 3;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: replay [--mutate N] FILE|DIR...\n");
		return 2;
	}
	for (int i = first; i < argc && rc == 0; i++)
		rc = run_path(argv[i], mutations, &files);
	if (rc == 0)
		printf("replay: %d inputs, %ld mutations each: all returned\n", files, mutations);
	return rc;
}
