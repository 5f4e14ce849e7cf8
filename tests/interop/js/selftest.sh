#!/usr/bin/env bash
# Self-test of peer.mjs: js relay + js listener + js dialer over 127.0.0.1 only.
# Usage: ./selftest.sh   (after npm ci). Exits non-zero on the first failed expectation.
set -euo pipefail
cd "$(dirname "$0")"

work=$(mktemp -d)
pids=()
# Servers read their stdin from this FIFO; fd 9 is its only writer, so if this script dies
# for any reason the servers see EOF on stdin and stop (the orphan guard the C# tests rely on).
mkfifo "$work/stdin"
exec 9<>"$work/stdin"
cleanup() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  exec 9<&-
  rm -rf "$work"
}
trap cleanup EXIT

peer() { node --import ./polyfill.mjs peer.mjs "$@"; }

# start NAME ARGS...: runs a server in the background, stdout to $work/NAME.out
start() {
  local name=$1
  shift
  node --import ./polyfill.mjs peer.mjs "$@" --lifetime 120 \
    <"$work/stdin" >"$work/$name.out" 2>"$work/$name.err" 9<&- &
  pids+=("$!")
}

# await_line NAME PREFIX: prints the first stdout line of NAME starting with PREFIX (30 s bound)
await_line() {
  local name=$1 prefix=$2
  for _ in $(seq 300); do
    if line=$(grep -m1 "^$prefix" "$work/$name.out" 2>/dev/null); then
      echo "$line"
      return 0
    fi
    if grep -q '^error' "$work/$name.out" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  echo "no '$prefix' line from $name" >&2
  cat "$work/$name.out" "$work/$name.err" >&2
  return 1
}

expect_ok() {
  local out
  if ! out=$(peer "$@" 2>"$work/client.err"); then
    echo "FAIL (expected success): peer $*" >&2
    echo "$out" >&2
    cat "$work/client.err" >&2
    exit 1
  fi
  echo "  ok: $(echo "$out" | grep -v '^peer ')"
}

expect_fail() {
  local out
  if out=$(peer "$@" 2>"$work/client.err"); then
    echo "FAIL (expected failure): peer $*" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "  failed as expected: $(echo "$out" | grep '^error' | cut -c1-160)"
}

echo "== unlimited relay: 1 MiB echo through the circuit"
start relay-free relay --port 0 --no-limit
relay_free=$(await_line relay-free listening | cut -d' ' -f2)
await_line relay-free ready >/dev/null
start listen-free listen --relay "$relay_free"
target_free=$(await_line listen-free reachable | cut -d' ' -f2)
echo "  target: $target_free"
expect_ok dial "$target_free" --bytes 1048576

echo "== limited relay (js defaults: 2 min, 128 KiB for both directions together)"
start relay-lim relay --port 0
relay_lim=$(await_line relay-lim listening | cut -d' ' -f2)
await_line relay-lim ready >/dev/null
start listen-lim listen --relay "$relay_lim"
target_lim=$(await_line listen-lim reachable | cut -d' ' -f2)
expect_ok dial "$target_lim" --bytes 1024
expect_fail dial "$target_lim" --bytes 1048576 --timeout 20

echo "== relay with --data-limit 300000: 100 KiB passes, 200 KiB fails"
start relay-data relay --port 0 --data-limit 300000
relay_data=$(await_line relay-data listening | cut -d' ' -f2)
start listen-data listen --relay "$relay_data"
target_data=$(await_line listen-data reachable | cut -d' ' -f2)
expect_ok dial "$target_data" --bytes 102400
expect_fail dial "$target_data" --bytes 204800 --timeout 20

echo "== relay reachable through another relay (--via): echo and ping to it over the circuit"
start relay-via relay --port 0 --no-limit --via "$relay_free"
via=$(await_line relay-via reachable | cut -d' ' -f2)
await_line relay-via ready >/dev/null
echo "  second relay: $via"
expect_ok dial "$via" --bytes 102400
expect_ok ping "$via"

echo "== direct peer: ping and echo"
start direct listen-direct --port 0
direct=$(await_line direct listening | cut -d' ' -f2)
expect_ok ping "$direct"
expect_ok dial "$direct" --bytes 1048576

echo "== ping through the limited relay"
expect_ok ping "$target_lim"

echo "== a server exits when its stdin closes"
out=$( (sleep 2) | timeout 30 node --import ./polyfill.mjs peer.mjs listen-direct --port 0 2>/dev/null)
echo "$out" | grep -q '^stopped stdin-closed$' || { echo "FAIL: no 'stopped stdin-closed'" >&2; echo "$out" >&2; exit 1; }
echo "  ok: $(echo "$out" | tail -1)"

echo "== a dial to a peer nobody serves fails within the timeout"
expect_fail dial "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq" --timeout 10

echo "ALL PASSED"
