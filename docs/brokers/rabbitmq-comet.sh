#!/bin/sh
# Comet's accounts on RabbitMQ's MQTT plugin, in a virtual host of their own: docs/operations.md
# explains it; test/bridge/broker-acl.test.ts runs it. Run it once, as an administrator, on a node
# of the broker, the passwords in the environment:
#   INSTANCES_PASSWORD=... BILLING_PASSWORD=... sh rabbitmq-comet.sh
# MQTT clients then sign in as comet:<user> (the virtual host, then the user name), or as <user>
# alone where rabbitmq.conf sets mqtt.vhost = comet. An MQTT topic is a routing key on amq.topic
# with "/" as "." (comet/events -> comet.events); a subscription is a queue named
# mqtt-subscription-<client id>qos0 (or qos1), bound to amq.topic.
set -eu
vhost=comet

rabbitmqctl add_vhost "$vhost"

# Comet instances (mqtt.username comet:comet on every instance): publish and read every Comet
# topic, comet/events, comet/events/..., comet/user-activity, comet/presence and comet/servers/...
# (statuses, last wills and views, retained; the cluster-wide DumpSession and Disconnect), and the
# revocations, io.goeasy/revoked/<uid> (the namespace as it is: its "." stays "." in a routing key;
# change it with your namespace). An instance's client id is comet-<16 hex digits>, so its queues
# are mqtt-subscription-comet-...
rabbitmqctl add_user comet "$INSTANCES_PASSWORD"
rabbitmqctl set_permissions -p "$vhost" comet \
  '^mqtt-subscription-comet-.*$' \
  '^(amq\.topic|mqtt-subscription-comet-.*)$' \
  '^(amq\.topic|mqtt-subscription-comet-.*)$'
rabbitmqctl set_topic_permissions -p "$vhost" comet amq.topic \
  '^(comet\.(events|events\..+|user-activity|presence|servers\..+)|io\.goeasy\.revoked\..+)$' \
  '^(comet\.(events|events\..+|user-activity|presence|servers\..+)|io\.goeasy\.revoked\..+)$'

# A backend (comet:billing): publishes Events (comet/events, comet/events/...), reads activity and
# presence (comet/user-activity, comet/presence), and never touches an instance's queue: its own subscription needs a
# client id that does not start with comet-. Copy this block for each backend account.
rabbitmqctl add_user billing "$BILLING_PASSWORD"
rabbitmqctl set_permissions -p "$vhost" billing \
  '^mqtt-subscription-(?!comet-).*$' \
  '^(amq\.topic|mqtt-subscription-(?!comet-).*)$' \
  '^(amq\.topic|mqtt-subscription-(?!comet-).*)$'
rabbitmqctl set_topic_permissions -p "$vhost" billing amq.topic \
  '^comet\.(events|events\..+)$' \
  '^comet\.(user-activity|presence)$'
