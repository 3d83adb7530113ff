/* The checks of the node: its configuration files, containerd's trust in the registries
 * the pods pull from, the image filesystem against the kubelet's eviction and image GC
 * thresholds, containerd's version and the CRI settings that break bale's imports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor/doctor_private.h"

#define CAUSE_SIZE 1024
#define FIX_SIZE 1024

static int check_configs(bale_doctor_report *r, const bale_doctor_facts *f, bale_error **err)
{
	char cause[CAUSE_SIZE];
	int rc = 0;
	const bale_doctor_kubelet *k = f->kubelet;
	const bale_doctor_containerd *cd = f->containerd;
	if (k && k->problem) {
		snprintf(cause, sizeof(cause),
		         "the kubelet's configuration: %s; its defaults assumed", k->problem);
		rc = doctor_add(r, BALE_DOCTOR_WARNING, "config", NULL, NULL, cause,
		                "fix the file, or give the one the kubelet's --config names with "
		                "--kubelet-config FILE",
		                err);
	} else if (k && !k->found) {
		snprintf(cause, sizeof(cause),
		         "no kubelet configuration at %s: the kubelet's defaults assumed", k->file);
		rc = doctor_add(r, BALE_DOCTOR_INFO, "config", NULL, NULL, cause,
		                "give the file the kubelet's --config names with --kubelet-config "
		                "FILE",
		                err);
	}
	if (rc == 0 && cd && cd->problem) {
		snprintf(cause, sizeof(cause),
		         "containerd's configuration: %s; its defaults assumed", cd->problem);
		rc = doctor_add(r, BALE_DOCTOR_WARNING, "config", NULL, NULL, cause,
		                "fix the file (containerd refuses to start with it too), or give "
		                "the right one with --containerd-config FILE",
		                err);
	} else if (rc == 0 && cd && !cd->found) {
		snprintf(cause, sizeof(cause),
		         "no containerd configuration at %s: containerd's defaults assumed",
		         cd->file);
		rc =
		    doctor_add(r, BALE_DOCTOR_INFO, "config", NULL, NULL, cause,
		               "give the file containerd's --config names with --containerd-config "
		               "FILE",
		               err);
	}
	return rc;
}

/* The hosts.toml lines that make containerd pull from host over plain HTTP. */
static void http_fix(char *fix, size_t size, const char *config_path, const char *host)
{
	snprintf(fix, size,
	         "write %s/%s/hosts.toml with: server = \"http://%s\" and [host.\"http://%s\"] "
	         "capabilities = [\"pull\", \"resolve\"] (bale mirror-config --format containerd "
	         "--mirror http://%s --registry %s -o DIR writes it)",
	         config_path ? config_path : "/etc/containerd/certs.d", host, host, host, host,
	         host);
}

static int check_trust(bale_doctor_report *r, const bale_doctor_facts *f, bale_error **err)
{
	char cause[CAUSE_SIZE], fix[FIX_SIZE], hosts[512] = "";
	const bale_doctor_containerd *cd = f->containerd;
	bool any_insecure = false;
	size_t used = 0;
	int rc = 0;
	if (!cd || !cd->found || cd->problem || !f->n_hosts)
		return 0;
	for (size_t i = 0; i < f->n_hosts; i++) {
		any_insecure |= f->hosts[i].insecure;
		if (used < sizeof(hosts))
			used += (size_t)snprintf(hosts + used, sizeof(hosts) - used, "%s%s",
			                         i ? ", " : "", f->hosts[i].host);
	}
	if (!cd->config_path) {
		snprintf(cause, sizeof(cause),
		         "containerd's CRI registry config_path is not set in %s: no hosts.toml is "
		         "read for the registries the pods pull from (%s)%s",
		         cd->file, hosts,
		         any_insecure ? ", so a plain-HTTP registry cannot be configured" : "");
		snprintf(fix, sizeof(fix),
		         "set config_path = \"/etc/containerd/certs.d\" under %s and restart "
		         "containerd",
		         cd->version >= 3 ? "[plugins.\"io.containerd.cri.v1.images\".registry]"
		                          : "[plugins.\"io.containerd.grpc.v1.cri\".registry]");
		return doctor_add(r, any_insecure ? BALE_DOCTOR_ERROR : BALE_DOCTOR_WARNING,
		                  "registry-trust", NULL, NULL, cause, fix, err);
	}
	for (size_t i = 0; i < f->n_hosts && rc == 0; i++) {
		const bale_doctor_host *h = &f->hosts[i];
		if (h->problem) {
			snprintf(cause, sizeof(cause), "%s: %s", h->host, h->problem);
			rc =
			    doctor_add(r, BALE_DOCTOR_ERROR, "registry-trust", NULL, NULL, cause,
			               "fix the hosts.toml (bale mirror-config --format containerd "
			               "writes one)",
			               err);
		}
		for (size_t k = 0; k < h->n_cas && rc == 0; k++) {
			if (!h->cas[k].problem)
				continue;
			snprintf(cause, sizeof(cause), "%s: a ca of %s: %s", h->host, h->hosts_toml,
			         h->cas[k].problem);
			snprintf(fix, sizeof(fix),
			         "point ca in %s at a readable PEM certificate (a relative path is "
			         "relative to the hosts.toml's directory)",
			         h->hosts_toml);
			rc = doctor_add(r, BALE_DOCTOR_ERROR, "registry-trust", NULL, NULL, cause,
			                fix, err);
		}
		if (rc == 0 && h->insecure && !h->http) {
			snprintf(cause, sizeof(cause),
			         "%s is an insecure (plain HTTP) registry, but %s: containerd "
			         "pulls from it over HTTPS and fails",
			         h->host,
			         h->hosts_toml ? "its hosts.toml names no http:// server or host"
			                       : "it has no hosts.toml under config_path");
			http_fix(fix, sizeof(fix), cd->config_path, h->host);
			rc = doctor_add(r, BALE_DOCTOR_ERROR, "registry-trust", NULL, NULL, cause,
			                fix, err);
		}
	}
	return rc;
}

