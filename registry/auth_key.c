/* Which registry a key of a docker config names (`auths`, `credHelpers`, a --creds
 * HOST): docker's rules for URL keys, podman's for repository-scoped ones, and the names
 * Docker Hub goes by. */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "registry/auth_private.h"

/* Docker Hub answers to several names; config files use all of them. */
static void canonical_host(const char **host, size_t *len)
{
	static const char *const hub_aliases[] = {"index.docker.io", "registry-1.docker.io"};
	for (size_t i = 0; i < sizeof(hub_aliases) / sizeof(hub_aliases[0]); i++) {
		if (*len == strlen(hub_aliases[i]) &&
		    strncasecmp(*host, hub_aliases[i], *len) == 0) {
			*host = "docker.io";
			*len = strlen("docker.io");
			return;
		}
	}
}

static bool host_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	canonical_host(&a, &alen);
	canonical_host(&b, &blen);
	return alen == blen && strncasecmp(a, b, alen) == 0;
}

bool reg_auth_is_docker_hub(const char *domain)
{
	return host_equal(domain, strlen(domain), "docker.io", strlen("docker.io"));
}

int reg_auth_key_match(const char *key, const char *domain, const char *repository)
{
	const char *host = key;
	bool url = false;
	if (strncasecmp(key, "https://", 8) == 0) {
		host += 8;
		url = true;
	} else if (strncasecmp(key, "http://", 7) == 0) {
		host += 7;
		url = true;
	}
	size_t hlen = strcspn(host, "/");
	if (hlen == 0 || !host_equal(host, hlen, domain, strlen(domain)))
		return -1;
	/* A URL key is registry-wide whatever its path says ("/v1/"): docker's
	 * convertToHostname. Only plain keys carry podman's namespace/repository scope. */
	const char *path = host + hlen;
	if (url || path[0] == '\0' || (path[0] == '/' && path[1] == '\0'))
		return url ? 0 : 1;
	path++;
	size_t plen = strlen(path);
	while (plen && path[plen - 1] == '/')
		plen--;
	if (plen == 0)
		return 1;
	if (!repository || strncmp(repository, path, plen) != 0 ||
	    (repository[plen] != '\0' && repository[plen] != '/'))
		return -1;
	return (int)(2 * (plen + 1) + 1);
}
