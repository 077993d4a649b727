# Sourced by install_whatsapp.sh and bench/run_benchmarks.sh.
# odoo_python ODOO_COMMAND: print the Python that runs this Odoo command, or nothing.
# Handles a Python entry point (#!/path/python) and a shell wrapper that executes a
# python (e.g. `exec /venv/bin/python /opt/odoo/odoo-bin "$@"`).
odoo_python() {
  local odoo_bin="$1" first_line python_bin=""
  first_line="$(head -n 1 "$odoo_bin" 2>/dev/null || true)"
  case "$first_line" in
    "#!"*python*) python_bin="$(sed -E 's/^#! *//; s/ .*$//' <<<"$first_line")" ;;
  esac
  if [ -z "$python_bin" ] || [ "$python_bin" = "/usr/bin/env" ]; then
    python_bin="$(grep -Eo '(/[^ "]*)?python[0-9.]*' "$odoo_bin" 2>/dev/null | head -1 || true)"
  fi
  printf '%s' "$python_bin"
}
