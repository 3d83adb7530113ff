/* Signing keys: the files keygen writes, signatures that verify and forgeries that do
 * not, and agreement with the openssl CLI both ways (docs/design.md §6 promises that anyone
 * can check a bundle without bale). Every test runs in its own temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "bale/error.h"
#include "bale/key.h"
#include "bale/trust.h"
#include "testutil.h"

#define PATH_SIZE 512

static int take_error(bale_error **err, char *msg, size_t size)
{
	int code = bale_error_code(*err);

	snprintf(msg, size, "%s", bale_error_message(*err));
	bale_error_clear(err);
	return code;
}

/* dir/name into a PATH_SIZE buffer of the caller's: the paths here live on the stack. */
static void join(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_SIZE, "%s/%s", dir, name);
	assert_true(n > 0 && n < PATH_SIZE);
}

/* Runs a shell command line; its exit status, or -1 when it did not exit normally. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[4 * PATH_SIZE];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	int status = system(cmd);
	return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The first line a command prints. */
static void run_read(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void run_read(char *out, size_t size, const char *fmt, ...)
{
	char cmd[4 * PATH_SIZE];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	if (!fgets(out, (int)size, p))
		out[0] = '\0';
	assert_int_equal(pclose(p), 0);
}

/* A whole small file as a string; the length in *len. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *data = malloc(65536);
	assert_non_null(data);
	size_t n = fread(data, 1, 65535, f);
	assert_int_equal(ferror(f), 0);
	fclose(f);
	data[n] = '\0';
	if (len)
		*len = n;
	return data;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static mode_t file_mode(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	return st.st_mode & 07777;
}

/* The key id as the docs tell users to compute it. */
static void cli_key_id(char id[BALE_KEY_ID_LEN + 1], const char *pub)
{
	char line[256];

	run_read(line, sizeof(line), "openssl pkey -pubin -in '%s' -outform DER | sha256sum", pub);
	assert_true(strlen(line) > BALE_KEY_ID_LEN);
	memcpy(id, line, BALE_KEY_ID_LEN);
	id[BALE_KEY_ID_LEN] = '\0';
}

/* NAME.key and NAME.pub in dir. */
static void generate(char id[BALE_KEY_ID_LEN + 1], const char *dir, const char *name)
{
	char base[PATH_SIZE];
	bale_error *err = NULL;

	join(base, dir, name);
	assert_int_equal(bale_key_generate(base, false, id, &err), 0);
	assert_null(err);
}

static bale_key *load(const char *dir, const char *file, bool private_key)
{
	char path[PATH_SIZE];
	bale_error *err = NULL;
	bale_key *key = NULL;

	join(path, dir, file);
	int rc = private_key ? bale_key_load_private(&key, path, &err)
	                     : bale_key_load_public(&key, path, &err);
	if (rc < 0)
		fail_msg("load %s: %s", path, bale_error_message(err));
	assert_non_null(key);
	return key;
}

static void test_generate(void **state)
{
	const char *dir = *state;
	char base[PATH_SIZE], key_path[PATH_SIZE], pub_path[PATH_SIZE];
	char id[BALE_KEY_ID_LEN + 1], want[BALE_KEY_ID_LEN + 1], line[256];
	bale_error *err = NULL;

	join(base, dir, "release");
	join(key_path, dir, "release.key");
	join(pub_path, dir, "release.pub");
	/* A strict umask must not make the public key private (or anything else). */
	mode_t old = umask(077);
	int rc = bale_key_generate(base, false, id, &err);
	umask(old);
	assert_int_equal(rc, 0);
	assert_int_equal(file_mode(key_path), 0600);
	assert_int_equal(file_mode(pub_path), 0644);

	assert_int_equal(strlen(id), BALE_KEY_ID_LEN);
	assert_int_equal(strspn(id, "0123456789abcdef"), BALE_KEY_ID_LEN);
	cli_key_id(want, pub_path);
	assert_string_equal(id, want);

	/* PKCS#8 (not SEC1 "EC PRIVATE KEY") and SPKI, as the header promises. */
	char *text = read_file(key_path, NULL);
	assert_int_equal(strncmp(text, "-----BEGIN PRIVATE KEY-----\n", 28), 0);
	free(text);
	text = read_file(pub_path, NULL);
	assert_int_equal(strncmp(text, "-----BEGIN PUBLIC KEY-----\n", 27), 0);
	/* The .pub is the public half of the .key, and the curve is P-256. */
	assert_int_equal(run("openssl pkey -in '%s' -pubout | cmp -s - '%s'", key_path, pub_path),
	                 0);
	free(text);
	run_read(line, sizeof(line), "openssl pkey -in '%s' -noout -text | grep 'NIST CURVE'",
	         key_path);
	assert_string_equal(line, "NIST CURVE: P-256\n");

	bale_key *priv = load(dir, "release.key", true), *pub = load(dir, "release.pub", false);
	assert_string_equal(bale_key_id(priv), id);
	assert_string_equal(bale_key_id(pub), id);
	bale_key_free(priv);
	bale_key_free(pub);
}

static int count_entries(const char *dir)
{
	char line[64];

	run_read(line, sizeof(line), "ls -A '%s' | wc -l", dir);
	return (int)strtol(line, NULL, 10);
}

static void test_generate_refuses_overwrite(void **state)
{
	const char *dir = *state;
	char base[PATH_SIZE], key_path[PATH_SIZE], pub_path[PATH_SIZE], msg[PATH_SIZE * 2],
	    want[PATH_SIZE * 2];
	char id[BALE_KEY_ID_LEN + 1], id2[BALE_KEY_ID_LEN + 1];
	size_t key_len, pub_len;
	bale_error *err = NULL;

	join(base, dir, "release");
	join(key_path, dir, "release.key");
	join(pub_path, dir, "release.pub");
	generate(id, dir, "release");
	char *key_before = read_file(key_path, &key_len),
	     *pub_before = read_file(pub_path, &pub_len);

	/* Both exist: refused, nothing touched. */
	memset(id2, 'x', sizeof(id2));
	assert_int_equal(bale_key_generate(base, false, id2, &err), BALE_EUSAGE);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_EUSAGE);
	snprintf(want, sizeof(want), "%s already exists", key_path);
	assert_string_equal(msg, want);
	char *key_after = read_file(key_path, NULL), *pub_after = read_file(pub_path, NULL);
	assert_string_equal(key_after, key_before);
	assert_string_equal(pub_after, pub_before);
	free(key_after);
	free(pub_after);

	/* Only the .pub exists: refused, and the .key made on the way is gone again. */
	assert_int_equal(unlink(key_path), 0);
	assert_int_equal(bale_key_generate(base, false, id2, &err), BALE_EUSAGE);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_EUSAGE);
	snprintf(want, sizeof(want), "%s already exists", pub_path);
	assert_string_equal(msg, want);
	assert_int_equal(access(key_path, F_OK), -1);
	pub_after = read_file(pub_path, NULL);
	assert_string_equal(pub_after, pub_before);
	free(pub_after);
	assert_int_equal(count_entries(dir), 1);

	/* Put the old key back; force replaces both, atomically (no temp files left). */
	write_file(key_path, key_before, key_len);
	assert_int_equal(chmod(key_path, 0600), 0);
	assert_int_equal(bale_key_generate(base, true, id2, &err), 0);
	assert_null(err);
	assert_string_not_equal(id2, id);
	key_after = read_file(key_path, NULL);
	pub_after = read_file(pub_path, NULL);
	assert_string_not_equal(key_after, key_before);
	assert_string_not_equal(pub_after, pub_before);
	assert_int_equal(file_mode(key_path), 0600);
	assert_int_equal(file_mode(pub_path), 0644);
	assert_int_equal(count_entries(dir), 2);
	bale_key *pub = load(dir, "release.pub", false);
	assert_string_equal(bale_key_id(pub), id2);
	bale_key_free(pub);

	/* force also works when there is nothing to replace */
	join(base, dir, "fresh");
	assert_int_equal(bale_key_generate(base, true, id2, &err), 0);
	join(key_path, dir, "fresh.key");
	assert_int_equal(file_mode(key_path), 0600);

	free(key_before);
	free(pub_before);
	free(key_after);
	free(pub_after);
}

