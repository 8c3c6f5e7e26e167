#!/usr/bin/env bash
# What `npm test` needs besides Node and the npm packages, checked before anything runs: one line
# naming what is missing and how to get it, exit 1; silent when all is there.
#   java, mvn            the integration tests' Apache Kafka broker (scripts/kafka-local.sh)
#   promtool, prometheus the alert rules and dashboards tests (Debian's prometheus package)
#   chromium             the HTML report test (headless Chromium)
#   systemd-analyze      the systemd unit's check (Debian's systemd package)
#   hadolint             the Dockerfile's lint (from PyPI into .tools/bin)
# `bash scripts/install-deps.sh` installs them from Debian packages (what .ci/run does).
# With --packages it prints the Debian packages of the missing tools instead (for install-deps.sh).
set -uo pipefail

missing=()
package=()
# The Prometheus tests also look in /usr/bin (test/helpers/prometheus.ts); the others run what PATH finds.
have() { command -v "$1" >/dev/null 2>&1 || { [ "${2:-}" = usr-bin ] && [ -x "/usr/bin/$1" ]; }; }
need() { # need <command> <Debian package> [usr-bin]
  if ! have "$1" "${3:-}"; then
    missing+=("$1")
    case " ${package[*]-} " in *" $2 "*) ;; *) package+=("$2") ;; esac
  fi
}
need java openjdk-17-jre-headless
need mvn maven
need promtool prometheus usr-bin
need prometheus prometheus usr-bin
need chromium chromium
need systemd-analyze systemd
# hadolint (the Dockerfile's linter) comes from PyPI into .tools/bin, by install-deps.sh.
tools="${BASH_SOURCE[0]%/*}/../.tools/bin"
if ! command -v hadolint >/dev/null 2>&1 && [ ! -x "$tools/hadolint" ]; then
  missing+=(hadolint)
fi

if [ "${1:-}" = --packages ]; then
  echo "${package[*]-}"
  exit 0
fi
if [ "${#missing[@]}" -gt 0 ]; then
  list=$(IFS=,; echo "${missing[*]}")
  if [ "${#package[@]}" -gt 0 ]; then how="apt-get install ${package[*]} (or: bash scripts/install-deps.sh)"; else how="bash scripts/install-deps.sh"; fi
  echo "npm test needs ${list//,/, }, not found on PATH: $how" >&2
  exit 1
fi
