#!/usr/bin/env bash
# Install (or update) ofitec_whatsapp into an Odoo 16 database, or start a demo.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: ./install_whatsapp.sh -d DATABASE [options]
       ./install_whatsapp.sh --demo [options]

Installs ofitec_whatsapp (WhatsApp for OFITEC Next Actions) into an Odoo 16 database:
  0. without an Odoo 16 (--odoo, $ODOO_BIN or `odoo` on PATH), brings one up from
     Odoo's 16.0 source (--odoo-src DIR, $ODOO_SRC, ../shared/odoo-16.0 beside this
     folder, or a shallow clone of Odoo's repository) with a virtualenv in
     ~/.cache/ofitec_whatsapp, reused by later runs;
  1. installs the Python dependencies into the Python that runs Odoo, without
     upgrading what Odoo pinned (requests, cryptography, ...);
  2. makes this folder reachable as the addon 'ofitec_whatsapp' (a symlink in
     --addons-dir, whatever the clone's folder is called);
  3. installs the module in the database, or updates it when already installed;
  4. prints each WhatsApp configuration's webhook URL and the next steps.
Running it again is safe: it updates instead of installing.

Options:
  -d, --database NAME       database to install into (created by Odoo if missing)
  --demo                    demo: database 'ofitec_whatsapp_demo' (or -d) with the
                            reference ofitec_next_action module, demo data and a
                            WhatsApp number in test mode, then start Odoo on --port
  --no-start                with --demo: prepare the database but do not start Odoo
  --port PORT               HTTP port for --demo (default 8069)
  --with-reference-module   also make the reference stand-in 'ofitec_next_action'
                            (tests/addons) available, for databases without the
                            customer's module
  --addons-path PATHS       extra addons folders (comma separated), e.g. where the
                            customer's ofitec_next_action lives
  --addons-dir DIR          folder that receives the 'ofitec_whatsapp' symlink
                            (default: ~/.local/share/ofitec_whatsapp/addons)
  -c, --config FILE         Odoo configuration file (database access, addons path)
  --odoo PATH               the Odoo 16 command (default: $ODOO_BIN, else 'odoo' on
                            PATH, else Odoo is provisioned from source)
  --odoo-src DIR            Odoo 16.0 source tree to provision from (default: $ODOO_SRC,
                            else ../shared/odoo-16.0 beside this folder, else a
                            shallow clone of Odoo's 16.0 branch)
  --python PATH             the Python that runs Odoo (default: read from the odoo
                            command; needed only when that fails)
  --db-host/--db-port/--db-user/--db-password   PostgreSQL access (or PG* variables)
  --skip-pip                do not install Python dependencies
  -h, --help                this help
EOF
}

die() { printf 'install_whatsapp.sh: error: %s\n' "$*" >&2; exit 1; }
step() { printf '\n==> [%ss] %s\n' "$SECONDS" "$*"; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
database="" demo=0 start=1 port=8069 with_reference=0 extra_paths="" config_file=""
addons_dir="${HOME:-/root}/.local/share/ofitec_whatsapp/addons"
odoo_bin="" odoo_src="" python_bin="" skip_pip=0
db_args=()

while [ $# -gt 0 ]; do
  case "$1" in
    -d|--database) database="${2:?}"; shift 2 ;;
    --demo) demo=1; with_reference=1; shift ;;
    --no-start) start=0; shift ;;
    --port) port="${2:?}"; shift 2 ;;
    --with-reference-module) with_reference=1; shift ;;
    --addons-path) extra_paths="${2:?}"; shift 2 ;;
    --addons-dir) addons_dir="${2:?}"; shift 2 ;;
    -c|--config) config_file="${2:?}"; shift 2 ;;
    --odoo) odoo_bin="${2:?}"; shift 2 ;;
    --odoo-src) odoo_src="${2:?}"; shift 2 ;;
    --python) python_bin="${2:?}"; shift 2 ;;
    --db-host) db_args+=("--db_host=${2:?}"); export PGHOST="$2"; shift 2 ;;
    --db-port) db_args+=("--db_port=${2:?}"); export PGPORT="$2"; shift 2 ;;
    --db-user) db_args+=("--db_user=${2:?}"); export PGUSER="$2"; shift 2 ;;
    --db-password) db_args+=("--db_password=${2:?}"); export PGPASSWORD="$2"; shift 2 ;;
    --skip-pip) skip_pip=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done

