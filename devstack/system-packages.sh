#!/usr/bin/env bash
# Debian packages the dev stack needs: PostgreSQL 15 server, Java 17, Maven, libgomp (implicit),
# Chromium (browser tests, driven by Playwright), npm (the web pages' packages), RabbitMQ (the
# media workers' broker; Erlang comes with it), Redis (the API's shared cache and rate limits),
# wrk (bench/api.py), Prometheus and promtool (the metrics test, the alert rules); and Go, which builds stripe-mock.
set -euo pipefail
missing=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
ldconfig -p | grep -q libgomp.so.1 || missing+=(libgomp1)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v npm >/dev/null || missing+=(npm)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v wrk >/dev/null || missing+=(wrk)
command -v promtool >/dev/null || missing+=(prometheus)
if ! command -v go >/dev/null; then
  echo "Go 1.22 or newer is needed to build stripe-mock (Debian's golang-go is too old)" >&2
  exit 1
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing ${missing[*]}"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
