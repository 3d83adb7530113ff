/* bale verify on every core: the members after the head are cut into parts at frame
 * starts, and each part is read, decompressed and hashed by a thread and a reader of its
 * own. One SHA-256 over each member is the whole cryptographic cost of a check, and
 * members are independent, so parts share it out.
 *
 * Where a part starts is computed from what the signed manifest lists (bale writes every
 * member in ustar form: a 512-byte header, its data, zero padding to 512). The cut is
 * only trusted once the part before it ends there: a part whose members run past its end
 * goes on to the end of the archive by itself at once, and the parts after it are
 * cancelled and dropped. So a bundle that does not cut where its manifest says is still
 * checked in full, in one pass from where the cut failed. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "verify/verify_private.h"

#define MAX_PARTS 8
#define TAR_BLOCK 512u

typedef struct part {
	const char *path;
	uint64_t from, to;     /* decompressed offsets; to: UINT64_MAX for the last part */
	bale_bundle_reader *r; /* the head's reader for the first part, its own for the rest */
	const verify_expectations *e;
	/* One per expectation: the ordinal (from 1) of the member when this part read it, 0
	 * when it did not; `at` the ordinal of the member read now (or that it failed on). */
	uint32_t *seen;
	uint32_t at;
	verify_tally tally;
	bool landed; /* its members ended exactly at `to` (the last: at the archive's end) */
	/* it went on to the end of the archive by itself (go_on_alone); crossed: because its
	 * members ran past `to`, not for want of a thread to follow it */
	bool alone, crossed;
	uint64_t cut; /* where it was to end */
	atomic_bool cancelled;
	int rc;
	bale_error *err;
	/* Shared by the parts: bytes hashed so far (a part cut short may count some twice);
	 * the main thread, which runs part 0, reports them (progress not NULL). */
	atomic_int_least64_t *checked;
	atomic_int *members; /* and members checked whole */
	const bale_log *progress;
	int64_t total;
	int n_members;
} part;

/* What the parts have checked, as a transfer's progress (the bytes of every member). */
static void report(const part *p, bool last)
{
	if (!p->progress || !p->progress->progress)
		return;
	int64_t done = last ? p->total : atomic_load(p->checked);
	int members = last ? p->n_members : atomic_load(p->members);
	bale_progress pr = {.bytes_done = done < p->total ? done : p->total,
	                    .bytes_total = p->total,
	                    .blobs_done = members < p->n_members ? members : p->n_members,
	                    .blobs_total = p->n_members};
	p->progress->progress(p->progress->payload, &pr);
}

/* Stops a member's check mid-way once the part is cancelled: a layer of gigabytes is not
 * hashed to its end for nothing. */
static int stop_if_cancelled(void *payload, const void *data, size_t len, bale_error **err)
{
	const part *p = payload;
	(void)data;
	atomic_fetch_add(p->checked, (int_least64_t)len);
	report(p, false); /* the main thread's part only: the others' progress is NULL */
	return atomic_load(&p->cancelled) ? bale_error_set(err, BALE_EGENERIC, "cancelled") : 0;
}

/* Checks the part's members from where its reader is, up to its end. Resumable: a part
 * given a later end goes on from where it stopped. A cancelled part stops with 0, not
 * landed (its outcome counts for nothing: see settle_parts). */
static int check_part(part *p, bale_error **err)
{
	int rc = 0;
	p->landed = false;
	while (!atomic_load(&p->cancelled)) {
		bale_bundle_member m;
		p->at++;
		if ((rc = bale_bundle_next(p->r, &m, err)) <= 0)
			break;
		if (!bale_bundle_path_is_safe(m.path))
			return bale_error_set(err, BALE_EVERIFY, "member %.200s: unsafe path",
			                      m.path);
		if (m.type != BALE_MEMBER_FILE)
			return bale_error_set(err, BALE_EVERIFY,
			                      "member %.200s: not a regular file", m.path);
		verify_expected *x = verify_expected_find(p->e, m.path);
		size_t i = x ? (size_t)(x - p->e->items) : 0;
		if (!x || x->seen || p->seen[i])
			return bale_error_set(err, BALE_EVERIFY, "member %.200s: %s", m.path,
			                      x ? "appears twice"
			                        : "not listed in " BALE_BUNDLE_MANIFEST);
		p->seen[i] = p->at;
		if (m.size != x->size)
			return bale_error_set(err, BALE_EVERIFY, "%s: %lld bytes, expected %lld",
			                      m.path, (long long)m.size, (long long)x->size);
		bale_descriptor want = {.digest = x->digest, .size = x->size};
		rc = bale_bundle_check_member(p->r, m.path, &want, stop_if_cancelled, p, err);
		if (rc < 0 && atomic_load(&p->cancelled)) {
			bale_error_clear(err);
			return 0;
		}
		if (rc < 0)
			return rc;
		p->tally.members++;
		p->tally.bytes += x->size;
		atomic_fetch_add(p->members, 1);
	}
	if (rc < 0 || atomic_load(&p->cancelled))
		return rc;
	if (p->to == UINT64_MAX) { /* the archive's end, and what may follow it, checked */
		p->landed = true;
		return 0;
	}
	p->landed = bale_bundle_position(p->r) == p->to;
	return p->landed ? bale_bundle_check_part(p->r, err) : 0;
}