static const char payload[] = "{\"formatVersion\":1,\"bundleId\":\"b-1\",\"images\":[]}\n";

static void test_sign_verify(void **state)
{
	const char *dir = *state;
	char id[BALE_KEY_ID_LEN + 1], padded[256];
	char *sig = NULL, *sig2 = NULL, *empty_sig = NULL;
	bale_error *err = NULL;

	generate(id, dir, "release");
	bale_key *priv = load(dir, "release.key", true), *pub = load(dir, "release.pub", false);

	assert_int_equal(bale_key_sign(&sig, priv, payload, strlen(payload), &err), 0);
	assert_non_null(sig);
	assert_true(strlen(sig) > 0 && strlen(sig) <= 96);
	assert_int_equal(strspn(sig, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                             "0123456789+/="),
	                 strlen(sig));
	assert_int_equal(bale_key_verify(pub, payload, strlen(payload), sig, &err), 0);
	assert_int_equal(bale_key_verify(priv, payload, strlen(payload), sig, &err), 0);
	/* as the bundle carries it: one line with a newline, maybe more whitespace around */
	snprintf(padded, sizeof(padded), " \t%s\r\n\n", sig);
	assert_int_equal(bale_key_verify(pub, payload, strlen(payload), padded, &err), 0);

	/* ECDSA signatures are randomized: a second one differs and verifies as well. */
	assert_int_equal(bale_key_sign(&sig2, priv, payload, strlen(payload), &err), 0);
	assert_string_not_equal(sig, sig2);
	assert_int_equal(bale_key_verify(pub, payload, strlen(payload), sig2, &err), 0);

	/* empty input is still signed data */
	assert_int_equal(bale_key_sign(&empty_sig, priv, "", 0, &err), 0);
	assert_int_equal(bale_key_verify(pub, "", 0, empty_sig, &err), 0);
	assert_int_equal(bale_key_verify(pub, "x", 1, empty_sig, &err), BALE_ETRUST);
	bale_error_clear(&err);
	assert_null(err);

	free(sig);
	free(sig2);
	free(empty_sig);
	bale_key_free(priv);
	bale_key_free(pub);
}

