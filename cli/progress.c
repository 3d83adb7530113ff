/* Progress on standard error, as --progress asks: on a terminal one block redrawn in
 * place (a line per transfer under way, then the totals with rate and ETA); in a log a
 * line every few seconds; for CI one JSON object a line. Nothing when auto meets a pipe. */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/terminal.h"

/* Columns of a transfer's name on a terminal: a longer one keeps its end. */
#define ITEM_NAME_WIDTH 24
/* The hex digits of a blob's digest shown on a terminal, as docker shows them. */
#define ITEM_DIGEST_HEX 12

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static cli_progress_mode effective_mode(const cli_progress_state *s)
{
	if (s->mode != CLI_PROGRESS_AUTO)
		return s->mode;
	return s->tty ? CLI_PROGRESS_TTY : CLI_PROGRESS_NONE;
}

void cli_progress_clear(cli_common *c)
{
	if (!c || !c->progress.shown)
		return;
	fputs("\r\033[K", stderr);
	for (; c->progress.lines > 0; c->progress.lines--)
		fputs("\033[A\033[K", stderr); /* up one line, and wipe it */
	c->progress.shown = false;
}

static void print_json(json_t *event)
{
	if (!event)
		return;
	json_dumpf(event, stderr, JSON_COMPACT);
	fputc('\n', stderr);
	json_decref(event);
}

static void phase(cli_common *c, cli_progress_mode mode, const bale_progress *p)
{
	if (mode == CLI_PROGRESS_JSON) {
		print_json(json_pack("{s:s,s:s,s:i,s:i}", "event", "phase", "phase", p->phase,
		                     "done", p->done, "total", p->total));
	} else if (mode == CLI_PROGRESS_PLAIN) {
		fprintf(stderr, "progress: %s, %d of %d\n", p->phase, p->done, p->total);
	} else {
		cli_progress_clear(c);
		fprintf(stderr, "%s %d/%d", p->phase, p->done, p->total);
		c->progress.shown = true;
	}
}

/* One line of the block: "  REPOSITORY  sha256:0123456789ab  1.2 MB / 3.4 MB  35%". */
static void tty_item(const bale_progress_item *it)
{
	char done[32], total[32], digest[7 + ITEM_DIGEST_HEX + 1];
	const char *name = it->name ? it->name : "";
	size_t len = strlen(name);
	if (len > ITEM_NAME_WIDTH)
		name += len - (ITEM_NAME_WIDTH - 3);
	fputs("  ", stderr);
	if (len > ITEM_NAME_WIDTH)
		fputs("...", stderr);
	cli_put_padded(stderr, name, len > ITEM_NAME_WIDTH ? ITEM_NAME_WIDTH - 3 : ITEM_NAME_WIDTH);
	snprintf(digest, sizeof(digest), "%s", it->digest ? it->digest : "");
	fprintf(stderr, "  %s  %s / %s", digest, cli_human_size(done, sizeof(done), it->bytes_done),
	        cli_human_size(total, sizeof(total), it->bytes_total));
	if (it->bytes_total > 0)
		fprintf(stderr, "  %d%%", (int)(it->bytes_done * 100 / it->bytes_total));
	fputc('\n', stderr);
}

static json_t *json_items(const bale_progress *p)
{
	json_t *items = json_array();
	for (int i = 0; items && i < p->n_items; i++)
		json_array_append_new(items,
		                      json_pack("{s:s?,s:s?,s:I,s:I}", "name", p->items[i].name,
		                                "digest", p->items[i].digest, "bytesDone",
		                                (json_int_t)p->items[i].bytes_done, "bytesTotal",
		                                (json_int_t)p->items[i].bytes_total));
	return items;
}

void cli_progress_report(void *payload, const bale_progress *p)
{
	cli_common *c = payload;
	cli_progress_state *s = &c->progress;
	cli_progress_mode mode = effective_mode(s);
	double t = now_s();
	if (mode == CLI_PROGRESS_NONE)
		return;
	if (p->phase) { /* a wait without bytes: what it waits for, and how far it is */
		phase(c, mode, p);
		return;
	}
	bool last = p->blobs_done == p->blobs_total;
	if (p->blobs_total == 0)
		return;
	if (s->start == 0)
		s->start = s->last = t;
	/* a terminal 10 times a second, a log every 5 s, CI every second; the end always */
	double every = mode == CLI_PROGRESS_TTY ? 0.1 : mode == CLI_PROGRESS_PLAIN ? 5 : 1;
	if (!last && t - s->last < every && p->blobs_done)
		return;
	s->last = t;
	double rate =
	    t - s->start > (last ? 0.001 : 0.2) ? (double)p->bytes_done / (t - s->start) : 0;
	double eta = rate > 0 ? (double)(p->bytes_total - p->bytes_done) / rate : -1;
	char done[32], total[32], speed[32], left[32] = "-", images[48] = "";
	cli_human_size(done, sizeof(done), p->bytes_done);
	cli_human_size(total, sizeof(total), p->bytes_total);
	cli_human_size(speed, sizeof(speed), (int64_t)rate);
	if (eta >= 0)
		snprintf(left, sizeof(left), "%d:%02d", (int)eta / 60, (int)eta % 60);
	if (mode == CLI_PROGRESS_JSON) {
		json_t *ev =
		    json_pack("{s:s,s:i,s:i,s:I,s:I,s:f,s:f}", "event", "progress", "blobsDone",
		              p->blobs_done, "blobsTotal", p->blobs_total, "bytesDone",
		              (json_int_t)p->bytes_done, "bytesTotal", (json_int_t)p->bytes_total,
		              "bytesPerSecond", rate, "etaSeconds", eta < 0 ? -1.0 : eta);
		if (ev && p->images_total) {
			json_object_set_new(ev, "imagesDone", json_integer(p->images_done));
			json_object_set_new(ev, "imagesTotal", json_integer(p->images_total));
		}
		if (ev && p->n_items && !last)
			json_object_set_new(ev, "transfers", json_items(p));
		print_json(ev);
		return;
	}
	if (p->images_total)
		snprintf(images, sizeof(images), "%s %d of %d images",
		         mode == CLI_PROGRESS_PLAIN ? "," : "", p->images_done, p->images_total);
	if (mode == CLI_PROGRESS_PLAIN) {
		fprintf(stderr, "progress: %d of %d blobs%s, %s of %s, %s/s, %s left\n",
		        p->blobs_done, p->blobs_total, images, done, total, speed, left);
		return;
	}
	/* a terminal: the block again, in place */
	cli_progress_clear(c);
	for (int i = 0; !last && i < p->n_items && i < BALE_PROGRESS_ITEMS_MAX; i++) {
		tty_item(&p->items[i]);
		s->lines++;
	}
	if (p->images_total)
		snprintf(images, sizeof(images), "images %d/%d  ", p->images_done, p->images_total);
	fprintf(stderr, "%sblobs %d/%d  %s / %s  %s/s  ETA %s", images, p->blobs_done,
	        p->blobs_total, done, total, speed, left);
	s->shown = true;
}
