#!/usr/bin/env bash
# Runs stoa-bench against Stoa (release build, fjall) and Synapse (SQLite) on loopback,
# one after the other on an otherwise idle machine, prints the figures side by side
# and prepends the run to BENCHMARKS.md.
#
#   bench/compare.sh            # default run (a few minutes per server)
#   bench/compare.sh --quick    # small sizes (about a minute per server)
#
# Any other arguments go to `stoa-bench run` (e.g. --idle-connections 5000).
# SYNAPSE_POSTGRES=1 also runs Synapse on PostgreSQL (see below).
# Environment: SYNAPSE_VENV (default ~/.cache/synapse-venv), CARGO_TARGET_DIR,
# STOA_PORT / SYNAPSE_PORT (default 18008 / 18009), KEEP_WORKDIR=1 to keep logs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="${SYNAPSE_VENV:-$HOME/.cache/synapse-venv}"
STOA_PORT="${STOA_PORT:-18008}"
SYNAPSE_PORT="${SYNAPSE_PORT:-18009}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/stoa-compare.XXXXXX")"
COMMAND="${SYNAPSE_POSTGRES:+SYNAPSE_POSTGRES=$SYNAPSE_POSTGRES }bench/compare.sh${*:+ $*}"
SERVER_PID=""

cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n "${PG_DB:-}" ]]; then psql -q -d postgres -c "DROP DATABASE IF EXISTS $PG_DB" || true; fi
    if [[ "${KEEP_WORKDIR:-0}" != 1 ]]; then rm -rf "$WORK"; else echo "work dir kept: $WORK" >&2; fi
}
trap cleanup EXIT

say() { echo "== $*" >&2; }

# Wait until the server answers /versions, or fail if its process died.
wait_ready() {
    local url="$1" pid="$2"
    for _ in $(seq 1 600); do
        if curl -sf "$url/_matrix/client/versions" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then say "server exited during start-up"; return 1; fi
        sleep 0.2
    done
    say "server did not answer within 120 s"
    return 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# Both servers and the load generator need many descriptors (idle connections).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The commit measured, taken before building (edits made while it runs do not count).
COMMIT="$(cd "$ROOT" && git rev-parse --short=12 HEAD)$(cd "$ROOT" && git diff --quiet HEAD -- src federation appservice bench Cargo.toml Cargo.lock || echo '+dirty')"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

say "building Stoa and stoa-bench (release)"
(cd "$ROOT" && cargo build --release -p stoa -p stoa-bench)
STOA_BIN="$TARGET/release/stoa"
BENCH_BIN="$TARGET/release/stoa-bench"

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import synapse' 2>/dev/null; then
    say "installing Synapse into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q matrix-synapse
fi
SYNAPSE_VERSION="$("$VENV/bin/python" -c 'import synapse; print(synapse.__version__)')"

# ---- Stoa -------------------------------------------------------------------------
# The example config with registration open, rate limits off, warnings-only logging and
# cheap password hashing (see "Settings" in BENCHMARKS.md); everything else default.
mkdir -p "$WORK/stoa"
say "starting Stoa on 127.0.0.1:$STOA_PORT"
env \
    STOA__SERVER__SIGNING_KEY_PATH="$WORK/stoa/signing.key" \
    STOA__STORAGE__BACKEND=fjall \
    STOA__STORAGE__PATH="$WORK/stoa/db" \
    STOA__HTTP__CLIENT_LISTEN="127.0.0.1:$STOA_PORT" \
    STOA__REGISTRATION__ENABLED=true \
    STOA__AUTH__ARGON2_MEMORY_KIB=1024 \
    STOA__AUTH__ARGON2_ITERATIONS=1 \
    STOA__RATE_LIMITS__LOGIN_PER_IP__PER_SECOND=0 \
    STOA__RATE_LIMITS__LOGIN_PER_ACCOUNT__PER_SECOND=0 \
    STOA__RATE_LIMITS__FAILED_LOGIN_PER_ACCOUNT__PER_SECOND=0 \
    STOA__RATE_LIMITS__REGISTRATION_PER_IP__PER_SECOND=0 \
    STOA__LOGGING__FILTER=warn \
    "$STOA_BIN" serve --config "$ROOT/config.toml.example" >"$WORK/stoa/log" 2>&1 &
SERVER_PID=$!
wait_ready "http://127.0.0.1:$STOA_PORT" "$SERVER_PID"
sleep 1
"$BENCH_BIN" run --url "http://127.0.0.1:$STOA_PORT" --label Stoa --server-pid "$SERVER_PID" \
    --json "$WORK/stoa.json" "$@"
stop_server

# ---- Synapse ----------------------------------------------------------------------
# run_synapse NAME LABEL DB_YAML: a fresh Synapse in $WORK/NAME with the database section
# DB_YAML (empty: the generated SQLite one), measured into $WORK/NAME.json.
run_synapse() {
    local name="$1" label="$2" db_yaml="$3" dir="$WORK/$1"
    mkdir -p "$dir"
    say "generating the Synapse $SYNAPSE_VERSION config ($label)"
    (cd "$dir" && "$VENV/bin/python" -m synapse.app.homeserver --server-name localhost \
        --config-path "$dir/homeserver.yaml" --generate-config --report-stats=no \
        --data-directory "$dir" >/dev/null)
    # Warnings-only logging, as for Stoa.
    sed -i 's/level: INFO/level: WARNING/' "$dir/localhost.log.config"
    local high='{per_second: 1000000, burst_count: 1000000}'
    cat >"$dir/bench.yaml" <<EOF
listeners:
  - port: $SYNAPSE_PORT
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
enable_registration: true
enable_registration_without_verification: true
bcrypt_rounds: 4
presence:
  enabled: false
trusted_key_servers: []
suppress_key_server_warning: true
rc_message: $high
rc_registration: $high
rc_registration_token_validity: $high
rc_login: {address: $high, account: $high, failed_attempts: $high}
rc_joins: {local: $high, remote: $high}
rc_joins_per_room: $high
rc_invites: {per_room: $high, per_user: $high, per_issuer: $high}
rc_3pid_validation: $high
rc_admin_redaction: $high
rc_room_creation: $high
rc_presence: {per_user: $high}
rc_delayed_event_mgmt: $high
rc_reports: $high
rc_media_create: $high
rc_federation: {window_size: 1000, sleep_limit: 1000000, sleep_delay: 0, reject_limit: 1000000, concurrent: 1000000}
$db_yaml
EOF
    say "starting Synapse ($label) on 127.0.0.1:$SYNAPSE_PORT"
    (cd "$dir" && exec "$VENV/bin/python" -m synapse.app.homeserver \
        -c "$dir/homeserver.yaml" -c "$dir/bench.yaml") >"$dir/stdout" 2>&1 &
    SERVER_PID=$!
    wait_ready "http://127.0.0.1:$SYNAPSE_PORT" "$SERVER_PID"
    sleep 1
    "$BENCH_BIN" run --url "http://127.0.0.1:$SYNAPSE_PORT" --label "$label" --server-pid "$SERVER_PID" \
        --json "$WORK/$name.json" "${BENCH_ARGS[@]}"
    stop_server
}

BENCH_ARGS=("$@")
run_synapse synapse Synapse ""

# With SYNAPSE_POSTGRES=1, Synapse runs a second time on a fresh PostgreSQL database
# (psql access as $PGUSER, default postgres, at $PGHOST:$PGPORT, default 127.0.0.1:5432;
# the database is dropped afterwards).
PG_DB=""
if [[ "${SYNAPSE_POSTGRES:-0}" == 1 ]]; then
    export PGUSER="${PGUSER:-postgres}" PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}"
    if ! "$VENV/bin/python" -c 'import psycopg2' 2>/dev/null; then
        say "installing psycopg2-binary into $VENV"
        "$VENV/bin/pip" install -q psycopg2-binary
    fi
    PG_DB="synapse_bench_$$"
    psql -q -d postgres -c "CREATE DATABASE $PG_DB ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
    run_synapse synapse-pg Synapse-PG "database:
  name: psycopg2
  args: {user: $PGUSER, host: $PGHOST, port: $PGPORT, database: $PG_DB, cp_min: 5, cp_max: 10}"
    psql -q -d postgres -c "DROP DATABASE $PG_DB" || true
