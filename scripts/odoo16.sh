# Sourced by install_whatsapp.sh, run_tests.sh and bench/run_benchmarks.sh: finds an
# Odoo 16, or brings one up from Odoo's source when none is given. One home for how
# Odoo is found, provisioned and checked; the scripts only call these functions.
#
#   odoo16_resolve [ODOO_PATH] [ODOO_SRC_DIR]
#       Sets ODOO16_BIN (an `odoo` command) and ODOO16_PYTHON (the Python that runs it).
#       An Odoo given as ODOO_PATH, $ODOO_BIN or an `odoo` on PATH always wins, and then
#       nothing is provisioned. Otherwise the source (ODOO_SRC_DIR, $ODOO_SRC, the
#       source beside the repository at ../shared/odoo-16.0 when there is one, or a
#       shallow clone of Odoo's 16.0 branch into the cache) gets a virtualenv of its own
#       in the cache, built once and reused.
#   odoo16_postgres      starts a local PostgreSQL when none answers; creates the role
#   odoo16_chromium [--install]   finds Chromium for the browser tours
#
# Cache: ${OFITEC_WHATSAPP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ofitec_whatsapp}.
# Functions print progress on stderr and return non-zero with a message that says what
# to do; they never exit the calling script themselves.

# The repository these scripts belong to, and the Odoo source that may lie beside it
# (the layout CI and the project's machines use: no network needed then).
_ODOO16_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
odoo16_source_beside() {
  local beside="$_ODOO16_REPO/../shared/odoo-16.0"
  [ -f "$beside/odoo-bin" ] && (cd "$beside" && pwd)
}

odoo16_cache_dir() {
  printf '%s' "${OFITEC_WHATSAPP_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/ofitec_whatsapp}"
}

_odoo16_say() { printf '  [odoo16] %s\n' "$*" >&2; }
_odoo16_err() { printf 'odoo16: error: %s\n' "$*" >&2; }

# The release of an `odoo` command ("16.0", "17.0", ...), or nothing.
_odoo16_bin_version() {
  "$1" --version 2>/dev/null | sed -nE 's/^Odoo Server ([0-9]+\.[0-9]+).*/\1/p' | head -1
}

# Checks that DIR is an Odoo 16 source tree; the error names what was found.
odoo16_check_source() {
  local src="$1" missing="" item major
  if [ ! -d "$src" ]; then
    _odoo16_err "Odoo source '$src' is not a folder"
    return 1
  fi
  for item in odoo-bin odoo addons requirements.txt odoo/release.py; do
    [ -e "$src/$item" ] || missing="$missing $item"
  done
  if [ -n "$missing" ]; then
    _odoo16_err "'$src' is not an Odoo source tree: missing${missing}" \
      "(found: $(find "$src" -mindepth 1 -maxdepth 1 -printf '%f ' 2>/dev/null | head -c 200))"
    return 1
  fi
  major="$(sed -nE 's/^version_info *= *\(([0-9]+), *([0-9]+).*/\1.\2/p' "$src/odoo/release.py" | head -1)"
  if [ "$major" != "16.0" ]; then
    _odoo16_err "'$src' is Odoo ${major:-of an unknown release} (odoo/release.py), not 16.0"
    return 1
  fi
}

# A shallow clone of Odoo's 16.0 branch into the cache, when no source was given.
_odoo16_clone() {
  local dest="$1" tmp
  if [ -f "$dest/.ofitec-complete" ]; then printf '%s' "$dest"; return 0; fi
  command -v git >/dev/null 2>&1 || {
    _odoo16_err "no Odoo 16 found and git is missing: pass --odoo-src DIR (an Odoo 16.0 source tree) or --odoo PATH"
    return 1
  }
  tmp="$dest.tmp.$$"
  rm -rf "$tmp"
  _odoo16_say "no Odoo given: cloning Odoo 16.0 (about 400 MB) into $dest"
  if ! git clone -q --depth 1 --branch 16.0 https://github.com/odoo/odoo.git "$tmp" >&2; then
    rm -rf "$tmp"
    _odoo16_err "could not clone Odoo 16.0 (no network?). Pass the source of an Odoo 16.0" \
      "with --odoo-src DIR (or ODOO_SRC=DIR), or your own Odoo with --odoo PATH"
    return 1
  fi
  touch "$tmp/.ofitec-complete"
  rm -rf "$dest" && mv "$tmp" "$dest" && printf '%s' "$dest"
}