static void test_verify_wrong_key(void **state)
{
	const char *dir = *state;
	char id_a[BALE_KEY_ID_LEN + 1], id_b[BALE_KEY_ID_LEN + 1], msg[256], want[256];
	char *sig = NULL;
	bale_error *err = NULL;

	generate(id_a, dir, "a");
	generate(id_b, dir, "b");
	assert_string_not_equal(id_a, id_b);
	bale_key *priv_a = load(dir, "a.key", true), *pub_b = load(dir, "b.pub", false);

	assert_int_equal(bale_key_sign(&sig, priv_a, payload, strlen(payload), &err), 0);
	assert_int_equal(bale_key_verify(pub_b, payload, strlen(payload), sig, &err), BALE_ETRUST);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_ETRUST);
	snprintf(want, sizeof(want), "signature does not verify with key %s", id_b);
	assert_string_equal(msg, want);

	free(sig);
	bale_key_free(priv_a);
	bale_key_free(pub_b);
}

static void test_verify_tampered_data(void **state)
{
	const char *dir = *state;
	char id[BALE_KEY_ID_LEN + 1], data[sizeof(payload)], msg[256];
	char *sig = NULL;
	const size_t len = strlen(payload);
	const size_t at[] = {0, len / 2, len - 1};
	bale_error *err = NULL;

	generate(id, dir, "release");
	bale_key *priv = load(dir, "release.key", true), *pub = load(dir, "release.pub", false);
	assert_int_equal(bale_key_sign(&sig, priv, payload, len, &err), 0);

	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			memcpy(data, payload, sizeof(payload));
			data[at[i]] ^= (char)(1u << bit);
			assert_int_equal(bale_key_verify(pub, data, len, sig, &err), BALE_ETRUST);
			assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_ETRUST);
		}
	}
	/* a truncated or extended manifest is forged too */
	assert_int_equal(bale_key_verify(pub, payload, len - 1, sig, &err), BALE_ETRUST);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_ETRUST);
	assert_int_equal(bale_key_verify(pub, payload, len + 1, sig, &err), BALE_ETRUST);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_ETRUST);

	free(sig);
	bale_key_free(priv);
	bale_key_free(pub);
}

