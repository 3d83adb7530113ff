/* The registries the pods pull from, as containerd finds their configuration under its
 * config_path: HOST/hosts.toml (containerd tries HOST_PORT_ first for a host with a port,
 * then HOST, then _default), its server and host URLs (plain HTTP or not) and the CA
 * files it names, each read and parsed as PEM certificates. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "bale/buf.h"
#include "bale/doctor.h"
#include "bale/fs.h"
#include "bale/plan.h"
#include "bale/ref.h"
#include "doctor/toml.h"

/* CA bundles are small; a 1 MiB one is already absurd. */
#define CA_CAP (1u << 20)

/* Is the file at path PEM certificates? NULL when it is, else why not (malloc'd). */
static char *ca_problem(const char *path)
{
	bale_buf b;
	bale_error *why = NULL;
	char text[600];
	size_t certs = 0;
	bale_buf_init(&b, CA_CAP, path);
	if (bale_buf_read_file(&b, path, &why) < 0) {
		snprintf(text, sizeof(text), "%s", bale_error_message(why));
		bale_error_free(why);
		bale_buf_free(&b);
		return strdup(text);
	}
	BIO *bio = BIO_new_mem_buf(b.data ? b.data : "", (int)b.len);
	for (X509 *x; bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)); certs++)
		X509_free(x);
	ERR_clear_error(); /* the end of the file reads as an error too */
	BIO_free(bio);
	bale_buf_free(&b);
	if (certs)
		return NULL;
	snprintf(text, sizeof(text), "%s: no PEM certificate in it", path);
	return strdup(text);
}

static int add_ca(bale_doctor_host *h, const char *dir, const char *path, bale_error **err)
{
	bale_doctor_ca *grown = realloc(h->cas, (h->n_cas + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	h->cas = grown;
	bale_doctor_ca *ca = &h->cas[h->n_cas];
	memset(ca, 0, sizeof(*ca));
	ca->path = path[0] == '/' ? strdup(path) : bale_fs_join(dir, path);
	if (!ca->path)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	h->n_cas++;
	ca->problem = ca_problem(ca->path);
	return 0;
}

/* A value of `ca`: a path or a list of them. */
static int add_cas(bale_doctor_host *h, const char *dir, const doctor_toml_value *v,
                   bale_error **err)
{
	int rc = 0;
	if (v->kind == DOCTOR_TOML_STRING)
		return add_ca(h, dir, v->str, err);
	for (size_t i = 0; v->kind == DOCTOR_TOML_ARRAY && i < v->n_items && rc == 0; i++)
		rc = add_ca(h, dir, v->items[i], err);
	return rc;
}

static bool is_http(const char *url)
{
	return url && strncasecmp(url, "http://", 7) == 0;
}

/* What hosts.toml says: HTTP or not, and its CA files. */
static int read_hosts_toml(bale_doctor_host *h, const char *dir, bale_error **err)
{
	bale_buf b;
	doctor_toml t = {0};
	bale_error *why = NULL;
	int rc = 0;
	bale_buf_init(&b, DOCTOR_TOML_CAP, h->hosts_toml);
	if (bale_buf_read_file(&b, h->hosts_toml, &why) < 0 ||
	    doctor_toml_parse(&t, h->hosts_toml, b.data ? b.data : "", b.len, &why) < 0) {
		if (!(h->problem = strdup(bale_error_message(why))))
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < t.n && rc == 0; i++) {
		const doctor_toml_value *v = &t.values[i];
		const char *key = v->n_parts ? v->parts[v->n_parts - 1] : "";
		bool top = v->n_parts == 1;
		bool host = v->n_parts >= 2 && strcmp(v->parts[0], "host") == 0;
		if (host && is_http(v->parts[1]))
			h->http = true;
		if (top && strcmp(key, "server") == 0 && v->kind == DOCTOR_TOML_STRING &&
		    is_http(v->str))
			h->http = true;
		if ((top || (host && v->n_parts == 3)) && strcmp(key, "skip_verify") == 0 &&
		    v->kind == DOCTOR_TOML_BOOL && v->boolean)
			h->http = true;
		if ((top || (host && v->n_parts == 3)) && strcmp(key, "ca") == 0)
			rc = add_cas(h, dir, v, err);
	}
cleanup:
	bale_error_free(why);
	doctor_toml_free(&t);
	bale_buf_free(&b);
	return rc;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The directory containerd would read for the host, and its hosts.toml. */
static int find_hosts_toml(bale_doctor_host *h, const char *config_path, bale_error **err)
{
	char port_form[300] = "";
	const char *colon = strrchr(h->host, ':');
	if (colon && colon != h->host && !strchr(colon, ']'))
		snprintf(port_form, sizeof(port_form), "%.*s_%s_", (int)(colon - h->host), h->host,
		         colon + 1);
	const char *names[] = {port_form, h->host, "_default"};
	int rc = 0;
	for (size_t i = 0; i < 3 && rc == 0 && !h->hosts_toml; i++) {
		if (!names[i][0])
			continue;
		char *dir = bale_fs_join(config_path, names[i]);
		char *file = dir ? bale_fs_join(dir, "hosts.toml") : NULL;
		if (!file) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		} else if (is_dir(dir)) {
			struct stat st;
			if (stat(file, &st) == 0) {
				h->hosts_toml = file;
				file = NULL;
				rc = read_hosts_toml(h, dir, err);
			}
			free(dir);
			free(file);
			break; /* containerd reads the first directory there is */
		}
		free(dir);
		free(file);
	}
	return rc;
}

static bool listed(const char *const *list, size_t n, const char *host)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(list[i], host) == 0)
			return true;
	return false;
}

