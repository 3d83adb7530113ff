#!/usr/bin/env bash
# bale plan on realistic manifests (tests/data/k8s): the image list, every use with its
# effective pull policy and file:line, and the lint findings, checked exactly against
# tests/data/k8s-expected; then the list feeds bale export.
source "$(dirname "$0")/lib.sh"
cd "$BALE_SOURCE_DIR"
EXP=tests/data/k8s-expected

expect_exit 0 "$BALE" plan -f tests/data/k8s/
diff -u "$EXP/images.txt" "$LAST_STDOUT" || fail "image list differs"

expect_exit 0 "$BALE" plan --json -f tests/data/k8s/
jq -r '.[] | .image as $i | .uses[] | "\($i) \(.kind)/\(.name) \(.container) \(.list) \(.file | split("/") | last):\(.line) \(.pullPolicy) \(.pullPolicySet)"' \
  "$LAST_STDOUT" >"$T/uses.txt"
diff -u "$EXP/uses.txt" "$T/uses.txt" || fail "uses differ"

# Lint gates CI: errors (Always offline, malformed) give exit 1.
expect_exit 1 "$BALE" plan -q --lint --offline -f tests/data/k8s/
diff -u "$EXP/lint-offline.txt" "$LAST_STDOUT" || fail "lint findings differ"
# Online, Always is no error; only warnings remain for a file without errors.
expect_exit 0 "$BALE" plan -q --lint -f tests/data/k8s/statefulset.yaml
grep -q "^tests/data/k8s/statefulset.yaml:[0-9]*: warning:" "$LAST_STDOUT" || fail "statefulset warnings"

# Standard input, and the same result through a pipe.
expect_exit 0 bash -c "for f in tests/data/k8s/*.yaml; do echo ---; cat \"\$f\"; done | '$BALE' plan -f -"
assert_contains "$LAST_STDOUT" "docker.io/library/postgres:16.2"

# Broken input: a clear one-line error with file:line, exit 2, no crash.
printf 'kind: Pod\nmetadata: {name: x\nspec: [\n' >"$T/bad.yaml"
expect_exit 2 "$BALE" plan -f "$T/bad.yaml"
assert_contains "$LAST_STDERR" "$T/bad.yaml:"
assert_eq 1 "$(wc -l <"$LAST_STDERR")" "one error line"
expect_exit 6 "$BALE" plan -f "$T/missing.yaml"
# --bundle only means something to --lint: alone it is refused, not ignored.
expect_exit 2 "$BALE" plan --bundle "$T/none.tar.zst" -f "$T/bad.yaml"
assert_contains "$LAST_STDERR" "--bundle only with --lint"
echo "test_plan: ok"
