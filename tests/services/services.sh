#!/usr/bin/env bash
# Test services for cskh-inbox: a single-node KRaft Kafka broker, a
# dedicated PostgreSQL cluster and a Dovecot IMAP server, all on 127.0.0.1,
# all started by this script (no docker, nothing installed by hand).
#
#   tests/services/services.sh up     [kafka] [postgres] [dovecot] [chromium] [tools]   start (idempotent), write .services/env
#   tests/services/services.sh down   [kafka] [postgres] [dovecot] [chromium] [tools]   stop
#   tests/services/services.sh status [kafka] [postgres] [dovecot] [chromium] [tools]   show what runs
#   tests/services/services.sh env                                            print .services/env
#
# No service name means all of them. "tools" is not a server: the Go tools the deployment tests
# run (tests/services/gotools.sh builds compose-go's checker and helm once into .services/bin). Everything (jars, Kafka data and logs, pid
# files, Dovecot's config, mail and log, the env file) lives in
# <repo>/.services/; PostgreSQL's cluster is Debian's
# `pg_createcluster <ver> cskh` (data in /var/lib/postgresql/<ver>/cskh).
# Dovecot is Debian's dovecot-imapd, run as a private instance
# (`dovecot -c .services/dovecot/dovecot.conf`): plain IMAP and IMAPS (a test CA and a
# server certificate for 127.0.0.1/localhost made with `openssl` into .services/dovecot/tls),
# one passwd-file user cskh/cskh, Maildir under .services/dovecot/mail.
#
# .services/env holds `export` lines for the services that are up:
#   CSKH_TEST_KAFKA=127.0.0.1:<port>
#   CSKH_TEST_KAFKA_JARS=<repo>/.services/kafka/jars, CSKH_TEST_JAVA=<java>   the broker's jars
#                                              and Java (the fault suite runs a broker of its own)
#   CSKH_TEST_POSTGRES_DSN=postgresql://cskh:cskh@127.0.0.1:<port>/postgres
#   CSKH_TEST_IMAP=127.0.0.1:<port>            (user cskh, password cskh)
#   CSKH_TEST_IMAPS=127.0.0.1:<port>           the same over TLS (IMAPS)
#   CSKH_TEST_IMAP_CA=<repo>/.services/dovecot/tls/ca.pem   the CA that signed its certificate
#   CSKH_TEST_CHROMIUM=/usr/bin/chromium       Debian's chromium (installed when missing), for page tests
#   CSKH_TEST_COMPOSECHECK=<repo>/.services/bin/composecheck   validates deploy/compose/ (compose-go)
#   CSKH_TEST_HELM=<repo>/.services/bin/helm   renders deploy/helm/cskh (`helm template`)
#
# Failure handling: with CI=true a service that cannot be installed or
# started makes `up` exit non-zero. Otherwise a warning goes to stderr, the
# service's line is left out of .services/env (so its tests skip) and `up`
# exits 0.
#
# Knobs (environment):
#   CSKH_TEST_KAFKA_PORT            19092  PLAINTEXT listener
#   CSKH_TEST_KAFKA_CONTROLLER_PORT 19093  KRaft CONTROLLER listener
#   CSKH_TEST_KAFKA_HEAP            "-Xms256m -Xmx512m"
#   CSKH_TEST_PG_PORT               55432
#   CSKH_TEST_IMAP_PORT             10143  Dovecot's plain IMAP listener
#   CSKH_TEST_IMAPS_PORT            10993  Dovecot's IMAPS (TLS) listener
#   CSKH_TEST_SERVICES_TIMEOUT      90     seconds to wait for a service to answer
#   CSKH_TEST_KAFKA_KEEP_DATA       unset  set: never wipe old test topics (by default a data dir
#                                          with over 200 of them is emptied on a cold start)
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd -- "$SCRIPT_DIR/../.." && pwd -P)"
SVC="$REPO/.services"
ENV_FILE="$SVC/env"

KAFKA_PORT="${CSKH_TEST_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${CSKH_TEST_KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_HEAP="${CSKH_TEST_KAFKA_HEAP:--Xms256m -Xmx512m}"
PG_PORT="${CSKH_TEST_PG_PORT:-55432}"
PG_CLUSTER="cskh"
PG_USER="cskh"
PG_PASSWORD="cskh"
IMAP_PORT="${CSKH_TEST_IMAP_PORT:-10143}"
IMAPS_PORT="${CSKH_TEST_IMAPS_PORT:-10993}"
IMAP_USER="cskh"
IMAP_PASSWORD="cskh"
TIMEOUT="${CSKH_TEST_SERVICES_TIMEOUT:-90}"

DOVECOT_DIR="$SVC/dovecot"
DOVECOT_CONF="$DOVECOT_DIR/dovecot.conf"
DOVECOT_RUN="$DOVECOT_DIR/run"
DOVECOT_MAIL="$DOVECOT_DIR/mail"
DOVECOT_LOG="$DOVECOT_DIR/dovecot.log"
DOVECOT_PIDFILE="$DOVECOT_RUN/master.pid"
DOVECOT_TLS="$DOVECOT_DIR/tls"
DOVECOT_CA="$DOVECOT_TLS/ca.pem"

KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
KAFKA_DIR="$SVC/kafka"
KAFKA_JARS="$KAFKA_DIR/jars"
KAFKA_JARS_STAMP="$KAFKA_DIR/jars.stamp"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_LOGS="$KAFKA_DIR/logs"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_LOG4J="$KAFKA_DIR/log4j2.properties"
KAFKA_PIDFILE="$KAFKA_DIR/kafka.pid"
KAFKA_CLUSTER_ID_FILE="$KAFKA_DIR/cluster.id"

