/* Kubernetes manifests: every workload kind, every container list, line numbers, Lists,
 * multi-document streams, Secrets and ServiceAccounts; directories, stdin, caps and
 * malformed input. Fixtures in tests/data/k8s are manifests as people write them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bale/auth.h"
#include "bale/k8s.h"
#include "bale/yaml.h"

struct want_container {
	const char *list, *name, *image, *policy;
	int line;
};

static char *data_path(const char *name)
{
	char path[1024];
	const char *data = getenv("BALE_TEST_DATA");
	if (data) {
		snprintf(path, sizeof(path), "%s/k8s/%s", data, name);
	} else { /* run by hand: the source tree this file was compiled from */
		const char *cut = strstr(__FILE__, "tests/unit/");
		assert_non_null(cut);
		snprintf(path, sizeof(path), "%.*stests/data/k8s/%s", (int)(cut - __FILE__),
		         __FILE__, name);
	}
	char *p = strdup(path);
	assert_non_null(p);
	return p;
}

static void load_ok(bale_k8s_set *set, const char *path)
{
	bale_error *err = NULL;
	if (bale_k8s_load(set, path, &err) != 0)
		fail_msg("load %s: %s", path, bale_error_message(err));
	assert_null(err);
}

/* Loads tests/data/k8s/<name> into a fresh set. */
static void load_fixture(bale_k8s_set *set, const char *name)
{
	char *path = data_path(name);
	memset(set, 0, sizeof(*set));
	load_ok(set, path);
	free(path);
}

static void assert_str_or_null(const char *have, const char *want)
{
	if (!want)
		assert_null(have);
	else {
		assert_non_null(have);
		assert_string_equal(have, want);
	}
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);
	return n >= m && strcmp(s + n - m, tail) == 0;
}

static void check_workload(const bale_k8s_workload *w, const char *kind, const char *name,
                           const char *namespace, const char *file, int line,
                           const struct want_container *want, size_t n_want)
{
	assert_string_equal(w->kind, kind);
	assert_string_equal(w->name, name);
	assert_str_or_null(w->namespace, namespace);
	if (!ends_with(w->file, file))
		fail_msg("file %s, expected .../%s", w->file, file);
	assert_int_equal(w->line, line);
	assert_int_equal(w->n_containers, n_want);
	for (size_t i = 0; i < n_want; i++) {
		const bale_k8s_container *c = &w->containers[i];
		assert_string_equal(c->list, want[i].list);
		assert_str_or_null(c->name, want[i].name);
		assert_str_or_null(c->image, want[i].image);
		assert_str_or_null(c->pull_policy, want[i].policy);
		assert_int_equal(c->line, want[i].line);
	}
}

