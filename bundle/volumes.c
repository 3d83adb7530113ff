/* A bundle cut into volumes for media (docs/bundle-format.md, "Volumes"): each volume a
 * bundle of its own, holding whole images where it can and parts of a blob too large for
 * any volume. Here: how many bytes a member may take, and the cut. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bale/hasher.h"
#include "bundle/bundle_private.h"
#include "bundle/zst_private.h"

/* Below this, a volume's leftover room is not worth a part: the blob starts the next one. */
#define MIN_PART ((int64_t)1 << 20)
#define TAR_BLOCK 512

void bale_bundle_member_path(char *out, size_t size, const bale_digest *blob, int part)
{
	if (part)
		snprintf(out, size, "blobs/sha256/%s.part%d", bale_digest_hex(blob), part);
	else
		snprintf(out, size, "blobs/sha256/%s", bale_digest_hex(blob));
}

int64_t bundle_member_bound(int64_t size)
{
	/* a ustar header and the data padded to a block, compressed: zstd stores what does not
	 * shrink with 3 bytes a 128 KiB block; a frame every 4 MiB, each with its header,
	 * checksum, check and seek table entry */
	int64_t tar = TAR_BLOCK + (size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
	int64_t frames = tar / ZST_MAX_FRAME + 1;
	return tar + tar / 256 + frames * 96;
}

typedef struct cut {
	bundle_member *items;
	size_t n, alloc;
	int volume;
	int64_t used; /* bound bytes in the current volume */
	int64_t budget;
} cut;

static int put(cut *c, const bundle_member *m, bale_error **err)
{
	if (c->n == c->alloc) {
		size_t want = c->alloc ? c->alloc * 2 : 64;
		bundle_member *grown = realloc(c->items, want * sizeof(*grown));
		if (!grown)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		c->items = grown;
		c->alloc = want;
	}
	c->items[c->n] = *m;
	c->items[c->n++].volume = c->volume;
	c->used += bundle_member_bound(m->size);
	return 0;
}

static void next_volume(cut *c)
{
	if (c->used > 0) {
		c->volume++;
		c->used = 0;
	}
}

/* The SHA-256 of size bytes at offset of a blob in blob_dir. */
static int range_digest(const char *blob_dir, const bale_digest *blob, int64_t offset, int64_t size,
                        bale_digest *out, bale_error **err)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", blob_dir, bale_digest_hex(blob));
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	if (fd < 0)
		return bale_error_set_errno(err, BALE_EGENERIC, errno, "open %s", path);
	bale_hasher *h = NULL;
	char *buf = malloc((size_t)1 << 20);
	if (!buf || (rc = bale_hasher_new(&h, err)) < 0) {
		rc = rc < 0 ? rc : bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	for (int64_t done = 0; done < size;) {
		size_t want =
		    size - done < ((int64_t)1 << 20) ? (size_t)(size - done) : (size_t)1 << 20;
		ssize_t got = pread(fd, buf, want, offset + done);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			rc = bale_error_set_errno(err, BALE_EGENERIC, got < 0 ? errno : EIO,
			                          "read %s", path);
			goto cleanup;
		}
		bale_hasher_update(h, buf, (size_t)got);
		done += got;
	}
	bale_hasher_final(h, out);
cleanup:
	bale_hasher_free(h);
	free(buf);
	close(fd);
	return rc;
}

/* A blob larger than any volume: parts that fill the current volume and the next ones. */
static int cut_blob(cut *c, const bundle_member *m, const char *blob_dir, bale_error **err)
{
	int rc = 0;
	int part = 0;
	for (int64_t offset = 0; offset < m->size && rc == 0;) {
		/* the data a member of this volume's leftover room can hold */
		int64_t room = c->budget - c->used - bundle_member_bound(0);
		room -= room / 200; /* what bundle_member_bound adds to data */
		if (room < MIN_PART) {
			next_volume(c);
			continue;
		}
		bundle_member p = *m;
		p.part = ++part;
		p.offset = offset;
		p.size = m->size - offset < room ? m->size - offset : room;
		if ((rc = range_digest(blob_dir, &m->blob->digest, p.offset, p.size, &p.digest,
		                       err)) == 0 &&
		    (rc = put(c, &p, err)) == 0)
			offset += p.size;
	}
	return rc;
}

int bundle_volumes_cut(const bundle_member *in, size_t n, int64_t budget, const char *blob_dir,
                       bundle_member **out, size_t *n_out, int *volumes, bale_error **err)
{
	cut c = {.volume = 1, .budget = budget};
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		/* the image's blobs: whole in this volume, else whole in the next, else blob by
		 * blob */
		size_t end = i;
		int64_t group = 0;
		for (; end < n && in[end].image == in[i].image; end++)
			group += bundle_member_bound(in[end].size);
		if (c.used + group > budget && group <= budget)
			next_volume(&c);
		for (; i < end && rc == 0; i++) {
			int64_t b = bundle_member_bound(in[i].size);
			if (c.used + b <= budget)
				rc = put(&c, &in[i], err);
			else if (b <= budget) {
				next_volume(&c);
				rc = put(&c, &in[i], err);
			} else {
				rc = cut_blob(&c, &in[i], blob_dir, err);
			}
		}
	}
	if (rc < 0) {
		free(c.items);
		return rc;
	}
	*out = c.items;
	*n_out = c.n;
	*volumes = c.n ? c.items[c.n - 1].volume : 1;
	return 0;
}

int bale_bundle_volume_size_parse(const char *text, int64_t *out, bale_error **err)
{
	static const struct {
		const char *name;
		int64_t mib;
	} media[] = {
	    {"cd", 700}, {"dvd", 4480}, {"dvd-dl", 8100}, {"bd25", 23800}, {"bd50", 47600}};
	for (size_t i = 0; i < sizeof(media) / sizeof(media[0]); i++)
		if (strcmp(text, media[i].name) == 0) {
			*out = media[i].mib << 20;
			return 0;
		}
	char *end = NULL;
	errno = 0;
	unsigned long long n = strtoull(text, &end, 10);
	int shift = !*end || end == text    ? 0
	            : strcmp(end, "K") == 0 ? 10
	            : strcmp(end, "M") == 0 ? 20
	            : strcmp(end, "G") == 0 ? 30
	            : strcmp(end, "T") == 0 ? 40
	                                    : -1;
	if (end == text || *text == '-' || errno || shift < 0 ||
	    n > (unsigned long long)INT64_MAX >> shift ||
	    (int64_t)(n << shift) < ((int64_t)1 << 20))
		return bale_error_set(
		    err, BALE_EUSAGE,
		    "volume size \"%s\": want bytes, or a number with K, M, G or T "
		    "(at least 1M), or cd, dvd, dvd-dl, bd25, bd50",
		    text);
	*out = (int64_t)(n << shift);
	return 0;
}

char *bale_bundle_volume_name(const char *output, int k)
{
	const char *suffix = ".tar.zst";
	size_t len = strlen(output), sl = strlen(suffix);
	bool has = len > sl && strcmp(output + len - sl, suffix) == 0;
	char *name = NULL;
	if (asprintf(&name, "%.*s.%03d%s", (int)(has ? len - sl : len), output, k, suffix) < 0)
		return NULL;
	return name;
}
