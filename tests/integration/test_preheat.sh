#!/usr/bin/env bash
# bale plan --daemonset: the DaemonSet that has every node pull and keep a bundle's images
# from the site mirror. Its YAML is read back (python3-yaml) and held to what the kubelet
# and the "restricted" Pod Security Standard need; then a real containerd runs each of its
# containers as the kubelet would (pulled through the hosts.toml bale mirror-config writes,
# from bale serve, the origin gone; every capability dropped, the default seccomp profile,
# a read-only root, the emptyDir mounted; ctr cannot set the user, so the copied busybox is
# checked to be executable by the pod's user 65534): the tools container copies busybox,
# every image's container exits 0 with it whatever the image holds, and the last one keeps
# running.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/containerd.sh"

start_registry reg plain
build_images --layer-kib 64
seed_registry reg
H=$reg_HOST
arch=$("$PY" "$LIB_DIR/mktools.py" "$T/tools")
run_skopeo copy -q --dest-tls-verify=false "oci:$T/tools:tools/busybox:1" "docker://$H/tools/busybox:1"
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
"$BALE" export -q --insecure-registry "$H" --platform all --key "$T/k.key" -o "$T/b.tar.zst" \
  "$H/tools/busybox:1" "$H/demo/multi:1" "$H/demo/dlist:1" >/dev/null

