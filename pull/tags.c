/* The tag listings of the repositories a run looks attachments up in (pull/attach.c): each
 * listed once per run, however many of its images are asked for, and kept sorted until the
 * run ends. Resolver threads share it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pull/pull_private.h"

typedef struct listing {
	char *key; /* "domain/repository" */
	char **tags;
	size_t n;
	bool listed; /* false: the registry would not list it (asked tag by tag) */
} listing;

struct pull_tags {
	pthread_mutex_t mu;
	listing **list; /* each its own allocation: what a caller holds stays put */
	size_t n;
};

int pull_tags_new(pull_tags **out, bale_error **err)
{
	pull_tags *t = calloc(1, sizeof(*t));
	if (!t)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	pthread_mutex_init(&t->mu, NULL);
	*out = t;
	return 0;
}

static void listing_free(listing *l)
{
	if (!l)
		return;
	bale_registry_list_free(l->tags, l->n);
	free(l->key);
	free(l);
}

void pull_tags_free(pull_tags *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		listing_free(t->list[i]);
	free(t->list);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static listing *find(pull_tags *t, const char *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->list[i]->key, key) == 0)
			return t->list[i];
	return NULL;
}

int pull_tags_get(pull_tags *t, bale_registry *reg, const char *domain, const char *repository,
                  char *const **tags, size_t *n, bool *listed, bale_error **err)
{
	size_t len = strlen(domain) + strlen(repository) + 2;
	listing *mine = calloc(1, sizeof(*mine)), *l;
	bale_error *unlisted = NULL;
	int rc = 0;
	if (!mine || !(mine->key = malloc(len))) {
		free(mine);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	snprintf(mine->key, len, "%s/%s", domain, repository);
	pthread_mutex_lock(&t->mu);
	l = find(t, mine->key);
	pthread_mutex_unlock(&t->mu);
	if (!l) { /* listed outside the lock: another thread may list it at once, once */
		mine->listed =
		    bale_registry_tags(reg, repository, &mine->tags, &mine->n, &unlisted) == 0;
		bale_error_free(unlisted);
		if (mine->listed)
			qsort(mine->tags, mine->n, sizeof(*mine->tags), by_string);
		pthread_mutex_lock(&t->mu);
		if (!(l = find(t, mine->key))) {
			listing **grown = realloc(t->list, (t->n + 1) * sizeof(*grown));
			if (grown) {
				t->list = grown;
				t->list[t->n++] = l = mine;
				mine = NULL;
			} else {
				rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			}
		}
		pthread_mutex_unlock(&t->mu);
	}
	listing_free(mine);
	if (rc == 0) {
		*tags = l->tags;
		*n = l->n;
		*listed = l->listed;
	}
	return rc;
}
