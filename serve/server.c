/* bale serve's server: libmicrohttpd (in Debian; a thread per connection, bounded
 * connections and timeouts, keep-alive, HEAD and TLS handled by it), the catalog requests
 * read (swapped whole by a reload), and the access log. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/serve_private.h"

struct bale_serve {
	struct MHD_Daemon *daemon;
	int port;
	const bale_serve_options *opts;
	pthread_mutex_t mu;  /* guards live */
	serve_catalog *live; /* what requests that start now read */
	bale_buf cert, key;  /* PEM, held while the daemon runs; the key is wiped */
};

static serve_catalog *hold_live(bale_serve *s)
{
	pthread_mutex_lock(&s->mu);
	serve_catalog *c = s->live;
	serve_catalog_ref(c);
	pthread_mutex_unlock(&s->mu);
	return c;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
	bale_serve *s = cls;
	(void)upload;
	if (*state) { /* a body a read-only registry already refused */
		*upload_size = 0;
		return MHD_YES;
	}
	serve_request *rq = calloc(1, sizeof(*rq));
	if (!rq)
		return MHD_NO;
	*state = rq;
	rq->catalog = hold_live(s);
	snprintf(rq->line, sizeof(rq->line), "%s %s %s", method, url, version);
	return serve_http_answer(rq, s->opts->log, c, url, method);
}

/* Quotes and control characters of what a client sent, made harmless for the log. */
static void tame(char *text)
{
	for (; *text; text++)
		if ((unsigned char)*text < 0x20 || *text == '"' || *text == 0x7f)
			*text = '?';
}

/* host - - [06/Dec/2026:10:00:00 +0000] "GET /v2/ HTTP/1.1" 200 3 */
static void log_request(bale_serve *s, struct MHD_Connection *c, serve_request *rq, bool whole)
{
	char host[INET6_ADDRSTRLEN] = "-", when[40];
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *peer = info ? info->client_addr : NULL;
	if (peer && peer->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, host,
		          sizeof(host));
	else if (peer && peer->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, host,
		          sizeof(host));
	time_t now = time(NULL);
	struct tm tm;
	strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S +0000", gmtime_r(&now, &tm));
	tame(rq->line);
	if (whole)
		fprintf(s->opts->access_log, "%s - - [%s] \"%s\" %u %llu\n", host, when, rq->line,
		        rq->status, (unsigned long long)rq->size);
	else /* the transfer did not end well: what reached the client is not known */
		fprintf(s->opts->access_log, "%s - - [%s] \"%s\" %u -\n", host, when, rq->line,
		        rq->status);
	fflush(s->opts->access_log);
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode how)
{
	bale_serve *s = cls;
	serve_request *rq = *state;
	if (!rq)
		return;
	if (s->opts->access_log && rq->status)
		log_request(s, c, rq, how == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	serve_catalog_unref(rq->catalog);
	free(rq);
	*state = NULL;
}

/* "ADDR:PORT" or "[ADDR6]:PORT" into addr; BALE_EUSAGE otherwise. */
static int parse_listen(const char *listen, struct sockaddr_storage *addr, bool *v6,
                        bale_error **err)
{
	char host[64];
	unsigned port = 0;
	const char *colon = listen ? strrchr(listen, ':') : NULL;
	size_t len = colon ? (size_t)(colon - listen) : 0;
	if (!colon || len >= sizeof(host) || sscanf(colon + 1, "%u", &port) != 1 || port > 65535)
		return bale_error_set(err, BALE_EUSAGE, "--listen: want ADDR:PORT, got \"%s\"",
		                      listen ? listen : "");
	*v6 = len >= 2 && listen[0] == '[' && listen[len - 1] == ']';
	snprintf(host, sizeof(host), "%.*s", (int)(*v6 ? len - 2 : len), *v6 ? listen + 1 : listen);
	memset(addr, 0, sizeof(*addr));
	if (*v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)addr;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) == 1)
			return 0;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)addr;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a->sin_addr) == 1)
			return 0;
	}
	return bale_error_set(err, BALE_EUSAGE,
	                      "--listen: \"%s\" is not an IPv4 address or a bracketed IPv6 one",
	                      host);
}

static int read_tls(bale_serve *s, bale_error **err)
{
	const bale_serve_options *o = s->opts;
	if (!o->tls_cert != !o->tls_key)
		return bale_error_set(err, BALE_EUSAGE, "--tls-cert and --tls-key go together");
	bale_buf_init(&s->cert, 1u << 20, "TLS certificate");
	bale_buf_init(&s->key, 1u << 20, "TLS key");
	if (!o->tls_cert)
		return 0;
	int rc = bale_buf_read_file(&s->cert, o->tls_cert, err);
	if (rc == 0)
		rc = bale_buf_read_file(&s->key, o->tls_key, err);
	return rc < 0 ? bale_error_wrap(err, "TLS") : 0;
}

int bale_serve_start(bale_serve **out, const char *const *bundles, size_t n,
                     const bale_serve_options *opts, bale_error **err)
{
	struct sockaddr_storage addr;
	bool v6 = false;
	int rc = parse_listen(opts->listen, &addr, &v6, err);
	if (rc < 0)
		return rc;
	bale_serve *s = calloc(1, sizeof(*s));
	if (!s)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	s->opts = opts;
	pthread_mutex_init(&s->mu, NULL);
	if ((rc = read_tls(s, err)) == 0 &&
	    (rc = serve_catalog_open(&s->live, bundles, n, opts->trust, opts->log, err)) == 0) {
		unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
		                 (v6 ? MHD_USE_IPv6 : 0) | (s->cert.len ? MHD_USE_TLS : 0);
		s->daemon = MHD_start_daemon(
		    flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		    MHD_OPTION_CONNECTION_LIMIT,
		    opts->max_connections ? opts->max_connections : 64u,
		    MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
		    s->cert.len ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, s->cert.data,
		    MHD_OPTION_HTTPS_MEM_KEY, s->key.data, MHD_OPTION_END);
		if (!s->daemon)
			rc = bale_error_set(err, BALE_EUSAGE, "cannot listen on %s%s", opts->listen,
			                    s->cert.len ? " (or the TLS certificate and key do not "
			                                  "make a pair)"
			                                : "");
	}
	if (rc == 0) {
		const union MHD_DaemonInfo *info =
		    MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
		s->port = info ? info->port : 0;
		*out = s;
		return 0;
	}
	bale_serve_stop(s);
	return rc;
}

int bale_serve_reload(bale_serve *s, const char *const *bundles, size_t n, bale_error **err)
{
	serve_catalog *next = NULL;
	int rc = serve_catalog_open(&next, bundles, n, s->opts->trust, s->opts->log, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&s->mu);
	serve_catalog *old = s->live;
	s->live = next;
	pthread_mutex_unlock(&s->mu);
	serve_catalog_unref(old); /* gone once the requests reading it end */
	return 0;
}

int bale_serve_port(const bale_serve *s)
{
	return s->port;
}

size_t bale_serve_image_count(bale_serve *s)
{
	serve_catalog *c = hold_live(s);
	size_t n = serve_catalog_images(c);
	serve_catalog_unref(c);
	return n;
}

void bale_serve_stop(bale_serve *s)
{
	if (!s)
		return;
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	if (s->live)
		serve_catalog_unref(s->live);
	pthread_mutex_destroy(&s->mu);
	bale_buf_free(&s->cert);
	bale_buf_free(&s->key);
	free(s);
}