static int add_host(bale_doctor_host **out, size_t *n, const char *domain,
                    const bale_doctor_containerd *cd, const char *const *insecure,
                    size_t n_insecure, bale_error **err)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*out)[i].host, domain) == 0)
			return 0;
	bale_doctor_host *grown = realloc(*out, (*n + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	*out = grown;
	bale_doctor_host *h = &grown[*n];
	memset(h, 0, sizeof(*h));
	if (!(h->host = strdup(domain)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	(*n)++;
	h->insecure = listed(insecure, n_insecure, domain);
	return cd && cd->config_path ? find_hosts_toml(h, cd->config_path, err) : 0;
}

int bale_doctor_hosts_read(bale_doctor_host **out, size_t *n, const bale_k8s_set *set,
                           const bale_doctor_containerd *cd, const char *const *insecure,
                           size_t n_insecure, bale_error **err)
{
	int rc = 0;
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < set->n_workloads && rc == 0; i++) {
		const bale_k8s_workload *w = &set->workloads[i];
		for (size_t j = 0; j < w->n_containers && rc == 0; j++) {
			const bale_k8s_container *c = &w->containers[j];
			bale_ref *ref = NULL;
			if (!c->image ||
			    strcmp(bale_plan_effective_policy(c->image, c->pull_policy), "Never") ==
			        0 ||
			    bale_ref_parse(&ref, c->image, NULL) < 0)
				continue; /* a malformed reference is a finding of its own */
			rc = add_host(out, n, bale_ref_domain(ref), cd, insecure, n_insecure, err);
			bale_ref_free(ref);
		}
	}
	if (rc < 0) {
		bale_doctor_hosts_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

void bale_doctor_hosts_free(bale_doctor_host *hosts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(hosts[i].host);
		free(hosts[i].hosts_toml);
		free(hosts[i].problem);
		for (size_t k = 0; k < hosts[i].n_cas; k++) {
			free(hosts[i].cas[k].path);
			free(hosts[i].cas[k].problem);
		}
		free(hosts[i].cas);
	}
	free(hosts);
}