if [ "$demo" = 1 ] && [ -z "$database" ]; then database="ofitec_whatsapp_demo"; fi
[ -n "$database" ] || { usage >&2; die "give a database with -d NAME (or use --demo)"; }
case "$database" in *[!A-Za-z0-9_.-]*) die "invalid database name '$database'" ;; esac
[ -z "$config_file" ] || [ -f "$config_file" ] || die "no such Odoo configuration file: $config_file"

# --- Odoo 16 ------------------------------------------------------------------
# shellcheck source=scripts/odoo16.sh
. "$repo/scripts/odoo16.sh"
step "Looking for Odoo 16"
odoo16_resolve "$odoo_bin" "$odoo_src" || die "no usable Odoo 16 (see above)"
odoo_bin="$ODOO16_BIN"
echo "found $("$odoo_bin" --version 2>&1) at $odoo_bin"
[ -n "$python_bin" ] || python_bin="$ODOO16_PYTHON"
[ -n "$python_bin" ] || die "cannot tell which Python runs Odoo: pass --python PATH"
"$python_bin" -c 'import odoo' 2>/dev/null \
  || "$python_bin" -c 'import psycopg2' 2>/dev/null \
  || die "'$python_bin' does not look like the Python that runs Odoo (pass --python PATH)"
echo "Odoo's Python: $python_bin"
# A provisioned venv already holds our requirements.
[ "$ODOO16_PROVISIONED" = 0 ] || skip_pip=1

# --- PostgreSQL ---------------------------------------------------------------
step "Checking PostgreSQL"
if [ -z "$config_file" ] && [ "${#db_args[@]}" = 0 ]; then
  odoo16_postgres || die "PostgreSQL unreachable (start it, or give --db-host/--db-port/--db-user/--db-password)"
fi
pg_check="$("$python_bin" - "$config_file" <<'PY' 2>&1
import configparser, os, sys
import psycopg2
opts = {}
if sys.argv[1]:
    parser = configparser.ConfigParser()
    parser.read(sys.argv[1])
    if parser.has_section("options"):
        opts = dict(parser.items("options"))
kwargs = {"dbname": "postgres"}
for key, env in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"), ("password", "PGPASSWORD")):
    value = os.environ.get(env) or opts.get("db_" + key)
    if value and value != "False":
        kwargs[key] = value
try:
    psycopg2.connect(connect_timeout=5, **kwargs).close()
except Exception as error:
    print(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)
    sys.exit(1)
print("ok")
PY
)" || die "PostgreSQL unreachable: ${pg_check} (start it, or give --db-host/--db-port/--db-user/--db-password)"
echo "PostgreSQL answers"

# --- Python dependencies ------------------------------------------------------
if [ "$skip_pip" = 0 ]; then
  step "Installing Python dependencies into $python_bin"
  constraints="$(mktemp)"
  # Everything already installed stays at its version: Odoo's pins are never upgraded.
  "$python_bin" -m pip freeze --all 2>/dev/null | grep -E '^[A-Za-z0-9_.-]+==' > "$constraints" || true
  "$python_bin" -m pip install -q -r "$repo/requirements.txt" -c "$constraints" \
    || die "pip could not install requirements.txt beside Odoo's packages"
  rm -f "$constraints"
fi

# --- Addons path --------------------------------------------------------------
step "Making the addon reachable as 'ofitec_whatsapp'"
mkdir -p "$addons_dir"
ln -sfn "$repo" "$addons_dir/ofitec_whatsapp"
if [ "$with_reference" = 1 ]; then
  ln -sfn "$repo/tests/addons/ofitec_next_action" "$addons_dir/ofitec_next_action"
  echo "reference ofitec_next_action linked (stand-in for the customer's module)"
elif [ -L "$addons_dir/ofitec_next_action" ]; then
  rm -f "$addons_dir/ofitec_next_action"
fi
probe="$(mktemp -d)"
"$odoo_bin" -s -c "$probe/odoo.conf" ${config_file:+--config="$config_file"} --stop-after-init \
  --http-port=0 "${db_args[@]}" >/dev/null 2>&1 || true
