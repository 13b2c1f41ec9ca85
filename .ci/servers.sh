#!/usr/bin/env bash
# Real servers for the distributed adapters, on loopback, without Docker:
#   - Apache Kafka, a single-node KRaft broker+controller, from Maven Central's org.apache.kafka:kafka_2.13 jars;
#   - FerretDB 1.24 (the MongoDB wire protocol on SQLite), built with Go from .ci/ferretdb (FerretDB's embeddable
#     package: `go install .../cmd/ferretdb` builds a binary that panics at start, FerretDB#2982).
#
# usage: .ci/servers.sh start [kafka|ferretdb ...]   install on first use, start what is not running, wait until ready,
#                                                     print the export lines
#        .ci/servers.sh stop [--keep-data]            end exactly the processes this instance started, remove its data
#        .ci/servers.sh kill kafka|ferretdb           SIGKILL one server (a crash); `start` brings it back on the same
#                                                     port and data
#        .ci/servers.sh env | status | pid <server>
#
# One instance lives in SERVERS_STATE_DIR (default <repo>/.servers): its ports, PIDs, logs and data. A test can run a
# private instance by giving its own SERVERS_STATE_DIR. Installs are cached in
# ${XDG_CACHE_HOME:-~/.cache}/order-saga-servers. KAFKA_VERSION picks the broker (default 3.9.1; 4.x works too).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${SERVERS_STATE_DIR:-$ROOT/.servers}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/order-saga-servers
KAFKA_VERSION=${KAFKA_VERSION:-3.9.1}
FERRETDB_VERSION=v1.24.2

log() { echo "servers: $*" >&2; }
die() { log "$*"; exit 1; }

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

wait_port() { # host port seconds name
  local deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    alive "$4" || return 1
    sleep 0.3
  done
}

# Ports are chosen once per instance and kept, so a restarted server comes back where its clients look.
ports() {
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  if [ ! -f "$STATE/ports.env" ]; then
    { echo "KAFKA_PORT=$(free_port)"; echo "KAFKA_CONTROLLER_PORT=$(free_port)"; echo "FERRETDB_PORT=$(free_port)"; } >"$STATE/ports.env"
  fi
  # shellcheck disable=SC1091
  . "$STATE/ports.env"
}

# --- Kafka -----------------------------------------------------------------------------------------------------------

install_kafka() {
  KHOME="$CACHE/kafka-$KAFKA_VERSION"
  [ -f "$KHOME/.installed" ] && return 0
  command -v mvn >/dev/null || die "mvn (Maven 3) is needed to fetch Kafka from Maven Central"
  mkdir -p "$KHOME"
  local logdeps=''
  if [ "${KAFKA_VERSION%%.*}" = 3 ]; then
    # 3.x's POM has no slf4j binding (reload4j is compile-only in core).
    logdeps='<dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>1.2.25</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>'
  fi
  cat >"$KHOME/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>local.ci</groupId><artifactId>kafka-broker</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    $logdeps
  </dependencies>
</project>
EOF
  log "fetching Kafka $KAFKA_VERSION from Maven Central (first use only)"
  rm -rf "$KHOME/libs"
  mvn -B -q -f "$KHOME/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KHOME/libs" >&2
  local log4j
  # 3.x has no log4j-api jar: no match is an empty answer, not a failure (set -e, pipefail).
  log4j=$(cd "$KHOME/libs" && { ls log4j-api-*.jar 2>/dev/null || true; } | sed -E 's/log4j-api-(.*)\.jar/\1/' | head -1)
  if [ -n "$log4j" ] && ! ls "$KHOME/libs"/log4j-slf4j-impl-*.jar >/dev/null 2>&1; then
    # 4.x logs through log4j2 but its published POM has no slf4j 1.x binding: without it the broker logs nothing.
    mvn -B -q dependency:copy -Dartifact="org.apache.logging.log4j:log4j-slf4j-impl:$log4j" -DoutputDirectory="$KHOME/libs" >&2
  fi
  printf 'log4j.rootLogger=WARN, out\nlog4j.appender.out=org.apache.log4j.ConsoleAppender\nlog4j.appender.out.layout=org.apache.log4j.PatternLayout\nlog4j.appender.out.layout.ConversionPattern=[%%d] %%p %%m (%%c)%%n\n' >"$KHOME/log4j.properties"
  printf 'rootLogger.level=warn\nrootLogger.appenderRef.out.ref=out\nappender.out.type=Console\nappender.out.name=out\nappender.out.layout.type=PatternLayout\nappender.out.layout.pattern=[%%d] %%p %%m (%%c)%%n\n' >"$KHOME/log4j2.properties"
  touch "$KHOME/.installed"
}

