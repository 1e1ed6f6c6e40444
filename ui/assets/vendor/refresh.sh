#!/usr/bin/env bash
# Refreshes the vendored uPlot chart library from the npm registry: the
# minified script and stylesheet the dashboard serves, its licence, and its
# version in VERSION. Run it from anywhere; it needs npm and tar, nothing is
# built. Usage: refresh.sh [VERSION]   (default: the latest on the registry)
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
version="${1:-$(npm view uplot version)}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$version" >/dev/null)
tar -xzf "$tmp/uplot-$version.tgz" -C "$tmp"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$dir/"
cp "$tmp/package/LICENSE" "$dir/LICENSE"
license="$(cd "$tmp/package" && node -p 'require("./package.json").license')"
sha="$(sha256sum "$dir/uPlot.iife.min.js" | cut -d' ' -f1)"
printf 'uplot %s\nlicense %s\nsource npm package uplot@%s (dist/uPlot.iife.min.js, dist/uPlot.min.css, LICENSE)\nsha256 uPlot.iife.min.js %s\n' \
	"$version" "$license" "$version" "$sha" >"$dir/VERSION"
echo "uplot $version ($license) in $dir"
