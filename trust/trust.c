/* Trust sets: the public keys a verifier accepts (--key PUB, or every *.pub of a directory,
 * /etc/bale/trust.d by default), loaded in name order so the same directory always gives
 * the same set. Each key is checked as bale_key_load_public checks it. */
#include "bale/trust.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bale/fs.h"

struct bale_trust {
	bale_key **keys;
	size_t n;
};

/* Loads the public key at path and appends it to t. */
static int trust_add(bale_trust *t, const char *path, bale_error **err)
{
	bale_key *key = NULL;
	int rc = bale_key_load_public(&key, path, err);
	if (rc < 0)
		return rc;
	bale_key **keys = realloc(t->keys, (t->n + 1) * sizeof(*keys));
	if (!keys) {
		bale_key_free(key);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	t->keys = keys;
	t->keys[t->n++] = key;
	return 0;
}

int bale_trust_from_key(bale_trust **out, const char *pub_path, bale_error **err)
{
	bale_trust *t = calloc(1, sizeof(*t));
	int rc = 0;

	*out = NULL;
	if (!t) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = trust_add(t, pub_path, err)) < 0)
		goto cleanup;
	*out = t;
	t = NULL;
cleanup:
	bale_trust_free(t);
	return rc;
}

static bool has_pub_suffix(const char *name)
{
	size_t n = strlen(name);
	return n > 4 && strcmp(name + n - 4, ".pub") == 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The *.pub names in dir, sorted so the set (and any error) does not depend on readdir
 * order. *names stays NULL for a missing directory. */
static int list_pub_names(char ***out, size_t *count, const char *dir, bale_error **err)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0;
	int rc = 0;

	*out = NULL;
	*count = 0;
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return bale_error_set_errno(err, BALE_EUSAGE, errno, "trust directory %s", dir);
	}
	for (;;) {
		errno = 0;
		struct dirent *e = readdir(d);
		if (!e) {
			if (errno) {
				rc = bale_error_set_errno(err, BALE_EGENERIC, errno,
				                          "read trust directory %s", dir);
				goto cleanup;
			}
			break;
		}
		if (!has_pub_suffix(e->d_name))
			continue;
		char **grown = realloc(names, (n + 1) * sizeof(*names));
		if (!grown) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
		names = grown;
		if (!(names[n] = strdup(e->d_name))) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), compare_names);
	*out = names;
	*count = n;
	names = NULL;
	n = 0;
cleanup:
	free_names(names, n);
	closedir(d);
	return rc;
}

int bale_trust_from_dir(bale_trust **out, const char *dir, bale_error **err)
{
	bale_trust *t = calloc(1, sizeof(*t));
	char **names = NULL, *path = NULL;
	size_t n = 0;
	int rc = 0;

	*out = NULL;
	if (!t) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = list_pub_names(&names, &n, dir, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		free(path);
		if (!(path = bale_fs_join(dir, names[i]))) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			goto cleanup;
		}
		/* stat, not lstat: a symlink to a key (config management does that) counts;
		 * directories, sockets and dangling links do not. */
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if ((rc = trust_add(t, path, err)) < 0)
			goto cleanup;
	}
	*out = t;
	t = NULL;
cleanup:
	free(path);
	free_names(names, n);
	bale_trust_free(t);
	return rc;
}

const bale_key *bale_trust_find(const bale_trust *trust, const char *key_id)
{
	if (!key_id)
		return NULL;
	for (size_t i = 0; i < trust->n; i++)
		if (strcmp(bale_key_id(trust->keys[i]), key_id) == 0)
			return trust->keys[i];
	return NULL;
}

size_t bale_trust_count(const bale_trust *trust)
{
	return trust->n;
}

void bale_trust_free(bale_trust *trust)
{
	if (!trust)
		return;
	for (size_t i = 0; i < trust->n; i++)
		bale_key_free(trust->keys[i]);
	free(trust->keys);
	free(trust);
}
