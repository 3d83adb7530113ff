/* containers-policy.json applied offline: cosign simple-signing signatures made here with
 * bale's own keys (the same ECDSA P-256 over SHA-256 cosign uses), scopes from the most
 * specific down, every signedIdentity, and the strict reading of both the policy and the
 * signed payload. Every test runs in its own temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "bale/error.h"
#include "bale/key.h"
#include "bale/policy.h"
#include "testutil.h"

#define DIGEST "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define OTHER "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define IMAGE "127.0.0.1:5000/demo/app:1"

typedef struct fixture {
	char *dir;
	bale_key *site, *other; /* private keys: site.pub is the policy's, other.pub is not */
	char site_id[BALE_KEY_ID_LEN + 1];
	char *policy;
	char payloads[4][512];
	char *sigs[4];
	bale_policy_signature list[4];
	size_t n;
} fixture;

static int setup(void **state)
{
	tmpdir_setup(state);
	fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->dir = *state;
	char *name = path_join(f->dir, "site"), *other = path_join(f->dir, "other");
	char other_id[BALE_KEY_ID_LEN + 1], *key;
	assert_int_equal(bale_key_generate(name, false, f->site_id, NULL), 0);
	assert_int_equal(bale_key_generate(other, false, other_id, NULL), 0);
	assert_int_equal(bale_key_load_private(&f->site, key = path_join(f->dir, "site.key"), NULL),
	                 0);
	free(key);
	assert_int_equal(
	    bale_key_load_private(&f->other, key = path_join(f->dir, "other.key"), NULL), 0);
	free(key);
	free(name);
	free(other);
	f->policy = path_join(f->dir, "policy.json");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	bale_key_free(f->site);
	bale_key_free(f->other);
	for (size_t i = 0; i < f->n; i++)
		free(f->sigs[i]);
	free(f->policy);
	*state = f->dir;
	free(f);
	return tmpdir_teardown(state);
}

static void write_policy(fixture *f, const char *text)
{
	FILE *fp = fopen(f->policy, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* Adds a signature by key over a payload naming identity and digest; extra goes inside
 * "critical" (a field containers/image refuses). */
static bale_policy_signature *sign(fixture *f, const bale_key *key, const char *identity,
                                   const char *digest, const char *extra)
{
	assert_true(f->n < 4);
	char *p = f->payloads[f->n];
	snprintf(p, 512,
	         "{\"critical\":{\"identity\":{\"docker-reference\":\"%s\"},\"image\":{\"docker-"
	         "manifest-digest\":\"%s\"},\"type\":\"cosign container image signature\"%s},"
	         "\"optional\":null}",
	         identity, digest, extra ? extra : "");
	assert_int_equal(bale_key_sign(&f->sigs[f->n], key, p, strlen(p), NULL), 0);
	f->list[f->n] = (bale_policy_signature){p, strlen(p), f->sigs[f->n]};
	return &f->list[f->n++];
}

/* Drops the signatures made so far. */
static void forget(fixture *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->sigs[i]);
	f->n = 0;
}

/* bale_policy_check on a fresh load: its code, the message in msg. */
static int check(fixture *f, const char *image, const char *digest, char *msg, size_t size,
                 char signer[65])
{
	bale_policy *policy = NULL;
	bale_error *err = NULL;
	int rc = bale_policy_load(&policy, f->policy, &err);
	if (rc == 0)
		rc = bale_policy_check(policy, image, digest, f->list, f->n, signer, &err);
	snprintf(msg, size, "%s", err ? bale_error_message(err) : "");
	bale_error_free(err);
	bale_policy_free(policy);
	return rc;
}

static int load_error(fixture *f, const char *text, char *msg, size_t size)
{
	bale_policy *policy = NULL;
	bale_error *err = NULL;
	write_policy(f, text);
	int rc = bale_policy_load(&policy, f->policy, &err);
	snprintf(msg, size, "%s", err ? bale_error_message(err) : "");
	bale_error_free(err);
	bale_policy_free(policy);
	return rc;
}

static void test_admits_signed(void **state)
{
	fixture *f = *state;
	char msg[512], signer[65];
	write_policy(
	    f, "{\"default\":[{\"type\":\"reject\"}],\"transports\":{\"docker\":{"
	       "\"127.0.0.1:5000/demo\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"site.pub\","
	       "\"signedIdentity\":{\"type\":\"matchRepository\"}}]}}}");
	sign(f, f->site, "127.0.0.1:5000/demo/app", DIGEST, NULL);
	assert_int_equal(check(f, IMAGE, DIGEST, msg, sizeof(msg), signer), 0);
	assert_string_equal(signer, f->site_id);
	/* by digest too, and the same key given as keyData (base64 of its PEM) */
	char *pub = path_join(f->dir, "site.pub"), pem[1024], b64[2048], text[4096];
	FILE *fp = fopen(pub, "r");
	assert_non_null(fp);
	size_t n = fread(pem, 1, sizeof(pem), fp);
	fclose(fp);
	free(pub);
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)pem, (int)n);
	snprintf(text, sizeof(text),
	         "{\"default\":[{\"type\":\"sigstoreSigned\",\"keyDatas\":[\"%s\"],"
	         "\"signedIdentity\":{\"type\":\"matchRepository\"}}]}",
	         b64);
	write_policy(f, text);
	assert_int_equal(
	    check(f, "127.0.0.1:5000/demo/app@" DIGEST, DIGEST, msg, sizeof(msg), NULL), 0);
}