static void test_verify_bad_signatures(void **state)
{
	const char *dir = *state;
	char id[BALE_KEY_ID_LEN + 1], msg[256], bad[8192];
	char *sig = NULL;
	const size_t len = strlen(payload);
	bale_error *err = NULL;

	generate(id, dir, "release");
	bale_key *priv = load(dir, "release.key", true), *pub = load(dir, "release.pub", false);
	assert_int_equal(bale_key_sign(&sig, priv, payload, len, &err), 0);
	const size_t sl = strlen(sig);

	static const char *const garbage[] = {
	    "",
	    " \n\t",
	    "!!!!",
	    "AAAA",
	    "====",
	    "A===",
	    "AB=C",
	    "AA==AA==",
	    "not base64 at all",
	    /* a 70-byte DER SEQUENCE header followed by zeros: parses as nothing valid */
	    "MEQCIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAiAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAAAAAAAAAA==",
	};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		assert_int_equal(bale_key_verify(pub, payload, len, garbage[i], &err), BALE_ETRUST);
		assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_ETRUST);
		assert_non_null(strstr(msg, id));
	}

	/* truncated by one character (not a multiple of 4) and by one group (short DER) */
	snprintf(bad, sizeof(bad), "%.*s", (int)(sl - 1), sig);
	assert_int_equal(bale_key_verify(pub, payload, len, bad, &err), BALE_ETRUST);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_ETRUST);
	snprintf(bad, sizeof(bad), "%.*s", (int)(sl - 4), sig);
	assert_int_equal(bale_key_verify(pub, payload, len, bad, &err), BALE_ETRUST);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_ETRUST);
	/* trailing bytes after the DER */
	snprintf(bad, sizeof(bad), "%sAAAA", sig);
	if (sig[sl - 1] != '=') /* appending after padding is already malformed base64 */
		assert_int_equal(bale_key_verify(pub, payload, len, bad, &err), BALE_ETRUST);
	bale_error_clear(&err);
	/* one character changed in the middle: a different r or s */
	snprintf(bad, sizeof(bad), "%s", sig);
	bad[sl / 2] = bad[sl / 2] == 'A' ? 'B' : 'A';
	assert_int_equal(bale_key_verify(pub, payload, len, bad, &err), BALE_ETRUST);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_ETRUST);
	/* much too long */
	memset(bad, 'A', sizeof(bad) - 1);
	bad[sizeof(bad) - 1] = '\0';
	assert_int_equal(bale_key_verify(pub, payload, len, bad, &err), BALE_ETRUST);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_ETRUST);

	free(sig);
	bale_key_free(priv);
	bale_key_free(pub);
}

