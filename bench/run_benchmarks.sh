#!/usr/bin/env bash
# Run every ofitec_whatsapp benchmark in order and print the figures.
#
#   bench/run_benchmarks.sh [--odoo PATH] [--odoo-src DIR] [--python PATH] [--keep] [bench_queue.py options]
#   bench/run_benchmarks.sh stats [--odoo PATH] [--messages N] [--keep]   (bench_stats.py)
#   bench/run_benchmarks.sh replies [--odoo PATH] [--messages N] [--keep] (bench_replies.py)
#   bench/run_benchmarks.sh log [--odoo PATH] [--events N] [--keep]       (bench_log.py)
#   bench/run_benchmarks.sh --only numbers [--runs one,two,kill] [--keep]  (bench_numbers.py)
#
# Uses the Odoo 16 that the test command uses (--odoo, $ODOO_BIN, `odoo` on PATH, or
# one provisioned from --odoo-src / $ODOO_SRC), and a reachable PostgreSQL.
# Benchmarks print figures; they assert nothing. See bench/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
odoo_bin="" odoo_src=""
script="bench_queue.py"
case "${1:-}" in
  stats|numbers|replies|log) script="bench_$1.py"; shift ;;
esac
python_bin=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --odoo) odoo_bin="${2:?}"; shift 2 ;;
    --odoo-src) odoo_src="${2:?}"; shift 2 ;;
    --python) python_bin="${2:?}"; shift 2 ;;
    --only)
      if [ "${2:-}" = "numbers" ]; then script="bench_numbers.py"; else args+=("$1" "${2:-}"); fi
      shift 2 ;;
    -h|--help)
      sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      echo
      # Help needs no Odoo: the scripts' option parsers are plain Python.
      exec python3 "$here/$script" --help ;;
    *) args+=("$1"); shift ;;
  esac
done

# shellcheck source=../scripts/odoo16.sh
. "$here/../scripts/odoo16.sh"
odoo16_resolve "$odoo_bin" "$odoo_src" || exit 2
odoo16_postgres || exit 2
odoo_bin="$ODOO16_BIN"
python_bin="${python_bin:-$ODOO16_PYTHON}"
if [ -z "$python_bin" ]; then
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

if [ "$script" = "bench_queue.py" ]; then
  args=(--python "$python_bin" ${args[@]+"${args[@]}"})
fi
"$python_bin" "$here/$script" --odoo "$odoo_bin" ${args[@]+"${args[@]}"} &
child=$!
set +e
wait "$child"
rc=$?
set -e
child=""
exit "$rc"