if [ -n "$config_file" ]; then
  base_path="$(sed -n 's/^addons_path *= *//p' "$config_file")"
else
  base_path="$(sed -n 's/^addons_path *= *//p' "$probe/odoo.conf")"
fi
rm -rf "$probe"
[ -n "$base_path" ] || die "cannot read Odoo's addons path (pass -c with your Odoo configuration)"
addons_path="$base_path,$addons_dir"
[ -z "$extra_paths" ] || addons_path="$addons_path,$extra_paths"
echo "addons path: $addons_path"

found_next_action=""
IFS=',' read -r -a path_list <<<"$addons_path"
for dir in "${path_list[@]}"; do
  if [ -f "$dir/ofitec_next_action/__manifest__.py" ]; then found_next_action="$dir"; break; fi
done
[ -n "$found_next_action" ] || die "module 'ofitec_next_action' not found in the addons path.
  Add the folder holding the customer's module with --addons-path PATH, or use the
  reference stand-in with --with-reference-module (demo and tests only)."

# --- Install or update --------------------------------------------------------
db_state() {
  "$python_bin" - "$database" <<'PY' 2>/dev/null || echo "unknown"
import sys
import psycopg2
try:
    conn = psycopg2.connect(dbname=sys.argv[1], connect_timeout=5)
except psycopg2.OperationalError as error:
    print("nodb" if "does not exist" in str(error) else "unknown")
    sys.exit(0)
cur = conn.cursor()
try:
    cur.execute("SELECT state FROM ir_module_module WHERE name = 'ofitec_whatsapp'")
    row = cur.fetchone()
    print(row[0] if row else "absent")
except psycopg2.Error:
    print("absent")
PY
}
drop_database() {
  "$python_bin" - "$database" <<'PY'
import sys
import psycopg2
conn = psycopg2.connect(dbname="postgres", connect_timeout=5)
conn.autocommit = True
conn.cursor().execute('DROP DATABASE IF EXISTS "%s"' % sys.argv[1])
PY
}
# A database this script creates is marked until its install succeeds: a run that
# failed or was killed half-way leaves the mark, and the next run starts it afresh.
pending="$(odoo16_cache_dir)/pending-databases/$database"
mkdir -p "$(dirname "$pending")"
if [ -f "$pending" ]; then
  step "Dropping '$database', left half-made by an earlier run of this script"
  drop_database || die "could not drop the half-made database '$database'"
  rm -f "$pending"
fi
state="$(db_state)"
[ "$state" != "nodb" ] || : >"$pending"

# Odoo's last ERROR (or CRITICAL) and the final line of its traceback: the real cause.
report_failure() {
  awk '/^[0-9-]+ [0-9:,]+ [0-9]+ (ERROR|CRITICAL) / {block = $0; last = ""; next}
       /^[0-9-]+ [0-9:,]+ [0-9]+ / {next}
       NF && block != "" {last = $0}
       END {if (block != "") {print block; if (last != "") print "  " last}}' "$1" >&2
  grep -qE ' (ERROR|CRITICAL) ' "$1" || tail -20 "$1" >&2
  if [ -f "$pending" ]; then
    drop_database >/dev/null 2>&1 && rm -f "$pending" \
      && echo "The half-made database '$database' was dropped." >&2
  fi
  die "$2 (full log: $1)"
}

odoo_args=(-d "$database" --addons-path="$addons_path" --stop-after-init --http-port="$port" "${db_args[@]}")
[ -z "$config_file" ] || odoo_args+=(--config="$config_file")
if [ "$demo" = 0 ]; then odoo_args+=(--without-demo=all); fi
log="$(mktemp -t ofitec_whatsapp_install.XXXXXX.log)"
if [ "$state" = "installed" ]; then
  step "Updating ofitec_whatsapp in database '$database'"
  odoo_args+=(-u ofitec_whatsapp)
else
  step "Installing ofitec_whatsapp in database '$database' (a new database takes a few minutes)"
  odoo_args+=(-i ofitec_whatsapp)
