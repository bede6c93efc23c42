#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (real servers the tests start themselves), idempotently.
#
# Each entry of PACKAGES is "<debian package>:<command it provides>". A package counts as present when its
# command is on PATH or dpkg reports it installed; only then is nothing done (no apt-get update, no root).
# Otherwise, as root: `apt-get update` once, then one non-interactive install of everything missing.
#
# Services: the tests start every server themselves on a free 127.0.0.1 port. Debian packages such as
# prometheus-pushgateway enable and start a system service (the pushgateway would take port 9091), so the
# install runs under a policy-rc.d that forbids starting services (unless the machine already has one), and
# any such service found running or enabled afterwards is stopped and disabled.
set -euo pipefail

# Add more packages here, e.g. "prometheus:prometheus" "etcd-server:etcd".
PACKAGES=(
  "prometheus-pushgateway:prometheus-pushgateway"
  # The Portkey gateway (workloads/gateway) runs on Node.js; machines of this kind ship node and npm,
  # Debian's packages are the fallback where they are missing.
  "nodejs:node"
  "npm:npm"
  # etcd for the kube-apiserver the operator tests start (tests/support/kube_apiserver.py); openssl makes
  # its certs.
  "etcd-server:etcd"
  "openssl:openssl"
  # kubectl, for the operator tests; machines of this kind ship one, Debian's 1.20 client is the fallback.
  "kubernetes-client:kubectl"
  # promtool, for the alert-rule tests (tests/integration/test_alert_rules.py); Debian ships it in prometheus.
  "prometheus:promtool"
)
# System services (by service name) that the packages above install and that must not be left running.
SERVICES=(
  "prometheus-pushgateway"
  # From etcd-server: it would listen on 127.0.0.1:2379/2380.
  "etcd"
  # From prometheus (installed for promtool): the server would listen on port 9090.
  "prometheus"
)

say() { echo "install-system-deps: $*" >&2; }

is_installed() {
  local package="${1%%:*}" command="${1#*:}"
  command -v "$command" >/dev/null 2>&1 && return 0
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)" = "installed" ]
}

missing=()
for entry in "${PACKAGES[@]}"; do
  is_installed "$entry" || missing+=("${entry%%:*}")
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  say "missing system packages: ${missing[*]}"
  say "run this script as root (or: sudo apt-get install --no-install-recommends ${missing[*]})"
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  say "missing system packages: ${missing[*]}, and apt-get is not available (this script expects Debian)"
  exit 1
fi

# Forbid service starts during the install unless the machine already decides that itself.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# Temporary, from faro scripts/install-system-deps.sh: start no services.\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi

say "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq; then
  say "apt-get update failed; cannot install ${missing[*]}"
  exit 1
fi
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  say "apt-get install failed for: ${missing[*]}"
  exit 1
fi

# Leave no system service behind: stop it if it runs, and disable it for the next boot (systemd hosts
# enable units at install; sysvinit hosts get rc links; `systemctl disable` also works while systemd is down).
for service in "${SERVICES[@]}"; do
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now "$service" >/dev/null 2>&1 || true
    continue
  fi
  if [ -x "/etc/init.d/$service" ]; then
    "/etc/init.d/$service" stop >/dev/null 2>&1 || true
  fi
  if command -v update-rc.d >/dev/null 2>&1 && [ -e "/etc/init.d/$service" ]; then
    update-rc.d "$service" disable >/dev/null 2>&1 || true
  fi
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable "$service" >/dev/null 2>&1 || true
  fi
done

for entry in "${PACKAGES[@]}"; do
  if ! is_installed "$entry"; then
    say "${entry%%:*} is still missing after apt-get install"
    exit 1
  fi
done
say "installed: ${missing[*]}"