static void test_refuses(void **state)
{
	fixture *f = *state;
	char msg[512];
	write_policy(f, "{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"site.pub\","
	                "\"signedIdentity\":{\"type\":\"matchRepository\"}}]}");
	/* no signature */
	assert_int_equal(check(f, IMAGE, DIGEST, msg, sizeof(msg), NULL), BALE_ETRUST);
	assert_non_null(strstr(msg, "127.0.0.1:5000/demo/app:1: not admitted by policy"));
	assert_non_null(strstr(msg, "the image carries none"));
	/* another key */
	sign(f, f->other, "127.0.0.1:5000/demo/app", DIGEST, NULL);
	assert_int_equal(check(f, IMAGE, DIGEST, msg, sizeof(msg), NULL), BALE_ETRUST);
	assert_non_null(strstr(msg, "does not verify with the policy's keys"));
	/* the right key, for another manifest */
	forget(f);
	sign(f, f->site, "127.0.0.1:5000/demo/app", OTHER, NULL);
	assert_int_equal(check(f, IMAGE, DIGEST, msg, sizeof(msg), NULL), BALE_ETRUST);
	assert_non_null(strstr(msg, "signs another manifest"));
	/* another repository */
	forget(f);
	sign(f, f->site, "127.0.0.1:5000/demo/other", DIGEST, NULL);
	assert_int_equal(check(f, IMAGE, DIGEST, msg, sizeof(msg), NULL), BALE_ETRUST);
	assert_non_null(strstr(msg, "not one signedIdentity accepts"));
	/* a payload changed after signing */
	forget(f);
	sign(f, f->site, "127.0.0.1:5000/demo/app", DIGEST, NULL);
	f->payloads[0][strlen(f->payloads[0]) - 2] = 'X'; /* "null}" -> "nulX}" */
	assert_int_equal(check(f, IMAGE, DIGEST, msg, sizeof(msg), NULL), BALE_ETRUST);
	assert_non_null(strstr(msg, "does not verify"));
	/* a bad signature beside a good one: the good one admits */
	sign(f, f->site, "127.0.0.1:5000/demo/app", DIGEST, NULL);
	assert_int_equal(check(f, IMAGE, DIGEST, msg, sizeof(msg), NULL), 0);
}

/* Signed, but not the shape containers/image accepts: refused the same way. */
static void test_strict_payload(void **state)
{
	fixture *f = *state;
	char msg[512];
	write_policy(f, "{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"site.pub\","
	                "\"signedIdentity\":{\"type\":\"matchRepository\"}}]}");
	sign(f, f->site, "127.0.0.1:5000/demo/app", DIGEST, ",\"extra\":1");
	assert_int_equal(check(f, IMAGE, DIGEST, msg, sizeof(msg), NULL), BALE_ETRUST);
	assert_non_null(strstr(msg, "not a cosign simple-signing document"));
	forget(f);
	sign(f, f->site, "127.0.0.1:5000/demo/app", DIGEST, ",\"type\":\"again\"");
	assert_int_equal(check(f, IMAGE, DIGEST, msg, sizeof(msg), NULL), BALE_ETRUST);
	assert_non_null(strstr(msg, "not a cosign simple-signing document"));
}