static void test_openssl_verifies_ours(void **state)
{
	const char *dir = *state;
	char id[BALE_KEY_ID_LEN + 1], data[PATH_SIZE], b64[PATH_SIZE], der[PATH_SIZE],
	    pub[PATH_SIZE];
	char *sig = NULL;
	bale_error *err = NULL;

	generate(id, dir, "release");
	join(data, dir, "manifest.json");
	join(b64, dir, "manifest.json.sig");
	join(der, dir, "sig.der");
	join(pub, dir, "release.pub");
	bale_key *priv = load(dir, "release.key", true);
	assert_int_equal(bale_key_sign(&sig, priv, payload, strlen(payload), &err), 0);
	write_file(data, payload, strlen(payload));
	write_file(b64, sig, strlen(sig));
	assert_int_equal(run("base64 -d '%s' > '%s'", b64, der), 0);
	assert_int_equal(run("openssl dgst -sha256 -verify '%s' -signature '%s' '%s' >/dev/null",
	                     pub, der, data),
	                 0);
	/* and the CLI check is a real one: it fails on changed data */
	write_file(data, payload, strlen(payload) - 1);
	assert_int_equal(run("openssl dgst -sha256 -verify '%s' -signature '%s' '%s' >/dev/null",
	                     pub, der, data),
	                 1);
	free(sig);
	bale_key_free(priv);
}

static void test_ours_verifies_openssl(void **state)
{
	const char *dir = *state;
	char id[BALE_KEY_ID_LEN + 1], want[BALE_KEY_ID_LEN + 1], data[PATH_SIZE], der[PATH_SIZE],
	    key[PATH_SIZE], pub[PATH_SIZE], line[512];
	bale_error *err = NULL;

	generate(id, dir, "release");
	join(data, dir, "manifest.json");
	join(der, dir, "sig.der");
	join(key, dir, "release.key");
	write_file(data, payload, strlen(payload));
	assert_int_equal(run("openssl dgst -sha256 -sign '%s' -out '%s' '%s'", key, der, data), 0);
	run_read(line, sizeof(line), "base64 -w0 '%s'", der);
	bale_key *pub_key = load(dir, "release.pub", false);
	assert_int_equal(bale_key_verify(pub_key, payload, strlen(payload), line, &err), 0);
	/* plain `base64` wraps at 76 columns; a line break inside is accepted */
	join(pub, dir, "wrapped.b64");
	assert_int_equal(run("base64 '%s' > '%s'", der, pub), 0);
	char *wrapped = read_file(pub, NULL);
	assert_non_null(strchr(wrapped, '\n'));
	assert_true(strchr(wrapped, '\n') - wrapped < (ptrdiff_t)strlen(wrapped) - 1);
	assert_int_equal(bale_key_verify(pub_key, payload, strlen(payload), wrapped, &err), 0);
	free(wrapped);
	bale_key_free(pub_key);

	/* a key made by openssl loads, with the id the docs compute */
	join(key, dir, "cli.key");
	join(pub, dir, "cli.pub");
	assert_int_equal(
	    run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '%s' && "
	        "openssl pkey -in '%s' -pubout -out '%s'",
	        key, key, pub),
	    0);
	cli_key_id(want, pub);
	bale_key *cli_priv = load(dir, "cli.key", true), *cli_pub = load(dir, "cli.pub", false);
	assert_string_equal(bale_key_id(cli_priv), want);
	assert_string_equal(bale_key_id(cli_pub), want);
	bale_key_free(cli_priv);
	bale_key_free(cli_pub);
}

/* Loading path must fail with exactly want (a usage error naming the file). */
static void expect_load_error(const char *path, bool private_key, const char *want, int code)
{
	bale_error *err = NULL;
	bale_key *key = (bale_key *)&err; /* must come back NULL */
	char msg[1024];

	int rc = private_key ? bale_key_load_private(&key, path, &err)
	                     : bale_key_load_public(&key, path, &err);
	assert_int_equal(rc, code);
	assert_null(key);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), code);
	assert_non_null(strstr(msg, path));
	assert_null(strstr(msg, "BEGIN")); /* no key material in messages */
	if (want)
		assert_string_equal(msg, want);
}

