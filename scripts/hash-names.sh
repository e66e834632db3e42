#!/usr/bin/env bash
# Trunk's post-build hook (Trunk.toml): gives the files the page fetches
# itself names that carry their content's hash, as Trunk does for
# podnet-web's, and tells the page the names in <meta>s:
# - the full build (web/src/split.rs): podnet-full-<hash>.js and _bg.wasm;
# - the recorded lab scene i plays (web/src/lab_client.rs):
#   lab-recording-<hash>.json.
# Trunk names a "worker" build after its binary only, and copies a file as
# it is, so without this a browser could keep an old podnet-full or
# recording from its cache after an upgrade, and read a newer server's or
# core's messages with an older client.
set -euo pipefail
dir=${TRUNK_STAGING_DIR:?run by trunk as a post_build hook}
js=$dir/podnet-full.js wasm=$dir/podnet-full_bg.wasm html=$dir/index.html rec=$dir/lab-recording.json
for f in "$js" "$wasm" "$html" "$rec"; do
    [ -f "$f" ] || { echo "hash-names.sh: $f is missing" >&2; exit 1; }
done
grep -q '</head>' "$html" || { echo "hash-names.sh: no </head> in $html" >&2; exit 1; }
hash=$(cat "$js" "$wasm" | sha256sum | cut -c1-16)
name=podnet-full-$hash
mv "$js" "$dir/$name.js"
mv "$wasm" "$dir/${name}_bg.wasm"
recording=lab-recording-$(sha256sum "$rec" | cut -c1-16).json
mv "$rec" "$dir/$recording"
sed -i "s|</head>|<meta name=\"podnet-full\" content=\"$name\"><meta name=\"podnet-recording\" content=\"$recording\"></head>|" "$html"
