/* bale doctor's report: the checks run over the gathered facts, pods first, then the
 * node, and the findings kept in that order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/plan.h"
#include "doctor/doctor_private.h"

int doctor_add(bale_doctor_report *r, bale_doctor_severity severity, const char *check,
               const bale_k8s_workload *w, const bale_k8s_container *c, const char *cause,
               const char *fix, bale_error **err)
{
	bale_doctor_finding *grown = realloc(r->findings, (r->n_findings + 1) * sizeof(*grown));
	if (!grown)
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	r->findings = grown;
	bale_doctor_finding *f = &grown[r->n_findings];
	*f = (bale_doctor_finding){severity, check, w, c, strdup(cause), strdup(fix)};
	if (!f->cause || !f->fix) {
		free(f->cause);
		free(f->fix);
		return bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	r->n_findings++;
	r->n_errors += severity == BALE_DOCTOR_ERROR;
	r->n_warnings += severity == BALE_DOCTOR_WARNING;
	r->n_infos += severity == BALE_DOCTOR_INFO;
	return 0;
}

const char *doctor_size(char *buf, size_t size, double bytes)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
	size_t u = 0;
	while (bytes >= 1000 && u + 1 < sizeof(units) / sizeof(*units)) {
		bytes /= 1000;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
	return buf;
}

bool doctor_is_never(const bale_k8s_container *c)
{
	return c->image &&
	       strcmp(bale_plan_effective_policy(c->image, c->pull_policy), "Never") == 0;
}

bool doctor_any_never(const bale_k8s_set *set)
{
	for (size_t i = 0; i < set->n_workloads; i++)
		for (size_t j = 0; j < set->workloads[i].n_containers; j++)
			if (doctor_is_never(&set->workloads[i].containers[j]))
				return true;
	return false;
}

const char *bale_doctor_severity_name(bale_doctor_severity s)
{
	return s == BALE_DOCTOR_ERROR ? "error" : s == BALE_DOCTOR_WARNING ? "warning" : "info";
}

int bale_doctor_check(bale_doctor_report *out, const bale_doctor_facts *facts, bale_error **err)
{
	memset(out, 0, sizeof(*out));
	int rc = doctor_check_pods(out, facts, err);
	if (rc == 0)
		rc = doctor_check_node(out, facts, err);
	if (rc < 0)
		bale_doctor_report_free(out);
	return rc;
}

void bale_doctor_report_free(bale_doctor_report *r)
{
	for (size_t i = 0; i < r->n_findings; i++) {
		free(r->findings[i].cause);
		free(r->findings[i].fix);
	}
	free(r->findings);
	memset(r, 0, sizeof(*r));
}
