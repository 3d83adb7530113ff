#include <stdlib.h>
#include <string.h>

#include "bale/store.h"
#include "store/store_private.h"

int bale_store_open(bale_sink **out, const char *spec, bale_error **err)
{
	return bale_store_open_with(out, spec, NULL, err);
}

int bale_store_open_with(bale_sink **out, const char *spec, const bale_store_options *opts,
                         bale_error **err)
{
	static const bale_store_options defaults = {0};
	store_kind kind = STORE_OCI;
	const char *where = NULL;
	int rc = store_spec_parse(spec, &kind, &where, err);
	if (rc < 0)
		return rc;
	if (!opts)
		opts = &defaults;
	if (kind == STORE_OCI)
		return bale_store_oci_open(out, where, BALE_STORE_STAGED, err);
	if (kind == STORE_CONTAINERD)
		return bale_store_containerd_open(out, where, opts, err);
	bale_registry_options ro;
	bale_registry_options_init(&ro);
	return bale_store_registry_open(out, where, opts->registry ? opts->registry : &ro,
	                                opts->repository_depth, err);
}

int store_spec_parse(const char *spec, store_kind *kind, const char **where, bale_error **err)
{
	if (strncmp(spec, "oci:", 4) == 0 && spec[4]) {
		*kind = STORE_OCI;
		*where = spec + 4;
	} else if (strcmp(spec, "containerd") == 0) {
		*kind = STORE_CONTAINERD;
		*where = BALE_DEFAULT_CONTAINERD_SOCKET;
	} else if (strncmp(spec, "containerd:", 11) == 0 && spec[11]) {
		*kind = STORE_CONTAINERD;
		*where = spec + 11;
	} else if (strncmp(spec, "registry://", 11) == 0) {
		*kind = STORE_REGISTRY;
		*where = spec + 11;
	} else {
		return bale_error_set(err, BALE_EUSAGE,
		                      "unknown store \"%s\" (want oci:DIR, containerd[:SOCKET] or "
		                      "registry://HOST[/PREFIX])",
		                      strchr(spec, '@') ? "…@…" : spec);
	}
	return 0;
}

int bale_store_registry_location(const char *location, char **domain, char **prefix,
                                 bale_error **err)
{
	const char *slash = strchr(location, '/');
	size_t host_len = slash ? (size_t)(slash - location) : strlen(location);
	*domain = *prefix = NULL;
	if (memchr(location, '@', host_len))
		return bale_error_set(
		    err, BALE_EUSAGE,
		    "registry store: user information (USER:PASS@) in its address; "
		    "give credentials with --creds HOST=USER:PASS or an auth file");
	if (!host_len)
		return bale_error_set(err, BALE_EUSAGE, "registry store: no host in \"%s\"",
		                      location);
	*domain = strndup(location, host_len);
	if (slash && slash[1])
		*prefix = strdup(slash + 1);
	if (!*domain || (slash && slash[1] && !*prefix)) {
		free(*domain);
		free(*prefix);
		*domain = *prefix = NULL;
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	size_t n = *prefix ? strlen(*prefix) : 0;
	while (n && (*prefix)[n - 1] == '/')
		(*prefix)[--n] = '\0';
	return 0;
}
