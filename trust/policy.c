/* containers-policy.json, read strictly and applied offline (include/bale/policy.h). The
 * rules follow containers-policy.json(5): the most specific scope that matches an image
 * decides alone, every requirement of its list must admit the image, and a cosign
 * signature's identity carries a repository only, so that signedIdentity decides which
 * names it may stand for. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bale/json.h"
#include "bale/key.h"
#include "bale/manifest.h"
#include "bale/policy.h"
#include "bale/ref.h"

#define SIMPLE_SIGNING_TYPE "cosign container image signature"
/* A policy file: a few kilobytes; podman's own default is a few hundred bytes. */
#define POLICY_CAP (1u << 20)
/* A signed payload is some 250 bytes; containers/image reads signatures up to 4 MiB, and
 * bale holds the payload in memory already: this only bounds what jansson builds. */
#define PAYLOAD_CAP (256u << 10)

typedef enum req_type { REQ_ACCEPT, REQ_REJECT, REQ_SIGSTORE } req_type;

typedef enum id_type {
	ID_MATCH_REPO_DIGEST_OR_EXACT, /* the default */
	ID_MATCH_EXACT,
	ID_MATCH_REPOSITORY,
	ID_EXACT_REFERENCE,
	ID_EXACT_REPOSITORY,
	ID_REMAP,
} id_type;

static const char *const id_names[] = {"matchRepoDigestOrExact", "matchExact",
                                       "matchRepository",        "exactReference",
                                       "exactRepository",        "remapIdentity"};

typedef struct requirement {
	req_type type;
	bale_key **keys;
	size_t n_keys;
	id_type identity;
	char *id_ref;                 /* exactReference, exactRepository: normalized */
	char *prefix, *signed_prefix; /* remapIdentity */
} requirement;

typedef struct scope {
	char *name; /* "" for the docker transport's own default */
	requirement *reqs;
	size_t n_reqs;
} scope;

struct bale_policy {
	char *path;
	bale_digest digest; /* of the file's bytes */
	scope fallback;     /* "default" */
	scope *docker;
	size_t n_docker;
};

static void scope_free(scope *s)
{
	for (size_t i = 0; i < s->n_reqs; i++) {
		requirement *r = &s->reqs[i];
		for (size_t k = 0; k < r->n_keys; k++)
			bale_key_free(r->keys[k]);
		free(r->keys);
		free(r->id_ref);
		free(r->prefix);
		free(r->signed_prefix);
	}
	free(s->reqs);
	free(s->name);
}

void bale_policy_free(bale_policy *policy)
{
	if (!policy)
		return;
	scope_free(&policy->fallback);
	for (size_t i = 0; i < policy->n_docker; i++)
		scope_free(&policy->docker[i]);
	free(policy->docker);
	free(policy->path);
	free(policy);
}

/* The members of obj must all be among the NULL-terminated allowed names. */
static int only_keys(const bale_policy *p, json_t *obj, const char *where,
                     const char *const *allowed, bale_error **err)
{
	const char *key;
	json_t *value;
	json_object_foreach(obj, key, value)
	{
		bool known = false;
		for (const char *const *a = allowed; *a && !known; a++)
			known = strcmp(*a, key) == 0;
		if (!known)
			return bale_error_set(err, BALE_EUSAGE, "%s: %s: unknown field \"%s\"",
			                      p->path, where, key);
	}
	return 0;
}

/* A repository name without tag or digest ("host/ns/repo", "busybox"). */
static bool name_only(const char *text)
{
	const char *last = strrchr(text, '/');
	last = last ? last : text;
	return !strchr(last, ':') && !strchr(last, '@');
}

/* text's normalized form (name only when want_name), or NULL with err set. */
static char *normalized(const bale_policy *p, const char *text, bool want_name, const char *where,
                        bale_error **err)
{
	bale_ref *ref = NULL;
	if (bale_ref_parse(&ref, text, err) < 0) {
		bale_error_wrap(err, "%s: %s", p->path, where);
		return NULL;
	}
	char *out = strdup(want_name ? bale_ref_name(ref) : bale_ref_string(ref));
	bale_ref_free(ref);
	if (!out)
		bale_error_set(err, BALE_EGENERIC, "out of memory");
	return out;
}