# Odoo's requirements as they install on Python 3.10-3.12, on stdout.
_odoo16_requirements() {
  local src="$1"
  # psycopg2: commented out in some trees, and the source build needs libpq headers;
  # the binary wheel is the same driver.
  grep -vE '^[[:space:]]*psycopg2[[:space:]=<>]' "$src/requirements.txt" \
    | if [ -e /usr/include/ldap.h ] && [ -e /usr/include/lber.h ]; then cat; else
      # python-ldap only builds against the OpenLDAP headers; only auth_ldap uses it.
      grep -v '^[[:space:]]*python-ldap'
    fi
  echo 'psycopg2-binary>=2.9.5,<2.10'
  # Odoo 16 imports pkg_resources, which setuptools 70 and later no longer ship whole.
  echo 'setuptools<70'
  # gevent 22.10's websocket worker fails to load zope.interface 6 and later (their
  # metadata is unreadable to the pkg_resources pinned above).
  echo 'zope.interface<6'
  # zope.event 5.1 and later name their metadata zope_event, which that pkg_resources
  # cannot find: the gevent (long-polling) process of a --workers server then dies at
  # start and is respawned in a loop, eating CPU and leaving the bus without websockets.
  echo 'zope.event<5.1'
  # Odoo skips its browser tests silently without it.
  echo 'websocket-client'
}

# The virtualenv for SRC, built once per source, requirements and Python; echoes its path.
_odoo16_venv() {
  local src="$1" cache key venv tmp reqs python_bin status=0
  cache="$(odoo16_cache_dir)"
  python_bin="${ODOO16_BASE_PYTHON:-$(command -v python3)}"
  [ -n "$python_bin" ] || { _odoo16_err "python3 (3.10 to 3.12) is needed to run Odoo 16"; return 1; }
  "$python_bin" -c 'import sys, venv; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null || {
    _odoo16_err "$python_bin is Python $("$python_bin" -V 2>&1); Odoo 16 needs 3.10 to 3.12 (set ODOO16_BASE_PYTHON)"
    return 1
  }
  mkdir -p "$cache/venvs" || return 1
  reqs="$(_odoo16_requirements "$src"; cat "$_odoo16_repo/requirements.txt")"
  key="$( { "$python_bin" -VV; realpath "$src"; printf '%s' "$reqs"; } | sha256sum | cut -c1-12)"
  venv="$cache/venvs/odoo16-$key"
  # One builder at a time; a run that waited finds the venv ready and reuses it.
  exec 9>"$venv.lock"
  flock 9
  if [ ! -f "$venv/.ofitec-complete" ]; then
    # Built aside and renamed when complete: an interrupted build is never trusted,
    # and the next run removes its leftovers. Nothing in it relies on its own path
    # (pip and Odoo are run as `python -m` / `python odoo-bin`), so the rename is safe.
    rm -rf "$venv" "$venv".tmp.*
    tmp="$venv.tmp.$$"
    _odoo16_say "building Odoo's virtualenv in $venv (first run only: a few minutes)"
    { "$python_bin" -m venv "$tmp" \
        && "$tmp/bin/python" -m pip install -q --disable-pip-version-check 'pip<26' 'setuptools<70' wheel \
        && _odoo16_requirements "$src" >"$tmp/odoo-requirements.txt" \
        && "$tmp/bin/python" -m pip install -q --disable-pip-version-check -r "$tmp/odoo-requirements.txt" \
        && "$tmp/bin/python" -m pip freeze --all | grep -E '^[A-Za-z0-9_.-]+==' >"$tmp/odoo-constraints.txt" \
        && "$tmp/bin/python" -m pip install -q --disable-pip-version-check \
          -r "$_odoo16_repo/requirements.txt" -c "$tmp/odoo-constraints.txt"
    } >&2 || status=$?
    if [ "$status" != 0 ]; then
      rm -rf "$tmp"
      flock -u 9
      _odoo16_err "pip could not build Odoo's virtualenv (exit $status); see the lines above"
      return 1
    fi
    touch "$tmp/.ofitec-complete"
    mv "$tmp" "$venv"
  fi
  flock -u 9
  printf '%s' "$venv"
}

