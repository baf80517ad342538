#!/usr/bin/env bash
# Builds the self-contained Node-API prebuild of @chunktorrent/ffi for this platform:
#   packages/ffi/prebuilds/<platform>-<arch>/@chunktorrent+ffi.node   (git-ignored, but packed)
# linked against a static libtorrent-rasterbar (scripts/build-static-libtorrent.sh, cached outside
# the repo, built on first use, ~7 min on 2 cores) and static OpenSSL, then checks with ldd that it
# depends on nothing but the C/C++ runtime, and that Node can load it.
#
#   pnpm --filter @chunktorrent/ffi prebuild              # always rebuilds the addon
#   bash packages/ffi/scripts/prebuild.sh --if-stale      # no-op when the prebuild is up to date
#
# The addon is compiled in a temporary copy of the files the package ships (package.json "files"
# minus dist/ and prebuilds/), never in packages/ffi/build/: the development build there (linked
# against the system libtorrent) is left alone, tests that load it can run at the same time, and a
# source file missing from "files" breaks this build instead of the users' source builds.
#
# Environment: CHUNKTORRENT_LIBTORRENT_STATIC_PREFIX (see build-static-libtorrent.sh),
# npm_config_nodedir (Node headers; scripts/env.sh sets it, node-gyp cannot download them here).
set -euo pipefail

log() { printf '[prebuild] %s\n' "$*" >&2; }
die() { printf '[prebuild] ERROR: %s\n' "$*" >&2; exit 1; }

if_stale=0
for arg in "$@"; do
  case "$arg" in
    --if-stale) if_stale=1 ;;
    *) die "unknown argument: $arg (usage: prebuild.sh [--if-stale])" ;;
  esac
done

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pkg_dir=$(dirname "$script_dir")
cd "$pkg_dir"

# Node 24 and its own headers (the repository's env.sh) unless the caller already set them up.
# ~/.npmrc's nodedir=/usr would give the system Node 20's headers: use them only for Node 20.
header_major() { sed -n 's/^#define NODE_MAJOR_VERSION \([0-9]*\).*/\1/p' "${npm_config_nodedir:-/nonexistent}/include/node/node_version.h" 2>/dev/null; }
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null; }
if [ "$(header_major)" != "$(node_major)" ] && [ -f "$pkg_dir/../../scripts/env.sh" ]; then
  # shellcheck disable=SC1091
  source "$pkg_dir/../../scripts/env.sh"
fi
[ -f "${npm_config_nodedir:-/nonexistent}/include/node/node_api.h" ] ||
  die "npm_config_nodedir must point at Node headers (source scripts/env.sh); node-gyp cannot download them"
[ "$(header_major)" = "$(node_major)" ] ||
  log "warning: headers in $npm_config_nodedir are Node $(header_major), running Node $(node_major)"
[ "$(uname -s)" = Linux ] || die "self-contained prebuilds are only made on Linux"

platform=$(node -p 'process.platform')
arch=$(node -p 'process.arch')
out_dir="$pkg_dir/prebuilds/$platform-$arch"

# 1. Static libtorrent (cached; a no-op when already built).
prefix=$(bash "$script_dir/build-static-libtorrent.sh" | tail -n1)
[ -f "$prefix/lib/libtorrent-rasterbar.a" ] || die "static libtorrent missing in '$prefix'"
export CHUNKTORRENT_STATIC_PREFIX="$prefix"