static void test_identities(void **state)
{
	fixture *f = *state;
	char msg[512];
	/* the default, matchRepoDigestOrExact, never takes cosign's repository-only names */
	write_policy(f, "{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"site.pub\"}]}");
	sign(f, f->site, "127.0.0.1:5000/demo/app", DIGEST, NULL);
	assert_int_equal(check(f, IMAGE, DIGEST, msg, sizeof(msg), NULL), BALE_ETRUST);
	assert_non_null(strstr(msg, "matchRepoDigestOrExact (the default) never accepts"));
	/* a tagged identity: the same tag, or any tag for an image asked by digest */
	sign(f, f->site, IMAGE, DIGEST, NULL);
	assert_int_equal(check(f, IMAGE, DIGEST, msg, sizeof(msg), NULL), 0);
	assert_int_equal(
	    check(f, "127.0.0.1:5000/demo/app@" DIGEST, DIGEST, msg, sizeof(msg), NULL), 0);
	assert_int_equal(check(f, "127.0.0.1:5000/demo/app:2", DIGEST, msg, sizeof(msg), NULL),
	                 BALE_ETRUST);
	/* exactRepository: signed upstream, served under the site's name */
	write_policy(f, "{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"site.pub\","
	                "\"signedIdentity\":{\"type\":\"exactRepository\",\"dockerRepository\":"
	                "\"127.0.0.1:5000/demo/app\"}}]}");
	assert_int_equal(check(f, "site.example:5000/mirror/app:1", DIGEST, msg, sizeof(msg), NULL),
	                 0);
	/* remapIdentity: the site's prefix read as the signer's */
	write_policy(f,
	             "{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"site.pub\","
	             "\"signedIdentity\":{\"type\":\"remapIdentity\",\"prefix\":"
	             "\"site.example:5000/mirror\",\"signedPrefix\":\"127.0.0.1:5000/demo\"}}]}");
	assert_int_equal(check(f, "site.example:5000/mirror/app:1", DIGEST, msg, sizeof(msg), NULL),
	                 0);
	assert_int_equal(
	    check(f, "site.example:5000/elsewhere/app:1", DIGEST, msg, sizeof(msg), NULL),
	    BALE_ETRUST);
	/* matchExact and exactReference */
	write_policy(f, "{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"site.pub\","
	                "\"signedIdentity\":{\"type\":\"matchExact\"}}]}");
	assert_int_equal(check(f, IMAGE, DIGEST, msg, sizeof(msg), NULL), 0);
	assert_int_equal(
	    check(f, "127.0.0.1:5000/demo/app@" DIGEST, DIGEST, msg, sizeof(msg), NULL),
	    BALE_ETRUST);
	write_policy(f, "{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"site.pub\","
	                "\"signedIdentity\":{\"type\":\"exactReference\",\"dockerReference\":"
	                "\"127.0.0.1:5000/demo/app:1\"}}]}");
	assert_int_equal(check(f, "elsewhere.example/x:9", DIGEST, msg, sizeof(msg), NULL), 0);
}