odoo16_resolve() {
  local given="${1:-${ODOO_BIN:-}}" src="${2:-${ODOO_SRC:-}}" venv wrapper version
  ODOO16_BIN="" ODOO16_PYTHON="" ODOO16_PROVISIONED=0
  [ -n "$given" ] || given="$(command -v odoo || true)"
  if [ -n "$given" ]; then
    [ -x "$given" ] || { _odoo16_err "'$given' is not an executable Odoo command"; return 1; }
    version="$(_odoo16_bin_version "$given")"
    if [ "$version" != "16.0" ]; then
      _odoo16_err "'$given' is not Odoo 16 (it says: $("$given" --version 2>&1 | tail -1))"
      return 1
    fi
    ODOO16_BIN="$given"
    ODOO16_PYTHON="$(_odoo16_python_of "$given")"
    return 0
  fi
  [ -n "$src" ] || src="$(odoo16_source_beside || true)"
  if [ -n "$src" ]; then
    odoo16_check_source "$src" || return 1
    src="$(cd "$src" && pwd)"
  else
    src="$(_odoo16_clone "$(odoo16_cache_dir)/odoo-16.0-src")" || return 1
  fi
  venv="$(_odoo16_venv "$src")" || return 1
  # The wrapper lives beside the venvs, not in one: it names the source it runs.
  wrapper="$(odoo16_cache_dir)/bin/odoo-$(basename "$venv")"
  mkdir -p "$(dirname "$wrapper")"
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$venv/bin/python" "$src/odoo-bin" >"$wrapper.$$"
  chmod +x "$wrapper.$$" && mv "$wrapper.$$" "$wrapper"
  ODOO16_BIN="$wrapper" ODOO16_PYTHON="$venv/bin/python" ODOO16_PROVISIONED=1
  [ "$(_odoo16_bin_version "$wrapper")" = "16.0" ] || {
    _odoo16_err "the Odoo built from $src does not start: $("$wrapper" --version 2>&1 | tail -3)"
    return 1
  }
  _odoo16_say "Odoo 16 from $src, Python $venv"
}

# The Python behind an `odoo` command: a Python entry point (#!/path/python) or a
# shell wrapper that executes one (e.g. `exec /venv/bin/python /opt/odoo/odoo-bin "$@"`).
_odoo16_python_of() {
  local odoo_bin="$1" first_line python_bin=""
  first_line="$(head -n 1 "$odoo_bin" 2>/dev/null || true)"
  case "$first_line" in
    "#!"*python*) python_bin="$(sed -E 's/^#! *//; s/ .*$//' <<<"$first_line")" ;;
  esac
  if [ -z "$python_bin" ] || [ "$python_bin" = "/usr/bin/env" ]; then
    python_bin="$(grep -Eo '(/[^ "]*)?python[0-9.]*' "$odoo_bin" 2>/dev/null | head -1 || true)"
  fi
  if [ -n "$python_bin" ] && ! command -v "$python_bin" >/dev/null 2>&1; then python_bin=""; fi
  printf '%s' "$python_bin"
}

odoo16_postgres() {
  if pg_isready -q 2>/dev/null && psql -d postgres -Atc 'select 1' >/dev/null 2>&1; then return 0; fi
  if ! pg_isready -q 2>/dev/null && command -v pg_lsclusters >/dev/null 2>&1; then
    local version
    version="$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1}')"
    if [ -n "$version" ]; then
      _odoo16_say "starting the local PostgreSQL $version cluster"
      pg_ctlcluster "$version" main start >&2 || true
    fi
    for _ in $(seq 1 30); do pg_isready -q 2>/dev/null && break; sleep 1; done
  fi
  if ! pg_isready -q 2>/dev/null; then
    _odoo16_err "PostgreSQL does not answer: start it, or point PGHOST/PGPORT at one"
    return 1
  fi
  if ! psql -d postgres -Atc 'select 1' >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
    _odoo16_say "creating the PostgreSQL role '$(id -un)'"
    su postgres -c "psql -qc \"CREATE ROLE \\\"$(id -un)\\\" SUPERUSER LOGIN\"" >&2 || true
  fi
  psql -d postgres -Atc 'select 1' >/dev/null 2>&1 || {
    _odoo16_err "PostgreSQL answers but refuses the role '$(id -un)': create it (CREATE ROLE ... LOGIN CREATEDB)"
    return 1
  }
}

# Sets ODOO16_CHROMIUM. With --install, as root on Debian or Ubuntu, installs Debian's
# chromium when none is found (and says so).
odoo16_chromium() {
  local name
  ODOO16_CHROMIUM=""
  for name in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$name" >/dev/null 2>&1; then ODOO16_CHROMIUM="$(command -v "$name")"; return 0; fi
  done
  if [ "${1:-}" = "--install" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    _odoo16_say "no Chromium found: installing Debian's 'chromium' for the browser tours (apt-get)"
    if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2; then
      ODOO16_CHROMIUM="$(command -v chromium || true)"
      [ -n "$ODOO16_CHROMIUM" ] && return 0
    fi
  fi
  _odoo16_err "no Chromium for the browser tours: install 'chromium' (Debian/Ubuntu: apt-get install chromium)" \
    "or Google Chrome"
  return 1
}

_odoo16_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