static void check_strings(char *const *have, size_t n, const char *const *want, size_t n_want)
{
	assert_int_equal(n, n_want);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(have[i], want[i]);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_deployment_latest(void **state)
{
	bale_k8s_set set;
	load_fixture(&set, "deployment-latest.yaml");
	assert_int_equal(set.n_workloads, 1);
	assert_int_equal(set.n_secrets, 0);
	assert_int_equal(set.n_service_accounts, 0);
	static const struct want_container want[] = {
	    {"containers", "nginx", "nginx:latest", "Always", 20}};
	check_workload(&set.workloads[0], "Deployment", "web", "shop", "k8s/deployment-latest.yaml",
	               2, want, N(want));
	assert_int_equal(set.workloads[0].n_pull_secrets, 0);
	assert_null(set.workloads[0].service_account);
	bale_k8s_set_free(&set);
}

static void test_statefulset(void **state)
{
	bale_k8s_set set;
	load_fixture(&set, "statefulset.yaml");
	/* volumeClaimTemplates has a spec of its own: not a pod spec. */
	assert_int_equal(set.n_workloads, 1);
	static const struct want_container want[] = {
	    {"containers", "postgres", "docker.io/library/postgres:16.2", "IfNotPresent", 20}};
	check_workload(&set.workloads[0], "StatefulSet", "db", "data", "statefulset.yaml", 2, want,
	               N(want));
	bale_k8s_set_free(&set);
}

static void test_job_local_image(void **state)
{
	bale_k8s_set set;
	load_fixture(&set, "job-local.yaml");
	assert_int_equal(set.n_workloads, 1);
	static const struct want_container want[] = {
	    {"containers", "migrate", "migrate-tool:dev", "Never", 14}};
	check_workload(&set.workloads[0], "Job", "migrate", "shop", "job-local.yaml", 2, want,
	               N(want));
	bale_k8s_set_free(&set);
}

static void test_pull_secrets(void **state)
{
	bale_k8s_set set;
	load_fixture(&set, "deployment-pullsecrets.yaml");
	assert_int_equal(set.n_workloads, 1);
	static const struct want_container want[] = {
	    {"containers", "api", "registry.example.com:5000/shop/api:2.4.1", NULL, 18},
	    {"containers", "sidecar", "ghcr.io/acme/envoy:v1.29", "IfNotPresent", 20}};
	check_workload(&set.workloads[0], "Deployment", "api", "shop",
	               "deployment-pullsecrets.yaml", 2, want, N(want));
	static const char *const secrets[] = {"regcred", "backup-cred"};
	check_strings(set.workloads[0].pull_secrets, set.workloads[0].n_pull_secrets, secrets,
	              N(secrets));
	bale_k8s_set_free(&set);
}

static void test_service_account(void **state)
{
	bale_k8s_set set;
	load_fixture(&set, "serviceaccount.yaml");
	assert_int_equal(set.n_service_accounts, 1);
	const bale_k8s_service_account *sa = &set.service_accounts[0];
	assert_string_equal(sa->name, "builder");
	assert_string_equal(sa->namespace, "ci");
	assert_true(ends_with(sa->file, "serviceaccount.yaml"));
	assert_int_equal(sa->line, 2);
	static const char *const secrets[] = {"ci-registry", "mirror-cred"};
	check_strings(sa->pull_secrets, sa->n_pull_secrets, secrets, N(secrets));

	assert_int_equal(set.n_workloads, 2);
	static const struct want_container runner[] = {
	    {"containers", "runner", "registry.example.com:5000/ci/runner:3.1", NULL, 27}};
	check_workload(&set.workloads[0], "Deployment", "runner", "ci", "serviceaccount.yaml", 11,
	               runner, N(runner));
	assert_string_equal(set.workloads[0].service_account, "builder");
	assert_int_equal(set.workloads[0].n_pull_secrets, 0);
	static const struct want_container legacy[] = {
	    {"containers", "shell", "busybox:1.36", NULL, 39}};
	check_workload(&set.workloads[1], "Pod", "legacy", "ci", "serviceaccount.yaml", 31, legacy,
	               N(legacy));
	assert_string_equal(set.workloads[1].service_account, "builder");
	bale_k8s_set_free(&set);
}

static void test_daemonset_init(void **state)
{
	bale_k8s_set set;
	load_fixture(&set, "daemonset-init.yaml");
	assert_int_equal(set.n_workloads, 1);
	/* The order of the lists, not of the file: containers first. */
	static const struct want_container want[] = {
	    {"containers", "agent", "quay.io/acme/agent:1.0.3", NULL, 26},
	    {"initContainers", "setup", "quay.io/acme/agent-init:1.0.3", NULL, 20}};
	check_workload(&set.workloads[0], "DaemonSet", "node-agent", "kube-system",
	               "daemonset-init.yaml", 2, want, N(want));
	bale_k8s_set_free(&set);
}

static void test_multiarch(void **state)
{
	bale_k8s_set set;
	load_fixture(&set, "multiarch.yaml");
	assert_int_equal(set.n_workloads, 1);
	static const struct want_container want[] = {
	    {"containers", "redis", "redis:7.2-alpine", NULL, 26}};
	check_workload(&set.workloads[0], "Deployment", "cache", NULL, "multiarch.yaml", 2, want,
	               N(want));
	/* its required nodeAffinity: amd64 or arm64, any system */
	assert_int_equal(set.workloads[0].archs, 1u << 0 | 1u << 1);
	assert_int_equal(set.workloads[0].oses, BALE_K8S_ALL_OSES);
	bale_k8s_set_free(&set);
}

/* Where pods may run, as the scheduler reads it: nodeSelector (the beta labels too) ANDed
 * with the required nodeAffinity, whose terms are ORed; NotIn and DoesNotExist narrow. */
static void test_placement(void **state)
{
	(void)state;
	static const char text[] =
	    "kind: Pod\nmetadata: {name: a}\nspec:\n"
	    "  nodeSelector: {beta.kubernetes.io/arch: arm64, kubernetes.io/os: linux}\n"
	    "  containers: [{name: c, image: x}]\n"
	    "---\nkind: Pod\nmetadata: {name: b}\nspec:\n"
	    "  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: "
	    "{nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/arch, operator: NotIn, "
	    "values: [amd64, arm64, arm, 386, ppc64le, s390x]}]}, {matchExpressions: [{key: "
	    "kubernetes.io/os, operator: In, values: [windows]}, {key: kubernetes.io/arch, "
	    "operator: In, values: [amd64]}]}]}}}\n"
	    "  containers: [{name: c, image: x}]\n"
	    "---\nkind: Pod\nmetadata: {name: c}\nspec:\n"
	    "  nodeSelector: {kubernetes.io/arch: sparc}\n"
	    "  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: "
	    "{nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/os, operator: "
	    "DoesNotExist}]}]}}}\n"
	    "  containers: [{name: c, image: x}]\n"
	    "---\n- linux/arm64/v8\n- windows/amd64\n- not-a-platform\n";
	bale_k8s_set set = {0};
	assert_int_equal(bale_k8s_load_text(&set, "placement.yaml", text, strlen(text), NULL), 0);
	assert_int_equal(set.n_workloads, 3);
	assert_int_equal(set.workloads[0].archs, 1u << 1); /* arm64 */
	assert_int_equal(set.workloads[0].oses, 1u << 0);  /* linux */
	/* (riscv64 or mips64le, any system) or (amd64 on windows): per label, ORed */
	assert_int_equal(set.workloads[1].archs, 1u << 6 | 1u << 7 | 1u << 0);
	assert_int_equal(set.workloads[1].oses, BALE_K8S_ALL_OSES);
	assert_int_equal(set.workloads[2].archs, 0); /* an architecture bale does not know */
	assert_int_equal(set.workloads[2].oses, 0);  /* every node has kubernetes.io/os */
	/* a YAML list of platforms is a node inventory */
	assert_int_equal(set.n_nodes, 2);
	assert_int_equal(set.node_archs, 1u << 1 | 1u << 0);
	assert_int_equal(set.node_oses, BALE_K8S_ALL_OSES);
	bale_k8s_set_free(&set);
}

static void test_helm_multi_document(void **state)
{
	bale_k8s_set set;
	load_fixture(&set, "helm-multi.yaml");
	/* Empty documents, comment-only ones, a ConfigMap and a Service: all skipped. */
	assert_int_equal(set.n_workloads, 2);
	assert_int_equal(set.n_secrets, 0);
	static const struct want_container frontend[] = {
	    {"containers", "frontend", "registry.example.com:5000/shop/frontend:0.3.1",
	     "IfNotPresent", 35}};
	check_workload(&set.workloads[0], "Deployment", "shop-frontend", NULL, "helm-multi.yaml",
	               25, frontend, N(frontend));
	static const struct want_container test[] = {{"containers", "wget", "busybox", NULL, 48}};
	check_workload(&set.workloads[1], "Pod", "shop-test-connection", NULL, "helm-multi.yaml",
	               40, test, N(test));
	bale_k8s_set_free(&set);
}

static void test_list(void **state)
{
	bale_k8s_set set;
	load_fixture(&set, "list.yaml");
	assert_int_equal(set.n_workloads, 3);
	static const struct want_container rs[] = {
	    {"containers", "front", "nginx:1.25.4", NULL, 20}};
	check_workload(&set.workloads[0], "ReplicaSet", "front-7d4b9c", "web", "list.yaml", 11, rs,
	               N(rs));
	static const struct want_container rc[] = {{"containers", "front", "nginx:1.14", NULL, 31}};
	check_workload(&set.workloads[1], "ReplicationController", "old-front", "web", "list.yaml",
	               22, rc, N(rc));
	static const struct want_container dl[] = {
	    {"containers", "app", "example.org/app:1", NULL, 46}};
	check_workload(&set.workloads[2], "Deployment", "listed", "web", "list.yaml", 37, dl,
	               N(dl));
	bale_k8s_set_free(&set);
}

static void test_cronjob(void **state)
{
	bale_k8s_set set;
	load_fixture(&set, "cronjob.yaml");
	assert_int_equal(set.n_workloads, 1);
	static const struct want_container want[] = {
	    {"containers", "backup", "registry.internal:443/ops/pg-backup:1.7", "Always", 16}};
	check_workload(&set.workloads[0], "CronJob", "nightly-backup", "data", "cronjob.yaml", 2,
	               want, N(want));
	bale_k8s_set_free(&set);
}

static void test_digests_ports_ephemeral(void **state)
{
	bale_k8s_set set;
	load_fixture(&set, "pod-pinned.yaml");
	assert_int_equal(set.n_workloads, 1);
	static const struct want_container want[] = {
	    {"containers", "app",
	     "10.0.0.5:5000/team/app@sha256:"
	     "3b5bd3f0e1fda0d2c5e8a5d7c4b1a9f6e2d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4",
	     NULL, 9},
	    {"containers", "proxy",
	     "localhost:5000/proxy:1.0@sha256:"
	     "0000000000000000000000000000000000000000000000000000000000000001",
	     "IfNotPresent", 11},
	    /* No image: the line of the container itself. */
	    {"containers", "noimage", NULL, NULL, 13},
	    {"ephemeralContainers", "debugger", "[fd00::1]:5000/tools/debug:latest", "Always", 16}};
	check_workload(&set.workloads[0], "Pod", "pinned", "default", "pod-pinned.yaml", 2, want,
	               N(want));
	bale_k8s_set_free(&set);
}

static void test_json(void **state)
{
	bale_k8s_set set;
	load_fixture(&set, "pod.json");
	assert_int_equal(set.n_workloads, 1);
	static const struct want_container want[] = {
	    {"containers", "c", "alpine:3.19", "IfNotPresent", 7}};
	check_workload(&set.workloads[0], "Pod", "from-json", "json", "pod.json", 3, want, N(want));
	bale_k8s_set_free(&set);
}

/* The Secret's text, written to a file, is what bale_auth's pull-secret reader takes. */
static void test_secret(void **state)
{
	const char *dir = *state;
	bale_k8s_set set;
	load_fixture(&set, "secret-dockerconfigjson.yaml");
	assert_int_equal(set.n_workloads, 0);
	assert_int_equal(set.n_secrets, 2);
	const bale_k8s_secret *s = &set.secrets[0];
	assert_string_equal(s->name, "regcred");
	assert_string_equal(s->namespace, "shop");
	assert_string_equal(s->type, "kubernetes.io/dockerconfigjson");
	assert_true(ends_with(s->file, "secret-dockerconfigjson.yaml"));
	assert_int_equal(s->line, 2);
	assert_non_null(strstr(s->text, "kind: Secret"));
	/* Only its own document: not the second Secret. */
	assert_null(strstr(s->text, "tls"));
	const bale_k8s_secret *opaque = &set.secrets[1];
	assert_string_equal(opaque->name, "tls");
	assert_string_equal(opaque->type, "Opaque");
	assert_int_equal(opaque->line, 11);

	char *path = path_join(dir, "regcred.yaml");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(s->text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	const char *secrets[] = {path};
	bale_auth_options opts = {.pull_secrets = secrets, .n_pull_secrets = 1};
	bale_credential *cred = NULL;
	bale_error *err = NULL;
	if (bale_auth_lookup(&cred, &opts, "registry.example.com:5000", "shop/api", &err) != 0)
		fail_msg("lookup: %s", bale_error_message(err));
	assert_non_null(cred);
	assert_string_equal(cred->username, "ci-bot");
	assert_string_equal(cred->password, "s3cr3t");
	bale_auth_credential_free(cred);
	free(path);
	bale_k8s_set_free(&set);
}

/* A Secret inside a List comes out as a Secret of its own; a JSON one as YAML. */
static void test_secret_in_list(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "secrets.json");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"kind\": \"SecretList\", \"items\": [\n"
	      "  {\"kind\": \"Secret\", \"metadata\": {\"name\": \"a\", \"namespace\": \"n\"},\n"
	      "   \"stringData\": {\"x\": \"1.0\", \"y\": \"multi\\nline\"}}]}\n",
	      f);
	assert_int_equal(fclose(f), 0);
	bale_k8s_set set = {0};
	load_ok(&set, path);
	assert_int_equal(set.n_secrets, 1);
	assert_string_equal(set.secrets[0].name, "a");
	assert_int_equal(set.secrets[0].line, 2);
	assert_null(strstr(set.secrets[0].text, "SecretList"));
	/* Re-read: the values survive as the same strings. */
	bale_k8s_set again = {0};
	char *copy = path_join(dir, "copy.yaml");
	f = fopen(copy, "w");
	assert_non_null(f);
	fputs(set.secrets[0].text, f);
	fputs("type: x\n", f); /* not a duplicate: the text has no type */
	assert_int_equal(fclose(f), 0);
	load_ok(&again, copy);
	assert_int_equal(again.n_secrets, 1);
	assert_string_equal(again.secrets[0].type, "x");
	assert_non_null(strstr(again.secrets[0].text, "1.0"));
	bale_k8s_set_free(&again);
	bale_k8s_set_free(&set);
	free(copy);
	free(path);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char *path = path_join(dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		fail_msg("create %s: %s", path, strerror(errno));
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	free(path);
}

static char *pod(const char *name)
{
	char text[256];
	snprintf(text, sizeof(text),
	         "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  containers:\n"
	         "  - name: c\n    image: %s:1\n",
	         name, name);
	char *s = strdup(text);
	assert_non_null(s);
	return s;
}

static void write_pod(const char *dir, const char *name, const char *pod_name)
{
	char *text = pod(pod_name);
	write_text(dir, name, text);
	free(text);
}

static void test_directory_walk(void **state)
{
	const char *dir = *state;
	char *sub = path_join(dir, "c"), *deeper = path_join(dir, "c/z");
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(mkdir(deeper, 0755), 0);
	write_pod(dir, "b.yaml", "b");
	write_pod(dir, "a.yml", "a");
	write_pod(dir, "B.yaml", "upper-b"); /* byte order: before the lower case */
	write_pod(dir, "c/d.json", "d");     /* YAML is JSON's superset: fine in a .json */
	write_pod(dir, "c/z/e.yaml", "e");
	write_pod(dir, "c/.hidden.yaml", "hidden");
	write_pod(dir, ".dot.yaml", "dot");
	write_pod(dir, "notes.txt", "txt");
	write_pod(dir, "values.yaml.bak", "bak");
	write_text(dir, "c/values.yaml", "replicas: 3\nimage:\n  tag: latest\n");

	bale_k8s_set set = {0};
	load_ok(&set, dir);
	static const char *const order[] = {"upper-b", "a", "b", "d", "e"};
	assert_int_equal(set.n_workloads, N(order));
	for (size_t i = 0; i < N(order); i++)
		assert_string_equal(set.workloads[i].name, order[i]);
	char *want_file = path_join(dir, "c/z/e.yaml");
	assert_string_equal(set.workloads[4].file, want_file);
	assert_int_equal(set.workloads[4].containers[0].line, 8);

	/* A file named on its own is read whatever its name; loads add up. */
	char *txt = path_join(dir, "notes.txt");
	load_ok(&set, txt);
	assert_int_equal(set.n_workloads, N(order) + 1);
	assert_string_equal(set.workloads[N(order)].name, "txt");
	bale_k8s_set_free(&set);
	assert_int_equal(set.n_workloads, 0);
	free(txt);
	free(want_file);
	free(sub);
	free(deeper);
}

static void test_stdin(void **state)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	char *text = pod("piped");
	assert_int_equal(write(fds[1], text, strlen(text)), (ssize_t)strlen(text));
	close(fds[1]);
	int saved = dup(STDIN_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
	close(fds[0]);

	bale_k8s_set set = {0};
	bale_error *err = NULL;
	int rc = bale_k8s_load(&set, "-", &err);
	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
	if (rc != 0)
		fail_msg("load -: %s", bale_error_message(err));
	static const struct want_container want[] = {{"containers", "c", "piped:1", NULL, 8}};
	check_workload(&set.workloads[0], "Pod", "piped", NULL, "(stdin)", 2, want, N(want));
	bale_k8s_set_free(&set);
	free(text);
}

/* Standard input has no size to check first: it is counted as it comes. */
static void test_stdin_over_cap(void **state)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) { /* writes comments, valid YAML, until one byte past the cap */
		signal(SIGPIPE, SIG_IGN);
		close(fds[0]);
		char chunk[65536];
		memset(chunk, '#', sizeof(chunk));
		chunk[sizeof(chunk) - 1] = '\n';
		size_t left = (size_t)BALE_K8S_CAP + 1;
		while (left > 0) {
			size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
			ssize_t w = write(fds[1], chunk, n);
			if (w <= 0)
				_exit(0);
			left -= (size_t)w;
		}
		_exit(0);
	}
	close(fds[1]);
	int saved = dup(STDIN_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
	close(fds[0]);
	bale_k8s_set set = {0};
	bale_error *err = NULL;
	int rc = bale_k8s_load(&set, "-", &err);
	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(rc, BALE_EUSAGE);
	assert_string_equal(bale_error_message(err),
	                    "(stdin): over the 67108864 byte limit for manifests");
	bale_error_free(err);
	bale_k8s_set_free(&set);
}

