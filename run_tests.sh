#!/usr/bin/env bash
# Runs every test of ofitec_whatsapp: the pure suite (pytest), the linters (ruff,
# pylint-odoo) and the whole Odoo suite on a fresh PostgreSQL database with Odoo's own
# runner, browser tours included. Without an Odoo 16, it brings one up from Odoo's
# source first (scripts/odoo16.sh): a virtualenv in ~/.cache/ofitec_whatsapp, reused.
#
#   ./run_tests.sh                  everything
#   ./run_tests.sh --pure           pure tests and linters only (no Odoo at all)
#   ./run_tests.sh --odoo-only      the Odoo suite only
#   --odoo PATH                     an Odoo 16 command to use (else $ODOO_BIN, else `odoo`
#                                   on PATH, else Odoo is provisioned from source)
#   --odoo-src DIR                  the Odoo 16.0 source to provision from (else $ODOO_SRC,
#                                   else ../shared/odoo-16.0 beside the repository,
#                                   else a shallow clone of Odoo's 16.0 branch)
#
# Environment: TEST_DB (default: a new ofitec_whatsapp_test_<pid> database, dropped
# afterwards unless KEEP_DB=1), TEST_VENV (default: .venv-test, for the pure suite),
# TEST_TAGS (Odoo's --test-tags, to iterate on a few tests; such a run is not a full
# run: it skips the tour checks and says so).
# A run in which the Odoo suite did not run, or skipped a test, fails.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$repo"
mode=all odoo_given="" odoo_src=""
while [ $# -gt 0 ]; do
  case "$1" in
    --pure|--odoo-only) mode="$1"; shift ;;
    --odoo) odoo_given="${2:?--odoo needs a path}"; shift 2 ;;
    --odoo-src) odoo_src="${2:?--odoo-src needs a folder}"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

# shellcheck source=scripts/odoo16.sh
. "$repo/scripts/odoo16.sh"

say() { printf '\n==> [%ss] %s\n' "$SECONDS" "$*"; }
failures=0
pure_passed=0 pure_failed=0 odoo_passed=0 odoo_failed=0 odoo_skipped=0

run_pure() {
  local venv="${TEST_VENV:-$repo/.venv-test}" out
  if [ ! -f "$venv/.complete" ] || ! "$venv/bin/python" -c 'import phonenumbers, pytest, ruff' 2>/dev/null; then
    say "Preparing the test virtualenv ($venv)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade 'pip<26' 'setuptools<70' wheel
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$repo/requirements-dev.txt"
    touch "$venv/.complete"
  fi
  say "Pure suite (pytest, no Odoo, no network)"
  out="$(mktemp)"
  "$venv/bin/python" -m pytest -q -p no:cacheprovider 2>&1 | tee "$out" || failures=$((failures + 1))
  pure_passed="$(tail -1 "$out" | grep -oE '(^|[ ,])[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)"
  pure_failed="$( (tail -1 "$out" | grep -oE '[0-9]+ (failed|errors?)' || true) | awk '{s += $1} END {print s + 0}')"
  [ "$pure_passed" -gt 0 ] || { echo "The pure suite ran no test." >&2; failures=$((failures + 1)); }
  rm -f "$out"

  say "Linters: ruff"
  "$venv/bin/ruff" check . || failures=$((failures + 1))
  "$venv/bin/ruff" format --check . || failures=$((failures + 1))

  say "Linters: pylint-odoo (blocking checks)"
  "$venv/bin/pylint" --rcfile="$repo/.pylintrc" "$repo" "$repo/tests/addons/ofitec_next_action" \
    || failures=$((failures + 1))
}

# Test databases of runs that were killed (their pid is gone) are dropped.
drop_stale_databases() {
  local name pid
  for name in $(psql -d postgres -Atc "SELECT datname FROM pg_database WHERE datname ~ '^ofitec_whatsapp_test_[0-9]+$'"); do
    pid="${name##*_}"
    if ! kill -0 "$pid" 2>/dev/null; then dropdb --if-exists "$name" >/dev/null 2>&1 || true; fi
  done
}

# Two consecutive free TCP ports from $1 on, below the kernel's ephemeral range (32768 up
# on Linux): a port in that range can be taken meanwhile by any outgoing connection (a
# PostgreSQL client, a bench's HTTP client), and Odoo then fails to listen and every
# browser and HTTP test fails ("Address already in use", seen once).
free_port_pair() {
  "$ODOO16_PYTHON" - "$1" <<'PY'
import socket, sys
start = int(sys.argv[1])
for port in [*range(start, 32767, 2), *range(20000, start, 2)]:
    try:
        for p in (port, port + 1):
            with socket.socket() as s:
                s.bind(("", p))
    except OSError:
        continue
    print(port)
    break
else:
    sys.exit("no two free ports between 20000 and 32767")
PY
}