/* The free bytes under which a threshold fires on a filesystem of size bytes. */
static double threshold_bytes(const bale_doctor_threshold *t, uint64_t size)
{
	return t->bytes >= 0 ? (double)t->bytes : t->percent / 100 * (double)size;
}

static const char *threshold_text(char *buf, size_t size, const bale_doctor_threshold *t)
{
	char bytes[32];
	if (t->bytes >= 0)
		snprintf(buf, size, "%s", doctor_size(bytes, sizeof(bytes), (double)t->bytes));
	else
		snprintf(buf, size, "%g%%", t->percent);
	return buf;
}

/* Is eviction firing now: is the free space of the image filesystem under a threshold? */
static int check_eviction(bale_doctor_report *r, const bale_doctor_facts *f, bale_error **err)
{
	const bale_doctor_fs *fs = f->imagefs;
	const bale_doctor_kubelet *k = f->kubelet;
	char cause[CAUSE_SIZE], fix[FIX_SIZE], avail[32], total[32], limit[32];
	int rc = 0;
	if (!fs || !fs->known || !k || !fs->size)
		return 0;
	struct {
		const bale_doctor_threshold *t;
		const char *name;
		bale_doctor_severity severity;
	} signals[] = {
	    {&k->hard_imagefs, "evictionHard imagefs.available", BALE_DOCTOR_ERROR},
	    {&k->soft_imagefs, "evictionSoft imagefs.available", BALE_DOCTOR_WARNING},
	    {&k->hard_nodefs, "evictionHard nodefs.available", BALE_DOCTOR_ERROR},
	    {&k->soft_nodefs, "evictionSoft nodefs.available", BALE_DOCTOR_WARNING},
	};
	for (size_t i = 0; i < 4 && rc == 0; i++) {
		const bale_doctor_threshold *t = signals[i].t;
		if (!t->set || (i >= 2 && fs->separate)) /* nodefs: images share its filesystem */
			continue;
		if (t->bytes < 0 && t->percent <= 0)
			continue;
		if ((double)fs->avail >= threshold_bytes(t, fs->size))
			continue;
		snprintf(cause, sizeof(cause),
		         "%s has %s free of %s (%.1f%%), under %s<%s: the kubelet is evicting "
		         "pods and admits no new one",
		         fs->dir, doctor_size(avail, sizeof(avail), (double)fs->avail),
		         doctor_size(total, sizeof(total), (double)fs->size),
		         100.0 * (double)fs->avail / (double)fs->size, signals[i].name,
		         threshold_text(limit, sizeof(limit), t));
		snprintf(
		    fix, sizeof(fix),
		    "free space on %s (images no pod uses: bale prune, or crictl rmi --prune), "
		    "or grow the filesystem",
		    fs->dir);
		rc = doctor_add(r, signals[i].severity, "eviction", NULL, NULL, cause, fix, err);
	}
	return rc;
}

/* Can image GC get under its low threshold with what is pinned (GC never removes a
 * pinned image)? */
