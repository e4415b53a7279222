#!/usr/bin/env bash
# Prints the folder of an official Node.js build of the given version, fetched
# once from the npm registry (the node-linux-<arch> packages carry the
# release binaries and headers) and cached. Usage:
#   NODE22=$(bash .ci/node.sh 22.23.3); PATH="$NODE22/bin:$PATH" npm_config_nodedir="$NODE22" npm ci
# The image ships Node 20; the project declares the Node versions its
# dependencies need (package.json "engines") and CI runs on them.
set -euo pipefail
version=${1:?usage: node.sh VERSION}
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "no Node.js build for $(uname -m)" >&2; exit 1 ;;
esac
cache=${NODE_CACHE:-/tmp/auth-server-node}/$version
if [ ! -x "$cache/bin/node" ]; then
  mkdir -p "$cache"
  tarball=$(cd "$cache" && npm pack --silent "node-linux-$arch@$version")
  tar xzf "$cache/$tarball" -C "$cache" --strip-components=1
  rm "$cache/$tarball"
fi
"$cache/bin/node" --version >/dev/null
echo "$cache"