JAVA="${JAVA:-}"
APT_UPDATED=0

# ---------------------------------------------------------------- helpers

say()  { printf '[services] %s\n' "$*"; }
warn() { printf '[services] WARNING: %s\n' "$*" >&2; }
err()  { printf '[services] ERROR: %s\n' "$*" >&2; }
is_ci() { case "${CI:-}" in true|TRUE|True|1|yes) return 0 ;; *) return 1 ;; esac; }
is_root() { [[ "$(id -u)" -eq 0 ]]; }
now() { date +%s; }

python_bin() {
    # The system interpreter is enough (the probes use the stdlib only) and
    # avoids pyenv shims picking up a .python-version file.
    if [[ -x /usr/bin/python3 ]]; then echo /usr/bin/python3
    elif command -v python3 >/dev/null 2>&1; then command -v python3
    elif [[ -x "$REPO/.venv/bin/python" ]]; then echo "$REPO/.venv/bin/python"
    else return 1; fi
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Pid of the process listening on 127.0.0.1:$1 (empty when unknown).
port_owner() {
    command -v ss >/dev/null 2>&1 || return 0
    ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2 || true
}

cmdline_of() {
    if [[ -r "/proc/$1/cmdline" ]]; then tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; fi
}

apt_install() {
    if ! is_root; then
        err "cannot install $* (not root); install it and run again"
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        err "cannot install $* (no apt-get)"
        return 1
    fi
    mkdir -p "$SVC"
    local log="$SVC/apt.log"
    export DEBIAN_FRONTEND=noninteractive
    if [[ "$APT_UPDATED" -eq 0 ]]; then
        say "apt-get update"
        if ! apt-get -o DPkg::Lock::Timeout=300 update -q >>"$log" 2>&1; then
            tail -n 20 "$log" >&2; err "apt-get update failed (log: $log)"; return 1
        fi
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    if ! apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "$@" >>"$log" 2>&1 9>&-; then
        tail -n 20 "$log" >&2; err "apt-get install $* failed (log: $log)"; return 1
    fi
}

java_major() {  # major version of the java binary $1 (8, 11, 17, ...)
    local v
    v="$("$1" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)"
    v="${v#1.}"
    v="${v%%[.+-]*}"
    echo "${v:-0}"
}

ensure_java() {
    [[ -n "$JAVA" ]] && return 0
    local cand
    for cand in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java 2>/dev/null || true)" \
                /usr/lib/jvm/java-17-openjdk-amd64/bin/java /usr/lib/jvm/java-17-openjdk-*/bin/java \
                /usr/lib/jvm/java-21-openjdk-*/bin/java; do
        [[ -n "$cand" && -x "$cand" ]] || continue
        if (( $(java_major "$cand" || echo 0) >= 17 )); then JAVA="$cand"; return 0; fi
    done
    apt_install openjdk-17-jre-headless || return 1
    for cand in /usr/lib/jvm/java-17-openjdk-*/bin/java; do
        [[ -x "$cand" ]] && { JAVA="$cand"; return 0; }
    done
    err "no Java >= 17 found after installing openjdk-17-jre-headless"
    return 1
}

# ------------------------------------------------------------------ kafka

ensure_kafka_jars() {
    local want
    want="$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
    if [[ -f "$KAFKA_JARS_STAMP" && "$(cat "$KAFKA_JARS_STAMP")" == "$want" ]] \
        && compgen -G "$KAFKA_JARS/kafka_2.13-*.jar" >/dev/null; then
        return 0
    fi
    if ! command -v mvn >/dev/null 2>&1; then
        apt_install maven || return 1
    fi
    say "kafka: fetching broker jars with Maven (tests/services/kafka/pom.xml -> .services/kafka/jars)"
    local t0 tmp="$KAFKA_DIR/jars.tmp" log="$KAFKA_DIR/mvn.log"
    t0="$(now)"
    rm -rf "$tmp"
    # JAVA_HOME for mvn: the Java we run Kafka with.
    if ! JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$JAVA")")")" \
        mvn -B -q -f "$KAFKA_POM" dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$tmp" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        err "kafka: Maven could not fetch the broker (log: $log)"
        rm -rf "$tmp"
        return 1
    fi
    rm -rf "$KAFKA_JARS" "$SCRIPT_DIR/kafka/target"
    mv "$tmp" "$KAFKA_JARS"
    echo "$want" >"$KAFKA_JARS_STAMP"
    say "kafka: $(find "$KAFKA_JARS" -name '*.jar' | wc -l) jars fetched in $(( $(now) - t0 ))s"
}

write_kafka_config() {
    mkdir -p "$KAFKA_DATA" "$KAFKA_LOGS"
    cat >"$KAFKA_PROPS.tmp" <<EOF
# Written by tests/services/services.sh; edits are overwritten on the next start.
# One combined broker+controller KRaft node for tests, on loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${KAFKA_CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${KAFKA_DATA}

num.partitions=4
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
delete.topic.enable=true

offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

# small machine (2 cores): few threads, small segments, short retention
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
log.segment.bytes=16777216
log.retention.hours=24
log.retention.check.interval.ms=300000
EOF
    mv "$KAFKA_PROPS.tmp" "$KAFKA_PROPS"

    cat >"$KAFKA_LOG4J" <<'EOF'
# Written by tests/services/services.sh. Broker log: .services/kafka/logs/server.log
status = warn
name = cskh-test-kafka

appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3

rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE

logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
EOF
}