static void test_load_refuses_other_algorithms(void **state)
{
	const char *dir = *state;
	static const struct {
		const char *name, *genpkey, *what;
	} cases[] = {
	    {"rsa", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
	     "RSA key, bale needs ECDSA P-256"},
	    {"p384", "-algorithm EC -pkeyopt ec_paramgen_curve:P-384",
	     "EC key on curve secp384r1, bale needs P-256"},
	    {"ed25519", "-algorithm ED25519", "ED25519 key, bale needs ECDSA P-256"},
	    /* the same size as P-256, and the curve most often confused with it */
	    {"k1", "-algorithm EC -pkeyopt ec_paramgen_curve:secp256k1",
	     "EC key on curve secp256k1, bale needs P-256"},
	    /* P-256 spelled out as explicit parameters: another SPKI, so another key id */
	    {"explicit",
	     "-algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:explicit",
	     "EC key with explicit curve parameters, bale needs the named curve P-256"},
	};
	char key[PATH_SIZE], pub[PATH_SIZE], file[PATH_SIZE], want[PATH_SIZE * 2];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(file, sizeof(file), "%s.key", cases[i].name);
		join(key, dir, file);
		snprintf(file, sizeof(file), "%s.pub", cases[i].name);
		join(pub, dir, file);
		assert_int_equal(run("openssl genpkey %s -out '%s' 2>/dev/null && "
		                     "openssl pkey -in '%s' -pubout -out '%s'",
		                     cases[i].genpkey, key, key, pub),
		                 0);
		snprintf(want, sizeof(want), "%s: %s", key, cases[i].what);
		expect_load_error(key, true, want, BALE_EUSAGE);
		snprintf(want, sizeof(want), "%s: %s", pub, cases[i].what);
		expect_load_error(pub, false, want, BALE_EUSAGE);
	}
}

/* want is "PATH: " + what */
static void expect_load_error_what(const char *path, bool private_key, const char *what)
{
	char want[PATH_SIZE * 2];

	snprintf(want, sizeof(want), "%s: %s", path, what);
	expect_load_error(path, private_key, want, BALE_EUSAGE);
}

static void test_load_malformed(void **state)
{
	const char *dir = *state;
	char id[BALE_KEY_ID_LEN + 1], path[PATH_SIZE], want[PATH_SIZE * 2], key[PATH_SIZE],
	    pub[PATH_SIZE];
	size_t len;

	generate(id, dir, "release");
	join(key, dir, "release.key");
	join(pub, dir, "release.pub");

	join(path, dir, "missing.key");
	snprintf(want, sizeof(want), "open %s: No such file or directory", path);
	expect_load_error(path, true, want, BALE_ENOTFOUND); /* a missing file: not found */
	expect_load_error(path, false, want, BALE_ENOTFOUND);

	join(path, dir, "empty");
	write_file(path, "", 0);
	expect_load_error_what(path, true, "not a PEM private key (PKCS#8)");
	expect_load_error_what(path, false, "not a PEM public key (SPKI)");

	join(path, dir, "garbage");
	write_file(path, "hello\n\x01\x02\x03", 9);
	expect_load_error_what(path, true, "not a PEM private key (PKCS#8)");
	expect_load_error_what(path, false, "not a PEM public key (SPKI)");

	/* the wrong half of a pair */
	expect_load_error_what(pub, true, "a public key where a private key (.key) is needed");
	expect_load_error_what(key, false, "a private key where a public key (.pub) is needed");

	/* a truncated PEM */
	char *text = read_file(key, &len);
	join(path, dir, "truncated.key");
	write_file(path, text, len / 2);
	free(text);
	expect_load_error_what(path, true, "not a PEM private key (PKCS#8)");

	/* an encrypted key is refused, without asking for a passphrase */
	join(path, dir, "encrypted.key");
	assert_int_equal(run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
	                     "-aes-256-cbc -pass pass:secret -out '%s' </dev/null",
	                     path),
	                 0);
	expect_load_error_what(path, true,
	                       "encrypted private key; bale reads only unencrypted ones (file "
	                       "mode 0600 protects it)");

	/* a directory is not a key */
	snprintf(want, sizeof(want), "read %s: Is a directory", dir);
	expect_load_error(dir, true, want, BALE_EUSAGE);
}

