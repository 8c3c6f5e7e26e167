#!/usr/bin/env bash
# Local single-node Apache Kafka for development and integration tests.
#
#   scripts/kafka-local.sh start [--scram]   start (or report) the broker
#   scripts/kafka-local.sh stop              stop it and wait until it is gone
#   scripts/kafka-local.sh status            exit 0 if it runs, 1 if not
#
# The broker runs in KRaft combined mode (broker + controller in one JVM) on
# 127.0.0.1, on free ports, with everything it needs under .kafka/ at the repo
# root (git-ignored):
#   .kafka/lib/<version>/    jars fetched from Maven Central (cached: offline after the first start)
#   .kafka/data/<version>/   log.dirs (metadata + topic data), kept across restarts
#   .kafka/config/           generated server.properties and logging config
#   .kafka/logs/kafka.log    broker output (previous run in kafka.log.1)
#   .kafka/kafka.pid, .kafka/kafka.env   pid and ports of the running broker
#   .kafka/tls/              the TLS listener's self-signed key store and certificate (made once, with keytool)
#
# `start` prints progress on stderr and, as the LAST line of stdout,
#   KAFKA_BROKERS=127.0.0.1:<port>
# preceded, with --scram or KAFKA_SCRAM=1, by
#   KAFKA_SCRAM_BROKERS=127.0.0.1:<port>       (SASL_PLAINTEXT, SCRAM-SHA-256 and -512, user $KAFKA_SCRAM_USER)
#   KAFKA_TLS_BROKERS=127.0.0.1:<port>         (SASL_SSL: the same SCRAM user over TLS)
#   KAFKA_TLS_CA_FILE=<path>                   (PEM of the broker's self-signed certificate, for 127.0.0.1)
# Usage in a shell: eval "$(scripts/kafka-local.sh start)"
#
# Environment:
#   KAFKA_VERSION         Kafka release from Maven Central (default 3.9.1; 4.1.x works too)
#   KAFKA_PORT            pin the client port (default: reuse the last one if free, else a free one)
#   KAFKA_SCRAM=1         same as `start --scram`
#   KAFKA_SCRAM_PORT      pin the SCRAM port
#   KAFKA_TLS_PORT        pin the SCRAM-over-TLS port
#   KAFKA_SCRAM_USER      SCRAM user (default sentinel)
#   KAFKA_SCRAM_PASSWORD  its password (default sentinel-secret; no ',', '[' or ']')
#   KAFKA_HEAP_OPTS       JVM heap (default "-Xms256m -Xmx512m")
#   KAFKA_JVM_OPTS        extra JVM options
#   KAFKA_START_TIMEOUT   seconds to wait for readiness (default 60)
#   KAFKA_STOP_TIMEOUT    seconds to wait for a clean shutdown before SIGKILL (default 60)
#   KAFKA_LOCAL_DIR       state folder (default <repo>/.kafka)
#   MVN, JAVA_HOME        tools to use (default mvn and java from PATH)
#
# To wipe the broker's data: stop it, then rm -rf .kafka/data
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POM="$ROOT/scripts/kafka/pom.xml"
STATE_DIR="${KAFKA_LOCAL_DIR:-$ROOT/.kafka}"
PID_FILE="$STATE_DIR/kafka.pid"
STATE_FILE="$STATE_DIR/kafka.env"
CONF_DIR="$STATE_DIR/config"
LOG_FILE="$STATE_DIR/logs/kafka.log"

DEFAULT_VERSION="3.9.1"
VERSION="${KAFKA_VERSION:-$DEFAULT_VERSION}"
HOST="127.0.0.1"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-60}"
SCRAM_USER="${KAFKA_SCRAM_USER:-sentinel}"
SCRAM_PASSWORD="${KAFKA_SCRAM_PASSWORD:-sentinel-secret}"
TLS_DIR="$STATE_DIR/tls"
# Protects only a test key store on this machine.
TLS_STORE_PASSWORD="egress-sentinel-local"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
MVN="${MVN:-mvn}"

