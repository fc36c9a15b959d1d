#!/bin/sh
# One KRaft node listening on 0.0.0.0:$KAFKA_PORT (default 9092) and advertising
# $KAFKA_ADVERTISED_HOST:$KAFKA_PORT. Clients outside the container reach it on the same port
# number, so a test publishes the port as <free host port>:<same port> and sets KAFKA_PORT to it.
set -eu
port="${KAFKA_PORT:-9092}"
host="${KAFKA_ADVERTISED_HOST:-127.0.0.1}"
data=/var/lib/kafka/data
conf=/var/lib/kafka/server.properties
cat >"$conf" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=PLAINTEXT://0.0.0.0:$port,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://$host:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data
auto.create.topics.enable=false
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
delete.topic.enable=true
CONF
# Client-side JIT only for the one-off format; the broker gets the full compiler.
opts="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -Djava.awt.headless=true"
opts="$opts -Dlog4j2.configurationFile=/opt/kafka/log4j2.yaml"
if [ ! -f "$data/meta.properties" ]; then
  # shellcheck disable=SC2086 # $opts is a list of options
  java $opts -XX:TieredStopAtLevel=1 -cp '/opt/kafka/libs/*' kafka.tools.StorageTool format \
    --cluster-id "${KAFKA_CLUSTER_ID:-b3Jkby10ZXN0LWthZmthAA}" --config "$conf" >/dev/null
fi
# shellcheck disable=SC2086
exec java $opts -cp '/opt/kafka/libs/*' kafka.Kafka "$conf"
