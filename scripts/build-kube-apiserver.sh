#!/usr/bin/env bash
# Provides a kube-apiserver binary for the operator's integration tests, idempotently, and prints its path.
#
# No package registry ships kube-apiserver, so it is built from Debian bookworm's source package `kubernetes`
# (Kubernetes 1.20.2 with all Go dependencies vendored): the build is offline, with Debian's Go (1.19).
#
# Order of preference (the first that exists is printed and nothing else is done):
#   1. $KUBEBUILDER_ASSETS/kube-apiserver (envtest convention: a folder with kube-apiserver and etcd);
#   2. the cached build: ${FARO_CACHE_DIR:-$HOME/.cache/faro}/kube-apiserver-1.20.2/kube-apiserver;
#   3. a new build, cached there. As root (apt): adds a deb-src entry for bookworm under
#      /etc/apt/sources.list.d/ when no deb-src for `kubernetes` 1.20.2 is configured, installs the build
#      dependencies, `apt-get source kubernetes` into a temporary folder, replaces the vendored
#      github.com/modern-go/reflect2 v1.0.1 (it crashes under Go >= 1.18 as soon as a custom resource is
#      created) and github.com/json-iterator/go with Debian's packaged copies, runs
#      `make WHAT=cmd/kube-apiserver`, copies the binary into the cache (temporary name, then rename) and
#      removes the temporary folder. About 4-5 minutes on 2 cores, under 1.5 GB of RAM, 1.7 GB of disk in
#      $TMPDIR; the cached binary is 106 MB.
#
# Progress goes to stderr; stdout gets only the binary's path.
set -euo pipefail

KUBE_VERSION=1.20.2
SOURCE_SUITE=bookworm
CACHE_DIR="${FARO_CACHE_DIR:-$HOME/.cache/faro}/kube-apiserver-${KUBE_VERSION}"
BINARY="$CACHE_DIR/kube-apiserver"
# Debian's Go first: a newer Go on PATH (e.g. /usr/local/go) may not build this old tree.
DEBIAN_GO_DIR=/usr/lib/go/bin
# Explicit build dependencies (not `apt-get build-dep`, so the set is fixed): Go, the two Go libraries that
# replace the vendored copies, dpkg-source to unpack the source package, and what Kubernetes' make uses.
BUILD_PACKAGES=(
  golang-go
  golang-github-modern-go-reflect2-dev
  golang-github-json-iterator-go-dev
  dpkg-dev
  xz-utils
  make
  rsync
)
# Vendored Go packages replaced by Debian's copies: "<Go import path>:<Debian package>" (the package installs
# the library's source under /usr/share/gocode/src/<Go import path>).
VENDOR_SWAPS=(
  "github.com/modern-go/reflect2:golang-github-modern-go-reflect2-dev"
  "github.com/json-iterator/go:golang-github-json-iterator-go-dev"
)

