#!/usr/bin/env bash
# Trunk's post-build hook (Trunk.toml): gives the live build's files
# (web/src/split.rs) names that carry their content's hash, as Trunk does
# for podnet-web's, and tells the page the name in a <meta>. Trunk names a
# "worker" build after its binary only, so without this a browser could
# keep an old podnet-live from its cache after an upgrade, and talk to a
# newer `podnet lab serve` with an older client.
set -euo pipefail
dir=${TRUNK_STAGING_DIR:?run by trunk as a post_build hook}
js=$dir/podnet-live.js wasm=$dir/podnet-live_bg.wasm html=$dir/index.html
for f in "$js" "$wasm" "$html"; do
    [ -f "$f" ] || { echo "hash-live.sh: $f is missing" >&2; exit 1; }
done
hash=$(cat "$js" "$wasm" | sha256sum | cut -c1-16)
name=podnet-live-$hash
mv "$js" "$dir/$name.js"
mv "$wasm" "$dir/${name}_bg.wasm"
grep -q '</head>' "$html" || { echo "hash-live.sh: no </head> in $html" >&2; exit 1; }
sed -i "s|</head>|<meta name=\"podnet-live\" content=\"$name\"></head>|" "$html"
