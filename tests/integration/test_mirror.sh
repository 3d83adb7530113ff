#!/usr/bin/env bash
# bale mirror-config: a real containerd pulls through the hosts.toml it writes, from a site
# mirror (a registry whose repositories sit under a prefix, as bale import --store
# registry://HOST/PREFIX fills it), with the origin registry unreachable; the registries of
# a bundle; every format parsed as its runtime reads it (TOML, YAML, JSON); what a runtime
# cannot do refused.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/containerd.sh"

start_registry site plain
build_images --layer-kib 64
SEED_PREFIXES="mirror/demo" seed_registry site
origin=127.0.0.1:$(free_port) # nothing listens there
cfg=$T/cfg
expect_exit 0 "$BALE" mirror-config --mirror "http://$site_HOST/mirror/" --registry "$origin" \
  --registry docker.io --format containerd -o "$cfg"
[[ -f $cfg/certs.d/$origin/hosts.toml && -f $cfg/certs.d/docker.io/hosts.toml ]] ||
  fail "no hosts.toml per registry: $(find "$cfg")"

start_containerd
for image in single multi; do
  expect_exit 0 ctd images pull --hosts-dir "$cfg/certs.d" "$origin/demo/$image:1"
  want=DIGEST_mirror_demo_$image
  assert_eq "${!want}" "$(ctd images ls | awk -v r="$origin/demo/$image:1" '$1 == r {print $3}')" \
    "$image pulled through the mirror"
  ctd images check "name==$origin/demo/$image:1" >"$T/check.txt"
  assert_eq complete "$(awk 'NR == 2 {print $4}' "$T/check.txt")" "$image complete"
done

# The registries a bundle names.
"$BALE" keygen -q -o "$T/k" >/dev/null
"$BALE" export -q --insecure-registry "$site_HOST" --unsigned -o "$T/b.tar.zst" "$site_HOST/mirror/demo/single:1" >/dev/null
expect_exit 0 "$BALE" mirror-config --mirror "https://mirror.site:5000" --bundle "$T/b.tar.zst" \
  --format containerd --ca /etc/bale/site-ca.pem
assert_contains "$LAST_STDOUT" "--- certs.d/$site_HOST/hosts.toml"
assert_contains "$LAST_STDOUT" 'ca = "/etc/bale/site-ca.pem"'

# Each format as its runtime parses it.
for f in containerd k3s cri-o docker; do
  mirror=http://$site_HOST/mirror registries=(--registry docker.io --registry quay.io)
  [[ $f == docker ]] && mirror=http://$site_HOST registries=(--registry docker.io)
  expect_exit 0 "$BALE" mirror-config --mirror "$mirror" "${registries[@]}" --format "$f" -o "$T/$f" \
    --ca /etc/ca.pem
done
for toml in "$T"/containerd/certs.d/*/hosts.toml "$T/cri-o/registries.conf"; do
  "$PY" -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], "rb"))' "$toml" || fail "$toml: not TOML"
done
"$PY" - "$T/containerd/certs.d/quay.io/hosts.toml" "$T/cri-o/registries.conf" "$T/k3s/registries.yaml" "$site_HOST" <<'PY' || fail "the configurations say something else"
import sys, tomllib, yaml
hosts, crio, k3s, site = sys.argv[1:]
h = tomllib.load(open(hosts, "rb"))
assert h["server"] == "https://quay.io", h
mirror = h["host"]["http://%s/v2/mirror" % site]
assert mirror["capabilities"] == ["pull", "resolve"] and mirror["override_path"] is True, mirror
assert mirror["ca"] == "/etc/ca.pem", mirror
c = tomllib.load(open(crio, "rb"))
regs = {r["prefix"]: r for r in c["registry"]}
assert regs["docker.io"]["mirror"] == [{"location": site + "/mirror", "insecure": True}], regs
k = yaml.safe_load(open(k3s))
assert k["mirrors"]["quay.io"] == {"endpoint": ["http://" + site], "rewrite": {"^(.*)$": "mirror/$1"}}, k
assert k["configs"][site]["tls"]["ca_file"] == "/etc/ca.pem", k
PY
assert_eq "[\"http://$site_HOST\"] [\"$site_HOST\"]" \
  "$(jq -c '."registry-mirrors", ."insecure-registries"' "$T/docker/daemon.json" | paste -sd' ')" "daemon.json"

# What a runtime cannot do, and addresses that are no mirror's.
expect_exit 2 "$BALE" mirror-config --mirror "http://$site_HOST" --registry quay.io --format docker
assert_contains "$LAST_STDERR" "docker.io only"
expect_exit 2 "$BALE" mirror-config --mirror "http://$site_HOST/mirror" --registry docker.io --format docker
expect_exit 2 "$BALE" mirror-config --mirror "http://admin:mirror-pw-7q@$site_HOST" --registry docker.io --format k3s
assert_not_contains "$LAST_STDERR" "mirror-pw-7q"
expect_exit 2 "$BALE" mirror-config --mirror "ftp://$site_HOST" --registry docker.io --format k3s
expect_exit 2 "$BALE" mirror-config --mirror "http://$site_HOST" --registry docker.io --format podman
echo "test_mirror: ok"