static void expect_error(bale_k8s_set *set, const char *path, int code, const char *message)
{
	bale_error *err = NULL;
	assert_int_equal(bale_k8s_load(set, path, &err), code);
	const char *m = bale_error_message(err);
	if (strncmp(m, message, strlen(message)) != 0)
		fail_msg("error \"%s\", expected it to start with \"%s\"", m, message);
	bale_error_free(err);
}

static void test_malformed(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "bad.yaml"), want[1200];
	/* A good document first: a failed load adds nothing of the file. */
	char *good = pod("good");
	char *text = NULL;
	size_t len = strlen(good) + 200;
	text = malloc(len);
	assert_non_null(text);
	snprintf(text, len, "%s---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: x: y\n", good);
	write_text(dir, "bad.yaml", text);
	bale_k8s_set set = {0};
	snprintf(want, sizeof(want), "%s:13: mapping values are not allowed", path);
	expect_error(&set, path, BALE_EUSAGE, want);
	assert_int_equal(set.n_workloads, 0);

	/* Failing in the second file of a directory: the first one's objects go too. */
	write_pod(dir, "a.yaml", "first");
	snprintf(want, sizeof(want), "%s:13: ", path);
	expect_error(&set, dir, BALE_EUSAGE, want);
	assert_int_equal(set.n_workloads, 0);

	/* Bad UTF-8 is found by libyaml's reader, which gives only an offset. */
	write_text(dir, "bad.yaml", "kind: Pod\nmetadata:\n  name: \xff\xfe\n");
	snprintf(want, sizeof(want), "%s:3: invalid leading UTF-8 octet", path);
	expect_error(&set, path, BALE_EUSAGE, want);

	write_text(dir, "bad.yaml", "kind: Pod\nspec:\n  containers: [\n");
	snprintf(want, sizeof(want), "%s:4: ", path);
	expect_error(&set, path, BALE_EUSAGE, want);

	write_text(dir, "bad.yaml", "kind: Pod\nspec: *nowhere\n");
	snprintf(want, sizeof(want), "%s:2: found undefined alias", path);
	expect_error(&set, path, BALE_EUSAGE, want);

	/* An alias cycle is refused as it is read: nothing can walk into it. */
	write_text(dir, "bad.yaml", "kind: Secret\nmetadata: {name: loop}\ndata: &a [*a]\n");
	snprintf(want, sizeof(want), "%s:3: an alias inside the node it names (a cycle)", path);
	expect_error(&set, path, BALE_EUSAGE, want);

	/* Aliases that fan out (8^8 strings): counted as what they stand for, refused once
	 * that is over half a million nodes, long before anything expands them. */
	write_text(dir, "bad.yaml",
	           "kind: Secret\nmetadata: {name: laughs}\n"
	           "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	           "b: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b]\n"
	           "d: &d [*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d]\n"
	           "f: &f [*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f]\n"
	           "h: &h [*g,*g,*g,*g,*g,*g,*g,*g]\n");
	snprintf(want, sizeof(want), "%s:9: more than 500000 YAML nodes in one document", path);
	expect_error(&set, path, BALE_EUSAGE, want);

	char *missing = path_join(dir, "missing.yaml");
	snprintf(want, sizeof(want), "%s: No such file", missing);
	expect_error(&set, missing, BALE_ENOTFOUND, want);
	assert_int_equal(set.n_workloads + set.n_secrets, 0);
	bale_k8s_set_free(&set);
	free(missing);
	free(good);
	free(text);
	free(path);
}

