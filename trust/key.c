/* Signing keys (docs/design.md §6): ECDSA P-256 over SHA-256, through OpenSSL 3's EVP_PKEY
 * interface only. Every key that enters bale is checked to be P-256, so a bundle cannot
 * be "signed" with a weaker or unexpected algorithm that a verifier would then accept. */
#include "bale/key.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "bale/buf.h"
#include "bale/fs.h"

/* A PEM key of any sane algorithm is a few KiB; a bigger file is not a key. */
#define KEY_FILE_CAP (64u << 10)
/* A P-256 DER signature is at most 72 bytes (96 base64 characters); anything much longer
 * is not one of ours and is refused before it is decoded. */
#define SIGNATURE_B64_CAP 512

struct bale_key {
	EVP_PKEY *pkey;
	bool has_private;
	char id[BALE_KEY_ID_LEN + 1];
};

/* The reason of OpenSSL's most recent error, for messages; clears the queue so one
 * failure does not leak into the report of the next. Never includes key material. */
static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	ERR_clear_error();
	return r ? r : "unknown error";
}

static int compute_id(char id[BALE_KEY_ID_LEN + 1], EVP_PKEY *pkey, bale_error **err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int rc = 0;

	/* i2d_PUBKEY encodes only the public half (SubjectPublicKeyInfo), also of a
	 * private key, so the .key and the .pub of a pair share one id. */
	int len = i2d_PUBKEY(pkey, &der);
	if (len <= 0) {
		rc = bale_error_set(err, BALE_EGENERIC, "encode public key: %s", ssl_reason());
		goto cleanup;
	}
	if (!EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen * 2 != BALE_KEY_ID_LEN) {
		rc = bale_error_set(err, BALE_EGENERIC, "hash public key: %s", ssl_reason());
		goto cleanup;
	}
	for (unsigned int i = 0; i < mdlen; i++) {
		id[2 * i] = hex[md[i] >> 4];
		id[2 * i + 1] = hex[md[i] & 0xf];
	}
	id[BALE_KEY_ID_LEN] = '\0';
cleanup:
	OPENSSL_free(der);
	return rc;
}

/* Refuses anything but a named-curve P-256 key. Explicit curve parameters are refused
 * even when they spell out P-256: other tools (Go's crypto/x509, so cosign) reject them,
 * and the same key would get a second key id from its different SPKI encoding. */
static int check_p256(EVP_PKEY *pkey, const char *path, bale_error **err)
{
	char group[64], encoding[32];

	if (!EVP_PKEY_is_a(pkey, "EC")) {
		const char *type = EVP_PKEY_get0_type_name(pkey);
		return bale_error_set(err, BALE_EUSAGE, "%s: %s key, bale needs ECDSA P-256", path,
		                      type ? type : "unknown");
	}
	if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING, encoding,
	                                    sizeof(encoding), NULL) ||
	    strcmp(encoding, OSSL_PKEY_EC_ENCODING_GROUP) != 0 ||
	    !EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
	                                    NULL)) {
		ERR_clear_error();
		return bale_error_set(err, BALE_EUSAGE,
		                      "%s: EC key with explicit curve parameters, bale needs the "
		                      "named curve P-256",
		                      path);
	}
	if (OBJ_txt2nid(group) != NID_X9_62_prime256v1) {
		ERR_clear_error();
		return bale_error_set(err, BALE_EUSAGE, "%s: EC key on curve %s, bale needs P-256",
		                      path, group);
	}
	return 0;
}

/* Never prompts: an encrypted private key fails to load instead of blocking on a
 * terminal that an unattended export may not have. */
static int no_passphrase(char *buf, int size, int rwflag, void *payload)
{
	return -1;
}

/* Reads a key file; every failure is a usage error naming the path (the user pointed
 * bale at the wrong file). The buffer wipes itself when freed: it may hold a secret. */
