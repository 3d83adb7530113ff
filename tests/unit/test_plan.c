/* bale plan's rules: Kubernetes pull-policy defaulting and the lint findings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "bale/plan.h"

static void test_effective_policy(void **state)
{
	/* Kubernetes: no policy and tag latest or no tag -> Always; otherwise IfNotPresent. */
	assert_string_equal(bale_plan_effective_policy("nginx", NULL), "Always");
	assert_string_equal(bale_plan_effective_policy("nginx:latest", NULL), "Always");
	assert_string_equal(bale_plan_effective_policy("nginx:1.25", NULL), "IfNotPresent");
	assert_string_equal(bale_plan_effective_policy("host:5000/app", NULL), "Always");
	assert_string_equal(bale_plan_effective_policy("host:5000/app:2", NULL), "IfNotPresent");
	assert_string_equal(
	    bale_plan_effective_policy("nginx@sha256:"
	                               "0123456789abcdef0123456789abcdef0123456789abcdef"
	                               "0123456789abcdef",
	                               NULL),
	    "IfNotPresent");
	assert_string_equal(bale_plan_effective_policy("nginx:latest", "Never"), "Never");
	assert_string_equal(bale_plan_effective_policy("nginx:1", "Always"), "Always");
	assert_string_equal(bale_plan_effective_policy("nginx:1", ""), "IfNotPresent");
}

/* A hand-made set: one workload, containers covering each rule. */
static void test_findings(void **state)
{
	bale_k8s_container cs[] = {
	    {"web", "nginx", NULL, "containers", 10},                /* no tag: Always */
	    {"db", "postgres:16", "IfNotPresent", "containers", 14}, /* not pinned */
	    {"job", "local/app:dev", "Never", "initContainers", 18}, /* Never, mutable */
	    {"bad", "Not A Ref", NULL, "containers", 22},            /* malformed */
	    {"pinned",
	     "registry.example:5000/x/y:1@sha256:"
	     "0123456789abcdef0123456789abcdef"
	     "0123456789abcdef0123456789abcdef",
	     "Never", "containers", 26},
	};
	bale_k8s_workload w = {.kind = "Deployment",
	                       .name = "site",
	                       .file = "site.yaml",
	                       .line = 1,
	                       .containers = cs,
	                       .n_containers = 5};
	bale_k8s_set set = {.workloads = &w, .n_workloads = 1};
	bale_plan p;
	assert_int_equal(bale_plan_build(&p, &set, true, NULL, NULL, NULL), 0);
	/* images: four parse, sorted, normalized */
	assert_int_equal(p.n_images, 4);
	assert_string_equal(p.images[0].ref, "docker.io/library/nginx:latest");
	assert_string_equal(p.images[0].uses[0].policy, "Always");
	assert_string_equal(p.images[1].ref, "docker.io/library/postgres:16");
	assert_string_equal(p.images[2].ref, "docker.io/local/app:dev");
	assert_string_equal(p.images[3].ref,
	                    "registry.example:5000/x/y:1@sha256:0123456789abcdef0123456789abcdef"
	                    "0123456789abcdef0123456789abcdef");
	/* findings, in order: nginx latest (warning) + Always offline (error); postgres
	 * unpinned (warning); app Never on a mutable tag (warning); malformed (error). */
	assert_int_equal(p.n_findings, 5);
	assert_int_equal(p.n_errors, 2);
	assert_int_equal(p.findings[0].severity, BALE_LINT_WARNING);
	assert_non_null(strstr(p.findings[0].message, "no tag"));
	assert_int_equal(p.findings[1].severity, BALE_LINT_ERROR);
	assert_non_null(strstr(p.findings[1].message, "Always"));
	assert_non_null(strstr(p.findings[2].message, "not pinned"));
	assert_non_null(strstr(p.findings[3].message, "Never on a mutable tag"));
	assert_int_equal(p.findings[4].severity, BALE_LINT_ERROR);
	assert_ptr_equal(p.findings[4].container, &cs[3]);
	bale_plan_free(&p);

	/* Online, Always is fine: one error fewer. */
	assert_int_equal(bale_plan_build(&p, &set, false, NULL, NULL, NULL), 0);
	assert_int_equal(p.n_errors, 1);
	bale_plan_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_effective_policy),
	    cmocka_unit_test(test_findings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
