#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
# python3 runs each agent, test and planner command under a subreaper (extension/workers/task/lineage.ts),
# so a daemon that detaches from it still dies with it; without it that containment falls back to process groups.
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update && apt-get install -y "${missing[@]}"
fi
npm ci --no-audit --no-fund
# The vscode and e2e tiers: Chromium, Node 24 and code-server, cached in .vscode-test/.
bash scripts/setup-vscode.sh
