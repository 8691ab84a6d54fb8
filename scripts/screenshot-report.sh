#!/usr/bin/env bash
# Renders the HTML report of a suite and takes a headless Chromium screenshot,
# so anyone can look at what a security reviewer receives.
#
#   bash scripts/screenshot-report.sh [SUITE] [OUT.png]
#
# Needs Debian's chromium (installed if missing, as root) and local PostgreSQL
# binaries or Docker, like `rowfence check`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
suite=${1:-suites/dexcyjet.toml}
out=${2:-target/report.png}
html=${out%.png}.html

if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium"
    apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
fi
cargo build -q --release
./target/release/rowfence check "$suite" --html "$html" --quiet || true   # exit 1 means violations, still a report
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# The background-networking flags keep Chromium from calling out of this offline machine.
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --user-data-dir="$profile" --hide-scrollbars \
    --window-size=1440,3000 --screenshot="$out" "file://$(realpath "$html")" 2>/dev/null
echo "report: $html"
echo "screenshot: $out"
