#!/usr/bin/env bash
# bench/learner-ab.sh BEFORE_DIR AFTER_DIR [METHODS] [REPS]: one learner run of bench/learner.html (the
# quickstart's recipe, CIFAR-10, K = 16, 30 epochs at batch 8) from two checkouts of this repository,
# alternated rep by rep (the order flips every rep) so both see the same machine load. Prints, per run, the
# whole command's wall and CPU seconds, the trainPrompt stage's seconds from the run's manifest, top-1 and a
# SHA-256 of the trained prompt's outputs (equal hashes: the two checkouts trained the same weights).
# Each checkout needs its native addon and bundle built (node cells/model/native/build.mjs; node bin/build.mjs).
#   bench/learner-ab.sh /tmp/before . coop,vpt 2
set -euo pipefail
before=$(cd "$1" && pwd); after=$(cd "$2" && pwd); methods=${3:-coop,vpt}; reps=${4:-2}
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((rep = 0; rep < reps; rep++)); do
  for method in ${methods//,/ }; do
    pair=(before after)
    ((rep % 2)) && pair=(after before)
    for label in "${pair[@]}"; do
      dir=$before; [[ $label == after ]] && dir=$after
      work=$(mktemp -d)
      PROMPTSCOPE_BUNDLE=require /usr/bin/time -f '%e %U %S' -o "$work/time" node "$dir/bin/promptscope.js" run "$dir/bench/learner.html" --trust \
        --cache "$work/cache" --out "$work/out" --set "method=$method" > "$work/log" 2>&1 || { tail -20 "$work/log"; exit 1; }
      read -r wall user sys < "$work/time"
      node -e '
        const fs = require("fs"), out = process.argv[1];
        const m = JSON.parse(fs.readFileSync(out + "/manifest.json", "utf8"));
        const train = m.stages.filter((s) => s.stage === "trainPrompt" && !s.hit).reduce((a, s) => a + s.ms, 0);
        const top1 = JSON.parse(fs.readFileSync(out + "/metrics.json", "utf8")).top1;
        console.log(process.argv[2], "trainPrompt", (train / 1000).toFixed(1), "s, top-1", top1);
      ' "$work/out" "$method $label: wall $wall s, CPU $(echo "$user + $sys" | bc) s," | tr '\n' ' '
      echo "outputs sha256 $(cat "$work/out/metrics.json" | sha256sum | cut -c1-16)"
      rm -rf "$work"
    done
  done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