static int string_field(const bale_policy *p, json_t *obj, const char *name, const char *where,
                        const char **out, bale_error **err)
{
	json_t *v = json_object_get(obj, name);
	if (!json_is_string(v) || !*json_string_value(v))
		return bale_error_set(err, BALE_EUSAGE, "%s: %s: want a string \"%s\"", p->path,
		                      where, name);
	*out = json_string_value(v);
	return 0;
}

static int read_identity(const bale_policy *p, json_t *id, requirement *r, bale_error **err)
{
	static const char *const plain[] = {"type", NULL};
	static const char *const exact_ref[] = {"type", "dockerReference", NULL};
	static const char *const exact_repo[] = {"type", "dockerRepository", NULL};
	static const char *const remap[] = {"type", "prefix", "signedPrefix", NULL};
	const char *where = "signedIdentity", *type = NULL, *text = NULL;
	if (!json_is_object(id) || string_field(p, id, "type", where, &type, err) < 0)
		return bale_error_set(err, BALE_EUSAGE,
		                      "%s: signedIdentity: want an object with a type", p->path);
	size_t t = 0;
	while (t < sizeof(id_names) / sizeof(id_names[0]) && strcmp(id_names[t], type) != 0)
		t++;
	if (t == sizeof(id_names) / sizeof(id_names[0]))
		return bale_error_set(err, BALE_EUSAGE, "%s: signedIdentity: unknown type \"%s\"",
		                      p->path, type);
	r->identity = (id_type)t;
	switch (r->identity) {
	case ID_EXACT_REFERENCE:
		if (only_keys(p, id, where, exact_ref, err) < 0 ||
		    string_field(p, id, "dockerReference", where, &text, err) < 0)
			return bale_error_code(*err);
		if (name_only(text))
			return bale_error_set(err, BALE_EUSAGE,
			                      "%s: exactReference \"%s\": want a tag or a digest",
			                      p->path, text);
		return (r->id_ref = normalized(p, text, false, where, err)) ? 0
		                                                            : bale_error_code(*err);
	case ID_EXACT_REPOSITORY:
		if (only_keys(p, id, where, exact_repo, err) < 0 ||
		    string_field(p, id, "dockerRepository", where, &text, err) < 0)
			return bale_error_code(*err);
		if (!name_only(text))
			return bale_error_set(
			    err, BALE_EUSAGE,
			    "%s: exactRepository \"%s\": want a repository, without tag "
			    "or digest",
			    p->path, text);
		return (r->id_ref = normalized(p, text, true, where, err)) ? 0
		                                                           : bale_error_code(*err);
	case ID_REMAP: {
		const char *prefix = NULL, *signed_prefix = NULL;
		if (only_keys(p, id, where, remap, err) < 0 ||
		    string_field(p, id, "prefix", where, &prefix, err) < 0 ||
		    string_field(p, id, "signedPrefix", where, &signed_prefix, err) < 0)
			return bale_error_code(*err);
		if (!(r->prefix = strdup(prefix)) || !(r->signed_prefix = strdup(signed_prefix)))
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		return 0;
	}
	default:
		return only_keys(p, id, where, plain, err);
	}
}

/* keyPath, keyPaths, keyData or keyDatas: exactly one, every key read now. */
static int read_keys(const bale_policy *p, json_t *req, requirement *r, bale_error **err)
{
	static const char *const sources[] = {"keyPath", "keyPaths", "keyData", "keyDatas"};
	json_t *list = NULL;
	bool data = false;
	int found = 0;
	for (int i = 0; i < 4; i++) {
		json_t *v = json_object_get(req, sources[i]);
		if (!v)
			continue;
		found++;
		data = i >= 2;
		json_decref(list);
		list = i % 2 ? json_incref(v) : json_pack("[O]", v);
	}
	if (found != 1) {
		json_decref(list);
		return bale_error_set(err, BALE_EUSAGE,
		                      "%s: sigstoreSigned: want exactly one of keyPath, keyPaths, "
		                      "keyData, keyDatas",
		                      p->path);
	}
	int rc = 0;
	size_t n = json_array_size(list);
	if (!json_is_array(list) || n == 0)
		rc = bale_error_set(err, BALE_EUSAGE, "%s: sigstoreSigned: an empty key list",
		                    p->path);
	if (rc == 0 && !(r->keys = calloc(n, sizeof(*r->keys))))
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const char *text = json_string_value(json_array_get(list, i));
		if (!text || !*text) {
			rc = bale_error_set(err, BALE_EUSAGE,
			                    "%s: sigstoreSigned: a key that is not a string",
			                    p->path);
			break;
		}
		if (data) {
			char what[64];
			snprintf(what, sizeof(what), "%s: keyData %zu", p->path, i + 1);
			rc = bale_key_public_from_base64(&r->keys[i], text, what, err);
		} else if (text[0] == '/' || !strrchr(p->path, '/')) {
			rc = bale_key_load_public(&r->keys[i], text, err);
		} else { /* relative to the policy's own directory */
			int dir = (int)(strrchr(p->path, '/') - p->path);
			size_t len = (size_t)dir + strlen(text) + 2;
			char *path = malloc(len);
			if (!path)
				rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			else {
				snprintf(path, len, "%.*s/%s", dir, p->path, text);
				rc = bale_key_load_public(&r->keys[i], path, err);
				free(path);
			}
		}
		if (rc == 0)
			r->n_keys++;
		else if (!data)
			bale_error_wrap(err, "%s: keyPath", p->path);
	}
	json_decref(list);
	return rc;
}

