#!/usr/bin/env bash
# Make sure a RabbitMQ broker answers on 127.0.0.1:5672 (the integration and e2e tiers use it).
# Installs Debian's rabbitmq-server if it is missing and starts it if it is down.
set -euo pipefail

if ! command -v rabbitmqctl >/dev/null; then
  echo ">> installing rabbitmq-server"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
fi
if ! rabbitmqctl -q status >/dev/null 2>&1; then
  echo ">> starting rabbitmq-server"
  rabbitmq-server -detached >/dev/null 2>&1 || true
fi
timeout 180 rabbitmqctl -q await_startup