static void test_over_cap(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "huge.yaml"), want[1200];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	/* Sparse: refused from its size, before a byte is read. */
	assert_int_equal(ftruncate(fd, (off_t)BALE_K8S_CAP + 1), 0);
	close(fd);
	bale_k8s_set set = {0};
	snprintf(want, sizeof(want), "%s: %u bytes is over the", path, BALE_K8S_CAP + 1);
	expect_error(&set, path, BALE_EUSAGE, want);
	/* Inside a directory too. */
	snprintf(want, sizeof(want), "%s: ", path);
	expect_error(&set, dir, BALE_EUSAGE, want);
	bale_k8s_set_free(&set);
	free(path);
}

static void test_large_manifest(void **state)
{
	const char *dir = *state;
	char *path = path_join(dir, "big.yaml");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  blob: ", f);
	char chunk[4096];
	memset(chunk, 'x', sizeof(chunk));
	for (size_t i = 0; i < (10u << 20) / sizeof(chunk); i++)
		assert_int_equal(fwrite(chunk, 1, sizeof(chunk), f), sizeof(chunk));
	fputs("\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: after\nspec:\n"
	      "  containers:\n  - name: c\n    image: after:1\n",
	      f);
	assert_int_equal(fclose(f), 0);
	bale_k8s_set set = {0};
	load_ok(&set, path);
	static const struct want_container want[] = {{"containers", "c", "after:1", NULL, 15}};
	assert_int_equal(set.n_workloads, 1);
	check_workload(&set.workloads[0], "Pod", "after", NULL, "big.yaml", 9, want, N(want));
	bale_k8s_set_free(&set);
	free(path);
}