say() { echo "build-kube-apiserver: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

usable_binary() { [ -f "$1" ] && [ -x "$1" ]; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  if usable_binary "$KUBEBUILDER_ASSETS/kube-apiserver"; then
    echo "$KUBEBUILDER_ASSETS/kube-apiserver"
    exit 0
  fi
  say "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no executable kube-apiserver; using the cached build"
fi
if usable_binary "$BINARY"; then
  echo "$BINARY"
  exit 0
fi

# --- A build is needed. ---

is_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

# The newest version of the `kubernetes` source package that apt knows and that is Kubernetes 1.20.2
# (bookworm's is "1.20.5+really1.20.2-1.1+deb12u1"); empty when no deb-src entry provides it.
source_version() {
  apt-cache showsrc kubernetes 2>/dev/null |
    awk '/^Package: /{pkg=$2} /^Version: /{if (pkg == "kubernetes") print $2}' |
    grep -E "(^|really)${KUBE_VERSION//./\\.}-" | sort -V | tail -n1 || true
}

# The mirror URI and signing keyring this machine's apt uses for Debian's bookworm suite, as "uri keyring"
# (keyring may be empty). deb822 files (*.sources) first, then one-line sources.list entries.
debian_mirror() {
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    awk -v suite="$SOURCE_SUITE" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uri != "") {
          print uri, keyring; found = 1; exit
        }
        types = ""; suites = ""; uri = ""; keyring = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "types:" { $1 = ""; types = substr($0, 2) }
      tolower($1) == "suites:" { $1 = ""; suites = substr($0, 2) }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "signed-by:" { keyring = $2 }
      END { if (!found) flush() }
    ' "$file" | head -n1
  done
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    # "deb [options] uri suite components": drop the options, keep uri when the suite matches.
    sed -E -n 's/^deb[ \t]+(\[[^]]*\][ \t]+)?([^ \t]+)[ \t]+([^ \t]+).*/\2 \3/p' "$file" |
      awk -v suite="$SOURCE_SUITE" '$2 == suite { print $1; exit }'
  done
}

# Adds a deb-src entry for bookworm's main component, in the format this machine's apt sources use.
add_deb_src() {
  local mirror uri keyring target
  mirror="$(debian_mirror | head -n1)"
  uri="${mirror%% *}"
  keyring=""
  [ "$mirror" != "$uri" ] && keyring="${mirror#* }"
  uri="${uri:-http://deb.debian.org/debian}"
  if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
    target=/etc/apt/sources.list.d/faro-debian-src.sources
    {
      echo "# From faro scripts/build-kube-apiserver.sh: the source of bookworm's kubernetes package."
      echo "Types: deb-src"
      echo "URIs: $uri"
      echo "Suites: $SOURCE_SUITE"
      echo "Components: main"
      if [ -n "$keyring" ]; then echo "Signed-By: $keyring"; fi
    } >"$target"
  else
    target=/etc/apt/sources.list.d/faro-debian-src.list
    {
      echo "# From faro scripts/build-kube-apiserver.sh: the source of bookworm's kubernetes package."
      if [ -n "$keyring" ]; then
        echo "deb-src [signed-by=$keyring] $uri $SOURCE_SUITE main"
      else
        echo "deb-src $uri $SOURCE_SUITE main"
      fi
    } >"$target"
  fi
  say "added $target (deb-src $uri $SOURCE_SUITE main)"
}

say "no kube-apiserver in ${KUBEBUILDER_ASSETS:+\$KUBEBUILDER_ASSETS or }$CACHE_DIR: building Kubernetes $KUBE_VERSION from Debian's source package (about 5 minutes)"
command -v apt-get >/dev/null 2>&1 || die "apt-get is not available (this build expects Debian); or set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd"

mkdir -p "$CACHE_DIR"
# One build at a time per cache folder; a second caller waits, then finds the binary.
exec 9>"$CACHE_DIR/.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
  if usable_binary "$BINARY"; then
    say "built meanwhile by another process"
    echo "$BINARY"
    exit 0
  fi
fi

missing=()
for package in "${BUILD_PACKAGES[@]}"; do
  is_installed "$package" || missing+=("$package")
done
version="$(source_version)"

if [ "${#missing[@]}" -gt 0 ] || [ -z "$version" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    if [ "${#missing[@]}" -gt 0 ]; then say "missing build packages: ${missing[*]}"; fi
    if [ -z "$version" ]; then say "no deb-src entry provides the kubernetes $KUBE_VERSION source package"; fi
    die "run this script as root once (it uses apt), or set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd binaries"
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$version" ]; then
    add_deb_src
  fi
  say "apt-get update"
  apt-get update -qq || die "apt-get update failed"
  if [ -z "$version" ]; then
    version="$(source_version)"
    [ -n "$version" ] || die "apt still knows no kubernetes $KUBE_VERSION source package (is this Debian $SOURCE_SUITE with deb.debian.org reachable?)"
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing build packages: ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install failed for: ${missing[*]}"
  fi
fi

go_bin="$DEBIAN_GO_DIR/go"
[ -x "$go_bin" ] || die "$go_bin is missing although golang-go is installed"
go_version="$("$go_bin" version)"
say "Go: $go_version"
say "source: Debian package kubernetes $version"

started=$SECONDS
build_dir="$(mktemp -d "${TMPDIR:-/tmp}/faro-kube-apiserver-build.XXXXXX")"
tmp_binary="$CACHE_DIR/.kube-apiserver.partial.$$"
cleanup() {
  rm -rf "$build_dir"
  rm -f "$tmp_binary"
}
trap cleanup EXIT

say "downloading and unpacking the source into $build_dir"
# apt downloads as the unprivileged _apt user when it can write the folder (no "unsandboxed" warning).
if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then
  chown _apt "$build_dir"
fi
fetch_source() { (cd "$build_dir" && apt-get source -qq "kubernetes=$version" >/dev/null); }
if ! fetch_source; then
  # A stale package index can name files the mirror no longer has: refresh it once (as root) and retry.
  [ "$(id -u)" -eq 0 ] || die "apt-get source kubernetes=$version failed"
  say "apt-get source failed; refreshing the package index and retrying"
  apt-get update -qq || die "apt-get update failed"
  version="$(source_version)"
  [ -n "$version" ] || die "apt knows no kubernetes $KUBE_VERSION source package any more"
  find "$build_dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  fetch_source || die "apt-get source kubernetes=$version failed"
fi
src_dir="$(find "$build_dir" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)"
[ -n "$src_dir" ] && [ -f "$src_dir/Makefile" ] || die "the unpacked source has no Makefile in $build_dir"

for swap in "${VENDOR_SWAPS[@]}"; do
  vendor_path="${swap%%:*}"
  package="${swap#*:}"
  replacement="/usr/share/gocode/src/$vendor_path"
  [ -d "$replacement" ] || die "$replacement is missing (is $package installed?)"
  [ -d "$src_dir/vendor/$vendor_path" ] || die "the source has no vendor/$vendor_path to replace"
  # Library files only: no tests or test data (they may import packages that are not vendored).
  rsync -a --copy-links --delete --exclude '*_test.go' --exclude 'testdata/' \
    "$replacement/" "$src_dir/vendor/$vendor_path/"
  say "replaced vendor/$vendor_path with Debian's copy ($package $(dpkg-query -W -f='${Version}' "$package"))"
done

say "make WHAT=cmd/kube-apiserver (generated files, then the binary)"
(
  cd "$src_dir"
  # Nothing from the caller's Go or make settings (`make -j`, `make -k` of the Makefile calling this).
  unset GOFLAGS GOROOT GOBIN GOPATH MAKEFLAGS MFLAGS MAKELEVEL
  export PATH="$DEBIAN_GO_DIR:$PATH"
  export CGO_ENABLED=0 GOCACHE="$build_dir/go-cache" GOPROXY=off GOTOOLCHAIN=local
  make WHAT=cmd/kube-apiserver >&2
) || die "make WHAT=cmd/kube-apiserver failed (see the output above)"

built="$src_dir/_output/bin/kube-apiserver"
usable_binary "$built" || die "the build produced no $built"
cp "$built" "$tmp_binary"
chmod 0755 "$tmp_binary"
reported="$("$tmp_binary" --version 2>&1)" || die "the built binary does not run: $reported"
[ "$reported" = "Kubernetes v$KUBE_VERSION" ] || die "the built binary reports '$reported', expected 'Kubernetes v$KUBE_VERSION'"
{
  echo "binary: kube-apiserver ($reported)"
  echo "source: Debian source package kubernetes $version"
  echo "go: $go_version"
  for swap in "${VENDOR_SWAPS[@]}"; do
    echo "vendor replaced: ${swap%%:*} by Debian's ${swap#*:} $(dpkg-query -W -f='${Version}' "${swap#*:}")"
  done
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - started)) s"
} >"$CACHE_DIR/BUILD-INFO"
mv -f "$tmp_binary" "$BINARY"
say "built $reported in $((SECONDS - started)) s: $BINARY"
echo "$BINARY"
