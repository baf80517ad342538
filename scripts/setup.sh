#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine for chunktorrent: system packages (libtorrent, the real
# peers used by tests), a Node 24 for this project alone, pnpm, the workspace's node modules and
# a build. Safe to run again; it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(build-essential pkg-config libtorrent-rasterbar-dev libboost-dev python3-libtorrent aria2)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

source scripts/env.sh
pnpm_version=$(sed -n 's/.*"packageManager": "pnpm@\([^"]*\)".*/\1/p' package.json)
if ! [ -x "$CHUNKTORRENT_NODE_DIR/bin/node" ]; then
  echo "setup: installing Node 24 into $CHUNKTORRENT_TOOLS (the system Node is left alone)"
  mkdir -p "$CHUNKTORRENT_TOOLS"
  echo '{"private":true,"dependencies":{"node":"^24"}}' > "$CHUNKTORRENT_TOOLS/package.json"
  npm install --prefix "$CHUNKTORRENT_TOOLS" --loglevel=error >/dev/null
fi
echo "setup: node $(node --version)"

# pnpm through corepack (its signature check fails against this registry, hence the env in
# scripts/env.sh); where corepack is missing, the pinned pnpm from npm.
if ! pnpm --version 2>/dev/null | grep -qx "$pnpm_version"; then
  mkdir -p "$CHUNKTORRENT_TOOLS/bin"
  if command -v corepack >/dev/null && corepack pnpm@"$pnpm_version" --version >/dev/null 2>&1; then
    printf '#!/bin/sh\nexec corepack pnpm@%s "$@"\n' "$pnpm_version" > "$CHUNKTORRENT_TOOLS/bin/pnpm"
    chmod +x "$CHUNKTORRENT_TOOLS/bin/pnpm"
  else
    npm install --prefix "$CHUNKTORRENT_TOOLS/pnpm" --loglevel=error "pnpm@$pnpm_version" >/dev/null
    ln -sf "$CHUNKTORRENT_TOOLS/pnpm/node_modules/.bin/pnpm" "$CHUNKTORRENT_TOOLS/bin/pnpm"
  fi
fi
echo "setup: pnpm $(pnpm --version)"

pnpm install --frozen-lockfile --reporter=append-only | tail -n 3
pnpm build
