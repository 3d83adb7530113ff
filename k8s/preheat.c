/* The preheat DaemonSet (see bale/preheat.h). Its pod copies busybox from the tools image
 * into an emptyDir, then runs each image as an init container with that busybox's `true`
 * as its command: the kubelet pulls the image through the node's runtime and mirror
 * configuration, as a workload's pod would, and the container exits at once whatever the
 * image holds (a distroless image has no shell to run). The pod then sleeps; while it
 * stands, its containers keep every image in use, so the kubelet's image garbage collector
 * leaves them. It meets the "restricted" Pod Security Standard and needs no API access. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bale/bundle.h"
#include "bale/index_db.h"
#include "bale/preheat.h"
#include "bale/ref.h"
#include "bale/yaml.h"

#define TOOLS_DIR "/bale"
#define BUSYBOX TOOLS_DIR "/busybox"

/* The first column of sql's rows (binding ?1 to bind when not NULL), appended to out. */
static int column(sqlite3 *db, const char *sql, const char *bind, json_t *out, bale_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return bale_error_set(err, BALE_EVERIFY, "index.db: %s", sqlite3_errmsg(db));
	if (bind)
		sqlite3_bind_text(st, 1, bind, -1, SQLITE_STATIC);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
		if (json_array_append_new(
		        out, json_string((const char *)sqlite3_column_text(st, 0))) < 0)
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	sqlite3_finalize(st);
	return rc;
}

/* The Linux architectures the bundle carries the image for, into archs. */
static int image_archs(sqlite3 *db, const char *ref, json_t *archs, bale_error **err)
{
	return column(db,
	              "SELECT DISTINCT m.architecture FROM images i"
	              " JOIN image_manifests im ON im.image_id = i.id"
	              " JOIN manifests m ON m.digest = im.manifest_digest"
	              " WHERE i.ref = ?1 AND m.os = 'linux' AND m.architecture IS NOT NULL"
	              " ORDER BY 1",
	              ref, archs, err);
}

/* The architectures of both lists, into have (kept in its order). */
static void intersect(json_t *have, const json_t *also)
{
	for (size_t i = json_array_size(have); i-- > 0;) {
		bool found = false;
		for (size_t k = 0; !found && k < json_array_size(also); k++)
			found = strcmp(json_string_value(json_array_get(have, i)),
			               json_string_value(json_array_get(also, k))) == 0;
		if (!found)
			json_array_remove(have, i);
	}
}

/* ref normalized, and carried by the bundle (for Linux); its architectures go to archs. */
static int carried(sqlite3 *db, const char *text, char **ref_out, json_t *archs, bale_error **err)
{
	bale_ref *ref = NULL;
	char digest[80] = "";
	int rc = bale_ref_parse(&ref, text, err);
	if (rc == 0)
		rc = bale_index_db_image_digest(db, bale_ref_string(ref), digest, err);
	if (rc == 0 && !digest[0])
		rc = bale_error_set(
		    err, BALE_ENOTFOUND,
		    "%s: not in the bundle (the DaemonSet pulls only what the bundle "
		    "carries: export it too)",
		    bale_ref_string(ref));
	if (rc == 0 && (rc = image_archs(db, bale_ref_string(ref), archs, err)) == 0 &&
	    json_array_size(archs) == 0)
		rc = bale_error_set(err, BALE_EUSAGE, "%s: the bundle carries it for no Linux node",
		                    bale_ref_string(ref));
	if (rc == 0 && !(*ref_out = strdup(bale_ref_string(ref))))
		rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	bale_ref_free(ref);
	return rc;
}

/* Every image of the bundle, in the order it lists them. */
static int bundle_images(sqlite3 *db, json_t *refs, bale_error **err)
{
	return column(db, "SELECT ref FROM images ORDER BY id", NULL, refs, err);
}

/* What every container of the pod runs with: no privileges, a read-only root. */
static json_t *restricted(void)
{
	return json_pack("{s:b,s:b,s:{s:[s]}}", "allowPrivilegeEscalation", 0,
	                 "readOnlyRootFilesystem", 1, "capabilities", "drop", "ALL");
}

static json_t *container(const char *name, const char *image, json_t *command)
{
	return json_pack("{s:s,s:s,s:s,s:o,s:[{s:s,s:s}],s:o,s:{s:{s:s,s:s},s:{s:s}}}", "name",
	                 name, "image", image, "imagePullPolicy", "IfNotPresent", "command",
	                 command, "volumeMounts", "name", "bale", "mountPath", TOOLS_DIR,
	                 "securityContext", restricted(), "resources", "requests", "cpu", "10m",
	                 "memory", "8Mi", "limits", "memory", "32Mi");
}