run_odoo() {
  say "Odoo 16"
  if ! odoo16_resolve "$odoo_given" "$odoo_src"; then failures=$((failures + 1)); return 0; fi
  echo "Odoo: $ODOO16_BIN ($("$ODOO16_BIN" --version 2>/dev/null))"
  odoo16_postgres || { failures=$((failures + 1)); return 0; }
  odoo16_chromium --install || { failures=$((failures + 1)); return 0; }
  echo "Chromium for the tours: $ODOO16_CHROMIUM"
  "$ODOO16_PYTHON" -c 'import websocket' 2>/dev/null || {
    echo "websocket-client is missing from $ODOO16_PYTHON: Odoo would skip every tour." >&2
    failures=$((failures + 1)); return 0
  }
  drop_stale_databases

  local work db port log core_path rc summary failed errors total
  work="$(mktemp -d)"
  db="${TEST_DB:-ofitec_whatsapp_test_$$}"
  port="$(free_port_pair "$((20000 + ($$ % 6000) * 2))")"  # and port + 1 for gevent
  log="$work/odoo-test.log"
  # The addon must be reachable as 'ofitec_whatsapp' whatever the clone's folder name.
  mkdir -p "$work/addons"
  ln -s "$repo" "$work/addons/ofitec_whatsapp"
  "$ODOO16_BIN" -s -c "$work/probe.conf" --stop-after-init --http-port="$port" >/dev/null 2>&1 || true
  core_path="$(sed -n 's/^addons_path *= *//p' "$work/probe.conf")"
  dropdb --if-exists "$db" >/dev/null 2>&1 || true

  say "Odoo suite on database $db (log: $log)"
  set +e
  "$ODOO16_BIN" -d "$db" --addons-path="$core_path,$work/addons,$repo/tests/addons" \
    -i ofitec_whatsapp --test-enable --test-tags="${TEST_TAGS:-/ofitec_whatsapp,/ofitec_next_action}" \
    --stop-after-init --http-port="$port" --gevent-port="$((port + 1))" --workers=0 \
    --max-cron-threads=0 --log-level=test --without-demo= > "$log" 2>&1
  rc=$?
  set -e
  grep -E "(FAIL:|ERROR:|tests? .*when loading|post-tests in|odoo\.tests\.stats: )" "$log" | tail -20 || true

  summary="$(grep -E '[0-9]+ failed, [0-9]+ error\(s\) of [0-9]+ tests' "$log" | tail -1)"
  failed="$(sed -nE 's/.* ([0-9]+) failed, ([0-9]+) error\(s\) of ([0-9]+) tests.*/\1/p' <<<"$summary")"
  errors="$(sed -nE 's/.* ([0-9]+) failed, ([0-9]+) error\(s\) of ([0-9]+) tests.*/\2/p' <<<"$summary")"
  total="$(sed -nE 's/.* ([0-9]+) failed, ([0-9]+) error\(s\) of ([0-9]+) tests.*/\3/p' <<<"$summary")"
  if [ -z "$summary" ]; then
    # Odoo prints no summary line when every test passed.
    total="$(grep -oE 'ofitec_(whatsapp|next_action): [0-9]+ tests' "$log" | awk '{s += $2} END {print s + 0}')"
    failed=0; errors=0
  fi
  # A skipped test is not a passed one (Odoo skips browser tours silently when
  # Chromium or websocket-client is missing): every skip fails the run.
  odoo_skipped="$(grep -cE 'odoo\.tests\.result: skipped ' "$log" || true)"
  if [ "$odoo_skipped" != 0 ]; then
    echo "Skipped tests (a broken set-up, not a pass):" >&2
    grep -E 'odoo\.tests\.result: skipped ' "$log" >&2
    failures=$((failures + 1))
  fi
  local tours="ofitec_next_action_dashboard_tour ofitec_whatsapp_dashboard_tour"
  if [ -n "${TEST_TAGS:-}" ]; then
    echo "TEST_TAGS=$TEST_TAGS: a partial run, the tours are not required." >&2
    tours=""
  fi
  for tour in $tours; do
    if ! grep -q "Tour $tour succeeded" "$log"; then
      echo "Browser tour $tour did not run to success." >&2
      failures=$((failures + 1)); failed=$((failed + 1))
    fi
  done
  # Any ERROR or CRITICAL line fails the run, in or outside a test.
  local unexpected_errors
  unexpected_errors="$(grep -E '^[0-9-]+ [0-9:,]+ [0-9]+ (ERROR|CRITICAL) ' "$log" || true)"
  if [ "$rc" != 0 ] || [ "${failed:-1}" != 0 ] || [ "${errors:-1}" != 0 ] \
     || [ -n "$unexpected_errors" ] || [ "${total:-0}" = 0 ]; then
    echo "Odoo suite FAILED (exit $rc); the log is kept at $log" >&2
    printf '%s\n' "$unexpected_errors" | head -40 >&2
    failures=$((failures + 1))
    [ -n "$unexpected_errors" ] && [ "${failed:-0}${errors:-0}" = "00" ] && errors=1
  else
    echo "Odoo suite: ${total} tests passed"
    if [ -z "${KEEP_DB:-}" ]; then dropdb --if-exists "$db" >/dev/null 2>&1 || true; fi
  fi
  odoo_failed=$(( ${failed:-0} + ${errors:-0} ))
  odoo_passed=$(( ${total:-0} - odoo_failed ))
  [ "$odoo_passed" -ge 0 ] || odoo_passed=0
}

[ "$mode" = "--odoo-only" ] || run_pure
[ "$mode" = "--pure" ] || run_odoo

say "Summary"
[ "$mode" = "--odoo-only" ] || echo "pure: ${pure_passed} passed, ${pure_failed} failed"
if [ "$mode" != "--pure" ]; then
  echo "odoo: ${odoo_passed} passed, ${odoo_failed} failed, ${odoo_skipped} skipped"
  if [ "$odoo_passed" = 0 ]; then
    echo "The Odoo suite did not run: that is a failure (use --pure for the pure suite alone)." >&2
    failures=$((failures + 1))
  fi
fi
if [ "$failures" -ne 0 ]; then
  echo "FAILED: $failures step(s) failed"
  failed_total=$((pure_failed + odoo_failed))
  [ "$failed_total" -gt 0 ] || failed_total=1  # a failed linter or set-up counts as one
  echo "$((pure_passed + odoo_passed)) passed, ${failed_total} failed"
  exit 1
fi
echo "All test steps passed"
echo "$((pure_passed + odoo_passed)) passed, 0 failed"
