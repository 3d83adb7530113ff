/* bale export's command line, in three files: the verb (cmd_export.c), what it is asked
 * to export (export_inputs.c: lists, image sets, saved plans, the manifests' platforms)
 * and its dry run (export_dry_run.c). */
#ifndef BALE_CLI_EXPORT_H
#define BALE_CLI_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "bale/bundle.h"
#include "bale/have.h"
#include "bale/image_set.h"
#include "bale/k8s.h"
#include "bale/plan.h"
#include "bale/pull.h"
#include "bale/reflist.h"
#include "cli/cli.h"

/* Static bales for as many architectures as a site has (--with-bale, repeatable). */
#define MAX_BINARIES 8

typedef struct export_args {
	bale_reflist refs;
	const char **manifests;
	size_t n_manifests;
	const char **haves; /* have-lists */
	size_t n_haves;
	const char *node_config;
	const char *nodes;
	const char *plan; /* bale plan --platforms --json, saved */
	const char *policy;
	const char *output, *key, *cache;
	bool unsigned_ok, force, foreign_layers, dry_run;
	bale_pull_referrers referrers;
	int level;
	int64_t volume_size;
	bool list_stdin;         /* -f - */
	bale_image_set *sets[8]; /* -f SET.yaml: resolved once the pull exists */
	size_t n_sets;
	bool json;
	bale_bundle_extra binaries[MAX_BINARIES];
	char binary_members[MAX_BINARIES][64];
	size_t n_binaries;
} export_args;

/* The platforms a saved plan asks for each image, kept until the pull exists. */
typedef struct plan_wants {
	char **refs, **platforms;
	size_t n;
} plan_wants;

/* -f FILE: a list of references into a->refs, or an image set, resolved later. */
int export_read_list(export_args *a, const char *path, bale_error **err);
/* --from-manifests: each image's platforms where its workloads may run (bale_pull_want);
 * an image no node can run is refused, every one named. */
int export_want_planned(const bale_plan *plan, const bale_k8s_set *nodes, bale_pull *pull,
                        bale_error **err);
/* --plan FILE: a saved plan's images into refs, their platforms into wants (unless
 * platforms is false: --platform decides). */
int export_read_plan(const char *path, bool platforms, bale_reflist *refs, plan_wants *wants,
                     bale_error **err);
void export_plan_wants_free(plan_wants *wants);
/* The image sets' choices into a->refs, each with its platforms and rule. */
int export_resolve_sets(cli_common *c, export_args *a, bale_pull *pull, bale_error **err);
/* --dry-run: resolve, print what would move, download nothing. */
int export_dry_run(cli_common *c, const export_args *a, bale_pull *pull, bale_sink *cache,
                   const bale_have *have, bale_error **err);

#endif