kafka_cluster_id() {
    if [[ ! -s "$KAFKA_CLUSTER_ID_FILE" ]]; then
        # Same shape as org.apache.kafka.common.Uuid.randomUuid().toString():
        # 16 random bytes, URL-safe base64 without padding, not starting with '-'.
        "$(python_bin)" - >"$KAFKA_CLUSTER_ID_FILE.tmp" <<'PY'
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break
PY
        mv "$KAFKA_CLUSTER_ID_FILE.tmp" "$KAFKA_CLUSTER_ID_FILE"
    fi
    cat "$KAFKA_CLUSTER_ID_FILE"
}

# Format the KRaft log dir unless it already belongs to this cluster/node.
ensure_kafka_storage() {
    local cid meta have_cid have_node
    cid="$(kafka_cluster_id)"
    meta="$KAFKA_DATA/meta.properties"
    # The test broker's topics are disposable (every test run makes its own prefix); a data
    # directory left by many runs holds thousands of partitions and makes start-up take minutes.
    if [[ -d "$KAFKA_DATA" ]] && [[ -z "${CSKH_TEST_KAFKA_KEEP_DATA:-}" ]] \
        && (( $(find "$KAFKA_DATA" -mindepth 1 -maxdepth 1 -type d | wc -l) > 200 )); then
        say "kafka: $KAFKA_DATA holds old test topics; starting from empty storage"
        rm -rf "$KAFKA_DATA"
    fi
    if [[ -f "$meta" ]]; then
        have_cid="$(sed -n 's/^cluster\.id=//p' "$meta")"
        have_node="$(sed -n 's/^node\.id=//p' "$meta")"
        if [[ "$have_cid" == "$cid" && "$have_node" == "1" ]] \
            && [[ -d "$KAFKA_DATA/__cluster_metadata-0" ]]; then
            return 0
        fi
        warn "kafka: $KAFKA_DATA belongs to another cluster/node (cluster.id=$have_cid node.id=$have_node); wiping it"
    fi
    rm -rf "$KAFKA_DATA"
    mkdir -p "$KAFKA_DATA"
    say "kafka: formatting KRaft storage (cluster.id=$cid)"
    if ! "$JAVA" -Xmx256m -Dlog4j2.configurationFile="file:$KAFKA_LOG4J" -Dkafka.logs.dir="$KAFKA_LOGS" \
        -cp "$KAFKA_JARS/*" kafka.tools.StorageTool format \
        -t "$cid" -c "$KAFKA_PROPS" >"$KAFKA_LOGS/format.out" 2>&1; then
        cat "$KAFKA_LOGS/format.out" >&2
        err "kafka: storage format failed"
        return 1
    fi
}

# Pid of our broker, from the pid file or from the port owner; empty if none.
# A stale pid file (machine restart, pid reused) is removed.
kafka_pid() {
    local pid=""
    if [[ -f "$KAFKA_PIDFILE" ]]; then
        pid="$(cat "$KAFKA_PIDFILE" 2>/dev/null || true)"
        if [[ -n "$pid" ]] && cmdline_of "$pid" | grep -qF "kafka.Kafka $KAFKA_PROPS"; then
            echo "$pid"; return 0
        fi
        rm -f "$KAFKA_PIDFILE"
    fi
    pid="$(port_owner "$KAFKA_PORT")"
    if [[ -n "$pid" ]] && cmdline_of "$pid" | grep -qF "kafka.Kafka $KAFKA_PROPS"; then
        echo "$pid" >"$KAFKA_PIDFILE"
        echo "$pid"
    fi
}

# Protocol-level probe: a Metadata (v4) request must list at least one broker,
# i.e. the broker is registered with the controller and unfenced.
kafka_probe() {
    local py
    py="$(python_bin)" || { port_open "$KAFKA_PORT"; return; }
    "$py" - "$KAFKA_PORT" <<'PY'
import socket, struct, sys

def recvn(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf

try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3) as s:
        s.settimeout(3)
        client = b"cskh-probe"
        # request header v1: api_key=3 (Metadata), api_version=4, correlation id, client id
        # body v4: topics = [] (none), allow_auto_topic_creation = false
        msg = struct.pack(">hhih", 3, 4, 7, len(client)) + client + struct.pack(">ib", 0, 0)
        s.sendall(struct.pack(">i", len(msg)) + msg)
        (size,) = struct.unpack(">i", recvn(s, 4))
        data = recvn(s, size)
        corr, _throttle, brokers = struct.unpack(">iii", data[:12])
        sys.exit(0 if corr == 7 and brokers >= 1 else 1)
except Exception:
    sys.exit(1)
PY
}

# Ask for a group coordinator until one answers: this makes the broker
# create __consumer_offsets now, so the tests' first consumer group does not
# wait for it (FindCoordinator v1, retried for up to 30 s; not fatal).
kafka_warmup() {
    local py
    py="$(python_bin)" || return 0
    "$py" - "$KAFKA_PORT" <<'PY' || warn "kafka: group coordinator not ready yet (tests may wait a little)"
import socket, struct, sys, time

def recvn(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf

deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3) as s:
            s.settimeout(5)
            client, key = b"cskh-warmup", b"cskh-warmup"
            # header v1: api_key=10 (FindCoordinator), version 1; body: key, key_type=0 (group)
            msg = (struct.pack(">hhih", 10, 1, 9, len(client)) + client
                   + struct.pack(">h", len(key)) + key + struct.pack(">b", 0))
            s.sendall(struct.pack(">i", len(msg)) + msg)
            (size,) = struct.unpack(">i", recvn(s, 4))
            data = recvn(s, size)
            corr, _throttle, error = struct.unpack(">iih", data[:10])
            if corr == 9 and error == 0:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.3)
