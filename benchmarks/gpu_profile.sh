#!/usr/bin/env bash
# A second prepared GPU run (after benchmarks/gpu_session.sh): the PyTorch side by side, and
# where the MemoryGAN step's time goes on the accelerator: a jax.profiler trace of 10 fashion
# steps of each model (the trace and the HLO come back as a tarball for
# benchmarks.profile_summary), and the step with each write rule.
#   device.run:  command "bash benchmarks/gpu_profile.sh", carry [".whl"], timeout_s 400
#   here:        SMOKE=1 bash benchmarks/gpu_profile.sh
OUT_DEFAULT=/tmp/gpu_profile_out
source "$(dirname "$0")/gpu_common.sh"
if [ "${SMOKE:-0}" = 1 ]; then STEPS=10; TORCH=cpu; else STEPS=60; TORCH=cuda; fi


part torch.txt 100 python3 -m benchmarks.torch_fashion --synthetic_data --steps=$STEPS \
    --torch_device=$TORCH
part profile.txt 100 python3 -m benchmarks.train_step --config=fashion --synthetic_data \
    --steps=$STEPS --profile_dir=/tmp/prof
for m in memorygan dcgan; do
  part profile.txt 60 python3 -m benchmarks.profile_summary --trace_dir=/tmp/prof/$m \
      --steps=10 --top=30
done
tar czf "$OUT/prof.tgz" -C /tmp prof 2>/dev/null
for rule in batched sequential; do
  part rules.txt 60 python3 -m benchmarks.train_step --config=fashion --synthetic_data \
      --steps=$STEPS --models=memorygan --config.memory.write_rule=$rule
done
echo "== done $(date +%H:%M:%S); files in $OUT"
