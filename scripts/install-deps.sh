#!/usr/bin/env bash
# Installs from Debian packages what `npm test` needs besides Node and the npm packages (see
# scripts/check-tools.sh): Java and Maven for the Kafka broker, Prometheus, Chromium. Uses sudo
# when not root. Installs nothing that is already there.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1; }
have java || missing+=(openjdk-17-jre-headless)
have mvn || missing+=(maven)
{ { have promtool || [ -x /usr/bin/promtool ]; } && { have prometheus || [ -x /usr/bin/prometheus ]; }; } || missing+=(prometheus)
have chromium || missing+=(chromium)
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: nothing to install" >&2
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
