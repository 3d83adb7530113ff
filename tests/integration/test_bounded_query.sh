#!/usr/bin/env bash
# SQL on a bundle's index is bounded: bale query stops a statement that runs too long,
# builds too long a value or takes too much memory, and refuses functions that reveal
# memory; bale's own readers (ls, inspect, query, verify, import) refuse an index.db whose
# schema is not bale's, so no view or trigger a bundle ships ever runs. Each refusal is one
# line naming the limit; none takes more than a few seconds.
# shellcheck disable=SC2154
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/bounds.sh"
: "${BALE:?BALE must name the bale binary}"

signed_bundle_of plain
ASAN_SMALL="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8:thread_local_quarantine_size_kb=256"

# refused CODE WHY SQL: bale query stops SQL within a minute, one line naming WHY.
refused() {
  local code=$1 why=$2
  ASAN_OPTIONS=$ASAN_SMALL expect_exit "$code" /usr/bin/time -f %M -o "$T/rss" \
    timeout 60 "$BALE" query "$B" "$3"
  assert_contains "$LAST_STDERR" "$why"
  assert_eq 1 "$(grep -cv '^Command exited' "$LAST_STDERR")" "one error line"
  local rss=$(($(tail -n 1 "$T/rss") / 1024))
  ((rss < 400)) || fail "$3: peak RSS $rss MiB"
}

# 1. Users' statements.
refused 2 "stopped after 100 million steps" \
  "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
refused 2 "over the 1 MiB limit for one value" "SELECT length(printf('%.*c', 1000000000, 'x'))"
refused 2 "over the 1 MiB limit for one value" "SELECT zeroblob(1000000000)"
refused 2 "function fts3_tokenizer() is not allowed" "SELECT hex(fts3_tokenizer('simple'))"
refused 2 "may use at most 256 MiB" \
  "SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c
   WHERE x < 100000) SELECT DISTINCT randomblob(4000) FROM c)"
# what an audit needs still works
expect_exit 0 "$BALE" query --csv "$B" "SELECT printf('%s %.1f', platform, bytes / 1e3) AS p FROM platform_sizes ORDER BY 1"
assert_eq "$(printf 'p\nlinux/amd64 0.2\nlinux/arm64/v8 0.2\n')" "$(cat "$LAST_STDOUT")" "platform_sizes"

# 2. A bundle re-signed with an index.db whose view never ends: bale ls, inspect and query
# refuse the file at once; verify and import too.
resign "$B" "$T/view.tar.zst" "$T/k.key" "DROP VIEW image_blobs;
  CREATE VIEW image_blobs AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
  SELECT 1 AS image_id, 'r' AS ref, 'd' AS digest, 'layer' AS kind, x AS size,
  't' AS media_type FROM c"
for cmd in "ls" "inspect:$REF" "query:SELECT 1"; do
  verb=${cmd%%:*}
  args=()
  [[ $cmd != *:* ]] || args=("${cmd#*:}")
  expect_exit 3 timeout 60 "$BALE" "$verb" "$T/view.tar.zst" "${args[@]}"
  assert_contains "$LAST_STDERR" "view image_blobs is not the one bale writes"
  assert_eq 1 "$(wc -l <"$LAST_STDERR")" "one error line"
done
expect_exit 3 timeout 60 "$BALE" verify --key "$T/k.pub" "$T/view.tar.zst"
assert_contains "$LAST_STDERR" "view image_blobs is not the one bale writes"
expect_exit 3 timeout 60 "$BALE" import --key "$T/k.pub" --store "oci:$T/node" \
  --ledger "$T/ledger.db" "$T/view.tar.zst"
assert_contains "$LAST_STDERR" "view image_blobs is not the one bale writes"

# a view of its own that would hand out an address, and a trigger: refused alike
resign "$B" "$T/leak.tar.zst" "$T/k.key" "CREATE VIEW leak AS SELECT hex(fts3_tokenizer('simple')) AS p"
expect_exit 3 timeout 60 "$BALE" query "$T/leak.tar.zst" "SELECT p FROM leak"
assert_contains "$LAST_STDERR" 'view "leak" is not part of bale'"'"'s schema'
resign "$B" "$T/trigger.tar.zst" "$T/k.key" "CREATE TRIGGER t AFTER INSERT ON labels BEGIN SELECT 1; END"
expect_exit 3 timeout 60 "$BALE" ls "$T/trigger.tar.zst"
assert_contains "$LAST_STDERR" 'trigger "t" is not part of bale'"'"'s schema'
# the bundle as bale wrote it passes everything
expect_exit 0 "$BALE" ls "$B"
expect_exit 0 "$BALE" inspect "$B" "$REF"
expect_exit 0 "$BALE" verify --key "$T/k.pub" "$B"
echo "test_bounded_query: ok"