start_kafka() {
  install_kafka
  ports
  alive kafka && return 0
  local dir="$STATE/kafka"
  mkdir -p "$dir/logs"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/logs
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
  local logopt="-Dlog4j2.configurationFile=$KHOME/log4j2.properties"
  [ "${KAFKA_VERSION%%.*}" = 3 ] && logopt="-Dlog4j.configuration=file:$KHOME/log4j.properties"
  local jopts=(-Xms256m -Xmx768m -XX:+UseG1GC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true "$logopt")
  local cp="$KHOME/libs/*"
  if [ ! -f "$dir/logs/meta.properties" ]; then
    java "${jopts[@]}" -cp "$cp" kafka.tools.StorageTool format -t MkU3OEVBNTcwNTJENDM2Qg -c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
      { cat "$dir/format.log" >&2; die "kafka: storage format failed"; }
  fi
  local t0=$SECONDS
  nohup java "${jopts[@]}" -cp "$cp" kafka.Kafka "$dir/server.properties" >>"$dir/kafka.log" 2>&1 &
  echo $! >"$STATE/kafka.pid"
  wait_port 127.0.0.1 "$KAFKA_PORT" 90 kafka || { tail -30 "$dir/kafka.log" >&2; die "kafka $KAFKA_VERSION did not open 127.0.0.1:$KAFKA_PORT"; }
  # Ready means the cluster answers metadata, not just an open socket.
  (cd "$ROOT" && KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" node -e '
    const { Kafka, logLevel } = require("kafkajs");
    const admin = new Kafka({ brokers: [process.env.KAFKA_BROKERS], logLevel: logLevel.NOTHING,
      retry: { retries: 60, initialRetryTime: 200, maxRetryTime: 1000 } }).admin();
    admin.connect().then(() => admin.describeCluster()).then(() => admin.disconnect())
      .catch((e) => { console.error(e.message); process.exit(1); });') || { tail -30 "$dir/kafka.log" >&2; die "kafka did not become ready"; }
  log "kafka $KAFKA_VERSION ready on 127.0.0.1:$KAFKA_PORT in $((SECONDS - t0)) s (pid $(cat "$STATE/kafka.pid"))"
}

# --- FerretDB --------------------------------------------------------------------------------------------------------

install_ferretdb() {
  command -v go >/dev/null || die "go is needed to build FerretDB"
  local key
  key=$(cat "$ROOT/.ci/ferretdb/main.go" "$ROOT/.ci/ferretdb/go.mod" "$ROOT/.ci/ferretdb/go.sum" | sha256sum | cut -c1-12)
  FERRETDB_BIN="$CACHE/ferretdb-$FERRETDB_VERSION-$key/ferretdb"
  [ -x "$FERRETDB_BIN" ] && return 0
  log "building FerretDB $FERRETDB_VERSION with Go (first use only)"
  mkdir -p "$(dirname "$FERRETDB_BIN")"
  (cd "$ROOT/.ci/ferretdb" && go build -trimpath -o "$FERRETDB_BIN.tmp" . >&2) && mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
}

start_ferretdb() {
  install_ferretdb
  ports
  alive ferretdb && return 0
  local dir="$STATE/ferretdb"
  mkdir -p "$dir/data"
  local t0=$SECONDS
  # synchronous(normal): in WAL mode a commit is not fsynced (a checkpoint is), as a standalone mongod acknowledges a
  # w:1 write before its journal is flushed (every 100 ms). At FerretDB's default (full) every commit fsyncs while it
  # holds SQLite's one write lock, and a test server's durability against power loss is not what any test checks.
  FERRETDB_LISTEN="127.0.0.1:$FERRETDB_PORT" FERRETDB_SQLITE_URL="file:$dir/data/?_pragma=synchronous(normal)" nohup "$FERRETDB_BIN" >>"$dir/ferretdb.log" 2>&1 &
  echo $! >"$STATE/ferretdb.pid"
  wait_port 127.0.0.1 "$FERRETDB_PORT" 30 ferretdb || { tail -30 "$dir/ferretdb.log" >&2; die "ferretdb did not open 127.0.0.1:$FERRETDB_PORT"; }
  (cd "$ROOT" && MONGODB_URL="$(mongodb_url)" node -e '
    const { MongoClient } = require("mongodb");
    const c = new MongoClient(process.env.MONGODB_URL, { serverSelectionTimeoutMS: 15000 });
    c.connect().then(() => c.db("admin").command({ ping: 1 })).then(() => c.close())
      .catch((e) => { console.error(e.message); process.exit(1); });') || { tail -30 "$dir/ferretdb.log" >&2; die "ferretdb did not answer ping"; }
  log "ferretdb $FERRETDB_VERSION ready on 127.0.0.1:$FERRETDB_PORT in $((SECONDS - t0)) s (pid $(cat "$STATE/ferretdb.pid"))"
}

mongodb_url() { echo "mongodb://127.0.0.1:$FERRETDB_PORT/?directConnection=true"; }

# --- commands --------------------------------------------------------------------------------------------------------

print_env() {
  [ -f "$STATE/ports.env" ] || die "no servers in $STATE (run start first)"
  ports
  if alive kafka; then echo "export KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"; fi
  if alive ferretdb; then
    echo "export MONGODB_URL='$(mongodb_url)'"
    # FerretDB is not MongoDB: the document-store suite names (and skips, saying why) what it lacks.
    echo "export MONGODB_SERVER=ferretdb"
  fi
}

stop_one() {
  local name=$1 pid
  [ -f "$STATE/$name.pid" ] || return 0
  pid=$(cat "$STATE/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { log "$name (pid $pid) ignored SIGTERM for 20 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$STATE/$name.pid"
  log "$name stopped (pid $pid)"
}

cmd=${1:-}
shift || true
case "$cmd" in
  start)
    wanted=("$@")
    [ ${#wanted[@]} -gt 0 ] || wanted=(kafka ferretdb)
    for s in "${wanted[@]}"; do
      case "$s" in
        kafka) start_kafka ;;
        ferretdb | mongodb) start_ferretdb ;;
        *) die "unknown server $s (kafka, ferretdb)" ;;
      esac
    done
    print_env
    ;;
  stop)
    stop_one kafka
    stop_one ferretdb
    if [ "${1:-}" != --keep-data ]; then rm -rf "$STATE"; fi
    ;;
  kill)
    [ -f "$STATE/${1:-}.pid" ] || die "no ${1:-} running in $STATE"
    kill -KILL "$(cat "$STATE/$1.pid")" 2>/dev/null || true
    rm -f "$STATE/$1.pid"
    log "$1 killed (SIGKILL); start brings it back on the same port and data"
    ;;
  env) print_env ;;
  pid) alive "${1:-}" && cat "$STATE/$1.pid" || die "no ${1:-} running in $STATE" ;;
  status)
    for s in kafka ferretdb; do if alive $s; then echo "$s running (pid $(cat "$STATE/$s.pid"))"; else echo "$s stopped"; fi; done
    ;;
  *) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; [ -z "$cmd" ] || exit 2 ;;
esac