# ---------------------------------------------------------------- helpers

log() { printf 'kafka-local: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

# Value of KEY in the state file of the last start (empty if absent).
state_get() {
  [[ -f "$STATE_FILE" ]] || return 0
  sed -n "s/^$1=//p" "$STATE_FILE" | tail -n 1
}

major_version() { printf '%s' "${1%%.*}"; }

lib_dir() { printf '%s/lib/%s' "$STATE_DIR" "$1"; }
data_dir() { printf '%s/data/%s' "$STATE_DIR" "$1"; }

# Pid of the running broker, or nothing. A stale pid file (process gone, or
# the pid reused by something that is not our broker) counts as not running.
running_pid() {
  local pid cmd
  [[ -f "$PID_FILE" ]] || return 0
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  if [[ -r "/proc/$pid/cmdline" ]]; then
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
  else
    cmd="$(ps -o args= -p "$pid" 2>/dev/null || true)"
  fi
  [[ "$cmd" == *kafka.Kafka* ]] && printf '%s' "$pid"
  return 0
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() { (: <>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Small socket helpers run with node (always there for this project) or python3.
#   free_ports N   prints N distinct free ports on 127.0.0.1
#   port_free P    exit 0 if 127.0.0.1:P can be bound
free_ports() {
  if command -v node >/dev/null 2>&1; then
    node -e '
      const net = require("net"); const n = Number(process.argv[1]); const servers = [];
      (function next() {
        if (servers.length === n) {
          console.log(servers.map((s) => s.address().port).join(" "));
          servers.forEach((s) => s.close());
          return;
        }
        const s = net.createServer();
        s.listen(0, "127.0.0.1", () => { servers.push(s); next(); });
      })();' "$1"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
  else
    die "need node or python3 to pick free ports"
  fi
}

port_free() {
  if command -v node >/dev/null 2>&1; then
    node -e '
      const s = require("net").createServer();
      s.once("error", () => process.exit(1));
      s.listen(Number(process.argv[1]), "127.0.0.1", () => s.close(() => process.exit(0)));' "$1"
  else
    python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
  fi
}

# Port to use for one listener: $1 = value pinned by the user (may be empty),
# $2 = the port used last time (may be empty), $3 = a fresh free port.
choose_port() {
  if [[ -n "$1" ]]; then
    port_free "$1" || die "port $1 is already in use"
    printf '%s' "$1"
  elif [[ -n "$2" ]] && port_free "$2"; then
    printf '%s' "$2"
  else
    printf '%s' "$3"
  fi
}

# Serialise start/stop so that parallel callers (e.g. test workers) do not
# race each other. flock is optional (util-linux).
take_lock() {
  mkdir -p "$STATE_DIR"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$STATE_DIR/.lock"
    flock -w $((START_TIMEOUT + 120)) 9 || die "timed out waiting for another kafka-local.sh"
  fi
}

# Classpath jars for the JVM. Quoted so that java, not the shell, expands '*'.
classpath() { printf '%s/*' "$(lib_dir "$1")"; }

# JVM logging option pointing at a generated config ($1 = broker|tools).
logging_opt() {
  if (($(major_version "$VERSION") >= 4)); then
    printf -- '-Dlog4j2.configurationFile=%s/log4j2-%s.xml' "$CONF_DIR" "$1"
  else
    printf -- '-Dlog4j.configuration=file:%s/log4j-%s.properties' "$CONF_DIR" "$1"
  fi
}

# Run one of Kafka's command-line tools (class $1) with a small heap; its
# output goes to stderr so that stdout stays machine-readable.
run_tool() {
  local main="$1"; shift
  "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 "$(logging_opt tools)" \
    -cp "$(classpath "$VERSION")" "$main" "$@" >&2
}

# ---------------------------------------------------------------- setup steps

check_tools() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (Java 17+ is needed)"
  [[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "KAFKA_VERSION must look like 3.9.1, got '$VERSION'"
  if [[ "$VERSION" == "4.0.0" ]]; then
    log "warning: Kafka 4.0.0 has known issues; prefer 4.1.x"
  fi
}

# Fetch the broker's jars into .kafka/lib/<version>/ once; later starts are offline.
ensure_jars() {
  local dir tmp profile
  dir="$(lib_dir "$VERSION")"
  [[ -f "$dir/.complete" ]] && return 0
  command -v "$MVN" >/dev/null 2>&1 || die "mvn not found: it is needed once to fetch Kafka $VERSION"
  if (($(major_version "$VERSION") >= 4)); then profile="log-log4j2"; else profile="log-reload4j"; fi
  log "fetching Kafka $VERSION jars from Maven Central (first start only)..."
  tmp="$dir.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # (Debian's mvn prints colour resets even with -B: strip them.)
  if ! "$MVN" -q -B -f "$POM" -Dkafka.version="$VERSION" -P"$profile" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 \
      | sed -e $'s/\e\\[[0-9;]*m//g' -e '/^$/d' >&2; then
    rm -rf "$tmp"
    die "mvn could not fetch org.apache.kafka:kafka_2.13:$VERSION"
  fi
  touch "$tmp/.complete"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  log "cached $(find "$dir" -name '*.jar' | wc -l) jars in ${dir#"$ROOT"/}"
}

# Logging configs: the broker logs INFO to its stdout (redirected to
# .kafka/logs/kafka.log); the CLI tools log only warnings.
write_logging_configs() {
  local kind level
  for kind in broker tools; do
    if [[ "$kind" == broker ]]; then level=INFO; else level=WARN; fi
    cat >"$CONF_DIR/log4j-$kind.properties" <<EOF
log4j.rootLogger=$level, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.zookeeper=WARN
EOF
    cat >"$CONF_DIR/log4j2-$kind.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="kafka.request.logger" level="warn"/>
    <Root level="${level,,}"><AppenderRef ref="stdout"/></Root>
  </Loggers>
</Configuration>
EOF
  done
}

# server.properties for a single KRaft node. Arguments: client port,
# controller port, SCRAM port (empty = no SCRAM listener).
write_server_config() {
  local port="$1" ctrl="$2" scram="$3" tls="${4:-}"
  local listeners="PLAINTEXT://$HOST:$port,CONTROLLER://$HOST:$ctrl"
  local advertised="PLAINTEXT://$HOST:$port"
  if [[ -n "$scram" ]]; then
    listeners+=",SCRAM://$HOST:$scram"
    advertised+=",SCRAM://$HOST:$scram"
  fi
  if [[ -n "$tls" ]]; then
    listeners+=",SCRAMTLS://$HOST:$tls"
    advertised+=",SCRAMTLS://$HOST:$tls"
  fi
  {
    cat <<EOF
# Generated by scripts/kafka-local.sh on each start: edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$ctrl
controller.listener.names=CONTROLLER
listeners=$listeners
advertised.listeners=$advertised
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SCRAM:SASL_PLAINTEXT,SCRAMTLS:SASL_SSL
log.dirs=$(data_dir "$VERSION")

# Single node: every internal topic has one replica.
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
# Topics are created explicitly, as in production.
auto.create.topics.enable=false
# Small machine (2 cores).
num.network.threads=2
num.io.threads=4
EOF
    if (($(major_version "$VERSION") >= 4)); then
      cat <<EOF
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
EOF
    fi
    if [[ -n "$scram" ]]; then
      cat <<EOF

# SASL_PLAINTEXT listener with SCRAM (users are stored in the KRaft metadata).
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
listener.name.scram.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.scram.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
    fi
    if [[ -n "$tls" ]]; then
      cat <<EOF

# SASL_SSL listener: the same SCRAM users over TLS, with a self-signed certificate for $HOST.
listener.name.scramtls.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.scramtls.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.scramtls.ssl.keystore.type=PKCS12
listener.name.scramtls.ssl.keystore.location=$TLS_DIR/broker.p12
listener.name.scramtls.ssl.keystore.password=$TLS_STORE_PASSWORD
listener.name.scramtls.ssl.key.password=$TLS_STORE_PASSWORD
EOF
    fi
  } >"$CONF_DIR/server.properties"
}

# The TLS listener's key pair and self-signed certificate (SAN IP:$HOST), made
# once with keytool; the certificate is also written as PEM for clients.
ensure_tls_material() {
  [[ -s "$TLS_DIR/broker.p12" && -s "$TLS_DIR/ca.pem" ]] && return 0
  local keytool="${JAVA_HOME:+$JAVA_HOME/bin/}keytool"
  command -v "$keytool" >/dev/null 2>&1 || die "keytool not found (it comes with Java): needed for the TLS listener"
  mkdir -p "$TLS_DIR"
  rm -f "$TLS_DIR/broker.p12" "$TLS_DIR/ca.pem"
  log "making the TLS listener's self-signed certificate"
  "$keytool" -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 3650 \
    -dname "CN=$HOST" -ext "SAN=IP:$HOST" -keystore "$TLS_DIR/broker.p12" -storetype PKCS12 \
    -storepass "$TLS_STORE_PASSWORD" -keypass "$TLS_STORE_PASSWORD" -noprompt >/dev/null 2>&1 \
    || die "keytool could not make the TLS key store"
  "$keytool" -exportcert -rfc -alias broker -keystore "$TLS_DIR/broker.p12" -storetype PKCS12 \
    -storepass "$TLS_STORE_PASSWORD" -file "$TLS_DIR/ca.pem" >/dev/null 2>&1 \
    || die "keytool could not export the TLS certificate"
}

# A Kafka cluster id: 16 random bytes, base64url without padding, not
# starting with '-' (it would read as an option on a command line).
new_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" != -* ]] && break
  done
  printf '%s' "$id"
}

# Fingerprint of the SCRAM user and password, to notice a changed password.
scram_stamp() { printf '%s\n%s\n' "$SCRAM_USER" "$SCRAM_PASSWORD" | sha256sum | cut -d' ' -f1; }

# Format the data folder once per version (KRaft needs a formatted log dir).
# The SCRAM user is bootstrapped here, so that --scram works on later starts too.
format_storage() {
  local dir
  dir="$(data_dir "$VERSION")"
  [[ -f "$dir/meta.properties" ]] && return 0
  [[ "$SCRAM_PASSWORD" != *[],[]* ]] || die "KAFKA_SCRAM_PASSWORD must not contain ',', '[' or ']'"
  log "formatting ${dir#"$ROOT"/}"
  mkdir -p "$dir"
  run_tool kafka.tools.StorageTool format --ignore-formatted \
    -t "$(new_cluster_id)" -c "$CONF_DIR/server.properties" \
    --add-scram "SCRAM-SHA-256=[name=$SCRAM_USER,iterations=8192,password=$SCRAM_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=$SCRAM_USER,password=$SCRAM_PASSWORD]" \
    || die "formatting the storage failed"
  scram_stamp >"$dir.scram"
}

# After a start with --scram: (re)set the SCRAM credentials if the user or
# the password changed since the data folder was formatted or last updated.
# One call per mechanism: Kafka refuses two changes of a user in one request.
ensure_scram_user() {
  local port="$1" stamp_file mechanism
  stamp_file="$(data_dir "$VERSION").scram"
  [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$(scram_stamp)" ]] && return 0
  [[ "$SCRAM_PASSWORD" != *[],[]* ]] || return 1
  log "setting the SCRAM credentials of user $SCRAM_USER"
  for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
    run_tool kafka.admin.ConfigCommand --bootstrap-server "$HOST:$port" --alter \
      --entity-type users --entity-name "$SCRAM_USER" \
      --add-config "$mechanism=[iterations=8192,password=$SCRAM_PASSWORD]" || return 1
  done
  scram_stamp >"$stamp_file"
}

# Wait until the broker we just started (pid $1) answers on port $2 and has
# logged its start; on failure show the end of its log, kill it and exit.
wait_ready() {
  local pid="$1" port="$2" deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "the broker exited during startup; end of ${LOG_FILE#"$ROOT"/}:"
      tail -n 40 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      exit 1
    fi
    if grep -q 'Kafka Server started' "$LOG_FILE" 2>/dev/null && port_open "$port"; then
      return 0
    fi
    if ((SECONDS >= deadline)); then
      log "the broker is not ready after ${START_TIMEOUT}s; end of ${LOG_FILE#"$ROOT"/}:"
      tail -n 40 "$LOG_FILE" >&2 || true
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$PID_FILE"
      exit 1
    fi
    sleep 0.5
  done
}

# A broker that was already running (maybe still starting in another call):
# wait until its port answers, but never kill it.
wait_port() {
  local pid="$1" port="$2" deadline=$((SECONDS + START_TIMEOUT))
  until port_open "$port"; do
    kill -0 "$pid" 2>/dev/null || die "the broker (pid $pid) exited; see ${LOG_FILE#"$ROOT"/}"
    ((SECONDS < deadline)) || die "the broker (pid $pid) runs but $HOST:$port does not answer"
    sleep 0.5
  done
}

# Print the addresses; KAFKA_BROKERS must stay the last line of stdout.
print_addresses() {
  local scram_port
  scram_port="$(state_get KAFKA_SCRAM_PORT)"
  if [[ -n "$scram_port" ]]; then
    printf 'KAFKA_SCRAM_BROKERS=%s:%s\n' "$HOST" "$scram_port"
  fi
  local tls_port
  tls_port="$(state_get KAFKA_TLS_PORT)"
  if [[ -n "$tls_port" ]]; then
    printf 'KAFKA_TLS_BROKERS=%s:%s\n' "$HOST" "$tls_port"
    printf 'KAFKA_TLS_CA_FILE=%s\n' "$TLS_DIR/ca.pem"
  fi
  printf 'KAFKA_BROKERS=%s:%s\n' "$HOST" "$(state_get KAFKA_PORT)"
}

# ---------------------------------------------------------------- commands

cmd_start() {
  local want_scram="${KAFKA_SCRAM:-0}" pid port ctrl scram="" tls="" fresh t0=$SECONDS
  while (($#)); do
    case "$1" in
      --scram) want_scram=1 ;;
      *) usage ;;
    esac
    shift
  done
  case "$want_scram" in
    "" | 0 | false | no) want_scram=0 ;;
    *) want_scram=1 ;;
  esac

  take_lock

  # Already running: report it (waiting if it is still starting up).
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    local running_version
    running_version="$(state_get KAFKA_VERSION)"
    if [[ -n "${KAFKA_VERSION:-}" && "$KAFKA_VERSION" != "$running_version" ]]; then
      die "Kafka $running_version is running (pid $pid), not $KAFKA_VERSION: run 'scripts/kafka-local.sh stop' first"
    fi
    if ((want_scram)) && [[ -z "$(state_get KAFKA_SCRAM_PORT)" ]]; then
      die "Kafka is running without the SCRAM listener (pid $pid): run 'scripts/kafka-local.sh stop', then start --scram"
    fi
    wait_port "$pid" "$(state_get KAFKA_PORT)"
    log "Kafka $running_version already running (pid $pid)"
    print_addresses
    return 0
  fi

  check_tools
  ensure_jars
  mkdir -p "$CONF_DIR" "$(dirname "$LOG_FILE")" "$STATE_DIR/data"

  # Ports: pinned ones, else last time's if still free, else fresh ones.
  read -r -a fresh <<<"$(free_ports 4)"
  port="$(choose_port "${KAFKA_PORT:-}" "$(state_get KAFKA_PORT)" "${fresh[0]}")"
  ctrl="$(choose_port "" "$(state_get KAFKA_CONTROLLER_PORT)" "${fresh[1]}")"
  if ((want_scram)); then
    scram="$(choose_port "${KAFKA_SCRAM_PORT:-}" "$(state_get KAFKA_SCRAM_PORT)" "${fresh[2]}")"
    tls="$(choose_port "${KAFKA_TLS_PORT:-}" "$(state_get KAFKA_TLS_PORT)" "${fresh[3]}")"
    ensure_tls_material
  fi
  [[ "$port" != "$ctrl" && ( -z "$scram" || ( "$scram" != "$port" && "$scram" != "$ctrl" && "$tls" != "$port" && "$tls" != "$ctrl" && "$tls" != "$scram" ) ) ]] \
    || die "port clash (client $port, controller $ctrl, scram ${scram:-none}, tls ${tls:-none})"

  write_logging_configs
  write_server_config "$port" "$ctrl" "$scram" "$tls"
  format_storage
  cat >"$STATE_FILE" <<EOF
KAFKA_VERSION=$VERSION
KAFKA_PORT=$port
KAFKA_CONTROLLER_PORT=$ctrl
KAFKA_SCRAM_PORT=$scram
KAFKA_TLS_PORT=$tls
EOF

  # Keep the previous run's log, start a fresh one.
  if [[ -f "$LOG_FILE" ]]; then mv -f "$LOG_FILE" "$LOG_FILE.1"; fi
  : >"$LOG_FILE"

  local -a heap jvm_extra
  read -r -a heap <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
  read -r -a jvm_extra <<<"${KAFKA_JVM_OPTS:-}"
  log "starting Kafka $VERSION on $HOST:$port (controller $ctrl${scram:+, SCRAM $scram}${tls:+, SCRAM over TLS $tls})"
  rm -f "$PID_FILE"
  # Detach the broker from this shell (own session, no stdin, not holding
  # the lock's fd 9) and let it write its own pid: `exec` keeps the pid of
  # the inner shell for java.
  local detach=()
  command -v setsid >/dev/null 2>&1 && detach=(setsid) || detach=(nohup)
  # shellcheck disable=SC2016 # expanded by the inner shell on purpose
  "${detach[@]}" bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
    "$JAVA" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true "$(logging_opt broker)" ${jvm_extra[@]+"${jvm_extra[@]}"} \
    -cp "$(classpath "$VERSION")" kafka.Kafka "$CONF_DIR/server.properties" \
    </dev/null >>"$LOG_FILE" 2>&1 9>&- &

  # The pid file appears as soon as the detached shell runs.
  local tries=50
  while [[ ! -s "$PID_FILE" ]] && ((tries-- > 0)); do sleep 0.1; done
  pid="$(tr -dc '0-9' <"$PID_FILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] || die "the broker did not start (see ${LOG_FILE#"$ROOT"/})"

  wait_ready "$pid" "$port"
  if ((want_scram)) && ! ensure_scram_user "$port"; then
    kill -TERM "$pid" 2>/dev/null || true
    die "could not set the SCRAM credentials (no ',', '[' or ']' in KAFKA_SCRAM_PASSWORD); broker stopped"
  fi
  log "Kafka $VERSION ready in $((SECONDS - t0))s (pid $pid, log ${LOG_FILE#"$ROOT"/})"
  print_addresses
}

cmd_stop() {
  local pid deadline
  take_lock
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PID_FILE"
    log "Kafka is not running"
    return 0
  fi
  log "stopping Kafka (pid $pid)..."
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "no clean shutdown after ${STOP_TIMEOUT}s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.3
  done
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_status() {
  local pid port
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    echo "kafka-local: not running"
    return 1
  fi
  port="$(state_get KAFKA_PORT)"
  if ! port_open "$port"; then
    echo "kafka-local: process $pid is alive but $HOST:$port accepts no connections (starting or stuck?)"
    return 1
  fi
  echo "kafka-local: Kafka $(state_get KAFKA_VERSION) running (pid $pid)"
  print_addresses
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  -h | --help | help) usage 0 ;;
  *) usage ;;
esac