static void test_trust_dir(void **state)
{
	const char *dir = *state;
	char trust_dir[PATH_SIZE], path[PATH_SIZE], msg[PATH_SIZE * 2];
	char id_a[BALE_KEY_ID_LEN + 1], id_b[BALE_KEY_ID_LEN + 1], id_c[BALE_KEY_ID_LEN + 1];
	bale_trust *trust = NULL;
	bale_error *err = NULL;

	join(trust_dir, dir, "trust.d");
	assert_int_equal(mkdir(trust_dir, 0755), 0);
	generate(id_a, trust_dir, "a"); /* the .key files beside them are not *.pub */
	generate(id_b, trust_dir, "b");
	generate(id_c, dir, "outsider");
	join(path, trust_dir, "sub.pub");
	assert_int_equal(mkdir(path, 0755), 0); /* not a regular file: skipped */
	join(path, trust_dir, "dangling.pub");
	assert_int_equal(symlink("/nonexistent/x.pub", path), 0);
	join(path, trust_dir, "README");
	write_file(path, "keys\n", 5);

	assert_int_equal(bale_trust_from_dir(&trust, trust_dir, &err), 0);
	assert_null(err);
	assert_int_equal(bale_trust_count(trust), 2);
	assert_non_null(bale_trust_find(trust, id_a));
	assert_string_equal(bale_key_id(bale_trust_find(trust, id_a)), id_a);
	assert_string_equal(bale_key_id(bale_trust_find(trust, id_b)), id_b);
	assert_null(bale_trust_find(trust, id_c));
	assert_null(bale_trust_find(trust, ""));
	assert_null(bale_trust_find(trust, NULL));
	bale_trust_free(trust);
	trust = NULL;

	/* one malformed key spoils the directory, and the error names it */
	join(path, trust_dir, "c.pub");
	write_file(path, "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n", 62);
	trust = (bale_trust *)&err;
	assert_int_equal(bale_trust_from_dir(&trust, trust_dir, &err), BALE_EUSAGE);
	assert_null(trust);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_EUSAGE);
	assert_non_null(strstr(msg, path));
	assert_int_equal(unlink(path), 0);

	/* a missing directory is an empty set, in which nothing is found */
	join(path, dir, "no-such-dir");
	assert_int_equal(bale_trust_from_dir(&trust, path, &err), 0);
	assert_int_equal(bale_trust_count(trust), 0);
	assert_null(bale_trust_find(trust, id_a));
	bale_trust_free(trust);

	/* a file where the directory should be is an error */
	join(path, trust_dir, "README");
	assert_int_equal(bale_trust_from_dir(&trust, path, &err), BALE_EUSAGE);
	assert_null(trust);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_EUSAGE);
	assert_non_null(strstr(msg, path));

	/* --key PUB: a set of one */
	join(path, dir, "outsider.pub");
	assert_int_equal(bale_trust_from_key(&trust, path, &err), 0);
	assert_int_equal(bale_trust_count(trust), 1);
	assert_string_equal(bale_key_id(bale_trust_find(trust, id_c)), id_c);
	assert_null(bale_trust_find(trust, id_a));
	bale_trust_free(trust);
	join(path, dir, "missing.pub");
	assert_int_equal(bale_trust_from_key(&trust, path, &err), BALE_ENOTFOUND);
	assert_null(trust);
	assert_int_equal(take_error(&err, msg, sizeof(msg)), BALE_ENOTFOUND);
	assert_non_null(strstr(msg, path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_generate, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_generate_refuses_overwrite, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_sign_verify, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_verify_wrong_key, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_verify_tampered_data, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_verify_bad_signatures, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_openssl_verifies_ours, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_ours_verifies_openssl, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_load_refuses_other_algorithms, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_load_malformed, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_trust_dir, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