static void cancel_after(part *parts, size_t k, size_t n)
{
	for (size_t j = k + 1; j < n; j++)
		atomic_store(&parts[j].cancelled, true);
}

/* The part goes on to the end of the archive (and checks what follows it, and every frame
 * from its start). */
static void go_on_alone(part *p)
{
	p->alone = true;
	p->to = UINT64_MAX;
	bale_bundle_stop_at(p->r, UINT64_MAX);
	bale_bundle_check_whole_file(p->r);
	p->rc = check_part(p, &p->err);
}

/* A part that fails, or whose members run past the next part's start (so that no member
 * starts there), makes the parts after it pointless: they are cancelled at once, and the
 * latter goes on alone right away. */
static void run_part(part *parts, size_t k, size_t n)
{
	part *p = &parts[k];
	p->rc = check_part(p, &p->err);
	if (p->rc == 0 && !p->landed && !atomic_load(&p->cancelled)) {
		cancel_after(parts, k, n);
		p->crossed = true;
		go_on_alone(p);
	}
	if (p->rc < 0)
		cancel_after(parts, k, n);
}

typedef struct part_job {
	part *parts;
	size_t k, n;
} part_job;

static void *part_main(void *arg)
{
	part_job *job = arg;
	part *p = &job->parts[job->k];
	if ((p->rc = bale_bundle_open_part(&p->r, p->path, p->from, p->to, &p->err)) < 0) {
		cancel_after(job->parts, job->k, job->n);
		return NULL;
	}
	if (p->to == UINT64_MAX) /* the last part checks the end of the archive */
		bale_bundle_check_whole_file(p->r);
	run_part(job->parts, job->k, job->n);
	return NULL;
}

