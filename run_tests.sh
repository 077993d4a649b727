#!/usr/bin/env bash
# Runs every test of ofitec_whatsapp: the pure suite (pytest), the linters (ruff,
# pylint-odoo) and, when an Odoo 16 is found (`odoo` on PATH), the Odoo suite on a
# fresh PostgreSQL database with Odoo's own runner, browser tours included.
#
#   ./run_tests.sh              everything
#   ./run_tests.sh --pure       pure tests and linters only
#   ./run_tests.sh --odoo       Odoo suite only
#
# Environment: ODOO_BIN (default: `odoo` on PATH), TEST_DB (default: a new
# ofitec_whatsapp_test_<pid> database, dropped afterwards unless KEEP_DB=1),
# TEST_VENV (default: .venv-test in the repository, for the pure suite and linters).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$repo"
mode="${1:-all}"
case "$mode" in
  all|--pure|--odoo) ;;
  -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
  *) echo "unknown option: $mode (see --help)" >&2; exit 2 ;;
esac

say() { printf '\n==> %s\n' "$*"; }
failures=0

run_pure() {
  local venv="${TEST_VENV:-$repo/.venv-test}"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import phonenumbers, cryptography, requests, pytest, ruff' 2>/dev/null; then
    say "Preparing the test virtualenv ($venv)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade 'pip<26' 'setuptools<70' wheel
    "$venv/bin/pip" install -q -r "$repo/requirements-dev.txt"
  fi
  say "Pure suite (pytest, no Odoo, no network)"
  "$venv/bin/python" -m pytest -q -p no:cacheprovider || failures=$((failures + 1))

  say "Linters: ruff"
  "$venv/bin/ruff" check . || failures=$((failures + 1))
  "$venv/bin/ruff" format --check . || failures=$((failures + 1))

  say "Linters: pylint-odoo (blocking checks)"
  "$venv/bin/pylint" --rcfile="$repo/.pylintrc" "$repo" "$repo/tests/addons/ofitec_next_action" \
    || failures=$((failures + 1))
}

start_postgres() {
  if pg_isready -q 2>/dev/null; then return 0; fi
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    local version
    version="$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1}')"
    if [ -n "$version" ]; then
      pg_ctlcluster "$version" main start || true
    fi
  fi
  for _ in $(seq 1 30); do pg_isready -q 2>/dev/null && break; sleep 1; done
  if ! pg_isready -q 2>/dev/null; then
    echo "PostgreSQL is not reachable: start it or set PGHOST/PGPORT." >&2
    return 1
  fi
  if ! psql -d postgres -Atc 'select 1' >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    su postgres -c "psql -qc \"CREATE ROLE \\\"$(id -un)\\\" SUPERUSER LOGIN\"" || true
  fi
}

run_odoo() {
  local odoo_bin="${ODOO_BIN:-$(command -v odoo || true)}"
  if [ -z "$odoo_bin" ]; then
    printf '\n%s\n%s\n%s\n' \
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" \
      "!!! ODOO SUITE SKIPPED: no 'odoo' command on PATH (Odoo 16 needed).  !!!" \
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    return 0
  fi
  if ! "$odoo_bin" --version 2>/dev/null | grep -q 'Odoo Server 16\.'; then
    echo "'$odoo_bin' is not Odoo 16: $("$odoo_bin" --version 2>&1 | tail -1)" >&2
    failures=$((failures + 1)); return 0
  fi
  start_postgres || { failures=$((failures + 1)); return 0; }

  local work db port log core_path
  work="$(mktemp -d)"
  db="${TEST_DB:-ofitec_whatsapp_test_$$}"
  port="$((20000 + $$ % 20000))"
  log="$work/odoo-test.log"
  # The addon must be reachable as 'ofitec_whatsapp' whatever the clone's folder name.
  mkdir -p "$work/addons"
  ln -s "$repo" "$work/addons/ofitec_whatsapp"
  "$odoo_bin" -s -c "$work/probe.conf" --stop-after-init --http-port="$port" >/dev/null 2>&1 || true
  core_path="$(sed -n 's/^addons_path *= *//p' "$work/probe.conf")"
  dropdb --if-exists "$db" >/dev/null 2>&1 || true

  say "Odoo suite on database $db (log: $log)"
  set +e
  "$odoo_bin" -d "$db" --addons-path="$core_path,$work/addons,$repo/tests/addons" \
    -i ofitec_whatsapp --test-enable --test-tags=/ofitec_whatsapp,/ofitec_next_action \
    --stop-after-init --http-port="$port" --gevent-port="$((port + 1))" --workers=0 \
    --max-cron-threads=0 --log-level=test --without-demo= > "$log" 2>&1
  local rc=$?
  set -e
  grep -E "(FAIL:|ERROR:|tests? .*when loading|post-tests in|odoo\.tests\.stats: )" "$log" | tail -20 || true

  local summary failed errors total skipped
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
  skipped="$(grep -cE 'odoo\.tests\.result: skipped ' "$log" || true)"
  if [ "$skipped" != 0 ]; then
    echo "Skipped tests (a broken set-up, not a pass):" >&2
    grep -E 'odoo\.tests\.result: skipped ' "$log" >&2
    failures=$((failures + 1))
  fi
  for tour in ofitec_next_action_dashboard_tour ofitec_whatsapp_dashboard_tour; do
    if ! grep -q "Tour $tour succeeded" "$log"; then
      echo "Browser tour $tour did not run to success." >&2
      failures=$((failures + 1))
    fi
  done
  # Errors logged outside tests fail the run too, except one known defect of some
  # Odoo 16 source trees whose addons/mail is newer than odoo/tools (mail sending
  # during demo data loading calls a missing tools.email_normalize_all).
  known_defect="odoo.addons.mail.models.mail_mail: failed sending mail .* has no attribute 'email_normalize_all'"
  if grep -qE "$known_defect" "$log"; then
    echo "NOTE: this Odoo tree cannot send mail (odoo.tools.email_normalize_all is missing);" \
      "$(grep -cE "$known_defect" "$log") such ERROR lines from demo data are ignored." >&2
  fi
  unexpected_errors="$(grep -E '^[0-9-]+ [0-9:,]+ [0-9]+ (ERROR|CRITICAL) ' "$log" | grep -vE "$known_defect" || true)"
  if [ "$rc" != 0 ] || [ "${failed:-1}" != 0 ] || [ "${errors:-1}" != 0 ] \
     || [ -n "$unexpected_errors" ] || [ "${total:-0}" = 0 ]; then
    echo "Odoo suite FAILED (exit $rc); the log is kept at $log" >&2
    printf '%s\n' "$unexpected_errors" | head -40 >&2
    failures=$((failures + 1))
  else
    echo "Odoo suite: ${total} tests passed"
    if [ -z "${KEEP_DB:-}" ]; then dropdb --if-exists "$db" >/dev/null 2>&1 || true; fi
  fi
  local passed=$((total - failed - errors))
  [ "$passed" -ge 0 ] || passed=0
  echo "odoo: ${passed} passed, $((failed + errors)) failed, ${skipped} skipped"
}

[ "$mode" = "--odoo" ] || run_pure
[ "$mode" = "--pure" ] || run_odoo

if [ "$failures" -ne 0 ]; then
  say "FAILED: $failures step(s) failed"
  exit 1
fi
say "All test steps passed"