static int check_gc(bale_doctor_report *r, const bale_doctor_facts *f, bale_error **err)
{
	const bale_doctor_fs *fs = f->imagefs;
	const bale_doctor_kubelet *k = f->kubelet;
	char cause[CAUSE_SIZE], pinned[32], total[32];
	if (!fs || !fs->known || !fs->size || !k || f->pinned_bytes < 0 || k->gc_high >= 100)
		return 0;
	double share = 100.0 * (double)f->pinned_bytes / (double)fs->size;
	bool over_high = share > k->gc_high;
	if (share <= k->gc_low)
		return 0;
	snprintf(cause, sizeof(cause),
	         "pinned images take %s of %s's %s (%.1f%%), above imageGC%sThresholdPercent "
	         "%d%%: image GC %s",
	         doctor_size(pinned, sizeof(pinned), (double)f->pinned_bytes), fs->dir,
	         doctor_size(total, sizeof(total), (double)fs->size), share,
	         over_high ? "High" : "Low", over_high ? k->gc_high : k->gc_low,
	         over_high ? "runs all the time and can free nothing that is pinned; the disk "
	                     "fills toward eviction"
	                   : "can never get usage under its low threshold and runs again and "
	                     "again, removing every unpinned image");
	return doctor_add(r, over_high ? BALE_DOCTOR_ERROR : BALE_DOCTOR_WARNING, "image-gc", NULL,
	                  NULL, cause,
	                  "unpin or remove images no pod needs (bale prune), grow the image "
	                  "filesystem, or raise imageGCHighThresholdPercent and "
	                  "imageGCLowThresholdPercent",
	                  err);
}

/* "1.6.20~ds1", "v1.7.3": is it before 1.7.3? false when it does not read as a version. */
static bool before_1_7_3(const char *version)
{
	long part[3] = {0, 0, 0};
	const char *p = version[0] == 'v' ? version + 1 : version;
	for (int i = 0; i < 3; i++) {
		char *end = NULL;
		if (*p < '0' || *p > '9')
			return false;
		part[i] = strtol(p, &end, 10);
		p = end;
		if (i < 2 && *p++ != '.')
			return false;
	}
	long have = part[0] * 1000000 + part[1] * 1000 + part[2];
	return have < 1 * 1000000 + 7 * 1000 + 3;
}

/* containerd before 1.7.3 does not tell the kubelet which images are pinned, so image GC
 * removes them anyway: it matters once anything is pinned or pulled Never. */
static int check_version(bale_doctor_report *r, const bale_doctor_facts *f, bale_error **err)
{
	char cause[CAUSE_SIZE];
	bool pins = false;
	if (!f->node || !f->node->version || strcmp(f->node->kind, "containerd") != 0 ||
	    !before_1_7_3(f->node->version))
		return 0;
	for (size_t i = 0; i < f->node->n_names; i++)
		pins |= f->node->names[i].pinned;
	if (!pins && !doctor_any_never(f->set))
		return 0;
	snprintf(cause, sizeof(cause),
	         "containerd %s does not report the pinned label to the kubelet (1.7.3 does): "
	         "image GC may remove pinned images%s",
	         f->node->version,
	         doctor_any_never(f->set) ? ", and pods pulled Never then cannot start" : "");
	return doctor_add(r, BALE_DOCTOR_WARNING, "containerd-version", NULL, NULL, cause,
	                  "upgrade containerd to 1.7.3 or later, or turn image GC off with "
	                  "imageGCHighThresholdPercent: 100 in the kubelet's configuration",
	                  err);
}

static int check_cri(bale_doctor_report *r, const bale_doctor_facts *f, bale_error **err)
{
	const bale_doctor_containerd *cd = f->containerd;
	char cause[CAUSE_SIZE], fix[FIX_SIZE];
	int rc = 0;
	if (!cd || !cd->found)
		return 0;
	if (cd->discard_unpacked_layers) {
		snprintf(cause, sizeof(cause),
		         "discard_unpacked_layers = true in %s: containerd drops each layer once "
		         "unpacked, so images cannot be exported again (bale have, re-export) and "
		         "later imports cannot share their layers",
		         cd->file);
		rc =
		    doctor_add(r, BALE_DOCTOR_WARNING, "discard-unpacked-layers", NULL, NULL, cause,
		               "set discard_unpacked_layers = false in the CRI section and restart "
		               "containerd",
		               err);
	}
	if (rc == 0 && cd->snapshotter && strcmp(cd->snapshotter, "overlayfs") != 0) {
		snprintf(cause, sizeof(cause),
		         "the CRI snapshotter is %s (%s), but bale import unpacks with ctr's "
		         "default snapshotter (overlayfs): the kubelet finds the images but "
		         "unpacks them again on first start",
		         cd->snapshotter, cd->file);
		snprintf(fix, sizeof(fix),
		         "run the import with CONTAINERD_SNAPSHOTTER=%s in its environment "
		         "(ctr reads it): CONTAINERD_SNAPSHOTTER=%s bale import …",
		         cd->snapshotter, cd->snapshotter);
		rc = doctor_add(r, BALE_DOCTOR_WARNING, "snapshotter", NULL, NULL, cause, fix, err);
	}
	return rc;
}

int doctor_check_node(bale_doctor_report *r, const bale_doctor_facts *f, bale_error **err)
{
	int rc = check_configs(r, f, err);
	if (rc == 0)
		rc = check_trust(r, f, err);
	if (rc == 0)
		rc = check_eviction(r, f, err);
	if (rc == 0)
		rc = check_gc(r, f, err);
	if (rc == 0)
		rc = check_version(r, f, err);
	if (rc == 0)
		rc = check_cri(r, f, err);
	return rc;
}
