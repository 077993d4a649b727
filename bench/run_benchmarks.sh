#!/usr/bin/env bash
# Run every ofitec_whatsapp benchmark in order and print the figures.
#
#   bench/run_benchmarks.sh [--odoo PATH] [--python PATH] [--keep] [bench_queue.py options]
#
# Needs an Odoo 16 'odoo' command (on PATH or --odoo) and a reachable PostgreSQL.
# Benchmarks print figures; they assert nothing. See bench/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
odoo_bin="${ODOO_BIN:-}"
python_bin=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --odoo) odoo_bin="${2:?}"; shift 2 ;;
    --python) python_bin="${2:?}"; shift 2 ;;
    -h|--help)
      sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      echo
      args+=("--help"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done

odoo_bin="${odoo_bin:-$(command -v odoo || true)}"
if [ -z "$odoo_bin" ]; then
  echo "run_benchmarks.sh: no 'odoo' command on PATH (Odoo 16 needed); pass --odoo PATH" >&2
  exit 2
fi

# The Python that runs Odoo (it has psycopg2 and psutil), read from the odoo command
# the way install_whatsapp.sh does.
# shellcheck source=../scripts/odoo_python.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/odoo_python.sh"
[ -n "$python_bin" ] || python_bin="$(odoo_python "$odoo_bin")"
if [ -z "$python_bin" ] || ! command -v "$python_bin" >/dev/null 2>&1; then
  echo "run_benchmarks.sh: cannot tell which Python runs Odoo; pass --python PATH" >&2
  exit 2
fi

# The benchmark leads its own process group for the servers it starts and cleans
# them up itself; on Ctrl-C or SIGTERM we forward the signal and wait for it.
child=""
forward() {
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  exit 130
}
trap forward INT TERM HUP

"$python_bin" "$here/bench_queue.py" --odoo "$odoo_bin" --python "$python_bin" \
  ${args[@]+"${args[@]}"} &
child=$!
set +e
wait "$child"
rc=$?
set -e
child=""
exit "$rc"
