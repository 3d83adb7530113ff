/* What the checks of bale doctor share: the report they add to. Each file of checks
 * (checks_pod.c: the pods' images, secrets and references; checks_node.c: the node's
 * configuration, disk and runtime) reads the facts and adds findings, nothing else. */
#ifndef BALE_DOCTOR_PRIVATE_H
#define BALE_DOCTOR_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "bale/doctor.h"

/* Adds a finding with its cause and fix (copied). */
int doctor_add(bale_doctor_report *r, bale_doctor_severity severity, const char *check,
               const bale_k8s_workload *w, const bale_k8s_container *c, const char *cause,
               const char *fix, bale_error **err);
/* "1.2 GB" */
const char *doctor_size(char *buf, size_t size, double bytes);
/* Is the container's effective pull policy Never? */
bool doctor_is_never(const bale_k8s_container *c);
/* Does any container of the manifests pull Never? */
bool doctor_any_never(const bale_k8s_set *set);

int doctor_check_pods(bale_doctor_report *r, const bale_doctor_facts *f, bale_error **err);
int doctor_check_node(bale_doctor_report *r, const bale_doctor_facts *f, bale_error **err);

#endif