static json_t *daemonset(const bale_preheat_request *req, const char *tools, json_t *refs,
                         json_t *archs)
{
	const char *name = req->name ? req->name : "bale-preheat";
	json_t *inits = json_array();
	json_array_append_new(inits, container("tools", tools,
	                                       json_pack("[s,s,s,s]", "/bin/busybox", "cp",
	                                                 "/bin/busybox", BUSYBOX)));
	for (size_t i = 0; i < json_array_size(refs); i++) {
		char id[32];
		snprintf(id, sizeof(id), "image-%zu", i + 1);
		json_array_append_new(inits,
		                      container(id, json_string_value(json_array_get(refs, i)),
		                                json_pack("[s,s]", BUSYBOX, "true")));
	}
	json_t *labels = json_pack("{s:s,s:s}", "app.kubernetes.io/name", name,
	                           "app.kubernetes.io/managed-by", "bale");
	json_t *affinity = json_pack("{s:{s:{s:[{s:[{s:s,s:s,s:O}]}]}}}", "nodeAffinity",
	                             "requiredDuringSchedulingIgnoredDuringExecution",
	                             "nodeSelectorTerms", "matchExpressions", "key",
	                             "kubernetes.io/arch", "operator", "In", "values", archs);
	json_t *pod = json_pack(
	    "{s:b,s:b,s:i,s:{s:s},s:o,s:[{s:s}],s:{s:b,s:i,s:i,s:{s:s}},s:[{s:s,s:{s:s}}],"
	    "s:o,s:[o]}",
	    "automountServiceAccountToken", 0, "enableServiceLinks", 0,
	    "terminationGracePeriodSeconds", 1, "nodeSelector", "kubernetes.io/os", "linux",
	    "affinity", affinity, "tolerations", "operator", "Exists", "securityContext",
	    "runAsNonRoot", 1, "runAsUser", 65534, "runAsGroup", 65534, "seccompProfile", "type",
	    "RuntimeDefault", "volumes", "name", "bale", "emptyDir", "sizeLimit", "16Mi",
	    "initContainers", inits, "containers",
	    container("hold", tools, json_pack("[s,s,s]", BUSYBOX, "sleep", "2147483647")));
	return json_pack("{s:s,s:s,s:{s:s,s:s,s:O},s:{s:{s:O},s:{s:{s:o},s:o}}}", "apiVersion",
	                 "apps/v1", "kind", "DaemonSet", "metadata", "name", name, "namespace",
	                 req->namespace ? req->namespace : "bale-system", "labels", labels, "spec",
	                 "selector", "matchLabels", labels, "template", "metadata", "labels",
	                 labels, "spec", pod);
}

/* A Kubernetes object name of the DNS label kind: [a-z0-9]([-a-z0-9]*[a-z0-9])?, 63 at most. */
static int check_label(const char *what, const char *value, bale_error **err)
{
	size_t len = strlen(value);
	bool ok = len && len <= 63 && value[0] != '-' && value[len - 1] != '-';
	for (size_t i = 0; ok && i < len; i++)
		ok = strchr("abcdefghijklmnopqrstuvwxyz0123456789-", value[i]) != NULL;
	return ok ? 0
	          : bale_error_set(err, BALE_EUSAGE,
	                           "%s \"%s\": want a DNS label (lowercase letters, digits and "
	                           "'-', at most 63)",
	                           what, value);
}

int bale_preheat_write(const bale_preheat_request *req, FILE *out, bale_error **err)
{
	bale_bundle_reader *reader = NULL;
	sqlite3 *db = NULL;
	json_t *asked = json_array(), *refs = json_array(), *archs = NULL, *docs[2] = {NULL};
	char *tools = NULL, *one = NULL;
	int rc = check_label("--namespace", req->namespace ? req->namespace : "bale-system", err);
	if (rc == 0)
		rc = check_label("--name", req->name ? req->name : "bale-preheat", err);
	if (rc == 0)
		rc = bale_index_db_open_bundle(&reader, &db, req->bundle, err);
	for (size_t i = 0; rc == 0 && i < req->n_images; i++)
		if (json_array_append_new(asked, json_string(req->images[i])) < 0)
			rc = bale_error_set(err, BALE_EGENERIC, "out of memory");
	if (rc == 0 && !req->n_images)
		rc = bundle_images(db, asked, err);
	/* the architectures every image (the tools too) is carried for */
	if (rc == 0 && (archs = json_array()))
		rc = carried(db, req->tools_image, &tools, archs, err);
	for (size_t i = 0; rc == 0 && i < json_array_size(asked); i++) {
		json_t *these = json_array();
		rc = carried(db, json_string_value(json_array_get(asked, i)), &one, these, err);
		if (rc == 0 && strcmp(one, tools) != 0) {
			intersect(archs, these);
			json_array_append_new(refs, json_string(one));
		}
		json_decref(these);
		free(one);
		one = NULL;
	}
	if (rc == 0 && json_array_size(archs) == 0)
		rc = bale_error_set(
		    err, BALE_EUSAGE,
		    "no architecture is carried for Linux by every image and the tools "
		    "image %s: export them for the nodes' platforms (--platform)",
		    tools);
	if (rc == 0) {
		docs[0] =
		    json_pack("{s:s,s:s,s:{s:s,s:{s:s}}}", "apiVersion", "v1", "kind", "Namespace",
		              "metadata", "name", req->namespace ? req->namespace : "bale-system",
		              "labels", "pod-security.kubernetes.io/enforce", "restricted");
		docs[1] = daemonset(req, tools, refs, archs);
		rc = docs[0] && docs[1] ? bale_yaml_write_json(out, docs, 2, err)
		                        : bale_error_set(err, BALE_EGENERIC, "out of memory");
	}
	json_decref(docs[0]);
	json_decref(docs[1]);
	json_decref(asked);
	json_decref(refs);
	json_decref(archs);
	free(tools);
	sqlite3_close(db);
	bale_bundle_close(reader);
	return rc;
}