static int read_key_file(bale_buf *b, const char *path, bale_error **err)
{
	bale_error *inner = NULL;
	int rc = 0;

	bale_buf_init(b, KEY_FILE_CAP, "key file");
	if (bale_buf_read_file(b, path, &inner) < 0) { /* missing: not found; else usage */
		rc = bale_error_set(
		    err, bale_error_code(inner) == BALE_ENOTFOUND ? BALE_ENOTFOUND : BALE_EUSAGE,
		    "%s", bale_error_message(inner));
		goto cleanup;
	}
cleanup:
	bale_error_free(inner);
	return rc;
}

/* OpenSSL's reasons ("unsupported", "no start line") do not tell the user what to do;
 * the PEM labels of the usual mix-ups do. */
static const char *why_not_loaded(const bale_buf *file, bool private_key)
{
	const char *text = file->data ? file->data : "";

	if (private_key && (strstr(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----") ||
	                    strstr(text, "Proc-Type: 4,ENCRYPTED")))
		return "encrypted private key; bale reads only unencrypted ones (file mode 0600 "
		       "protects it)";
	if (private_key && strstr(text, "-----BEGIN PUBLIC KEY-----"))
		return "a public key where a private key (.key) is needed";
	if (!private_key && strstr(text, "PRIVATE KEY-----"))
		return "a private key where a public key (.pub) is needed";
	return private_key ? "not a PEM private key (PKCS#8)" : "not a PEM public key (SPKI)";
}

/* A key from PEM text in memory; what names it in errors (a path, a policy's keyData). */
static int key_from_pem(bale_key **out, const bale_buf *pem, const char *what, bool private_key,
                        bale_error **err)
{
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	bale_key *key = NULL;
	int rc = 0;

	*out = NULL;
	bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	if (!bio) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	pkey = private_key ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)
	                   : PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	if (!pkey) {
		rc = bale_error_set(err, BALE_EUSAGE, "%s: %s", what,
		                    why_not_loaded(pem, private_key));
		goto cleanup;
	}
	if ((rc = check_p256(pkey, what, err)) < 0)
		goto cleanup;
	key = calloc(1, sizeof(*key));
	if (!key) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if ((rc = compute_id(key->id, pkey, err)) < 0) {
		bale_error_wrap(err, "%s", what);
		goto cleanup;
	}
	key->pkey = pkey;
	key->has_private = private_key;
	pkey = NULL;
	*out = key;
	key = NULL;
cleanup:
	ERR_clear_error();
	bale_key_free(key);
	EVP_PKEY_free(pkey); /* wipes the private scalar */
	BIO_free(bio);
	return rc;
}

static int load_key(bale_key **out, const char *path, bool private_key, bale_error **err)
{
	bale_buf file;
	*out = NULL;
	int rc = read_key_file(&file, path, err);
	if (rc == 0)
		rc = key_from_pem(out, &file, path, private_key, err);
	bale_buf_free(&file);
	return rc;
}

int bale_key_public_from_pem(bale_key **out, const void *pem, size_t len, const char *what,
                             bale_error **err)
{
	/* a NUL-terminated copy: why_not_loaded reads it as text */
	char *text = malloc(len + 1);
	if (!text)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	memcpy(text, pem, len);
	text[len] = '\0';
	bale_buf view = {.data = text, .len = len};
	int rc = key_from_pem(out, &view, what, false, err);
	free(text);
	return rc;
}

int bale_key_load_private(bale_key **out, const char *path, bale_error **err)
{
	return load_key(out, path, true, err);
}

int bale_key_load_public(bale_key **out, const char *path, bale_error **err)
{
	return load_key(out, path, false, err);
}

const char *bale_key_id(const bale_key *key)
{
	return key->id;
}

void bale_key_free(bale_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey);
	free(key);
}

/* Creates path, refusing to replace it, with exactly mode (umask notwithstanding: a
 * .pub that others cannot read is as wrong as a .key that they can). On failure the
 * half-written file is removed. */
static int write_new_file(const char *path, const void *data, size_t len, mode_t mode,
                          bale_error **err)
{
	int rc = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		if (errno == EEXIST)
			return bale_error_set(err, BALE_EUSAGE, "%s already exists", path);
		return bale_error_set_errno(err, BALE_EGENERIC, errno, "create %s", path);
	}
	if (fchmod(fd, mode) < 0 || bale_fs_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "write %s", path);
		goto cleanup;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = bale_error_set_errno(err, BALE_EGENERIC, errno, "close %s", path);
		goto cleanup;
	}
	fd = -1;