static uint64_t member_bytes(int64_t size)
{
	return TAR_BLOCK + ((uint64_t)size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
}

/* The members after index.db in archive order. Calls at() with each one's start while it
 * returns true; the offset after the last. */
static uint64_t walk_members(const verify_expectations *e, uint64_t pos,
                             bool (*at)(void *payload, uint64_t start), void *payload)
{
	bool go = true;
	for (size_t i = 0; go && i < e->n_sizes; i++) {
		go = !at || at(payload, pos);
		pos += member_bytes(e->sizes[i]);
	}
	return pos;
}

typedef struct cut_plan {
	bale_bundle_reader *r;
	uint64_t first, total;
	size_t n, made;
	uint64_t cuts[MAX_PARTS];
} cut_plan;

/* Cut k falls on the first member start, at or past k/n of the bytes, where a frame
 * starts (bale starts one with every member). */
static bool take_cut(void *payload, uint64_t start)
{
	cut_plan *c = payload;
	uint64_t target = c->first + c->total / c->n * (c->made + 1);
	if (start >= target && start > c->cuts[c->made] && bale_bundle_frame_starts_at(c->r, start))
		c->cuts[++c->made] = start;
	return c->made + 1 < c->n;
}

/* How many parts, and where each starts (cuts[0] being where the first one is now). */
static size_t plan_parts(bale_bundle_reader *r, const verify_expectations *e,
                         uint64_t min_part_bytes, uint64_t cuts[MAX_PARTS])
{
	cut_plan c = {.r = r, .first = bale_bundle_position(r)};
	c.cuts[0] = cuts[0] = c.first; /* the first part's start, also when it is the only one */
	c.total = walk_members(e, c.first, NULL, NULL) - c.first;
	/* One part a core, and two at least: on one core the second costs next to nothing,
	 * and every machine then checks the same way. */
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	c.n = cores > 2 ? (size_t)cores : 2;
	if (c.n > MAX_PARTS)
		c.n = MAX_PARTS;
	if (min_part_bytes && c.n > c.total / min_part_bytes)
		c.n = (size_t)(c.total / min_part_bytes);
	/* format 1's one digest over the whole file is a serial pass: no parts */
	if (c.n <= 1 || bale_bundle_format(r) < 2)
		return 1;
	walk_members(e, c.first, take_cut, &c);
	memcpy(cuts, c.cuts, sizeof(c.cuts));
	return c.made + 1;
}

/* How many parts count, in archive order: up to the first that failed, or that did not
 * end where the next one starts, or that no thread follows. One of the last two goes on
 * to the end alone; the parts after it are dropped. */
static size_t settle_parts(part *parts, size_t started, size_t n, const char *path,
                           const bale_log *log)
{
	for (size_t k = 0; k < started; k++) {
		part *p = &parts[k];
		/* A part that did not land went on alone as it found that (run_part), unless it
		 * was cancelled (then an earlier part failed or went on alone, and this one is
		 * not reached); this one landed where a part that never started was to begin. */
		if (p->rc == 0 && !p->alone && (!p->landed || (k + 1 == started && started < n))) {
			p->crossed = !p->landed;
			go_on_alone(p);
		}
		if (p->alone)
			bale_log_printf(log, BALE_LOG_DEBUG,
			                p->crossed ? "%s: the members do not end at offset %llu; "
			                             "checked on from there in one pass"
			                           : "%s: no thread for the members from offset "
			                             "%llu; checked on in one pass",
			                path, (unsigned long long)p->cut);
		if (p->alone || p->rc < 0)
			return k + 1;
	}
	return started;
}

/* Index of the first member part k read (before the one it failed on, or that one) that
 * an earlier part read too; e->n when none. */
static size_t first_repeat(const part *parts, size_t k, const verify_expectations *e)
{
	const part *p = &parts[k];
	size_t found = e->n;
	for (size_t i = 0; i < e->n; i++) {
		uint32_t at = p->seen[i];
		if (!at || (p->rc < 0 && at > p->at) || (found < e->n && at > p->seen[found]))
			continue;
		bool before = false;
		for (size_t j = 0; j < k && !before; j++)
			before = parts[j].seen[i] != 0;
		if (before)
			found = i;
	}
	return found;
}

/* The error one pass would report first: a member read twice (a part finds a repeat of
 * its own at once; one of an earlier part's only now) or a part's error, in archive order,
 * then a member missing. */
static int report_parts(const part *parts, size_t used, const verify_expectations *e,
                        bale_error **err)
{
	for (size_t k = 0; k < used; k++) {
		size_t i = first_repeat(parts, k, e);
		if (i < e->n)
			return bale_error_set(err, BALE_EVERIFY, "member %s: appears twice",
			                      e->items[i].path);
		if (parts[k].rc < 0)
			return bale_error_set(err, parts[k].rc, "%s",
			                      bale_error_message(parts[k].err));
	}
	for (size_t i = 0; i < e->n; i++) {
		bool read = e->items[i].seen;
		for (size_t k = 0; k < used && !read; k++)
			read = parts[k].seen[i] != 0;
		if (!read)
			return bale_error_set(err, BALE_EVERIFY,
			                      "member %s: missing (listed in " BALE_BUNDLE_MANIFEST
			                      ")",
			                      e->items[i].path);
	}
	return 0;
}

int verify_members(bale_bundle_reader *r, const char *path, verify_expectations *e,
                   uint64_t min_part_bytes, verify_tally *tally, const bale_log *log,
                   bale_error **err)
{
	int rc = 0;
	uint64_t cuts[MAX_PARTS];
	size_t n = plan_parts(r, e, min_part_bytes, cuts), used = 0, started = 1;
	atomic_int_least64_t checked;
	atomic_int members;
	int64_t total = 0;
	atomic_init(&checked, 0);
	atomic_init(&members, 0);
	for (size_t i = 0; i < e->n; i++)
		total += e->items[i].size;
	part *parts = calloc(n, sizeof(*parts));
	part_job *jobs = calloc(n, sizeof(*jobs));
	pthread_t *threads = calloc(n, sizeof(*threads));
	if (!parts || !jobs || !threads) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	for (size_t k = 0; k < n; k++) {
		part *p = &parts[k];
		*p = (part){.path = path,
		            .from = cuts[k],
		            .to = k + 1 < n ? cuts[k + 1] : UINT64_MAX,
		            .cut = k + 1 < n ? cuts[k + 1] : UINT64_MAX,
		            .e = e,
		            .seen = calloc(e->n ? e->n : 1, sizeof(*p->seen)),
		            .checked = &checked,
		            .members = &members,
		            .progress = k == 0 ? log : NULL,
		            .total = total,
		            .n_members = (int)e->n};
		atomic_init(&p->cancelled, false);
		if (!p->seen) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
	}
	parts[0].r = r;
	bale_bundle_stop_at(r, parts[0].to);
	if (n > 1)
		bale_log_printf(log, BALE_LOG_DEBUG, "%s: members checked in %zu parts", path, n);
	for (; started < n; started++) {
		jobs[started] = (part_job){.parts = parts, .k = started, .n = n};
		if (pthread_create(&threads[started], NULL, part_main, &jobs[started]) != 0)
			break; /* the last part started goes on to the end: settle_parts */
	}
	run_part(parts, 0, n);
	for (size_t k = 1; k < started; k++) { /* the others' progress, reported while waiting */
		struct timespec until;
		for (;;) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += 100 * 1000 * 1000;
			until.tv_sec += until.tv_nsec / 1000000000;
			until.tv_nsec %= 1000000000;
			if (pthread_timedjoin_np(threads[k], NULL, &until) != ETIMEDOUT)
				break;
			report(&parts[0], false);
		}
	}
	used = settle_parts(parts, started, n, path, log);
	rc = report_parts(parts, used, e, err);
	if (rc == 0)
		report(&parts[0], true);
	for (size_t k = 0; rc == 0 && k < used; k++) {
		tally->members += parts[k].tally.members;
		tally->bytes += parts[k].tally.bytes;
	}
cleanup:
	for (size_t k = 0; parts && k < n; k++) {
		if (k > 0)
			bale_bundle_close(parts[k].r);
		bale_error_free(parts[k].err);
		free(parts[k].seen);
	}
	free(parts);
	free(jobs);
	free(threads);
	return rc;
}
