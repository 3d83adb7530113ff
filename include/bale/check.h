/* Store checks: is what a node store names still whole? Every named image is walked from
 * its root (index -> manifests -> config and layers), every blob there is re-hashed as it
 * streams past, and leftovers of interrupted writes that no live writer holds are found.
 * With repair, those leftovers go and names whose content cannot be backed are dropped,
 * never a blob that a remaining name needs. Findings reach the caller through a callback;
 * libbale prints nothing. */
#ifndef BALE_CHECK_H
#define BALE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bale/buf.h"
#include "bale/error.h"
#include "bale/sink.h"
#include "bale/store.h"

typedef enum bale_check_problem {
	BALE_CHECK_MISSING,    /* a name needs it and the store does not have it */
	BALE_CHECK_DIGEST,     /* its bytes hash to another digest */
	BALE_CHECK_SIZE,       /* it has another size than its descriptor says */
	BALE_CHECK_UNREADABLE, /* a manifest or index that does not parse: children unknown */
	BALE_CHECK_PARTIAL,    /* a leftover of an interrupted write that nobody holds */
} bale_check_problem;

typedef struct bale_check_finding {
	bale_check_problem problem;
	const char *ref;    /* the image name; NULL for a partial */
	const char *object; /* "index", "manifest", "config", "layer", or for a partial what
	                       it is ("staging directory", "temporary file", "ingest") */
	const char *digest; /* the object's digest; NULL for a partial */
	const char *path;   /* where it is (a file, an ingest, a repository); may be NULL */
	const char *detail; /* what is wrong: "missing", "digest mismatch: has sha256:… want
	                       sha256:…", "size 10 want 12", … */
	bool repaired;      /* repair: dealt with */
	const char *repair; /* repair: what was done, or why it could not be (NULL without) */
} bale_check_finding;

/* Called once per finding, after any repair. A negative return stops the check and
 * becomes its result (set *err to say why). */
typedef int (*bale_check_report_fn)(void *payload, const bale_check_finding *f, bale_error **err);

typedef struct bale_check_options {
	const char *const *images; /* only these names (normalized as references); NULL: all */
	size_t n_images;
	bool repair;
	/* containerd: namespace and ctr; registry://: auth, TLS and retries; the log */
	const bale_store_options *store;
	bale_check_report_fn report;
	void *payload;
} bale_check_options;

typedef struct bale_check_summary {
	size_t images;          /* names checked */
	size_t damaged_images;  /* of which with a finding */
	size_t blobs;           /* distinct blobs read or hashed */
	int64_t bytes;          /* bytes hashed */
	size_t partials;        /* leftovers of interrupted writes */
	size_t findings;        /* every finding, partials included */
	size_t repaired;        /* findings repair dealt with */
	size_t names_dropped;   /* repair: names removed from the store */
	size_t blobs_removed;   /* repair: damaged blobs no remaining name needs */
	bool partials_unlisted; /* the store cannot list partials (a registry) */
} bale_check_summary;

/* Checks the store given by spec ("oci:DIR", "containerd[:SOCKET]",
 * "registry://HOST[/PREFIX]"). Returns 0 when the check ran to its end, whatever it found:
 * damage remains when summary->findings > summary->repaired. A store that cannot be
 * opened or read is an error (BALE_ESTORE; for a registry its own codes: BALE_EAUTH,
 * BALE_ENETWORK), an --image the store does not name BALE_ENOTFOUND. */
int bale_check_store(const char *spec, const bale_check_options *opts, bale_check_summary *summary,
                     bale_error **err);

/* "missing", "digest-mismatch", "size-mismatch", "unreadable", "partial" */
const char *bale_check_problem_name(bale_check_problem p);

/* ---- reading a store ---- */

/* What a node store holds, read the way bale check reads it (the same names, the same
 * reads) but without walking or hashing anything: for callers that look images up (the
 * preflight). Valid only during the callback it is given to. */
typedef struct bale_check_view bale_check_view;

typedef int (*bale_check_view_fn)(void *payload, bale_check_view *view, bale_error **err);

/* Opens the store given by spec ("oci:DIR", "containerd[:SOCKET]",
 * "registry://HOST[/PREFIX]"), lists its names and calls fn once with the view; fn's
 * result is the result. A store that cannot be opened or listed is BALE_ESTORE (for a
 * registry its own codes too). */
int bale_check_read_store(const char *spec, const bale_store_options *opts, bale_check_view_fn fn,
                          void *payload, bale_error **err);

/* The names of the store, in its order: i < bale_check_view_count. */
size_t bale_check_view_count(const bale_check_view *v);
/* As the store names it (an oci: entry with neither name annotation goes by its digest). */
const char *bale_check_view_name(const bale_check_view *v, size_t i);
/* What the name points at; root->digest.str is "" when the store records no usable digest
 * for it, root->size -1 when the store does not say. */
const bale_descriptor *bale_check_view_root(const bale_check_view *v, size_t i);
/* The bytes of a manifest or index (out is initialized here, capped at
 * BALE_CAP_MANIFEST; free it in any case), unverified. BALE_ENOTFOUND when the store does
 * not have it. */
int bale_check_view_read(bale_check_view *v, const bale_descriptor *d, bale_buf *out,
                         bale_error **err);
/* Does the store hold the blob (any kind)? Cheap: no byte is read. A registry holds every
 * blob the manifests it serves name (it refuses a manifest otherwise): always true. */
bool bale_check_view_has(bale_check_view *v, const bale_digest *d);
/* The reads that follow are of name i's content: call it before reading a name's
 * manifests (a registry keeps them per repository; node stores read alike). */
void bale_check_view_enter(bale_check_view *v, size_t i);

#endif
