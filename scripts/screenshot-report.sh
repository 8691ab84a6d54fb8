#!/usr/bin/env bash
# Renders the HTML report of a suite and takes a headless Chromium screenshot,
# so anyone can look at what a security reviewer receives.
#
#   bash scripts/screenshot-report.sh [SUITE | REPORT.json | REPORT.html] [OUT.png]
#
# A suite is checked (exit 1, violations, still writes a report); a saved JSON
# report is re-rendered with `rowfence report`; an HTML file is shot as it is.
# HEIGHT (default 3000) sets the window height, so the screenshot's length.
# Needs Debian's chromium (installed if missing, as root) and, for a suite,
# local PostgreSQL binaries or Docker, like `rowfence check`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
input=${1:-suites/dexcyjet.toml}
out=${2:-target/report.png}
height=${HEIGHT:-3000}

if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium"
    apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
fi
case "$input" in
*.html)
    html=$input
    ;;
*.json)
    html=${out%.png}.html
    cargo build -q --release
    ./target/release/rowfence report "$input" --html "$html"
    ;;
*)
    html=${out%.png}.html
    cargo build -q --release
    ./target/release/rowfence check "$input" --html "$html" --quiet || true   # exit 1 means violations, still a report
    ;;
esac
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# The background-networking flags keep Chromium from calling out of this offline machine.
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --user-data-dir="$profile" --hide-scrollbars \
    --window-size=1440,"$height" --screenshot="$out" "file://$(realpath "$html")" 2>/dev/null
echo "report: $html ($(wc -c <"$html") bytes)"
echo "screenshot: $out"