/* A growable string for the generated documents below. */
typedef struct text {
	char *s;
	size_t len, cap;
} text;

static void text_add(text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		assert_non_null(t->s);
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void text_addf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_addf(text *t, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(buf));
	text_add(t, buf, (size_t)n);
}

static void text_puts(text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

static void text_repeat(text *t, const char *s, size_t times)
{
	for (size_t i = 0; i < times; i++)
		text_add(t, s, strlen(s));
}

/* bale_k8s_load_text must refuse t with BALE_EUSAGE and a one-line message starting
 * "bombs.yaml:LINE: " followed by what. */
static void expect_text_error(text *t, int line, const char *what)
{
	bale_k8s_set set = {0};
	bale_error *err = NULL;
	char want[512];
	snprintf(want, sizeof(want), "bombs.yaml:%d: %s", line, what);
	assert_int_equal(bale_k8s_load_text(&set, "bombs.yaml", t->s, t->len, &err), BALE_EUSAGE);
	const char *m = bale_error_message(err);
	if (strncmp(m, want, strlen(want)) != 0)
		fail_msg("error \"%s\", expected it to start with \"%s\"", m, want);
	assert_null(strchr(m, '\n'));
	assert_int_equal(set.n_workloads + set.n_secrets + set.n_service_accounts, 0);
	bale_error_free(err);
	bale_k8s_set_free(&set);
	free(t->s);
	memset(t, 0, sizeof(*t));
}

static void load_text_ok(bale_k8s_set *set, const text *t)
{
	bale_error *err = NULL;
	memset(set, 0, sizeof(*set));
	if (bale_k8s_load_text(set, "ok.yaml", t->s, t->len, &err) != 0)
		fail_msg("refused: %s", bale_error_message(err));
}

/* Depth: flow and block nesting past BALE_YAML_MAX_DEPTH are refused where the limit is
 * crossed. libyaml's scanner spends time quadratic in the depth of flow collections (a
 * 100,000-deep `[[[…` took minutes): the refusal comes before that. */
static void test_yaml_depth(void **state)
{
	text t = {0};
	text_puts(&t, "kind: Pod\nspec: ");
	text_repeat(&t, "[", 200000);
	text_repeat(&t, "]", 200000);
	expect_text_error(&t, 2, "nested deeper than 128 levels");

	/* Block nesting, a level a line: the mapping holding k<i> is level i + 1. */
	text_puts(&t, "kind: Pod\nspec:\n");
	for (int i = 1; i < BALE_YAML_MAX_DEPTH + 5; i++) {
		text_repeat(&t, " ", (size_t)i);
		text_addf(&t, "k%d:\n", i);
	}
	text_repeat(&t, " ", BALE_YAML_MAX_DEPTH + 5);
	text_puts(&t, "x\n");
	expect_text_error(&t, BALE_YAML_MAX_DEPTH + 2, "nested deeper than 128 levels");

	/* Right at the limit is fine. */
	bale_k8s_set set;
	text_puts(&t, "kind: Pod\nmetadata: {name: deep}\nspec: ");
	text_repeat(&t, "[", BALE_YAML_MAX_DEPTH - 1);
	text_repeat(&t, "]", BALE_YAML_MAX_DEPTH - 1);
	load_text_ok(&set, &t);
	assert_int_equal(set.n_workloads, 1);
	bale_k8s_set_free(&set);
	free(t.s);
}

/* Node counts: a flat list, a stream of documents, aliases counted as what they repeat. */
static void test_yaml_nodes(void **state)
{
	text t = {0};
	/* 20 MB of `a,` would cost libyaml's loader 3 GB: refused at half a million nodes. */
	text_puts(&t, "kind: Pod\nspec: [");
	text_repeat(&t, "a,", BALE_YAML_MAX_DOCUMENT_NODES);
	text_puts(&t, "a]\n");
	expect_text_error(&t, 2, "more than 500000 YAML nodes in one document");

	/* Each document under the limit, the file over its own: aliases make it cheap. */
	for (int d = 0; d < 10; d++) {
		text_puts(&t, "---\nkind: ConfigMap\na: &a [x,x,x,x,x,x,x,x,x,x]\n");
		for (char c = 'b'; c <= 'e'; c++)
			text_addf(&t, "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c, c,
			          c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1,
			          c - 1);
		text_puts(&t, "g: [*e,*e,*e]\n"); /* 456,000 nodes a document */
	}
	/* Eight lines a document: the ninth one's g: crosses four million. */
	expect_text_error(&t, 8 * 8 + 8, "more than 4000000 YAML nodes in the file");

	/* A List of a thousand aliases to one Deployment of a thousand containers: each
	 * alias counts the Deployment's nodes, so the list stops long before a million
	 * containers are made. */
	text_puts(&t,
	          "kind: List\nitems:\n- &d\n  kind: Deployment\n  metadata: {name: d}\n  spec:\n"
	          "    template:\n      spec:\n        containers:\n");
	for (int i = 0; i < 1000; i++)
		text_addf(&t, "        - {name: c%d, image: img%d}\n", i, i);
	text_repeat(&t, "- *d\n", 1000);
	/* 5,015 nodes each: the 99th alias, on line 1009 + 99, crosses half a million. */
	expect_text_error(&t, 1108, "more than 500000 YAML nodes in one document");
}

static void test_yaml_scalars_and_aliases(void **state)
{
	text t = {0};
	/* A scalar over the limit (no object the API server stores has one over 1.5 MB). */
	text_puts(&t, "kind: Pod\nspec:\n  containers:\n  - name: x\n    image: ");
	char *big = malloc(BALE_YAML_MAX_SCALAR + 2);
	assert_non_null(big);
	memset(big, 'a', BALE_YAML_MAX_SCALAR + 1);
	big[BALE_YAML_MAX_SCALAR + 1] = '\0';
	text_add(&t, big, BALE_YAML_MAX_SCALAR + 1);
	free(big);
	expect_text_error(&t, 5, "a scalar of 16777217 bytes is over the 16777216 byte limit");

	/* Undefined, cyclic through a mapping, and forward aliases. */
	text_puts(&t, "kind: Pod\nspec: *nope\n");
	expect_text_error(&t, 2, "found undefined alias");
	text_puts(&t, "kind: Pod\nspec: &s\n  containers:\n  - {name: a, x: *s}\n");
	expect_text_error(&t, 4, "an alias inside the node it names (a cycle)");
	text_puts(&t, "kind: Pod\nspec: {containers: *later}\nx: &later []\n");
	expect_text_error(&t, 2, "found undefined alias");

	/* Aliases as people use them: a shared image and env, a redefined anchor; each use
	 * is the node the anchor named at that point (its line is the anchor's). */
	static const char pods[] =
	    "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
	    "  - {name: a, image: &img reg/a:1, env: &env [{name: X, value: '1'}]}\n"
	    "  - {name: b, image: *img, env: *env}\n"
	    "  - {name: c, image: &img reg/c:1}\n"
	    "  - {name: d, image: *img}\n";
	bale_k8s_set set;
	text_puts(&t, pods);
	load_text_ok(&set, &t);
	assert_int_equal(set.n_workloads, 1);
	const bale_k8s_workload *w = &set.workloads[0];
	assert_int_equal(w->n_containers, 4);
	assert_string_equal(w->containers[0].image, "reg/a:1");
	assert_string_equal(w->containers[1].image, "reg/a:1");
	assert_int_equal(w->containers[1].line, 5);
	assert_string_equal(w->containers[2].image, "reg/c:1");
	assert_string_equal(w->containers[3].image, "reg/c:1");
	bale_k8s_set_free(&set);
	/* Anchors belong to their document: the next one's alias is undefined. */
	text_puts(&t, "---\nkind: Pod\nmetadata: {name: q}\nspec: {containers: [{image: *img}]}\n");
	expect_text_error(&t, 12, "found undefined alias");
}
/* JSON written as YAML reads back as the same types: strings that would read as numbers,
 * booleans or null are quoted; numbers and booleans are not. */
static void test_yaml_write_json(void **state)
{
	(void)state;
	char *yaml = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&yaml, &len);
	json_t *docs[2] = {json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:b,s:[s,s]}", "one", "1", "yes",
	                             "true", "no", "No", "null", "~", "empty", "", "word", "10Mi",
	                             "number", 2147483647, "flag", 0, "list", "-x", ".5"),
	                   json_pack("{s:s}", "kind", "DaemonSet")};
	bale_error *err = NULL;
	assert_int_equal(bale_yaml_write_json(out, docs, 2, &err), 0);
	fclose(out);
	assert_non_null(strstr(yaml, "---\none: '1'\n"));
	assert_non_null(strstr(yaml, "'yes': 'true'\n"));
	assert_non_null(strstr(yaml, "'no': 'No'\n"));
	assert_non_null(strstr(yaml, "'null': '~'\n"));
	assert_non_null(strstr(yaml, "empty: ''\n"));
	assert_non_null(strstr(yaml, "word: '10Mi'\n"));
	assert_non_null(strstr(yaml, "number: 2147483647\n"));
	assert_non_null(strstr(yaml, "flag: false\n"));
	assert_non_null(strstr(yaml, "- '-x'\n- '.5'\n"));
	assert_non_null(strstr(yaml, "---\nkind: DaemonSet\n"));
	json_decref(docs[0]);
	json_decref(docs[1]);
	free(yaml);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_yaml_write_json),
	    cmocka_unit_test(test_deployment_latest),
	    cmocka_unit_test(test_statefulset),
	    cmocka_unit_test(test_job_local_image),
	    cmocka_unit_test(test_pull_secrets),
	    cmocka_unit_test(test_service_account),
	    cmocka_unit_test(test_daemonset_init),
	    cmocka_unit_test(test_multiarch),
	    cmocka_unit_test(test_helm_multi_document),
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_cronjob),
	    cmocka_unit_test(test_digests_ports_ephemeral),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test_setup_teardown(test_secret, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_secret_in_list, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_directory_walk, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test(test_stdin),
	    cmocka_unit_test(test_stdin_over_cap),
	    cmocka_unit_test_setup_teardown(test_malformed, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_over_cap, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_large_manifest, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test(test_placement),
	    cmocka_unit_test(test_yaml_depth),
	    cmocka_unit_test(test_yaml_nodes),
	    cmocka_unit_test(test_yaml_scalars_and_aliases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