fi

# ---- Side by side -----------------------------------------------------------------
"$BENCH_BIN" table "$WORK/stoa.json" "$WORK/synapse.json" >"$WORK/table.md"
if [[ -n "$PG_DB" ]]; then
    { echo; echo "Against Synapse on PostgreSQL $(psql -tA -d postgres -c 'SHOW server_version'):"; echo
      "$BENCH_BIN" table "$WORK/stoa.json" "$WORK/synapse-pg.json"; } >>"$WORK/table.md"
fi
cat "$WORK/table.md"

RAM_GIB="$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)"
CPU="$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
ENTRY="$WORK/entry.md"
{
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — commit \`$COMMIT\`"
    echo
    echo "- command: \`$COMMAND\`"
    echo "- machine: $(nproc) cores ($CPU), ${RAM_GIB} GiB RAM, $(uname -sr)"
    echo "- load average before the run (other processes): $LOAD_BEFORE"
    echo "- Stoa: release build, fjall; Synapse $SYNAPSE_VERSION on SQLite${PG_DB:+ and on PostgreSQL}, Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())')"
    echo
    cat "$WORK/table.md"
    echo
} >"$ENTRY"

BENCH_MD="$ROOT/BENCHMARKS.md"
MARKER="<!-- runs: newest first; compare.sh inserts below this line -->"
if [[ ! -f "$BENCH_MD" ]] || ! grep -qF "$MARKER" "$BENCH_MD"; then
    printf '# Benchmarks\n\nRuns of `bench/compare.sh`, newest first.\n\n%s\n\n' "$MARKER" >"$BENCH_MD"
fi
awk -v marker="$MARKER" -v entry="$ENTRY" '
    { print }
    $0 == marker { print ""; while ((getline line < entry) > 0) print line }
' "$BENCH_MD" >"$WORK/BENCHMARKS.md"
mv "$WORK/BENCHMARKS.md" "$BENCH_MD"
say "prepended this run to BENCHMARKS.md"