cleanup:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(path);
	return rc;
}

static int write_key_file(const char *path, const void *data, size_t len, mode_t mode, bool force,
                          bale_error **err)
{
	if (force) /* temp name + rename: readers see the old key or the new one */
		return bale_fs_write_atomic(path, data, len, mode, err);
	return write_new_file(path, data, len, mode, err);
}

/* The PEM text in a memory BIO. */
static int bio_contents(const char **data, size_t *len, BIO *bio, bale_error **err)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);
	if (n <= 0 || !p)
		return bale_error_set(err, BALE_EGENERIC, "encode key: empty PEM");
	*data = p;
	*len = (size_t)n;
	return 0;
}

static void bio_wipe_free(BIO *bio)
{
	char *p = NULL;
	long n;

	if (!bio)
		return;
	n = BIO_get_mem_data(bio, &p);
	if (p && n > 0)
		OPENSSL_cleanse(p, (size_t)n);
	BIO_free(bio);
}

static char *with_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name) + strlen(suffix) + 1;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s%s", name, suffix);
	return p;
}

int bale_key_generate(const char *name, bool force, char key_id[BALE_KEY_ID_LEN + 1],
                      bale_error **err)
{
	EVP_PKEY *pkey = NULL;
	BIO *priv = NULL, *pub = NULL;
	char *key_path = with_suffix(name, ".key"), *pub_path = with_suffix(name, ".pub");
	char *dir = strdup(name);
	const char *priv_pem = NULL, *pub_pem = NULL;
	size_t priv_len = 0, pub_len = 0;
	char id[BALE_KEY_ID_LEN + 1];
	bool wrote_key = false;
	int rc = 0;

	if (!key_path || !pub_path || !dir) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!pkey) {
		rc = bale_error_set(err, BALE_EGENERIC, "generate P-256 key: %s", ssl_reason());
		goto cleanup;
	}
	if ((rc = compute_id(id, pkey, err)) < 0)
		goto cleanup;
	priv = BIO_new(BIO_s_mem());
	pub = BIO_new(BIO_s_mem());
	if (!priv || !pub) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	/* PKCS#8 explicitly (not the SEC1 "EC PRIVATE KEY" form) and unencrypted: the key
	 * is protected by its file mode, and cosign and openssl read this form. */
	if (!PEM_write_bio_PKCS8PrivateKey(priv, pkey, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_PUBKEY(pub, pkey)) {
		rc = bale_error_set(err, BALE_EGENERIC, "encode key: %s", ssl_reason());
		goto cleanup;
	}
	if ((rc = bio_contents(&priv_pem, &priv_len, priv, err)) < 0 ||
	    (rc = bio_contents(&pub_pem, &pub_len, pub, err)) < 0)
		goto cleanup;
	if ((rc = write_key_file(key_path, priv_pem, priv_len, 0600, force, err)) < 0)
		goto cleanup;
	wrote_key = true;
	if ((rc = write_key_file(pub_path, pub_pem, pub_len, 0644, force, err)) < 0)
		goto cleanup;
	/* bale_fs_write_atomic synced the directory already; a fresh file needs it too so
	 * the name survives a crash along with the content. */
	if (!force && (rc = bale_fs_fsync_dir(dirname(dir), err)) < 0)
		goto cleanup;
	memcpy(key_id, id, sizeof(id));
cleanup:
	/* Without force, a half-made pair leaves nothing behind: the .key was created by
	 * us (O_EXCL), so removing it cannot touch an existing key. With force the new key
	 * has already replaced the old one and stays; the user asked for that. */
	if (rc < 0 && wrote_key && !force)
		unlink(key_path);
	ERR_clear_error();
	bio_wipe_free(priv);
	BIO_free(pub);
	EVP_PKEY_free(pkey);
	free(key_path);
	free(pub_path);
	free(dir);
	return rc;
}

