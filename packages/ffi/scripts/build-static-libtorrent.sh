#!/usr/bin/env bash
# Builds a static, position-independent libtorrent-rasterbar from Debian's source package (the
# same upstream version as the installed headers, 2.0.8) and installs it into a cache prefix
# outside the repository, for the self-contained prebuild (scripts/prebuild.sh, binding.gyp's
# static branch).
#
#   bash packages/ffi/scripts/build-static-libtorrent.sh      # prints the prefix on its last line
#
# Environment:
#   CHUNKTORRENT_LIBTORRENT_STATIC_PREFIX  install prefix
#       (default ${XDG_CACHE_HOME:-$HOME/.cache}/chunktorrent/libtorrent-static-2.0.8)
#   CHUNKTORRENT_BUILD_JOBS                parallel compile jobs (default: nproc)
#   CHUNKTORRENT_KEEP_BUILD_DIR=1          keep the source/build directory after success
#
# Idempotent: when the prefix holds lib/libtorrent-rasterbar.a and a stamp file written for the
# same configuration, it does nothing but print the prefix. Concurrent runs are serialised with
# a lock file beside the prefix. The source comes from apt with a private sources list and private
# lists directory: the system's apt configuration and lists are not touched. Needs root only to
# install missing build tools (libssl-dev, dpkg-dev, cmake, g++) with apt-get.
set -euo pipefail

LT_VERSION=2.0.8
# Must mirror how Debian configured its shared library (same ABI: deprecated functions on), minus
# the shared part. Changing this list changes the stamp and forces a rebuild.
CMAKE_OPTIONS=(
  -DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=OFF
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON
  -DCMAKE_INSTALL_LIBDIR=lib
  -Ddeprecated-functions=ON
  -Dencryption=ON
  -Ddht=ON
  -Di2p=ON
  -Dlogging=ON
  -Dpython-bindings=OFF
  -Dpython-egg-info=OFF
  -Dbuild_tests=OFF
  -Dbuild_examples=OFF
  -Dbuild_tools=OFF
)
STAMP_NAME=.chunktorrent-static-stamp

log() { printf '[build-static-libtorrent] %s\n' "$*" >&2; }
die() { printf '[build-static-libtorrent] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] || die "only Linux is supported (got $(uname -s))"
multiarch=$(gcc -print-multiarch 2>/dev/null || true)
multiarch=${multiarch:-x86_64-linux-gnu}

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/chunktorrent"
prefix="${CHUNKTORRENT_LIBTORRENT_STATIC_PREFIX:-$cache_root/libtorrent-static-$LT_VERSION}"
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
prefix="${prefix%/}"
jobs="${CHUNKTORRENT_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"

# The compiler's version (not its Debian revision: a security update must not force a rebuild).
cxx_id=gcc
if c++ --version 2>/dev/null | grep -qi clang; then cxx_id=clang; fi
cxx_version="$cxx_id $(c++ -dumpfullversion 2>/dev/null || c++ -dumpversion 2>/dev/null || echo unknown)"
stamp_content=$(printf 'libtorrent-rasterbar %s\ncompiler %s\narch %s\ncmake %s\n' \
  "$LT_VERSION" "$cxx_version" "$multiarch" "${CMAKE_OPTIONS[*]}")

is_done() {
  [ -f "$prefix/lib/libtorrent-rasterbar.a" ] && [ -f "$prefix/$STAMP_NAME" ] &&
    [ "$(sed '/^source /d; /^built /d' "$prefix/$STAMP_NAME")" = "$stamp_content" ]
}

if is_done; then
  log "up to date: $prefix"
  echo "$prefix"
  exit 0
fi

mkdir -p "$(dirname "$prefix")"
# Serialise concurrent builds (e.g. two test runs, or CI jobs sharing a cache directory).
exec 9>"$prefix.lock"
if command -v flock >/dev/null; then
  log "waiting for lock $prefix.lock"
  flock 9
fi
if is_done; then
  log "built by a concurrent run: $prefix"
  echo "$prefix"
  exit 0
fi

# --- Build tools --------------------------------------------------------------------------------
missing=()
[ -f "/usr/lib/$multiarch/libssl.a" ] && [ -f "/usr/lib/$multiarch/libcrypto.a" ] || missing+=(libssl-dev)
command -v dpkg-source >/dev/null || missing+=(dpkg-dev)
command -v cmake >/dev/null || missing+=(cmake)
command -v c++ >/dev/null || missing+=(g++)
[ -f /usr/include/boost/version.hpp ] || missing+=(libboost-dev)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing build dependencies: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})"
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi

