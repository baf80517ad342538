#!/usr/bin/env bash
# The release dry run: checks what `changeset publish` would publish the way users will get it.
# Builds the public packages, makes the self-contained ffi prebuild, packs every public package,
# lints each tarball (publint --strict, @arethetypeswrong/cli), installs the tarballs together into
# an empty project with npm (nothing may compile), then runs `npx chunktorrent --help` and a real
# download between two clients there. Nothing is published; the workspace is only built.
#
#   pnpm release:dry-run                      # = bash scripts/release-dry-run.sh
#   pnpm release --dry-run                    # the same
#   pnpm release --yes                        # the dry run, then `changeset publish` (real!)
#   bash scripts/release-dry-run.sh --keep    # keep the temporary directory (tarballs, logs)
#   bash scripts/release-dry-run.sh --build-if-stale   # rebuild only when a dist/ is older than
#       its sources (the test uses it: rebuilding dist/ under tests that import it breaks them)
#
# Prints one summary line per check ("ok" or "FAIL") and "PASS"/"FAIL" last; exits 1 when any
# check failed, 2 on a usage error or a refused publish. Needs `pnpm install` (publint and attw are
# devDependencies of tools/release) and the npm registry (the tarballs' third-party dependencies).
# Environment: CHUNKTORRENT_KEEP_TMP=1 (like --keep), TMPDIR.
set -uo pipefail

usage() {
  sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

publish=0 yes=0 dry_run=0 build_if_stale=0 keep=${CHUNKTORRENT_KEEP_TMP:-0}
for arg in "$@"; do
  case "$arg" in
    --publish) publish=1 ;;
    --yes | -y) yes=1 ;;
    --dry-run) dry_run=1 ;;
    --keep) keep=1 ;;
    --build-if-stale) build_if_stale=1 ;;
    -h | --help) usage 0 ;;
    *) printf 'release: unknown argument: %s\n\n' "$arg" >&2; usage ;;
  esac
done
if [ "$publish" = 1 ] && [ "$dry_run" = 1 ]; then publish=0; fi
if [ "$publish" = 1 ] && [ "$yes" = 0 ]; then
  cat >&2 <<'EOF'
release: refusing to publish without --yes.
  pnpm release --dry-run    checks everything and publishes nothing
  pnpm release --yes        runs the dry run, then `changeset publish` to the npm registry
Before publishing: `pnpm changeset version`, review and commit the bumped versions and
changelogs, and log in to the registry (`npm whoami` must work).
EOF
  exit 2
fi
[ "$yes" = 1 ] && [ "$publish" = 0 ] && [ "$dry_run" = 0 ] &&
  printf 'release: --yes does nothing without --publish (pnpm release --yes); running the dry run only\n' >&2

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
# The project's Node 24 and pnpm first on PATH.
# shellcheck disable=SC1091
[ -f scripts/env.sh ] && source scripts/env.sh

log() { printf '[release] %s\n' "$*" >&2; }
# Publishing needs applied changesets, a clean main and a registry login: checked before the dry
# run (fail fast) and again after it.
publish_preflight() {
  pending=$(find .changeset -maxdepth 1 -name '*.md' ! -name README.md | wc -l)
  if [ "$pending" -gt 0 ]; then
    log "refusing to publish: $pending changeset(s) not applied; run \`pnpm changeset version\`, review and commit first"
    exit 2
  fi
  # changeset publish runs `pnpm publish --no-git-checks`: check here what pnpm would have.
  if [ -n "$(git status --porcelain)" ] || [ "$(git rev-parse --abbrev-ref HEAD)" != main ]; then
    log 'refusing to publish: publish from a clean checkout of main (git status shows changes or another branch)'
    exit 2
  fi
  if ! npm whoami >/dev/null 2>&1; then
    log 'refusing to publish: not logged in to the npm registry (npm whoami failed)'
    exit 2
  fi
}
[ "$publish" = 1 ] && publish_preflight