/* The most specific scope decides alone. */
static void test_scopes(void **state)
{
	fixture *f = *state;
	char msg[512];
	write_policy(f, "{\"default\":[{\"type\":\"reject\"}],\"transports\":{\"docker\":{"
	                "\"127.0.0.1:5000\":[{\"type\":\"insecureAcceptAnything\"}],"
	                "\"127.0.0.1:5000/demo/app\":[{\"type\":\"reject\"}],"
	                "\"127.0.0.1:5000/demo/app:ok\":[{\"type\":\"insecureAcceptAnything\"}],"
	                "\"*.example.com\":[{\"type\":\"insecureAcceptAnything\"}],"
	                "\"docker.io/library\":[{\"type\":\"insecureAcceptAnything\"}]},"
	                "\"oci\":{\"\":[{\"type\":\"insecureAcceptAnything\"}]}}}");
	assert_int_equal(check(f, "127.0.0.1:5000/demo/other:1", DIGEST, msg, sizeof(msg), NULL),
	                 0);
	assert_int_equal(check(f, IMAGE, DIGEST, msg, sizeof(msg), NULL), BALE_ETRUST);
	assert_non_null(strstr(msg, "rejected by policy"));
	assert_non_null(strstr(msg, "(scope \"127.0.0.1:5000/demo/app\")"));
	assert_int_equal(check(f, "127.0.0.1:5000/demo/app:ok", DIGEST, msg, sizeof(msg), NULL), 0);
	assert_int_equal(check(f, "reg.sub.example.com/x:1", DIGEST, msg, sizeof(msg), NULL), 0);
	assert_int_equal(check(f, "example.com/x:1", DIGEST, msg, sizeof(msg), NULL), BALE_ETRUST);
	assert_non_null(strstr(msg, "(scope \"default\")"));
	assert_int_equal(check(f, "busybox", DIGEST, msg, sizeof(msg), NULL), 0);
	assert_int_equal(check(f, "quay.io/x/y:1", DIGEST, msg, sizeof(msg), NULL), BALE_ETRUST);
	/* every requirement of the list must admit */
	write_policy(f,
	             "{\"default\":[{\"type\":\"insecureAcceptAnything\"},{\"type\":\"reject\"}]}");
	assert_int_equal(check(f, IMAGE, DIGEST, msg, sizeof(msg), NULL), BALE_ETRUST);
}

/* A policy bale cannot apply in full is refused as a whole, naming the file and field. */
static void test_load_refuses(void **state)
{
	fixture *f = *state;
	char msg[512];
	bale_policy *policy = NULL;
	bale_error *err = NULL;
	char *missing = path_join(f->dir, "none.json");
	assert_int_equal(bale_policy_load(&policy, missing, &err), BALE_ENOTFOUND);
	bale_error_clear(&err);
	free(missing);
	static const struct {
		const char *text, *why;
	} cases[] = {
	    {"{\"default\":[]}", "want a list of requirements"},
	    {"{\"transports\":{}}", "want an object with \"default\""},
	    {"{\"default\":[{\"type\":\"reject\"}],\"other\":1}", "unknown field \"other\""},
	    {"{\"default\":[{\"type\":\"reject\",\"x\":1}]}", "reject: unknown field \"x\""},
	    {"{\"default\":[{\"type\":\"reject\"}],\"default\":[]}", "duplicate"},
	    {"{\"default\":[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\"}]}", "GPG"},
	    {"{\"default\":[{\"type\":\"sigstoreSigned\",\"fulcio\":{}}]}",
	     "fulcio needs a network"},
	    {"{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"site.pub\","
	     "\"rekorPublicKeyPath\":\"r.pub\"}]}",
	     "rekorPublicKeyPath"},
	    {"{\"default\":[{\"type\":\"sigstoreSigned\"}]}", "exactly one of keyPath"},
	    {"{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"site.pub\",\"keyData\":\"eA="
	     "=\"}]}",
	     "exactly one of keyPath"},
	    {"{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"site.key\"}]}",
	     "a private key where a public key"},
	    {"{\"default\":[{\"type\":\"sigstoreSigned\",\"keyData\":\"!!\"}]}",
	     "not valid base64"},
	    {"{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"site.pub\","
	     "\"signedIdentity\":{\"type\":\"matchSomething\"}}]}",
	     "unknown type \"matchSomething\""},
	    {"{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"site.pub\","
	     "\"signedIdentity\":{\"type\":\"exactReference\",\"dockerReference\":\"a/b\"}}]}",
	     "want a tag or a digest"},
	    {"{\"default\":[{\"type\":\"maybe\"}]}", "unknown requirement type \"maybe\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(load_error(f, cases[i].text, msg, sizeof(msg)), BALE_EUSAGE);
		if (!strstr(msg, cases[i].why))
			fail_msg("policy %s: got \"%s\", want \"%s\"", cases[i].text, msg,
			         cases[i].why);
		if (!strstr(msg, f->policy))
			fail_msg("policy %s: \"%s\" does not name the file", cases[i].text, msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_admits_signed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_strict_payload, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scopes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_refuses, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
