#!/usr/bin/env bash
# Restarts the router instances of deploy/compose.yaml one at a time; with --build, rebuilds the
# image first and replaces each instance by one on the new image. `docker compose restart` or
# `up --build` alone would stop all three at once.
#
#   deploy/rolling-restart.sh            # e.g. after editing deploy/router.yaml
#   deploy/rolling-restart.sh --build    # an upgrade
#
# Each instance gets SIGTERM and drains (requests in flight finish, within server.drainMs;
# new connections are refused and nginx sends them to the other instances), starts again, and
# the next one is restarted only once this one's /readyz says 200.
#
# Not done here on purpose: marking the server `down` in nginx and reloading it first. A reload
# closes nginx's own idle keep-alive connections to clients, and a client that was sending on
# one gets a reset: measured, that loses more requests than it saves (deploy/README.md).
set -euo pipefail

cd "$(dirname "$0")"
compose=(docker compose -f compose.yaml)
services=(router-1 router-2 router-3)
# compose.yaml stop_grace_period: server.drainMs (120 s) + the 15 s the process keeps + margin.
grace=150
build=0
case "${1:-}" in
  --build) build=1 ;;
  "") ;;
  *) echo "usage: $0 [--build]" >&2; exit 2 ;;
esac

# Waits until the instance's operator listener says ready (200), at most 120 s.
wait_ready() {
  local service=$1
  for _ in $(seq 1 120); do
    if "${compose[@]}" exec -T "$service" node -e \
      "fetch('http://127.0.0.1:9090/readyz').then(r=>process.exit(r.status===200?0:1)).catch(()=>process.exit(1))" 2>/dev/null; then
      return 0
    fi
    sleep 1
  done
  echo "$service is not ready after 120 s: stopping here, the other instances are untouched" >&2
  return 1
}

if [ "$build" = 1 ]; then
  # One image for the three services (llm-router:local).
  "${compose[@]}" build "${services[0]}"
fi

for service in "${services[@]}"; do
  echo "== $service: draining and restarting"
  if [ "$build" = 1 ]; then
    # A new container on the new image; the old one gets SIGTERM and drains first.
    "${compose[@]}" up -d --no-deps --timeout "$grace" "$service"
  else
    "${compose[@]}" restart --timeout "$grace" "$service"
  fi
  wait_ready "$service"
  # nginx set the instance aside for fail_timeout (5 s) when it refused a connection.
  sleep 5
  echo "== $service: ready"
done
echo "== done: ${services[*]} restarted"