started=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/chunktorrent-release.XXXXXX") || exit 1
logs="$work/logs"
packs="$work/tarballs"
consumer="$work/consumer"
mkdir -p "$logs" "$packs" "$consumer"
cleanup() {
  if [ "$keep" = 1 ]; then
    printf '[release] kept %s\n' "$work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

summary=()
failures=0
# record <ok|FAIL> <check> <detail> [seconds]
record() {
  local line
  line=$(printf '%-5s %-10s %s' "$1" "$2" "$3")
  [ -n "${4:-}" ] && line="$line ($4 s)"
  summary+=("$line")
  [ "$1" = ok ] || failures=$((failures + 1))
  printf '[release] %s\n' "$line" >&2
}
# Shows the end of a failed step's log.
show_log() {
  printf '[release] --- last lines of %s ---\n' "$1" >&2
  tail -n "${2:-40}" "$1" | sed 's/^/[release] | /' >&2
}
# Runs a command with the environment a user's shell would have: no npm/pnpm script variables,
# no test-runner variables, no NODE_OPTIONS.
clean_env() {
  local unset_args=() name
  while IFS= read -r name; do
    case "$name" in
      npm_* | NPM_* | pnpm_* | PNPM_* | NODE_OPTIONS | NODE_PATH | INIT_CWD | VITEST* | TINYPOOL* | TURBO_*)
        unset_args+=(-u "$name") ;;
    esac
  done < <(compgen -e)
  env "${unset_args[@]}" "$@"
}
finish() {
  local total=$((SECONDS - started)) line
  {
    echo
    echo '== release dry run summary =='
    for line in "${summary[@]}"; do echo "$line"; done
    if [ "$failures" -eq 0 ]; then
      echo "PASS  release dry run: ${#names[@]} public packages packed, linted, installed and used in ${total} s"
    else
      echo "FAIL  release dry run: $failures check(s) failed (${total} s)"
    fi
  }
  [ "$failures" -eq 0 ]
}

# --- 0. The public packages ---------------------------------------------------------------------
names=() dirs=() versions=()
if ! pnpm ls -r --depth -1 --json >"$logs/workspace.json" 2>"$logs/workspace.err"; then
  record FAIL packages "pnpm ls failed"
  show_log "$logs/workspace.err"
  finish
  exit 1
fi
while IFS=$'\t' read -r name version dir; do
  names+=("$name") versions+=("$version") dirs+=("$dir")
done < <(node -e '
  const all = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))
  for (const p of all) if (!p.private && p.name) console.log([p.name, p.version, p.path].join("\t"))
