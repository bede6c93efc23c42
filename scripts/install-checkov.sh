#!/usr/bin/env bash
# Installs checkov (the infrastructure-as-code scanner run by tests/integration/test_checkov.py) into a
# virtualenv of its own, idempotently, and prints the path of the `checkov` executable.
#
# checkov pins many libraries (boto3, pydantic, packaging, ...) to exact versions that would fight the
# project's .venv, so it is installed apart, cached per version (the cache convention of
# scripts/build-kube-apiserver.sh):
#   ${FARO_CACHE_DIR:-$HOME/.cache/faro}/checkov-<version>/bin/checkov
# The test looks there, or at $FARO_CHECKOV when that is set.
#
# Nothing is done when that folder holds a finished install (its stamp file exists). Otherwise the virtualenv
# is built in a temporary folder next to it, checked, and renamed into place as the last step, so a killed
# install never leaves a half-made virtualenv under the final name.
#
# Progress goes to stderr; stdout gets only the executable's path.
set -euo pipefail

CHECKOV_VERSION=3.3.30
CACHE_ROOT="${FARO_CACHE_DIR:-$HOME/.cache/faro}"
VENV_DIR="$CACHE_ROOT/checkov-${CHECKOV_VERSION}"
CHECKOV="$VENV_DIR/bin/checkov"
# Written last into a finished install.
STAMP_NAME=.faro-installed
PYTHON="${PYTHON:-python3}"

say() { echo "install-checkov: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

installed() { [ -f "$VENV_DIR/$STAMP_NAME" ] && [ -x "$CHECKOV" ]; }

if installed; then
  echo "$CHECKOV"
  exit 0
fi

mkdir -p "$CACHE_ROOT"
# One install at a time per cache folder; a second caller waits, then finds the finished install.
exec 9>"$CACHE_ROOT/.checkov-${CHECKOV_VERSION}.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
  if installed; then
    say "installed meanwhile by another process"
    echo "$CHECKOV"
    exit 0
  fi
  # Holding the lock: any partial folder is left from a killed install.
  rm -rf "$CACHE_ROOT/.checkov-${CHECKOV_VERSION}.partial."*
fi

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON is not on PATH (set PYTHON to a Python >= 3.9)"
say "installing checkov==$CHECKOV_VERSION into $VENV_DIR (a virtualenv of its own; a minute or two)"
started=$SECONDS

partial="$(mktemp -d "$CACHE_ROOT/.checkov-${CHECKOV_VERSION}.partial.XXXXXX")"
cleanup() { rm -rf "$partial"; }
trap cleanup EXIT

"$PYTHON" -m venv "$partial" || die "$PYTHON -m venv failed"
# pip's own settings (index, mirrors, certificates) apply; nothing is written into the repository.
"$partial/bin/python" -m pip install --quiet "checkov==${CHECKOV_VERSION}" >&2 ||
  die "pip install checkov==${CHECKOV_VERSION} failed"

# A virtualenv records its absolute path: in the #! line of every console script (bin/checkov among them)
# and in the activate scripts. Point them at the final folder before the rename.
grep -rlF --null "$partial" "$partial/bin" | xargs -0 -r sed -i "s|$partial|$VENV_DIR|g"

# checkov must start and report the pinned version (offline: no Bridgecrew / Prisma Cloud calls).
reported="$(BC_SKIP_MAPPING=TRUE "$partial/bin/python" -m checkov.main --version 2>/dev/null | tail -n1)" ||
  die "the installed checkov does not start"
[ "$reported" = "$CHECKOV_VERSION" ] || die "the installed checkov reports '$reported', expected $CHECKOV_VERSION"
echo "checkov $CHECKOV_VERSION installed $(date -u +%Y-%m-%dT%H:%M:%SZ) with $("$PYTHON" --version 2>&1)" \
  >"$partial/$STAMP_NAME"

# The final folder may hold an unfinished install (no stamp) from an older version of this script.
rm -rf "$VENV_DIR"
mv "$partial" "$VENV_DIR"
installed || die "$CHECKOV is missing after the install"
say "installed checkov $CHECKOV_VERSION in $((SECONDS - started)) s: $CHECKOV"
echo "$CHECKOV"