fi
"$odoo_bin" "${odoo_args[@]}" >"$log" 2>&1 &
odoo_pid=$!
trap 'kill "$odoo_pid" 2>/dev/null; exit 130' INT TERM
started=$SECONDS
while kill -0 "$odoo_pid" 2>/dev/null; do
  sleep 5
  kill -0 "$odoo_pid" 2>/dev/null || break
  printf '  %3ss  %s\n' "$((SECONDS - started))" \
    "$(grep -oE 'odoo\.modules\.loading: (loading|Loading|Module) [^ ]+( [^ ]+)?' "$log" | tail -1 | cut -d' ' -f2-)"
done
rc=0
wait "$odoo_pid" || rc=$?
trap - INT TERM
[ "$rc" = 0 ] || report_failure "$log" "Odoo could not install the module"
! grep -qE ' CRITICAL ' "$log" || report_failure "$log" "Odoo reported a critical error"
rm -f "$log" "$pending"

# --- Next steps ---------------------------------------------------------------
step "WhatsApp numbers in '$database'"
"$python_bin" - "$database" <<'PY'
import sys
import psycopg2
conn = psycopg2.connect(dbname=sys.argv[1], connect_timeout=5)
cur = conn.cursor()
cur.execute("SELECT value FROM ir_config_parameter WHERE key = 'web.base.url'")
row = cur.fetchone()
base = (row[0] if row else "http://localhost:8069").rstrip("/")
cur.execute("SELECT id, name, test_mode FROM ofitec_whatsapp_config WHERE active ORDER BY id")
rows = cur.fetchall()
if not rows:
    print("  none yet: create one in WhatsApp > Configuration > WhatsApp Numbers")
for config_id, name, test_mode in rows:
    mode = " (test mode: nothing is sent)" if test_mode else ""
    print(f"  {name}{mode}\n    webhook URL: {base}/webhooks/whatsapp/{config_id}")
PY
cat <<EOF

Next steps:
  1. In Odoo: WhatsApp > Configuration > WhatsApp Numbers: enter the Phone Number ID, the
     WhatsApp Business Account ID, the access token and the app secret of your Meta
     app; press "Test Connection".
  2. In the Meta App Dashboard > WhatsApp > Configuration: Callback URL = the webhook
     URL above (public HTTPS), Verify token = the one shown in Odoo; subscribe to the
     'messages' field.
  3. WhatsApp > Configuration > Templates: open each template and press "Submit to
     Meta" (the number needs its WhatsApp Business Account ID), then "Sync from Meta"
     (a daily cron and Meta's webhook also keep them current). Until Meta approves
     them, messages to people who have not written in the last 24 hours wait in the
     queue with that reason, and go out on approval. Twilio numbers: "Submit to
     Twilio", then "Sync from Twilio".
  4. Give the project managers and assignees a mobile number (+56 9 ...).
  5. Settings > Users: give the WhatsApp User group to the people who should see the
     WhatsApp figures, history and reminder button (WhatsApp Manager for those who
     configure numbers and templates).
  6. Optional: set ofitec_whatsapp_secret_key in the Odoo configuration file to encrypt
     the secrets at rest (see README.md).
EOF

if [ "$demo" = 1 ]; then
  cat <<EOF

The demo (test mode: nothing leaves Odoo):
  URL      http://localhost:$port    login admin / password admin
  Try      Next Actions > Dashboard: the urgent demo actions were notified at install
           (phone icon; a warning sign where someone could not be reached) and the
           WhatsApp figures count those test messages, labelled "(test)";
           open an urgent action: its WhatsApp tab lists the messages, its chatter says
           who got the notification; press Send WhatsApp Reminder;
           create an action with priority "Critica": its notifications appear there;
           WhatsApp > Messages and WhatsApp > Contacts: the history.
  Reply    as a recipient would: WhatsApp > Messages, open a sent test message of an
           urgent action, Simulate Reply > COMPLETADO: the signed webhook goes through
           the real route and the action opens, completed.
EOF
fi

if [ "$demo" = 1 ] && [ "$start" = 1 ]; then
  step "Starting Odoo on http://localhost:$port (login admin / admin; Ctrl-C stops it)"
  exec "$odoo_bin" -d "$database" --addons-path="$addons_path" --http-port="$port" \
    ${config_file:+--config="$config_file"} "${db_args[@]}"
fi