int bale_key_sign(char **out, const bale_key *key, const void *data, size_t len, bale_error **err)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char *sig = NULL;
	char *b64 = NULL;
	size_t sig_len = 0;
	int rc = 0;

	assert(key->has_private); /* the CLI loads a private key for signing */
	*out = NULL;
	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &sig_len, data ? data : "", len) != 1) {
		rc = bale_error_set(err, BALE_EGENERIC, "sign with key %s: %s", key->id,
		                    ssl_reason());
		goto cleanup;
	}
	sig = malloc(sig_len);
	if (!sig) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	/* One-shot ECDSA: the first call gave the maximum size, this one the real one. */
	if (EVP_DigestSign(ctx, sig, &sig_len, data ? data : "", len) != 1) {
		rc = bale_error_set(err, BALE_EGENERIC, "sign with key %s: %s", key->id,
		                    ssl_reason());
		goto cleanup;
	}
	b64 = malloc(4 * ((sig_len + 2) / 3) + 1);
	if (!b64) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	EVP_EncodeBlock((unsigned char *)b64, sig, (int)sig_len); /* NUL-terminates */
	*out = b64;
	b64 = NULL;
cleanup:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	free(sig);
	free(b64);
	return rc;
}

static bool is_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* Strict base64 to bytes (malloc'd), at most max characters. EVP_DecodeBlock alone is
 * too lenient (it reads '=' anywhere as zero bits) and counts padding as output, so the
 * text is checked and the padding subtracted here. Whitespace is dropped: `base64` wraps
 * lines at 76 columns. */
static int decode_base64(unsigned char **out, size_t *out_len, const char *text, size_t max)
{
	size_t n = 0, pad = 0;
	char *compact = malloc(strlen(text) + 1);
	unsigned char *bytes = NULL;
	int rc = -1;

	if (!compact)
		return -1;
	for (const char *p = text; *p; p++)
		if (!isspace((unsigned char)*p))
			compact[n++] = *p;
	compact[n] = '\0';
	if (n == 0 || n % 4 != 0 || n > max)
		goto cleanup;
	while (pad < 2 && compact[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++)
		if (!is_b64_char(compact[i]))
			goto cleanup;
	if (!(bytes = malloc(n / 4 * 3 + 1)))
		goto cleanup;
	int got = EVP_DecodeBlock(bytes, (const unsigned char *)compact, (int)n);
	if (got < 0 || (size_t)got < pad)
		goto cleanup;
	*out_len = (size_t)got - pad;
	*out = bytes;
	bytes = NULL;
	rc = 0;
cleanup:
	free(bytes);
	free(compact);
	return rc;
}

int bale_key_public_from_base64(bale_key **out, const char *b64, const char *what, bale_error **err)
{
	unsigned char *pem = NULL;
	size_t len = 0;
	*out = NULL;
	if (decode_base64(&pem, &len, b64, KEY_FILE_CAP) < 0)
		return bale_error_set(err, BALE_EUSAGE,
		                      "%s: not valid base64 (of a PEM public key)", what);
	int rc = bale_key_public_from_pem(out, pem, len, what, err);
	free(pem);
	return rc;
}

int bale_key_verify(const bale_key *key, const void *data, size_t len, const char *signature_b64,
                    bale_error **err)
{
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	EVP_MD_CTX *ctx = NULL;
	int rc = 0;

	if (decode_base64(&sig, &sig_len, signature_b64, SIGNATURE_B64_CAP) < 0) {
		rc = bale_error_set(
		    err, BALE_ETRUST,
		    "signature is not valid base64, so it does not verify with key %s", key->id);
		goto cleanup;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
		goto cleanup;
	}
	/* 1 is the only success: 0 is a wrong signature, negative a malformed one (bad DER),
	 * and both mean the same to the user. OpenSSL rejects non-canonical DER, so one
	 * signature has one encoding. */
	if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) != 1 ||
	    EVP_DigestVerify(ctx, sig, sig_len, data ? data : "", len) != 1) {
		rc = bale_error_set(err, BALE_ETRUST, "signature does not verify with key %s",
		                    key->id);
		goto cleanup;
	}
cleanup:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	free(sig);
	return rc;
}