sys.exit(1)
PY
}

kafka_healthy() {
    [[ -n "$(kafka_pid)" ]] && kafka_probe
}

kafka_wait() {  # $1 = pid; wait until the broker answers or dies
    local pid="$1" deadline=$(( $(now) + TIMEOUT ))
    while (( $(now) < deadline )); do
        if ! kill -0 "$pid" 2>/dev/null; then
            err "kafka: broker exited during start-up; last lines of its logs:"
            tail -n 25 "$KAFKA_LOGS/kafka.out" "$KAFKA_LOGS/server.log" >&2 2>/dev/null || true
            return 1
        fi
        if kafka_probe; then return 0; fi
        sleep 0.5
    done
    err "kafka: broker did not answer within ${TIMEOUT}s; last lines of its log:"
    tail -n 25 "$KAFKA_LOGS/server.log" >&2 2>/dev/null || true
    return 1
}

kafka_stop() {
    local pid
    pid="$(kafka_pid)"
    if [[ -z "$pid" ]]; then rm -f "$KAFKA_PIDFILE"; return 0; fi
    say "kafka: stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 120); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "kafka: still running after 30s, killing pid $pid"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$KAFKA_PIDFILE"
}

kafka_up() {
    mkdir -p "$KAFKA_DIR" "$KAFKA_LOGS"
    local pid t0
    t0="$(now)"
    pid="$(kafka_pid)"
    if [[ -n "$pid" ]]; then
        if kafka_probe || kafka_wait "$pid"; then
            say "kafka: already running (pid $pid) on 127.0.0.1:$KAFKA_PORT"
            return 0
        fi
        warn "kafka: pid $pid does not answer; restarting it"
        kafka_stop
    fi
    local p owner
    for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
        if port_open "$p"; then
            owner="$(port_owner "$p")"
            err "kafka: port 127.0.0.1:$p is taken by another process${owner:+ (pid $owner: $(cmdline_of "$owner" | cut -c1-160))}; stop it or set CSKH_TEST_KAFKA_PORT / CSKH_TEST_KAFKA_CONTROLLER_PORT"
            return 1
        fi
    done

    ensure_java || return 1
    ensure_kafka_jars || return 1
    write_kafka_config
    ensure_kafka_storage || return 1

    say "kafka: starting broker on 127.0.0.1:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT)"
    # shellcheck disable=SC2086  # KAFKA_HEAP is a list of JVM flags
    (
        cd "$KAFKA_DIR"
        exec 9>&-  # do not hand the services.sh lock to the broker
        exec setsid nohup "$JAVA" $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
            -Dlog4j2.configurationFile="file:$KAFKA_LOG4J" -Dkafka.logs.dir="$KAFKA_LOGS" \
            -cp "$KAFKA_JARS/*" kafka.Kafka "$KAFKA_PROPS" \
            >"$KAFKA_LOGS/kafka.out" 2>&1 </dev/null
    ) &
    pid=$!
    echo "$pid" >"$KAFKA_PIDFILE"
    if ! kafka_wait "$pid"; then
        kafka_stop
        return 1
    fi
    kafka_warmup
    say "kafka: up (pid $pid) on 127.0.0.1:$KAFKA_PORT in $(( $(now) - t0 ))s"
}

kafka_status() {
    local pid
    pid="$(kafka_pid)"
    if [[ -z "$pid" ]]; then
        echo "kafka:    stopped"
    elif kafka_probe; then
        echo "kafka:    running (pid $pid) 127.0.0.1:$KAFKA_PORT, data $KAFKA_DATA"
    else
        echo "kafka:    process $pid exists but the broker does not answer on 127.0.0.1:$KAFKA_PORT"
    fi
}

# --------------------------------------------------------------- postgres

