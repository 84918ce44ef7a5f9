#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v git >/dev/null 2>&1; then
  apt-get update && apt-get install -y git
fi
npm ci --no-audit --no-fund
# The vscode and e2e tiers: Chromium, Node 24 and code-server, cached in .vscode-test/.
bash scripts/setup-vscode.sh