static int read_requirement(const bale_policy *p, json_t *req, requirement *r, bale_error **err)
{
	static const char *const plain[] = {"type", NULL};
	static const char *const sigstore[] = {"type",     "keyPath",        "keyPaths", "keyData",
	                                       "keyDatas", "signedIdentity", NULL};
	static const char *const unsupported[] = {"fulcio",
	                                          "pki",
	                                          "rekorPublicKeyPath",
	                                          "rekorPublicKeyPaths",
	                                          "rekorPublicKeyData",
	                                          "rekorPublicKeyDatas"};
	const char *type = NULL;
	if (!json_is_object(req) || string_field(p, req, "type", "a requirement", &type, err) < 0)
		return bale_error_set(err, BALE_EUSAGE,
		                      "%s: a requirement that is not an object with a "
		                      "type",
		                      p->path);
	if (strcmp(type, "insecureAcceptAnything") == 0 || strcmp(type, "reject") == 0) {
		r->type = type[0] == 'i' ? REQ_ACCEPT : REQ_REJECT;
		return only_keys(p, req, type, plain, err);
	}
	if (strcmp(type, "signedBy") == 0)
		return bale_error_set(
		    err, BALE_EUSAGE,
		    "%s: signedBy (GPG signatures) is not something bale can check; "
		    "sigstoreSigned with a key is",
		    p->path);
	if (strcmp(type, "sigstoreSigned") != 0)
		return bale_error_set(err, BALE_EUSAGE, "%s: unknown requirement type \"%s\"",
		                      p->path, type);
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if (json_object_get(req, unsupported[i]))
			return bale_error_set(
			    err, BALE_EUSAGE,
			    "%s: sigstoreSigned with %s needs a network or a transparency "
			    "log; offline, bale checks signatures with keys (keyPath, "
			    "keyData)",
			    p->path, unsupported[i]);
	r->type = REQ_SIGSTORE;
	json_t *id = json_object_get(req, "signedIdentity");
	int rc = only_keys(p, req, "sigstoreSigned", sigstore, err);
	if (rc == 0)
		rc = read_keys(p, req, r, err);
	if (rc == 0 && id)
		rc = read_identity(p, id, r, err);
	return rc;
}