# 2. Staging copy of what the package ships.
shipped=$(node -e '
  const files = require("./package.json").files || []
  console.log(files.filter((f) => !/^(\.\/)?(dist|prebuilds)\/?$/.test(f)).join("\n"))')
fingerprint() {
  {
    echo "node-api prebuild $platform-$arch"
    c++ --version | head -n1
    node -p 'require("node-addon-api/package.json").version'
    sed '/^built /d' "$prefix/.chunktorrent-static-stamp"
    sha256sum "$script_dir/prebuild.sh" "$script_dir/build-static-libtorrent.sh" package.json | cut -c1-64
    while IFS= read -r f; do
      [ -e "$f" ] || continue
      find "$f" -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
    done <<<"$shipped"
  } | sha256sum | cut -c1-64
}
stamp_file="$pkg_dir/node_modules/.cache/chunktorrent/prebuild-$platform-$arch.stamp"
want=$(fingerprint)
# The stamp holds "<fingerprint> <file name> <sha256 of the prebuild>".
if [ "$if_stale" = 1 ] && [ -f "$stamp_file" ]; then
  read -r stamp_want stamp_name stamp_sha <"$stamp_file" || true
  out_file="$out_dir/${stamp_name:-none}"
  if [ "${stamp_want:-}" = "$want" ] && [ -f "$out_file" ] &&
    [ "$(sha256sum "$out_file" | cut -c1-64)" = "${stamp_sha:-}" ]; then
    log "up to date: $out_file"
    echo "$out_file"
    exit 0
  fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/chunktorrent-prebuild.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp package.json "$work/"
while IFS= read -r f; do
  [ -n "$f" ] || continue
  [ -e "$f" ] || die "package.json \"files\" lists '$f', which does not exist"
  mkdir -p "$work/$(dirname "$f")"
  cp -R "$f" "$work/$f"
done <<<"$shipped"
ls "$work"/src/cpp/*.cc >/dev/null 2>&1 || die "no C++ sources in src/cpp (is \"src/cpp\" in package.json files?)"
ln -s "$pkg_dir/node_modules" "$work/node_modules"

# 3. Compile with prebuildify against the local Node headers (npm_config_nodedir; --target only
#    names the version, nothing is downloaded).
log "building against $prefix"
start=$(date +%s)
pnpm exec prebuildify --napi --strip --target "$(node -p 'process.versions.node')" \
  --cwd "$work" --out "$work" >&2
shopt -s nullglob
built_all=("$work/prebuilds/$platform-$arch"/*.node)
shopt -u nullglob
[ ${#built_all[@]} -eq 1 ] || die "expected one .node file from prebuildify, got: ${built_all[*]:-none}"
built=${built_all[0]}
name=$(basename "$built")
out_file="$out_dir/$name"
log "compiled in $(( $(date +%s) - start ))s"

# 4. Self-containment: only the C/C++ runtime may be dynamic dependencies.
deps=$(ldd "$built")
printf '%s\n' "$deps" | sed 's/^/[prebuild] ldd: /' >&2
if printf '%s\n' "$deps" | grep -Eiq 'libtorrent|libssl|libcrypto|boost|not found'; then
  die "the prebuild is not self-contained: ldd shows libtorrent/OpenSSL/Boost or a missing library"
fi
unexpected=$(printf '%s\n' "$deps" | awk '{print $1}' |
  grep -Ev '^(linux-vdso\.so\.1|linux-gate\.so\.1|/.*/ld-linux[-.a-z0-9_]*\.so\.[0-9]+|libc\.so\.6|libm\.so\.6|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1)$' || true)
[ -z "$unexpected" ] || die "unexpected dynamic dependencies: $(echo $unexpected)"
exported=$(nm -D --defined-only "$built" | awk '{print $3}' | grep -Evc '^(napi_register_module_v1|node_api_module_get_api_version_v1)$' || true)
[ "$exported" -eq 0 ] || log "warning: $exported dynamic symbols exported besides the Node-API entry points"
glibc=$(objdump -T "$built" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n1)
log "size $(stat -c %s "$built") bytes; needs $glibc, libstdc++ $(objdump -T "$built" | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -n1)"

# 5. Node can load it (catches unresolved symbols that a static link can leave behind).
node -e 'const m = { exports: {} }; process.dlopen(m, process.argv[1]); console.error("[prebuild] loads; exports:", Object.keys(m.exports).join(", "))' "$built"

# 6. Put it in place atomically (readers never see a half-written file), drop stale prebuilds.
mkdir -p "$out_dir"
cp "$built" "$out_dir/.$name.tmp"
mv -f "$out_dir/.$name.tmp" "$out_file"
find "$out_dir" -maxdepth 1 -name '*.node' ! -name "$name" -delete
mkdir -p "$(dirname "$stamp_file")"
echo "$want $name $(sha256sum "$out_file" | cut -c1-64)" >"$stamp_file"
log "done: $out_file"
echo "$out_file"