pg_installed() {
    command -v pg_ctlcluster >/dev/null 2>&1 && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

pg_newest_version() {
    local d
    for d in /usr/lib/postgresql/*/bin/postgres; do
        [[ -x "$d" ]] && basename "$(dirname "$(dirname "$d")")"
    done | sort -V | tail -n1
}

# Version of our existing cluster (if any, and if its server binaries exist).
pg_cluster_version() {
    command -v pg_lsclusters >/dev/null 2>&1 || return 0
    local v
    for v in $(pg_lsclusters -h 2>/dev/null | awk -v c="$PG_CLUSTER" '$2 == c {print $1}'); do
        if [[ -x "/usr/lib/postgresql/$v/bin/postgres" ]]; then echo "$v"; return 0; fi
    done
}

pg_cluster_status() {  # online / down / empty
    pg_lsclusters -h 2>/dev/null | awk -v v="$1" -v c="$PG_CLUSTER" '$1 == v && $2 == c {print $4}'
}

pg_psql_admin() {  # psql as the postgres superuser over the unix socket
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres
}

pg_login_ok() {
    PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=3 psql -X -q -w -h 127.0.0.1 -p "$PG_PORT" \
        -U "$PG_USER" -d postgres -tAc 'select 1' >/dev/null 2>&1
}

pg_healthy() {
    command -v psql >/dev/null 2>&1 && pg_login_ok
}

pg_create_cluster() {
    local ver="$1"
    say "postgres: creating cluster $ver/$PG_CLUSTER on port $PG_PORT"
    pg_createcluster "$ver" "$PG_CLUSTER" --port "$PG_PORT" --start-conf=manual \
        --locale=C.UTF-8 --encoding=UTF8 \
        -- --auth-local=peer --auth-host=scram-sha-256 >"$SVC/pg_createcluster.log" 2>&1 || {
            cat "$SVC/pg_createcluster.log" >&2
            err "postgres: pg_createcluster failed"
            return 1
        }
}

# Settings for the test cluster, (re)written before every start; conf.d is
# read after postgresql.conf, so these win.
pg_write_conf() {  # $1 = version
    local ver="$1" confdir="/etc/postgresql/$1/$PG_CLUSTER"
    [[ -d "$confdir" ]] || return 1
    if ! grep -Eq "^[[:space:]]*include_dir[[:space:]]*=?[[:space:]]*'conf\.d'" "$confdir/postgresql.conf"; then
        echo "include_dir = 'conf.d'" >>"$confdir/postgresql.conf"
    fi
    mkdir -p "$confdir/conf.d"
    cat >"$confdir/conf.d/90-cskh-tests.conf" <<'EOF'
# Written by tests/services/services.sh: a throw-away cluster for the test suite.
listen_addresses = '127.0.0.1'
max_connections = 200
password_encryption = 'scram-sha-256'
# no crash safety needed for test data; makes CREATE/DROP DATABASE fast
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    chown -R postgres:postgres "$confdir/conf.d"
}

pg_start() {  # $1 = version
    local ver="$1"
    pg_write_conf "$ver" || return 1
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    # 9>&-: the postmaster must not inherit the services.sh lock
    if ! pg_ctlcluster "$ver" "$PG_CLUSTER" start >"$SVC/pg_start.log" 2>&1 9>&-; then
        cat "$SVC/pg_start.log" >&2
        return 1
    fi
}

# Start the cluster if needed, wait for it, make the role, check a login.
# Returns 2 when the port belongs to someone else (recreating would not help).
pg_bring_up() {  # $1 = version
    local ver="$1"
    if [[ "$(pg_cluster_status "$ver")" != online ]]; then
        if port_open "$PG_PORT"; then
            local owner
            owner="$(port_owner "$PG_PORT")"
            err "postgres: port 127.0.0.1:$PG_PORT is taken by another process${owner:+ (pid $owner: $(cmdline_of "$owner" | cut -c1-160))}; set CSKH_TEST_PG_PORT"
            return 2
        fi
        say "postgres: starting cluster $ver/$PG_CLUSTER"
        pg_start "$ver" || { err "postgres: cluster $ver/$PG_CLUSTER does not start"; return 1; }
    fi

    local deadline=$(( $(now) + TIMEOUT ))
    until pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; do
        if (( $(now) >= deadline )); then
            err "postgres: not accepting connections on 127.0.0.1:$PG_PORT after ${TIMEOUT}s"
            return 1
        fi
        sleep 0.3
    done

    # Role for the tests (they create and drop their own databases).
    pg_psql_admin <<SQL || { err "postgres: could not create role $PG_USER"; return 1; }
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
        CREATE ROLE $PG_USER LOGIN SUPERUSER CREATEDB PASSWORD '$PG_PASSWORD';
    ELSE
        ALTER ROLE $PG_USER LOGIN SUPERUSER CREATEDB PASSWORD '$PG_PASSWORD';
    END IF;
END
\$\$;
SQL
    if ! pg_login_ok; then
        err "postgres: cannot log in as $PG_USER over TCP on 127.0.0.1:$PG_PORT"
        return 1
    fi
}

pg_up() {
    mkdir -p "$SVC"
    local t0 ver
    t0="$(now)"
    if pg_healthy; then
        say "postgres: already running on 127.0.0.1:$PG_PORT"
        return 0
    fi
    if ! is_root; then
        err "postgres: managing the cluster needs root (pg_ctlcluster / runuser postgres)"
        return 1
    fi
    if ! pg_installed; then
        apt_install postgresql || return 1
    fi
    command -v psql >/dev/null 2>&1 || apt_install postgresql-client || return 1

    ver="$(pg_cluster_version)"
    if [[ -z "$ver" ]]; then
        ver="$(pg_newest_version)"
        [[ -n "$ver" ]] || { err "postgres: no server binaries under /usr/lib/postgresql"; return 1; }
        pg_create_cluster "$ver" || return 1
    fi

    # The port may have changed since the cluster was made.
    local have_port
    have_port="$(pg_conftool -s "$ver" "$PG_CLUSTER" show port 2>/dev/null || true)"
    if [[ "$have_port" != "$PG_PORT" ]]; then
        say "postgres: moving cluster $ver/$PG_CLUSTER from port ${have_port:-?} to $PG_PORT"
        if [[ "$(pg_cluster_status "$ver")" == online ]]; then
            pg_ctlcluster "$ver" "$PG_CLUSTER" stop -m fast || true
        fi
        pg_conftool "$ver" "$PG_CLUSTER" set port "$PG_PORT"
    fi

    local rc=0
    pg_bring_up "$ver" || rc=$?
    if [[ $rc -eq 2 ]]; then return 1; fi
    if [[ $rc -ne 0 ]]; then
        # A test cluster holds nothing worth keeping: rebuild it once.
        warn "postgres: cluster $ver/$PG_CLUSTER is unusable; dropping and recreating it"
        pg_dropcluster --stop "$ver" "$PG_CLUSTER" >/dev/null 2>&1 || true
        pg_create_cluster "$ver" || return 1
        pg_bring_up "$ver" || return 1
    fi
    say "postgres: up (cluster $ver/$PG_CLUSTER) on 127.0.0.1:$PG_PORT in $(( $(now) - t0 ))s"
}

pg_down() {
    command -v pg_lsclusters >/dev/null 2>&1 || return 0
    local v
    for v in $(pg_lsclusters -h 2>/dev/null | awk -v c="$PG_CLUSTER" '$2 == c && $4 == "online" {print $1}'); do
        say "postgres: stopping cluster $v/$PG_CLUSTER"
        pg_ctlcluster "$v" "$PG_CLUSTER" stop -m fast || warn "postgres: stop of $v/$PG_CLUSTER failed"
    done
}

pg_status() {
    local v st
    v="$(pg_cluster_version)"
    if [[ -z "$v" ]]; then
        echo "postgres: no cluster '$PG_CLUSTER'"
        return 0
    fi
    st="$(pg_cluster_status "$v")"
    if [[ "$st" == online ]] && pg_healthy; then
        echo "postgres: running (cluster $v/$PG_CLUSTER) 127.0.0.1:$PG_PORT, user $PG_USER"
    else
        echo "postgres: ${st:-down} (cluster $v/$PG_CLUSTER, port $PG_PORT)"
    fi
}

# ---------------------------------------------------------------- dovecot

dovecot_bin() {
    if command -v dovecot >/dev/null 2>&1; then command -v dovecot
    elif [[ -x /usr/sbin/dovecot ]]; then echo /usr/sbin/dovecot
    else return 1; fi
}

dovecot_installed() {
    dovecot_bin >/dev/null 2>&1 && [[ -x /usr/lib/dovecot/imap ]]
}

# IMAP probe: on both listeners the greeting, then LOGIN as the test user must succeed; over
# IMAPS the certificate must verify against the test CA for 127.0.0.1.
dovecot_probe() {
    local py
    py="$(python_bin)" || { port_open "$IMAP_PORT" && port_open "$IMAPS_PORT"; return; }
    "$py" - "$IMAP_PORT" "$IMAPS_PORT" "$DOVECOT_CA" "$IMAP_USER" "$IMAP_PASSWORD" <<'PY'
import imaplib, ssl, sys
plain, tls, ca, user, password = sys.argv[1:]
try:
    imap = imaplib.IMAP4("127.0.0.1", int(plain), timeout=3)
    imap.login(user, password)
    imap.logout()
    imap = imaplib.IMAP4_SSL("127.0.0.1", int(tls), timeout=3,
                             ssl_context=ssl.create_default_context(cafile=ca))
    imap.login(user, password)
    imap.logout()
except Exception:
    sys.exit(1)
PY
}

# A test CA and a server certificate it signed for 127.0.0.1 and localhost, made once (again
# when missing, unreadable or expiring within a day).
ensure_dovecot_tls() {
    local ext
    if [[ -s "$DOVECOT_CA" && -s "$DOVECOT_TLS/server.pem" && -s "$DOVECOT_TLS/server.key" ]] \
        && openssl x509 -checkend 86400 -noout -in "$DOVECOT_TLS/server.pem" >/dev/null 2>&1 \
        && openssl x509 -checkend 86400 -noout -in "$DOVECOT_CA" >/dev/null 2>&1; then
        return 0
    fi
    command -v openssl >/dev/null 2>&1 || apt_install openssl || return 1
    say "dovecot: making a test CA and a server certificate in $DOVECOT_TLS"
    rm -rf "$DOVECOT_TLS.tmp"
    mkdir -p "$DOVECOT_TLS.tmp"
    ext="$DOVECOT_TLS.tmp/server.ext"
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
        "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$ext"
    if ! { openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
               -subj "/CN=cskh-inbox test CA" -keyout "$DOVECOT_TLS.tmp/ca.key" \
               -out "$DOVECOT_TLS.tmp/ca.pem" \
               -addext "basicConstraints=critical,CA:TRUE" \
               -addext "keyUsage=critical,keyCertSign,cRLSign" \
           && openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=127.0.0.1" \
               -keyout "$DOVECOT_TLS.tmp/server.key" -out "$DOVECOT_TLS.tmp/server.csr" \
           && openssl x509 -req -sha256 -days 3650 -in "$DOVECOT_TLS.tmp/server.csr" \
               -CA "$DOVECOT_TLS.tmp/ca.pem" -CAkey "$DOVECOT_TLS.tmp/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
               -extfile "$ext" -out "$DOVECOT_TLS.tmp/server.pem"; } >"$DOVECOT_DIR/openssl.log" 2>&1; then
        cat "$DOVECOT_DIR/openssl.log" >&2
        err "dovecot: openssl could not make the test certificate"
        return 1
    fi
    chmod 0644 "$DOVECOT_TLS.tmp"/*.pem
    chmod 0600 "$DOVECOT_TLS.tmp"/*.key
    rm -rf "$DOVECOT_TLS"
    mv "$DOVECOT_TLS.tmp" "$DOVECOT_TLS"
}

# Pid of our Dovecot master (from its pid file, checked against its command line).
dovecot_pid() {
    local pid=""
    [[ -f "$DOVECOT_PIDFILE" ]] || return 0
    pid="$(cat "$DOVECOT_PIDFILE" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && cmdline_of "$pid" | grep -qF -- "$DOVECOT_CONF"; then
        echo "$pid"
    fi
}

dovecot_healthy() {
    [[ -n "$(dovecot_pid)" ]] && dovecot_probe
}

write_dovecot_config() {
    # Root runs the master; mail is then owned by the package's `dovecot` user (Dovecot
    # never accesses mail as root). Anyone else runs every process as themselves.
    local mail_user internal_user login_user uid gid
    if is_root; then
        mail_user=dovecot internal_user=dovecot login_user=dovenull
    else
        mail_user="$(id -un)" internal_user="$mail_user" login_user="$mail_user"
    fi
    uid="$(id -u "$mail_user")"; gid="$(id -g "$mail_user")"
    mkdir -p "$DOVECOT_RUN" "$DOVECOT_MAIL" "$DOVECOT_DIR/state"
    if is_root; then chown -R "$uid:$gid" "$DOVECOT_MAIL"; fi
    printf '%s:{PLAIN}%s:%s:%s::%s::\n' "$IMAP_USER" "$IMAP_PASSWORD" "$uid" "$gid" \
        "$DOVECOT_MAIL/$IMAP_USER" >"$DOVECOT_DIR/passwd"
    chmod 0644 "$DOVECOT_DIR/passwd"
    cat >"$DOVECOT_CONF.tmp" <<EOF
# Written by tests/services/services.sh; edits are overwritten on the next start.
# A private Dovecot instance for the test suite: IMAP and IMAPS on loopback only.
instance_name = cskh-test
base_dir = $DOVECOT_RUN
state_dir = $DOVECOT_DIR/state
listen = 127.0.0.1
protocols = imap
ssl = yes
ssl_cert = <$DOVECOT_TLS/server.pem
ssl_key = <$DOVECOT_TLS/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = $DOVECOT_LOG
default_internal_user = $internal_user
default_login_user = $login_user
first_valid_uid = $uid
last_valid_uid = $uid
first_valid_gid = 0
mail_location = maildir:$DOVECOT_MAIL/%u
mail_uid = $uid
mail_gid = $gid
mailbox_list_index = no
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DOVECOT_DIR/passwd
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$DOVECOT_MAIL/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    port = 0
  }
}
EOF
    mv "$DOVECOT_CONF.tmp" "$DOVECOT_CONF"
}

dovecot_stop() {
    local pid
    pid="$(dovecot_pid)"
    if [[ -z "$pid" ]]; then return 0; fi
    say "dovecot: stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "dovecot: still running after 10s, killing pid $pid"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$DOVECOT_PIDFILE"
}

dovecot_up() {
    local t0 pid bin owner
    t0="$(now)"
    if dovecot_healthy; then
        say "dovecot: already running (pid $(dovecot_pid)) on 127.0.0.1:$IMAP_PORT and :$IMAPS_PORT (TLS)"
        return 0
    fi
    if [[ -n "$(dovecot_pid)" ]]; then
        warn "dovecot: pid $(dovecot_pid) does not answer; restarting it"
        dovecot_stop
    fi
    local port knob
    for port in "$IMAP_PORT" "$IMAPS_PORT"; do
        if port_open "$port"; then
            owner="$(port_owner "$port")"
            knob=CSKH_TEST_IMAP_PORT; [[ "$port" == "$IMAPS_PORT" ]] && knob=CSKH_TEST_IMAPS_PORT
            err "dovecot: port 127.0.0.1:$port is taken by another process${owner:+ (pid $owner: $(cmdline_of "$owner" | cut -c1-160))}; set $knob"
            return 1
        fi
    done
    dovecot_installed || apt_install dovecot-imapd || return 1
    bin="$(dovecot_bin)" || { err "dovecot: no dovecot binary after installing dovecot-imapd"; return 1; }
    ensure_dovecot_tls || return 1
    write_dovecot_config
    say "dovecot: starting on 127.0.0.1:$IMAP_PORT and :$IMAPS_PORT (TLS)"
    if ! "$bin" -c "$DOVECOT_CONF" 9>&- >"$DOVECOT_DIR/start.out" 2>&1; then
        cat "$DOVECOT_DIR/start.out" >&2
        tail -n 20 "$DOVECOT_LOG" >&2 2>/dev/null || true
        err "dovecot: did not start"
        return 1
    fi
    local deadline=$(( $(now) + TIMEOUT ))
    until dovecot_probe; do
        if (( $(now) >= deadline )); then
            err "dovecot: no IMAP and IMAPS login on 127.0.0.1:$IMAP_PORT/:$IMAPS_PORT after ${TIMEOUT}s; last lines of its log:"
            tail -n 20 "$DOVECOT_LOG" >&2 2>/dev/null || true
            dovecot_stop
            return 1
        fi
        sleep 0.2
    done
    pid="$(dovecot_pid)"
    say "dovecot: up (pid ${pid:-?}) on 127.0.0.1:$IMAP_PORT and :$IMAPS_PORT (TLS) in $(( $(now) - t0 ))s"
}

dovecot_status() {
    local pid
    pid="$(dovecot_pid)"
    if [[ -z "$pid" ]]; then
        echo "dovecot:  stopped"
    elif dovecot_probe; then
        echo "dovecot:  running (pid $pid) 127.0.0.1:$IMAP_PORT, IMAPS :$IMAPS_PORT (CA $DOVECOT_CA), user $IMAP_USER, mail $DOVECOT_MAIL"
    else
        echo "dovecot:  process $pid exists but IMAP or IMAPS login fails on 127.0.0.1:$IMAP_PORT/:$IMAPS_PORT"
    fi
}

# --------------------------------------------------------------- chromium
# Not a server: the browser the page tests drive (Debian's `chromium`, through Playwright's
# Python package with executable_path; Playwright never downloads a browser of its own).

CHROMIUM_BIN="${CSKH_TEST_CHROMIUM_BIN:-/usr/bin/chromium}"

chromium_healthy() {
    [[ -x "$CHROMIUM_BIN" ]] && "$CHROMIUM_BIN" --headless --no-sandbox --version >/dev/null 2>&1
}

chromium_up() {
    if ! [[ -x "$CHROMIUM_BIN" ]]; then
        # fonts-noto-core: Vietnamese diacritics in screenshots
        apt_install chromium fonts-noto-core || return 1
    fi
    if ! chromium_healthy; then
        err "chromium: $CHROMIUM_BIN does not start"
        return 1
    fi
    say "chromium: $("$CHROMIUM_BIN" --headless --no-sandbox --version 2>/dev/null | head -n1)"
}

chromium_status() {
    if chromium_healthy; then
        echo "chromium: $CHROMIUM_BIN ($("$CHROMIUM_BIN" --headless --no-sandbox --version 2>/dev/null | head -n1))"
    else
        echo "chromium: not installed ($CHROMIUM_BIN)"
    fi
}

# ------------------------------------------------------------ env file

write_env() {
    mkdir -p "$SVC"
    {
        echo "# Written by tests/services/services.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ): the test services that are up."
        echo "# Use: . .services/env"
        if kafka_healthy; then
            echo "export CSKH_TEST_KAFKA=127.0.0.1:$KAFKA_PORT"
            # the fault suite starts a broker of its own (to restart it, and to put Toxiproxy
            # in front of its advertised listener) from the same jars and Java
            echo "export CSKH_TEST_KAFKA_JARS=$KAFKA_JARS"
            if ensure_java >/dev/null 2>&1; then echo "export CSKH_TEST_JAVA=$JAVA"; fi
        fi
        if pg_healthy; then
            echo "export CSKH_TEST_POSTGRES_DSN=postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres"
        fi
        if dovecot_healthy; then
            echo "export CSKH_TEST_IMAP=127.0.0.1:$IMAP_PORT"
            echo "export CSKH_TEST_IMAPS=127.0.0.1:$IMAPS_PORT"
            echo "export CSKH_TEST_IMAP_CA=$DOVECOT_CA"
        fi
        if chromium_healthy; then
            echo "export CSKH_TEST_CHROMIUM=$CHROMIUM_BIN"
        fi
        if [[ -x "$COMPOSECHECK_BIN" ]]; then
            echo "export CSKH_TEST_COMPOSECHECK=$COMPOSECHECK_BIN"
        fi
        if [[ -x "$HELM_BIN" ]]; then
            echo "export CSKH_TEST_HELM=$HELM_BIN"
        fi
    } >"$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# ------------------------------------------------------------------ tools

GOTOOLS="$SCRIPT_DIR/gotools.sh"
COMPOSECHECK_BIN="$SVC/bin/composecheck"
HELM_BIN="$SVC/bin/helm"

tools_up() {
    "$GOTOOLS" composecheck helm | sed 's/^/[services] tools: /'
    return "${PIPESTATUS[0]}"
}

tools_status() {
    local t
    for t in "$COMPOSECHECK_BIN" "$HELM_BIN"; do
        if [[ -x "$t" ]]; then echo "tools:    $t"; else echo "tools:    $(basename "$t") not built"; fi
    done
}

# ----------------------------------------------------------------- main

usage() {
    echo "usage: $0 up|down|status|env [kafka] [postgres] [dovecot] [chromium] [tools]" >&2
    exit 2
}

lock() {
    mkdir -p "$SVC"
    exec 9>"$SVC/.lock"
    if ! flock -w 300 9; then
        err "another tests/services/services.sh holds $SVC/.lock"
        exit 1
    fi
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd="$1"; shift
    local names=("$@") n
    [[ ${#names[@]} -gt 0 ]] || names=(kafka postgres dovecot chromium tools)
    for n in "${names[@]}"; do
        case "$n" in kafka|postgres|dovecot|chromium|tools) ;; *) err "unknown service '$n'"; usage ;; esac
    done

    case "$cmd" in
        up)
            lock
            local failed=() rc
            for n in "${names[@]}"; do
                # A subshell with -e in force: any unexpected failure inside
                # the service's start-up counts as that service failing.
                set +e
                ( set -e; case "$n" in kafka) kafka_up ;; postgres) pg_up ;; dovecot) dovecot_up ;; chromium) chromium_up ;; tools) tools_up ;; esac )
                rc=$?
                set -e
                [[ $rc -eq 0 ]] || failed+=("$n")
            done
            write_env
            say "env file $ENV_FILE:"
            grep '^export' "$ENV_FILE" | sed 's/^/[services]   /' || say "  (no service is up)"
            if [[ ${#failed[@]} -gt 0 ]]; then
                if is_ci; then
                    err "could not start: ${failed[*]} (CI=true, so this is fatal)"
                    exit 1
                fi
                warn "could not start: ${failed[*]}; their tests will be skipped (with CI=true this would fail)"
            fi
            ;;
        down)
            lock
            for n in "${names[@]}"; do
                case "$n" in kafka) kafka_stop ;; postgres) pg_down ;; dovecot) dovecot_stop ;; chromium|tools) ;; esac
            done
            write_env
            ;;
        status)
            for n in "${names[@]}"; do
                case "$n" in kafka) kafka_status ;; postgres) pg_status ;; dovecot) dovecot_status ;; chromium) chromium_status ;; tools) tools_status ;; esac
            done
            ;;
        env)
            if [[ -f "$ENV_FILE" ]]; then cat "$ENV_FILE"; fi
            ;;
        *) usage ;;
    esac
}

main "$@"