static int read_scope(const bale_policy *p, const char *name, json_t *list, scope *s,
                      bale_error **err)
{
	if (!(s->name = strdup(name)))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	size_t n = json_array_size(list);
	if (!json_is_array(list) || n == 0)
		return bale_error_set(err, BALE_EUSAGE,
		                      "%s: scope \"%s\": want a list of requirements", p->path,
		                      name);
	if (!(s->reqs = calloc(n, sizeof(*s->reqs))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++, s->n_reqs++)
		rc = read_requirement(p, json_array_get(list, i), &s->reqs[i], err);
	return rc;
}

static int read_docker(bale_policy *p, json_t *scopes, bale_error **err)
{
	if (!json_is_object(scopes))
		return bale_error_set(err, BALE_EUSAGE, "%s: transports.docker: want an object",
		                      p->path);
	if (!(p->docker = calloc(json_object_size(scopes) + 1, sizeof(*p->docker))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	const char *name;
	json_t *list;
	json_object_foreach(scopes, name, list)
	{
		int rc = read_scope(p, name, list, &p->docker[p->n_docker++], err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int bale_policy_load(bale_policy **out, const char *path, bale_error **err)
{
	static const char *const top[] = {"default", "transports", NULL};
	json_error_t jerr;
	json_t *doc = NULL;
	struct stat st;
	bale_buf file;
	int rc = 0;
	*out = NULL;
	bale_buf_init(&file, POLICY_CAP, "policy");
	bale_policy *p = calloc(1, sizeof(*p));
	if (!p || !(p->path = strdup(path))) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if (stat(path, &st) < 0) {
		rc = bale_error_set_errno(err, BALE_ENOTFOUND, errno, "policy %s", path);
		goto cleanup;
	}
	if ((rc = bale_buf_read_file(&file, path, err)) < 0) {
		bale_error_wrap(err, "policy");
		goto cleanup;
	}
	bale_digest_of(&p->digest, file.data, file.len);
	if (!(doc = json_loadb(file.data, file.len, JSON_REJECT_DUPLICATES, &jerr))) {
		rc =
		    bale_error_set(err, BALE_EUSAGE, "%s: line %d: %s", path, jerr.line, jerr.text);
		goto cleanup;
	}
	if (!json_is_object(doc) || !json_object_get(doc, "default")) {
		rc = bale_error_set(err, BALE_EUSAGE, "%s: want an object with \"default\"", path);
		goto cleanup;
	}
	if ((rc = only_keys(p, doc, "the policy", top, err)) < 0 ||
	    (rc = read_scope(p, "default", json_object_get(doc, "default"), &p->fallback, err)) < 0)
		goto cleanup;
	json_t *transports = json_object_get(doc, "transports");
	if (transports && !json_is_object(transports)) {
		rc = bale_error_set(err, BALE_EUSAGE, "%s: transports: want an object", path);
		goto cleanup;
	}
	json_t *docker = json_object_get(transports, "docker");
	if (docker && (rc = read_docker(p, docker, err)) < 0)
		goto cleanup;
	*out = p;
	p = NULL;
cleanup:
	json_decref(doc);
	bale_buf_free(&file);
	bale_policy_free(p);
	return rc;
}

const char *bale_policy_digest(const bale_policy *policy)
{
	return policy->digest.str;
}

int bale_policy_key_for(const bale_policy *policy, const bale_policy_signature *sig,
                        char key_id[65])
{
	for (size_t d = 0; d <= policy->n_docker; d++) { /* the docker scopes, then default */
		const scope *sc = d < policy->n_docker ? &policy->docker[d] : &policy->fallback;
		for (size_t i = 0; i < sc->n_reqs; i++)
			for (size_t k = 0; k < sc->reqs[i].n_keys; k++) {
				bale_error *e = NULL;
				if (sig->signature_b64 &&
				    bale_key_verify(sc->reqs[i].keys[k], sig->payload,
				                    sig->payload_len, sig->signature_b64,
				                    &e) == 0) {
					snprintf(key_id, 65, "%s",
					         bale_key_id(sc->reqs[i].keys[k]));
					return 0;
				}
				bale_error_free(e);
			}
	}
	return BALE_ENOTFOUND;
}

static const scope *find_scope(const bale_policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_docker; i++)
		if (strcmp(p->docker[i].name, name) == 0)
			return &p->docker[i];
	return NULL;
}

/* The most specific scope for ref: the reference itself, its repository and each parent
 * namespace up to the host, "*." wildcards of the host's domains, the docker transport's
 * "", then "default". */
static const scope *scope_for(const bale_policy *p, const bale_ref *ref)
{
	char buf[1024];
	const scope *s = NULL;
	const char *name = bale_ref_name(ref);
	if (bale_ref_tag(ref)) {
		snprintf(buf, sizeof(buf), "%s:%s", name, bale_ref_tag(ref));
		s = find_scope(p, buf);
	}
	if (!s && bale_ref_digest(ref)) {
		snprintf(buf, sizeof(buf), "%s@%s", name, bale_ref_digest(ref));
		s = find_scope(p, buf);
	}
	snprintf(buf, sizeof(buf), "%s", name);
	while (!s && !(s = find_scope(p, buf))) {
		char *slash = strrchr(buf, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	const char *host = bale_ref_domain(ref);
	if (!s && host[0] != '[') { /* an IPv6 address has no domains */
		snprintf(buf, sizeof(buf), "%s", host);
		char *port = strchr(buf, ':');
		if (port)
			*port = '\0';
		for (char *dot = strchr(buf, '.'); !s && dot; dot = strchr(dot + 1, '.')) {
			char wild[300];
			snprintf(wild, sizeof(wild), "*%s", dot);
			s = find_scope(p, wild);
		}
	}
	if (!s)
		s = find_scope(p, "");
	return s ? s : &p->fallback;
}

/* The payload's exact shape, as containers/image demands it: no other field, no duplicate. */
static int read_payload(const bale_policy_signature *sig, const char **digest,
                        const char **identity, json_t **doc, const char **why)
{
	json_t *critical, *image, *ident, *optional;
	bale_error *e = NULL;
	*doc = NULL;
	*why = "its payload is not a cosign simple-signing document";
	bale_json_parse(doc, (const char *)sig->payload, sig->payload_len, PAYLOAD_CAP, "payload",
	                &e);
	bale_error_free(e);
	if (!json_is_object(*doc) || json_object_size(*doc) != 2 ||
	    !(critical = json_object_get(*doc, "critical")) ||
	    !(optional = json_object_get(*doc, "optional")) ||
	    !(json_is_null(optional) || json_is_object(optional)) || !json_is_object(critical) ||
	    json_object_size(critical) != 3 || !(image = json_object_get(critical, "image")) ||
	    !(ident = json_object_get(critical, "identity")) || !json_is_object(image) ||
	    json_object_size(image) != 1 || !json_is_object(ident) || json_object_size(ident) != 1)
		return -1;
	const char *type = json_string_value(json_object_get(critical, "type"));
	*digest = json_string_value(json_object_get(image, "docker-manifest-digest"));
	*identity = json_string_value(json_object_get(ident, "docker-reference"));
	if (!type || strcmp(type, SIMPLE_SIGNING_TYPE) != 0 || !*digest || !*identity)
		return -1;
	return 0;
}

static bool repo_digest_or_exact(const bale_ref *image, const bale_ref *signed_ref,
                                 bool signed_name_only)
{
	if (signed_name_only)
		return false;
	if (bale_ref_digest(image))
		return strcmp(bale_ref_name(image), bale_ref_name(signed_ref)) == 0;
	return strcmp(bale_ref_string(image), bale_ref_string(signed_ref)) == 0;
}

/* Whether signedIdentity lets a signature for signed_text stand for image. */
static bool identity_matches(const requirement *r, const bale_ref *image, const char *signed_text)
{
	bale_ref *sig = NULL, *remapped = NULL;
	bale_error *ignored = NULL;
	bool only = name_only(signed_text), ok = false;
	if (bale_ref_parse(&sig, signed_text, &ignored) < 0) {
		bale_error_free(ignored);
		return false;
	}
	const char *name = bale_ref_name(image);
	switch (r->identity) {
	case ID_MATCH_EXACT:
		ok = !only && strcmp(bale_ref_string(image), bale_ref_string(sig)) == 0;
		break;
	case ID_MATCH_REPOSITORY:
		ok = strcmp(name, bale_ref_name(sig)) == 0;
		break;
	case ID_EXACT_REFERENCE:
		ok = !only && strcmp(r->id_ref, bale_ref_string(sig)) == 0;
		break;
	case ID_EXACT_REPOSITORY:
		ok = strcmp(r->id_ref, bale_ref_name(sig)) == 0;
		break;
	case ID_REMAP: {
		size_t n = strlen(r->prefix);
		if (strncmp(name, r->prefix, n) == 0 && (name[n] == '\0' || name[n] == '/')) {
			const char *rest = bale_ref_string(image) + n;
			size_t len = strlen(r->signed_prefix) + strlen(rest) + 1;
			char *text = malloc(len);
			if (text) {
				snprintf(text, len, "%s%s", r->signed_prefix, rest);
				if (bale_ref_parse(&remapped, text, &ignored) == 0)
					ok = repo_digest_or_exact(remapped, sig, only);
				free(text);
			}
			break;
		}
		ok = repo_digest_or_exact(image, sig, only);
		break;
	}
	case ID_MATCH_REPO_DIGEST_OR_EXACT:
		ok = repo_digest_or_exact(image, sig, only);
		break;
	}
	bale_error_free(ignored);
	bale_ref_free(remapped);
	bale_ref_free(sig);
	return ok;
}

/* One signature against a sigstoreSigned requirement: NULL when it meets it (key_id set),
 * else why not, in words for the user. */
static const char *check_signature(const requirement *r, const bale_ref *image,
                                   const char *manifest_digest, const bale_policy_signature *sig,
                                   const char **key_id)
{
	const char *why = "it does not verify with the policy's keys", *digest, *identity;
	json_t *doc = NULL;
	bool verified = false;
	for (size_t k = 0; k < r->n_keys && !verified; k++) {
		bale_error *e = NULL;
		verified = sig->signature_b64 &&
		           bale_key_verify(r->keys[k], sig->payload, sig->payload_len,
		                           sig->signature_b64, &e) == 0;
		bale_error_free(e);
		if (verified)
			*key_id = bale_key_id(r->keys[k]);
	}
	if (verified && read_payload(sig, &digest, &identity, &doc, &why) == 0) {
		if (strcmp(digest, manifest_digest) != 0)
			why = "it signs another manifest";
		else if (!identity_matches(r, image, identity))
			why = r->identity == ID_MATCH_REPO_DIGEST_OR_EXACT && name_only(identity)
			          ? "it names a repository only, which signedIdentity "
			            "matchRepoDigestOrExact (the default) never accepts; "
			            "cosign signatures want matchRepository or exactRepository"
			          : "the name it signs is not one signedIdentity accepts for this "
			            "image";
		else
			why = NULL;
	}
	json_decref(doc);
	return why;
}

int bale_policy_check(const bale_policy *policy, const char *ref, const char *manifest_digest,
                      const bale_policy_signature *sigs, size_t n_sigs, char signer[65],
                      bale_error **err)
{
	bale_ref *image = NULL;
	int rc = bale_ref_parse(&image, ref, err);
	if (rc < 0)
		return rc;
	if (signer)
		signer[0] = '\0';
	const scope *s = scope_for(policy, image);
	for (size_t i = 0; rc == 0 && i < s->n_reqs; i++) {
		const requirement *r = &s->reqs[i];
		if (r->type == REQ_REJECT) {
			rc = bale_error_set(err, BALE_ETRUST,
			                    "%s: rejected by policy %s (scope \"%s\")", ref,
			                    policy->path, s->name);
			break;
		}
		if (r->type == REQ_ACCEPT)
			continue;
		const char *why = "a signature is required, and the image carries none";
		const char *key_id = NULL;
		for (size_t k = 0; k < n_sigs && why; k++)
			why = check_signature(r, image, manifest_digest, &sigs[k], &key_id);
		const char *which = n_sigs > 1 ? "none of its signatures meets it; the last: "
		                    : n_sigs   ? "its signature: "
		                               : "";
		if (why)
			rc = bale_error_set(err, BALE_ETRUST,
			                    "%s: not admitted by policy %s (scope \"%s\"): %s%s",
			                    ref, policy->path, s->name, which, why);
		else if (signer)
			snprintf(signer, 65, "%s", key_id);
	}
	bale_ref_free(image);
	return rc;
}

#define SIMPLE_SIGNING_MEDIA_TYPE "application/vnd.dev.cosign.simplesigning.v1+json"
#define SIGNATURE_ANNOTATION "dev.cosignproject.cosign/signature"

void bale_policy_sig_layers_free(bale_policy_sig_layer *layers, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(layers[i].signature_b64);
	free(layers);
}

int bale_policy_sig_layers(const char *manifest, size_t len, bale_policy_sig_layer **out, size_t *n,
                           bale_error **err)
{
	json_t *doc = NULL, *layer;
	size_t i;
	*out = NULL;
	*n = 0;
	int rc = bale_json_parse(&doc, manifest, len, BALE_CAP_MANIFEST, "signature manifest", err);
	json_t *layers = json_object_get(doc, "layers");
	if (rc == 0 && !json_is_array(layers))
		rc = bale_error_set(err, BALE_EVERIFY, "signature manifest: no layers");
	bale_policy_sig_layer *list =
	    rc == 0 ? calloc(json_array_size(layers) + 1, sizeof(*list)) : NULL;
	if (rc == 0 && !list)
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	json_array_foreach(layers, i, layer)
	{
		const char *type = bale_json_str(layer, "mediaType");
		const char *digest = bale_json_str(layer, "digest");
		const char *sig =
		    bale_json_str(json_object_get(layer, "annotations"), SIGNATURE_ANNOTATION);
		json_t *size = json_object_get(layer, "size");
		if (rc < 0)
			break;
		if (!type || strcmp(type, SIMPLE_SIGNING_MEDIA_TYPE) != 0 || !sig)
			continue;
		bale_policy_sig_layer *l = &list[*n];
		if (!digest || bale_digest_parse(&l->desc.digest, digest, NULL) < 0 ||
		    !json_is_integer(size) || json_integer_value(size) < 0 ||
		    json_integer_value(size) > (json_int_t)PAYLOAD_CAP) {
			rc = bale_error_set(err, BALE_EVERIFY,
			                    "signature manifest: layer %zu: a bad digest or size",
			                    i);
			break;
		}
		l->desc.size = json_integer_value(size);
		snprintf(l->desc.media_type, sizeof(l->desc.media_type), "%s", type);
		if (!(l->signature_b64 = strdup(sig))) {
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
			break;
		}
		(*n)++;
	}
	json_decref(doc);
	if (rc < 0) {
		bale_policy_sig_layers_free(list, *n);
		*n = 0;
		return rc;
	}
	*out = list;
	return 0;
}

/* The signatures found for one manifest or index. */
typedef struct signed_digest {
	char digest[BALE_DIGEST_STR_LEN + 1];
	bale_policy_signature *sigs;
	size_t n;
} signed_digest;

struct bale_policy_sigset {
	signed_digest *list;
	size_t n;
};

int bale_policy_sigset_new(bale_policy_sigset **out, bale_error **err)
{
	if (!(*out = calloc(1, sizeof(**out))))
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	return 0;
}

void bale_policy_sigset_free(bale_policy_sigset *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++) {
		for (size_t k = 0; k < set->list[i].n; k++) {
			free((void *)set->list[i].sigs[k].payload);
			free((void *)set->list[i].sigs[k].signature_b64);
		}
		free(set->list[i].sigs);
	}
	free(set->list);
	free(set);
}

static signed_digest *sigset_find(const bale_policy_sigset *set, const char *digest)
{
	for (size_t i = 0; set && i < set->n; i++)
		if (strcmp(set->list[i].digest, digest) == 0)
			return &set->list[i];
	return NULL;
}

int bale_policy_sigset_add(bale_policy_sigset *set, const char *subject, const void *payload,
                           size_t len, const char *signature_b64, bale_error **err)
{
	signed_digest *d = sigset_find(set, subject);
	if (!d) {
		signed_digest *grown = realloc(set->list, (set->n + 1) * sizeof(*grown));
		if (!grown)
			return bale_error_set(err, BALE_EGENERIC, "out of memory");
		set->list = grown;
		d = &set->list[set->n++];
		memset(d, 0, sizeof(*d));
		snprintf(d->digest, sizeof(d->digest), "%s", subject);
	}
	bale_policy_signature *grown = realloc(d->sigs, (d->n + 1) * sizeof(*grown));
	char *copy = malloc(len ? len : 1), *sig = strdup(signature_b64);
	if (grown)
		d->sigs = grown;
	if (!grown || !copy || !sig) {
		free(copy);
		free(sig);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	memcpy(copy, payload, len);
	d->sigs[d->n++] = (bale_policy_signature){copy, len, sig};
	return 0;
}

static int check_digest(const bale_policy *policy, const char *ref, const char *digest,
                        const bale_policy_sigset *sigs, char signer[65], bale_error **err)
{
	const signed_digest *d = sigset_find(sigs, digest);
	return bale_policy_check(policy, ref, digest, d ? d->sigs : NULL, d ? d->n : 0, signer,
	                         err);
}

int bale_policy_check_image(const bale_policy *policy, const char *ref, const char *root,
                            const char *const *manifests, size_t n_manifests,
                            const bale_policy_sigset *sigs, char signer[65], bale_error **err)
{
	bale_error *root_err = NULL;
	if (check_digest(policy, ref, root, sigs, signer, &root_err) == 0)
		return 0;
	bool each = n_manifests > 0;
	for (size_t i = 0; i < n_manifests && each; i++) {
		bale_error *ignored = NULL;
		each = strcmp(manifests[i], root) != 0 &&
		       check_digest(policy, ref, manifests[i], sigs, signer, &ignored) == 0;
		bale_error_free(ignored);
	}
	if (each) {
		bale_error_free(root_err);
		return 0;
	}
	int rc = bale_error_code(root_err);
	if (err && !*err)
		*err = root_err;
	else
		bale_error_free(root_err);
	return rc;
}