' "$logs/workspace.json")
if [ ${#names[@]} -eq 0 ]; then
  record FAIL packages "no public workspace package found"
  finish
  exit 1
fi
record ok packages "${#names[@]} public: $(
  for i in "${!names[@]}"; do printf '%s@%s ' "${names[$i]}" "${versions[$i]}"; done | sed 's/ $//'
)"
filters=()
for name in "${names[@]}"; do filters+=(--filter "$name"); done
bin_dir="$root/tools/release/node_modules/.bin"

# --- 1. Build -----------------------------------------------------------------------------------
# tsup for the public packages, in dependency order (pnpm -r sorts topologically). Not turbo's
# `build`: its build:native dependency compiles the development addon, which nothing packed uses.
t=$SECONDS
stale=all
if [ "$build_if_stale" = 1 ]; then
  # Packages whose dist/ is missing or older than one of its inputs (turbo's build inputs).
  stale=$(node -e '
    const fs = require("fs"), path = require("path")
    const newest = (p) => {
      if (!fs.existsSync(p)) return 0
      const st = fs.statSync(p)
      if (!st.isDirectory()) return st.mtimeMs
      let m = 0
      for (const e of fs.readdirSync(p, { withFileTypes: true, recursive: true }))
        if (e.isFile() && !/\.test\.ts$/.test(e.name)) m = Math.max(m, fs.statSync(path.join(e.parentPath, e.name)).mtimeMs)
      return m
    }
    const oldest = (p) => {
      let m = Infinity
      if (fs.existsSync(p)) for (const e of fs.readdirSync(p, { withFileTypes: true, recursive: true }))
        if (e.isFile()) m = Math.min(m, fs.statSync(path.join(e.parentPath, e.name)).mtimeMs)
      return m === Infinity ? 0 : m
    }
    const stale = process.argv.slice(1).filter((dir) => {
      const input = Math.max(...["src", "tsup.config.ts", "tsconfig.json", "package.json"].map((f) => newest(path.join(dir, f))))
      return oldest(path.join(dir, "dist")) < input
    })
    console.log(stale.map((dir) => path.basename(dir)).join(" "))
  ' "${dirs[@]}") || stale=all
fi
if [ -z "$stale" ]; then
  record ok build "dist/ of ${#names[@]} packages newer than their inputs (--build-if-stale): not rebuilt" $((SECONDS - t))
  built=1
elif log "building ${names[*]} (stale: $stale)" &&
  pnpm -r "${filters[@]}" --reporter=append-only run build >"$logs/build.log" 2>&1; then
  record ok build "pnpm -r run build (tsup) for ${#names[@]} packages" $((SECONDS - t))
  built=1
else
  record FAIL build "pnpm -r run build failed: see below" $((SECONDS - t))
  show_log "$logs/build.log" 60
  built=0
fi

# --- 2. The self-contained ffi prebuild ---------------------------------------------------------
t=$SECONDS
prebuild=''
log 'making the ffi prebuild (first run builds a static libtorrent, ~7 min)'
if bash packages/ffi/scripts/prebuild.sh --if-stale >"$logs/prebuild.out" 2>"$logs/prebuild.log"; then
  prebuild=$(tail -n1 "$logs/prebuild.out")
  record ok prebuild "${prebuild#"$root"/packages/ffi/} (self-contained, ldd checked)" $((SECONDS - t))
else
  record FAIL prebuild "packages/ffi/scripts/prebuild.sh --if-stale failed" $((SECONDS - t))
  show_log "$logs/prebuild.log"
fi

# --- 3. Changesets ------------------------------------------------------------------------------
t=$SECONDS
if pnpm exec changeset status --output="$work/changeset-status.json" >"$logs/changesets.log" 2>&1; then
  plan=$(node -e '
    const fs = require("fs")
    const status = JSON.parse(fs.readFileSync(process.argv[1], "utf8"))
    const isPublic = new Set(process.argv.slice(2))
    const releases = status.releases.filter((r) => r.type !== "none")
    const bad = releases.filter((r) => !isPublic.has(r.name)).map((r) => r.name)
    if (bad.length) { console.log("private packages in the release plan: " + bad.join(", ")); process.exit(1) }
    console.log(releases.length === 0 ? "no pending changesets" :
      `${status.changesets.length} changeset(s): ` +
      releases.map((r) => `${r.name} ${r.oldVersion}->${r.newVersion} (${r.type})`).join(", "))
  ' "$work/changeset-status.json" "${names[@]}" 2>&1)
  if [ $? -eq 0 ]; then
    record ok changesets "$plan" $((SECONDS - t))
  else
    record FAIL changesets "$plan" $((SECONDS - t))
  fi
else
  record FAIL changesets "changeset status failed" $((SECONDS - t))
  show_log "$logs/changesets.log"
fi

# --- 4. Pack, check the packed manifests, publint, attw ------------------------------------------
tarballs=()
if [ "$built" = 1 ]; then
  for i in "${!names[@]}"; do
    name=${names[$i]} dir=${dirs[$i]} t=$SECONDS
    slug=${name#@}
    slug=${slug//\//-}
    if ! (cd "$dir" && pnpm pack --pack-destination "$packs") >"$logs/pack-$slug.log" 2>&1; then
      record FAIL pack "$name: pnpm pack failed"
      show_log "$logs/pack-$slug.log"
      continue
    fi
    tgz="$packs/$slug-${versions[$i]}.tgz"
    if [ ! -f "$tgz" ]; then
      record FAIL pack "$name: pnpm pack wrote no $(basename "$tgz")"
      show_log "$logs/pack-$slug.log"
      continue
    fi
    tarballs+=("$tgz")
    # The packed manifest: workspace: ranges replaced by the real versions, no runtime dependency
    # on a private package; ffi ships the prebuild that was just made and no local build.
    tar -tzf "$tgz" | sort >"$logs/files-$slug.txt"
    if check=$(tar -xzOf "$tgz" package/package.json | node -e '
      const fs = require("fs")
      const [workspaceJson, name, entriesFile, prebuild, root] = process.argv.slice(1)
      const pkg = JSON.parse(fs.readFileSync(0, "utf8"))
      const workspace = new Map(JSON.parse(fs.readFileSync(workspaceJson, "utf8")).map((p) => [p.name, p]))
      const entries = fs.readFileSync(entriesFile, "utf8").trim().split("\n")
      const problems = [], notes = []
      if (pkg.name !== name) problems.push(`name is ${pkg.name}`)
      const text = JSON.stringify(pkg)
      if (/"workspace:/.test(text)) problems.push("a workspace: range is left in the packed package.json")
      const internal = []
      for (const field of ["dependencies", "peerDependencies", "optionalDependencies", "devDependencies"]) {
        for (const [dep, range] of Object.entries(pkg[field] ?? {})) {
          const ws = workspace.get(dep)
          if (!ws) continue
          if (field === "devDependencies") {
            if (ws.private) notes.push(`devDependency on private ${dep}`)
            continue
          }
          if (ws.private) problems.push(`${field} has the private package ${dep}`)
          else if (range !== `^${ws.version}` && range !== ws.version) problems.push(`${field}.${dep} is ${range}, the workspace has ${ws.version}`)
          else internal.push(`${dep}@${range}`)
        }
      }
      if (name === "@chunktorrent/ffi") {
        const rel = prebuild ? require("path").relative(root + "/packages/ffi", prebuild) : ""
        if (!prebuild) problems.push("no prebuild to check")
        else if (!entries.includes(`package/${rel}`)) problems.push(`${rel} is not in the tarball`)
        if (entries.some((e) => e.startsWith("package/build/"))) problems.push("a local build/ is packed")
      }
      const files = entries.length
      if (problems.length) { console.log(problems.join("; ")); process.exit(1) }
      console.log(`${files} files` + (internal.length ? `, deps ${internal.join(" ")}` : "") +
        (notes.length ? ` (note: ${notes.join(", ")})` : ""))
    ' "$logs/workspace.json" "$name" "$logs/files-$slug.txt" "$prebuild" "$root" 2>&1); then
      size=$(du -k "$tgz" | cut -f1)
      record ok pack "$name -> $(basename "$tgz") ${size} KiB, $check" $((SECONDS - t))
    else
      record FAIL pack "$name: $check"
    fi
    # The ffi tarball must carry exactly the binary prebuild.sh made.
    if [ "$name" = @chunktorrent/ffi ] && [ -n "$prebuild" ]; then
      rel=${prebuild#"$root"/packages/ffi/}
      if [ "$(tar -xzOf "$tgz" "package/$rel" 2>/dev/null | sha256sum | cut -c1-64)" != "$(sha256sum "$prebuild" | cut -c1-64)" ]; then
        record FAIL pack "$name: the packed $rel differs from the prebuild"
      fi
    fi

    if [ -x "$bin_dir/publint" ]; then
      (cd "$work" && "$bin_dir/publint" run --strict "$tgz") >"$logs/publint-$slug.log" 2>&1
      rc=$?
      suggestions=$(sed -n '/^Suggestions:/,/^[A-Z][a-z]*:$/p' "$logs/publint-$slug.log" | grep -c '^[0-9]*\. ' || true)
      if [ $rc -eq 0 ] && ! grep -Eq '^(Errors|Warnings):' "$logs/publint-$slug.log"; then
        detail="$name: no errors or warnings (strict)"
        [ "$suggestions" -gt 0 ] && detail="$detail, $suggestions suggestion(s): see --keep logs"
        record ok publint "$detail"
      else
        record FAIL publint "$name: $(grep -Ec '^[0-9]+\. ' "$logs/publint-$slug.log") finding(s)"
        show_log "$logs/publint-$slug.log"
      fi
    else
      record FAIL publint "$name: $bin_dir/publint missing (run pnpm install)"
    fi

    if [ -x "$bin_dir/attw" ]; then
      # ESM-only packages with types: the esm-only profile skips node10 and require() resolution.
      (cd "$work" && "$bin_dir/attw" "$tgz" --profile esm-only --no-color --no-emoji) >"$logs/attw-$slug.log" 2>&1
      if [ $? -eq 0 ]; then
        entrypoints=$(grep -o '"'"$name"'[^"]*"' "$logs/attw-$slug.log" | sort -u | grep -vc 'package.json"' || true)
        record ok attw "$name: no problems (profile esm-only, $entrypoints entry point(s))"
      else
        record FAIL attw "$name: problems found"
        show_log "$logs/attw-$slug.log" 60
      fi
    else
      record FAIL attw "$name: $bin_dir/attw missing (run pnpm install)"
    fi
  done
else
  record FAIL pack 'skipped: the build failed'
fi

# --- 5. Install the tarballs together into an empty project -------------------------------------
installed=0
if [ ${#tarballs[@]} -eq ${#names[@]} ]; then
  t=$SECONDS
  printf '{\n  "name": "chunktorrent-release-consumer",\n  "version": "1.0.0",\n  "private": true,\n  "type": "module"\n}\n' \
    >"$consumer/package.json"
  log "npm install ${tarballs[*]##*/}"
  (cd "$consumer" && clean_env timeout 600 npm install --no-audit --no-fund --foreground-scripts \
    --loglevel=info "${tarballs[@]}") >"$logs/install.log" 2>&1
  rc=$?
  problems=()
  [ $rc -eq 0 ] || problems+=("npm install exited with $rc")
  # --foreground-scripts and info level show every lifecycle script npm runs.
  compiled='npm info run |^> [^ ]+ (preinstall|install|postinstall)\b|node-gyp (rebuild|build|configure)|gyp (info|ERR)|prebuild-install|make: '
  if grep -Eq "$compiled" "$logs/install.log"; then
    problems+=("an install script or compile step ran: $(grep -Em1 "$compiled" "$logs/install.log")")
  fi
  [ -e "$consumer/node_modules/@chunktorrent/ffi/build" ] && problems+=('@chunktorrent/ffi/build exists: the addon was compiled')
  (cd "$consumer" && clean_env npm ls --all) >"$logs/npm-ls.log" 2>&1 || problems+=("npm ls reports problems")
  # One copy of each package, from the tarballs (not the registry).
  for i in "${!names[@]}"; do
    copies=$(cd "$consumer" && find node_modules -path "*node_modules/${names[$i]}/package.json" | wc -l)
    [ "$copies" -eq 1 ] || problems+=("${names[$i]} installed $copies times")
  done
  deps=$(cd "$consumer" && node -e '
    const lock = JSON.parse(require("fs").readFileSync("package-lock.json", "utf8"))
    const bad = Object.entries(lock.packages).filter(([path, p]) => path.includes("node_modules/@chunktorrent/") && !String(p.resolved ?? "").startsWith("file:"))
    if (bad.length) { console.log("from the registry: " + bad.map(([path]) => path).join(", ")); process.exit(1) }
    console.log(Object.keys(lock.packages).filter(Boolean).length)
  ' 2>&1) || problems+=("$deps")
  if [ ${#problems[@]} -eq 0 ]; then
    record ok install "npm install of ${#tarballs[@]} tarballs: $deps packages, no install script or compile, npm ls clean" $((SECONDS - t))
    installed=1
  else
    record FAIL install "$(IFS=';'; echo "${problems[*]}")" $((SECONDS - t))
    show_log "$logs/install.log"
    show_log "$logs/npm-ls.log" 20
  fi
else
  record FAIL install "skipped: ${#tarballs[@]} of ${#names[@]} packages packed"
fi

# --- 6. The command -----------------------------------------------------------------------------
if [ "$installed" = 1 ]; then
  t=$SECONDS
  # npm_config_yes=false: npx must use the installed bin, never fetch a package of that name.
  (cd "$consumer" && clean_env npm_config_yes=false timeout 60 npx chunktorrent --help) >"$logs/cli.out" 2>"$logs/cli.err"
  rc=$?
  # The same output as the installed bin run directly, so it was the bin that answered.
  (cd "$consumer" && clean_env timeout 60 node_modules/.bin/chunktorrent --help) >"$logs/cli-bin.out" 2>&1
  bin_rc=$?
  first=$(grep -m1 . "$logs/cli.out" | cut -c1-80)
  bin_target=$(readlink "$consumer/node_modules/.bin/chunktorrent" 2>/dev/null)
  if [ $rc -eq 0 ] && [ $bin_rc -eq 0 ] && [ -n "$first" ] && cmp -s "$logs/cli.out" "$logs/cli-bin.out" &&
    [[ "$bin_target" == */@chunktorrent/cli/* ]]; then
    record ok cli "npx chunktorrent --help: \"$first\" ($(wc -l <"$logs/cli.out") lines)" $((SECONDS - t))
  else
    why="exited with $rc"
    [ -z "$first" ] && why="$why, nothing on stdout"
    [ $bin_rc -ne 0 ] && why="$why; node_modules/.bin/chunktorrent --help exited with $bin_rc"
    [[ "$bin_target" == */@chunktorrent/cli/* ]] || why="$why; node_modules/.bin/chunktorrent is not @chunktorrent/cli's bin"
    [ $rc -eq 0 ] && [ -n "$first" ] && ! cmp -s "$logs/cli.out" "$logs/cli-bin.out" && why="$why; npx printed something else than the bin"
    record FAIL cli "npx chunktorrent --help $why" $((SECONDS - t))
    show_log "$logs/cli.out" 20
    show_log "$logs/cli.err" 20
  fi
else
  record FAIL cli 'skipped: not installed'
fi

# --- 7. An example download with the installed packages only ------------------------------------
if [ "$installed" = 1 ]; then
  t=$SECONDS
  cat >"$consumer/download.mjs" <<'EOF'
// A seeder and a leecher, both TorrentClients over ChunkStorages, on 127.0.0.1; only the
// installed packages are used. Prints one JSON line, exits 1 if any byte differs.
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TorrentClient } from '@chunktorrent/client'
import { createTorrent } from '@chunktorrent/ffi'
import { ChunkStorage } from '@chunktorrent/storage'

const here = fileURLToPath(new URL('.', import.meta.url))
for (const name of ['@chunktorrent/client', '@chunktorrent/ffi', '@chunktorrent/storage']) {
  const resolved = fileURLToPath(import.meta.resolve(name))
  if (!resolved.startsWith(join(here, 'node_modules') + '/')) throw new Error(`${name} resolved to ${resolved}`)
}
const work = join(here, 'example')
const dataDir = join(work, 'data')
const files = [
  { path: 'payload/one.bin', length: 3 * 1024 * 1024 + 12345 },
  { path: 'payload/two.bin', length: 1024 * 1024 },
  { path: 'payload/nested/three.bin', length: 77_777 },
]
for (const file of files) {
  await mkdir(join(dataDir, file.path, '..'), { recursive: true })
  await writeFile(join(dataDir, file.path), randomBytes(file.length))
}
const torrentBytes = await createTorrent(join(dataDir, 'payload'), { pieceLength: 64 * 1024 })
const options = { listen: '127.0.0.1:0', utp: false }
const seeder = await TorrentClient.newWithStorage(
  await ChunkStorage.open({ directory: join(work, 'seeder-store') }),
  options,
)
const leecher = await TorrentClient.newWithStorage(
  await ChunkStorage.open({ directory: join(work, 'leecher-store') }),
  options,
)
let ok = true
try {
  const seeding = await seeder.seedFrom(torrentBytes, dataDir, { signal: AbortSignal.timeout(60_000) })
  await seeding.done({ signal: AbortSignal.timeout(60_000) })
  const started = Date.now()
  const torrent = await leecher.add(torrentBytes, { peers: [`127.0.0.1:${seeder.port}`] })
  await torrent.done({ signal: AbortSignal.timeout(120_000) })
  const seconds = (Date.now() - started) / 1000
  const compared = []
  for (const [index, file] of torrent.files.entries()) {
    const stored = createHash('sha256')
    for await (const chunk of torrent.createReadStream(index)) stored.update(chunk)
    const source = createHash('sha256').update(await readFile(join(dataDir, file.path))).digest('hex')
    const same = stored.digest('hex') === source
    if (!same) ok = false
    compared.push({ path: file.path, length: file.length, same })
  }
  if (compared.length !== files.length) ok = false
  const addons = process.report
    .getReport()
    .sharedObjects.filter((path) => path.endsWith('.node'))
    .map((path) => path.slice(here.length))
  console.log(
    JSON.stringify({
      ok,
      bytes: files.reduce((sum, file) => sum + file.length, 0),
      files: compared.length,
      pieces: torrent.pieceCount,
      seconds,
      seederPort: seeder.port,
      compared,
      addons,
    }),
  )
} finally {
  await leecher.close()
  await seeder.close()
}
process.exitCode = ok ? 0 : 1
EOF
  log 'example download: seeder and leecher clients on 127.0.0.1'
  (cd "$consumer" && clean_env timeout 300 node download.mjs) >"$logs/example.out" 2>"$logs/example.err"
  rc=$?
  detail=$(tail -n1 "$logs/example.out" 2>/dev/null | node -e '
    const fs = require("fs")
    let r
    try { r = JSON.parse(fs.readFileSync(0, "utf8")) } catch { console.log("no result"); process.exit(1) }
    const problems = []
    if (!r.ok) problems.push("bytes differ: " + r.compared.filter((c) => !c.same).map((c) => c.path).join(", "))
    const ffi = r.addons.filter((p) => p.startsWith("node_modules/@chunktorrent/ffi/"))
    if (!ffi.length || !ffi.every((p) => p.startsWith("node_modules/@chunktorrent/ffi/prebuilds/")))
      problems.push("the ffi addon was not loaded from its prebuilds/: " + JSON.stringify(r.addons))
    if (problems.length) { console.log(problems.join("; ")); process.exit(1) }
    console.log(`${(r.bytes / 1048576).toFixed(1)} MiB (${r.files} files, ${r.pieces} pieces) seeded by a second client ` +
      `from its ChunkStorage over 127.0.0.1:${r.seederPort}, downloaded in ${r.seconds.toFixed(1)} s, bytes identical; ` +
      `addons: ${r.addons.map((p) => p.replace(/^node_modules\//, "")).join(", ")}`)
  ' 2>&1)
  checked=$?
  if [ $rc -eq 0 ] && [ $checked -eq 0 ]; then
    record ok example "$detail" $((SECONDS - t))
  else
    record FAIL example "node download.mjs exited with $rc: $detail" $((SECONDS - t))
    show_log "$logs/example.out" 20
    show_log "$logs/example.err" 40
  fi
else
  record FAIL example 'skipped: not installed'
fi

if ! finish; then exit 1; fi

# --- 8. Publish (only `pnpm release --yes`) -----------------------------------------------------
[ "$publish" = 1 ] || exit 0
publish_preflight
log 'publishing with changeset publish'
exec pnpm exec changeset publish