# --- Fetch the Debian source package with a private apt configuration ----------------------------
work=$(mktemp -d "$cache_root/libtorrent-build.XXXXXX")
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    log "failed (exit $rc); build directory kept for inspection: $work"
  elif [ "${CHUNKTORRENT_KEEP_BUILD_DIR:-0}" = 1 ]; then
    log "build directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
start=$(date +%s)

# The mirror this machine already uses for Debian (first deb.debian.org-style URI of the "debian"
# archive in the system's sources), else the public one.
mirror=$(
  { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n'
    sed -n 's/^deb\(-src\)\?[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\3/p' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
  } | grep -E '/debian/?$' | head -n1 || true)
mirror="${CHUNKTORRENT_DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}"
suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
suite="${suite:-bookworm}"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

aptdir="$work/apt"
mkdir -p "$aptdir/sources.list.d" "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
{
  echo "Types: deb-src"
  echo "URIs: $mirror"
  echo "Suites: $suite"
  echo "Components: main"
  [ -f "$keyring" ] && echo "Signed-By: $keyring"
} >"$aptdir/sources.list.d/chunktorrent-src.sources"
apt_opts=(
  -o "Dir::Etc::SourceList=/dev/null"
  -o "Dir::Etc::SourceParts=$aptdir/sources.list.d"
  -o "Dir::State::Lists=$aptdir/lists"
  -o "Dir::Cache=$aptdir/cache"
  -o "Dir::Cache::pkgcache="
  -o "Dir::Cache::srcpkgcache="
  # The private directory is not readable by apt's '_apt' sandbox user: download as ourselves.
  -o "APT::Sandbox::User=$(id -un)"
)
log "fetching source index from $mirror $suite (private apt lists in $aptdir)"
apt-get "${apt_opts[@]}" update -qq >&2

# Pin the source version of the installed headers when it is the expected upstream version.
src_version=$(dpkg-query -W -f='${source:Version}' libtorrent-rasterbar-dev 2>/dev/null || true)
src_spec=libtorrent-rasterbar
case "$src_version" in "$LT_VERSION"-*) src_spec="libtorrent-rasterbar=$src_version" ;; esac
log "downloading $src_spec"
(cd "$work" && apt-get "${apt_opts[@]}" source --download-only "$src_spec" >&2)
dsc=$(ls "$work"/libtorrent-rasterbar_*.dsc | head -n1)
[ -n "$dsc" ] || die "apt-get source downloaded no .dsc"
got_version=$(sed -n 's/^Version:[[:space:]]*//p' "$dsc" | head -n1)
case "$got_version" in
  "$LT_VERSION"-*) ;;
  *) die "source package version $got_version does not match the expected upstream $LT_VERSION" ;;
esac
# apt verified the files against the signed Sources index; dpkg-source checks their checksums
# again (and warns if it cannot verify the .dsc's own signature without debian-keyring).
dpkg-source -x "$dsc" "$work/src" >&2

# --- Build and install --------------------------------------------------------------------------
log "configuring ($got_version, ${CMAKE_OPTIONS[*]})"
cmake -S "$work/src" -B "$work/build" "${generator[@]}" -DCMAKE_INSTALL_PREFIX="$prefix" \
  "${CMAKE_OPTIONS[@]}" >&2
log "compiling with $jobs jobs"
cmake --build "$work/build" --parallel "$jobs" >&2
# Install into a staging directory, then move it into place so an interrupted build never leaves
# a half-installed prefix that looks complete.
DESTDIR="$work/stage" cmake --install "$work/build" >/dev/null
staged="$work/stage$prefix"
[ -f "$staged/lib/libtorrent-rasterbar.a" ] || die "install produced no lib/libtorrent-rasterbar.a"
{
  echo "$stamp_content"
  echo "source $got_version $mirror"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(( $(date +%s) - start ))s"
} >"$staged/$STAMP_NAME"
rm -rf "$prefix.old"
if [ -e "$prefix" ]; then mv "$prefix" "$prefix.old"; fi
mv "$staged" "$prefix"
rm -rf "$prefix.old"
log "done in $(( $(date +%s) - start ))s: $prefix"
echo "$prefix"