# Every image of the bundle.
"$BALE" plan --daemonset "$T/b.tar.zst" --tools-image "$H/tools/busybox:1" -o "$T/all.yaml"
"$PY" - "$T/all.yaml" "$H" "$arch" <<'PY' || fail "the DaemonSet is not what it should be: $(cat "$T/all.yaml")"
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
host, arch = sys.argv[2], sys.argv[3]
ns, ds = docs
assert [d["kind"] for d in docs] == ["Namespace", "DaemonSet"], docs
assert ns["metadata"] == {"name": "bale-system",
                          "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}, ns
assert ds["apiVersion"] == "apps/v1" and ds["metadata"]["name"] == "bale-preheat"
assert ds["metadata"]["namespace"] == "bale-system"
labels = ds["spec"]["selector"]["matchLabels"]
assert ds["spec"]["template"]["metadata"]["labels"] == labels, labels
pod = ds["spec"]["template"]["spec"]
assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
assert pod["tolerations"] == [{"operator": "Exists"}], pod["tolerations"]
assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
term = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
assert term["nodeSelectorTerms"] == [{"matchExpressions": [
    {"key": "kubernetes.io/arch", "operator": "In", "values": [arch]}]}], term
sc = pod["securityContext"]
assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65534, sc
assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, sc
tools = host + "/tools/busybox:1"
inits = pod["initContainers"]
assert [(c["name"], c["image"]) for c in inits] == [
    ("tools", tools), ("image-1", host + "/demo/multi:1"), ("image-2", host + "/demo/dlist:1")], inits
assert inits[0]["command"] == ["/bin/busybox", "cp", "/bin/busybox", "/bale/busybox"]
for c in inits[1:]:
    assert c["command"] == ["/bale/busybox", "true"], c
hold, = pod["containers"]
assert hold["image"] == tools and hold["command"] == ["/bale/busybox", "sleep", "2147483647"]
for c in inits + [hold]:
    assert c["imagePullPolicy"] == "IfNotPresent", c
    assert c["volumeMounts"] == [{"name": "bale", "mountPath": "/bale"}], c
    assert c["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}}, c
    assert c["resources"]["limits"] == {"memory": "32Mi"}, c
assert pod["volumes"] == [{"name": "bale", "emptyDir": {"sizeLimit": "16Mi"}}], pod["volumes"]
PY

# A plan's images only; a namespace and name of the site's.
cat >"$T/app.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      containers:
      - name: web
        image: $H/demo/dlist:1
YAML
"$BALE" plan --daemonset "$T/b.tar.zst" --tools-image "$H/tools/busybox:1" -f "$T/app.yaml" \
  --namespace ops --name shop-preheat >"$T/plan.yaml"
"$PY" - "$T/plan.yaml" "$H" <<'PY' || fail "the plan's DaemonSet is not what it should be: $(cat "$T/plan.yaml")"
import sys, yaml
ns, ds = yaml.safe_load_all(open(sys.argv[1]))
assert ns["metadata"]["name"] == "ops" and ds["metadata"]["namespace"] == "ops"
assert ds["metadata"]["name"] == "shop-preheat"
inits = ds["spec"]["template"]["spec"]["initContainers"]
assert [c["image"] for c in inits] == [sys.argv[2] + "/tools/busybox:1", sys.argv[2] + "/demo/dlist:1"], inits
PY

# What it refuses: an image the bundle lacks, no tools image, a name Kubernetes refuses,
# an output that exists.
sed "s|demo/dlist:1|demo/schema2:1|" "$T/app.yaml" >"$T/missing.yaml"
expect_exit 6 "$BALE" plan --daemonset "$T/b.tar.zst" --tools-image "$H/tools/busybox:1" -f "$T/missing.yaml"
assert_contains "$LAST_STDERR" "$H/demo/schema2:1: not in the bundle"
expect_exit 6 "$BALE" plan --daemonset "$T/b.tar.zst"
assert_contains "$LAST_STDERR" "docker.io/library/busybox:1.36: not in the bundle"
expect_exit 2 "$BALE" plan --daemonset "$T/b.tar.zst" --tools-image "$H/tools/busybox:1" --namespace Ops
assert_contains "$LAST_STDERR" '--namespace "Ops": want a DNS label'
expect_exit 2 "$BALE" plan --daemonset "$T/b.tar.zst" --tools-image "$H/tools/busybox:1" -o "$T/all.yaml"
expect_exit 2 "$BALE" plan --tools-image "$H/tools/busybox:1" -f "$T/app.yaml"

# containerd runs the pod's containers as the kubelet would, from bale serve, the origin gone.
"$BALE" serve --listen 127.0.0.1:0 --key "$T/k.pub" "$T/b.tar.zst" >"$T/serve.out" 2>"$T/serve.err" &
track_pid $! "$T/serve.err"
for _ in $(seq 100); do grep -q '^serving' "$T/serve.out" && break; sleep 0.1; done
S=$(sed -n 's|^serving .* on ||p' "$T/serve.out")
[[ -n $S ]] || fail "bale serve did not start: $(cat "$T/serve.err")"
"$BALE" mirror-config -q --mirror "$S" --bundle "$T/b.tar.zst" --format containerd -o "$T/cfg"
pkill -f "$T/reg/config.yml" || fail "could not stop the origin registry"
start_containerd
mkdir -m 1777 "$T/emptydir"
# capabilities: drop ALL, as ctr spells it (each of the default set)
drop=()
for cap in CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP \
  NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE; do
  drop+=(--cap-drop "CAP_$cap")
done
n=0
while IFS=$'\t' read -r -u 3 kind image command; do
  n=$((n + 1))
  expect_exit 0 ctd images pull --hosts-dir "$T/cfg/certs.d" "$image"
  read -ra argv <<<"$command"
  run=(run --rm --read-only --seccomp "${drop[@]}"
    --mount "type=bind,src=$T/emptydir,dst=/bale,options=rbind:rw" "$image" "preheat-$n" "${argv[@]}")
  if [[ $kind == hold ]]; then
    ctd "${run[@]}" >"$T/hold.out" 2>&1 </dev/null &
    hold=$!
    track_pid "$hold"
    sleep 1
    kill -0 "$hold" 2>/dev/null || fail "the hold container ended: $(cat "$T/hold.out")"
    ctd_grep -q "preheat-$n.*RUNNING" task ls || fail "the hold container is not running"
    ctd task kill -s KILL "preheat-$n"
    wait "$hold" || true
  else
    expect_exit 0 ctd "${run[@]}"
  fi
done 3< <("$PY" - "$T/all.yaml" <<'PY'
import sys, yaml
pod = list(yaml.safe_load_all(open(sys.argv[1])))[1]["spec"]["template"]["spec"]
for kind, cs in (("init", pod["initContainers"]), ("hold", pod["containers"])):
    for c in cs:
        print(kind, c["image"], " ".join(c["command"]), sep="\t")
PY
)
assert_eq 4 "$n" "containers run"
assert_eq 755 "$(stat -c %a "$T/emptydir/busybox")" "the copied busybox's mode (the pod runs as 65534)"
echo "test_preheat: ok"
