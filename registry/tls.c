/* TLS settings per registry, the way docker and containerd find them: the system CAs,
 * plus --ca-file, plus certs.d/HOST[:PORT]/ *.crt as extra CAs and client.cert +
 * client.key for mutual TLS. */
#include <dirent.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bale/fs.h"
#include "registry/request.h"

static const char *const default_certs_roots[] = {"/etc/docker/certs.d", "/etc/containers/certs.d"};

static bool has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static int add_ca_file(reg_http *http, const char *path, bale_error **err)
{
	char **grown = realloc(http->ca_files, (http->n_ca_files + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	http->ca_files = grown;
	if (!(http->ca_files[http->n_ca_files] = strdup(path)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	http->n_ca_files++;
	return 0;
}

/* Reads one certs.d/HOST directory; a missing directory is not an error. */
static int load_certs_dir(reg_http *http, const char *dir, bale_error **err)
{
	int rc = 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *path = bale_fs_join(dir, e->d_name);
		if (!path) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			break;
		}
		if (has_suffix(e->d_name, ".crt")) {
			rc = add_ca_file(http, path, err);
		} else if (has_suffix(e->d_name, ".cert")) {
			free(http->client_cert);
			http->client_cert = path;
			path = NULL;
		} else if (has_suffix(e->d_name, ".key")) {
			free(http->client_key);
			http->client_key = path;
			path = NULL;
		}
		free(path);
		if (rc < 0)
			break;
	}
	closedir(d);
	if (rc == 0 && (!http->client_cert) != (!http->client_key))
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "%s: a client certificate needs both a .cert and a .key file",
		                    dir);
	return rc;
}

int reg_tls_load(reg_http *http, bale_error **err)
{
	int rc = 0;
	if (http->opts.ca_file) {
		struct stat st;
		if (stat(http->opts.ca_file, &st) < 0)
			return bale_error_set_errno(err, BALE_EUSAGE, errno, "--ca-file %s",
			                            http->opts.ca_file);
		if ((rc = add_ca_file(http, http->opts.ca_file, err)) < 0)
			return rc;
	}
	if (http->opts.certs_dir) {
		char *dir = bale_fs_join(http->opts.certs_dir, http->domain);
		if (!dir)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		rc = load_certs_dir(http, dir, err);
		free(dir);
		return rc;
	}
	for (size_t i = 0; i < sizeof(default_certs_roots) / sizeof(*default_certs_roots); i++) {
		char *dir = bale_fs_join(default_certs_roots[i], http->domain);
		if (!dir)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		rc = load_certs_dir(http, dir, err);
		free(dir);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Adds every certificate of a PEM file to the handshake's trust store. */
static CURLcode add_pem_to_store(X509_STORE *store, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return CURLE_SSL_CACERT_BADFILE;
	int added = 0;
	X509 *cert;
	while ((cert = PEM_read_X509(f, NULL, NULL, NULL))) {
		if (X509_STORE_add_cert(store, cert) == 1)
			added++;
		X509_free(cert);
	}
	ERR_clear_error(); /* PEM_read_X509 ends the loop with an error at end of file */
	fclose(f);
	return added ? CURLE_OK : CURLE_SSL_CACERT_BADFILE;
}

/* The server asked for a client certificate and we have none: remember it, so a
 * refused handshake is reported as such instead of retried as a network error. */
static int client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	reg_http *http = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	if (http)
		http->client_cert_requested = true;
	return 0; /* none: the server decides whether to go on */
}

/* Runs when libcurl has built the TLS context: curl has loaded the system CAs, we add
 * ours on top, as docker does with certs.d. */
static CURLcode ssl_ctx_cb(CURL *h, void *ssl_ctx, void *payload)
{
	reg_http *http = payload;
	if (!http->client_cert) {
		SSL_CTX_set_app_data((SSL_CTX *)ssl_ctx, http);
		SSL_CTX_set_client_cert_cb((SSL_CTX *)ssl_ctx, client_cert_cb);
	}
	X509_STORE *store = SSL_CTX_get_cert_store((SSL_CTX *)ssl_ctx);
	for (size_t i = 0; i < http->n_ca_files; i++) {
		CURLcode rc = add_pem_to_store(store, http->ca_files[i]);
		if (rc != CURLE_OK)
			return rc;
	}
	return CURLE_OK;
}

void reg_tls_setup(reg_http *http, CURL *h, bool insecure)
{
	if (insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
	curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, http);
	if (http->client_cert) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, http->client_cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, http->client_key);
	}
}
