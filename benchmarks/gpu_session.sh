#!/usr/bin/env bash
# The GPU checks of issue 16 as one prepared run, for a session that is lent an accelerator
# (the device tool: one machine, 15 minutes of device time a session, start-up included).
#
#   here, once:  echo /.whl/ >> .git/info/exclude; mkdir -p .whl
#                pip download --no-deps --only-binary=:all: --python-version 3.12 \
#                    --implementation cp --platform any -d .whl ml_collections==1.1.0
#   device.run:  command "bash benchmarks/gpu_session.sh", carry [".whl"], timeout_s 560
#   here:        SMOKE=1 bash benchmarks/gpu_session.sh      # the same script, tiny sizes, CPU
#
# The machine's image has jax (CUDA), flax, optax, chex, absl-py and orbax; ml_collections
# travels as a wheel. Synthetic images throughout (no data set travels): the step's cost does
# not depend on the pixels. Each part has its own time limit, so one that hangs or fails
# leaves the others' numbers; everything lands in $OUT (at most 8 files come back):
#   device.txt   nvidia-smi, jax devices and versions
#   steps.txt    the train step, MemoryGAN and DCGAN side by side: fashion and cifar10
#                (step ms, images/s, memory overhead, share of the matmul peak)
#   memory.txt   read + write against the bare matmul, 16k to 1M slots, two write rules
#   topk.txt     approx_max_k's recall and speed against lax.top_k
#   torch.txt    the fashion step against the same model in PyTorch on the same GPU
# Record the numbers and the device in WORKSPACE.md's results log.
OUT_DEFAULT=/tmp/gpu_session_out
source "$(dirname "$0")/gpu_common.sh"

if [ "${SMOKE:-0}" = 1 ]; then
  STEPS=10; LIMIT=200
  SIZES=1024:64:16:32,4096:64:32:64
  TOPK=16:4096:64
else
  STEPS=60; LIMIT=100  # 5 parts: at most 470 s of the 560 s call
  SIZES=16384:512:64:256,65536:512:256:256,262144:512:256:256,1048576:512:256:256
  TOPK=64:16384:256,256:262144:256,256:1048576:256
fi


{ nvidia-smi 2>&1 | head -15
  python3 -c 'import jax, flax, optax; print("jax", jax.__version__, "flax", flax.__version__,
"optax", optax.__version__); print(jax.devices())' 2>&1; } > "$OUT/device.txt"
cat "$OUT/device.txt"

part steps.txt "$LIMIT" python3 -m benchmarks.train_step --config=fashion --synthetic_data \
    --steps=$STEPS
[ "${SMOKE:-0}" = 1 ] ||  # the cifar10 nets take minutes to compile on a CPU
  part steps.txt "$LIMIT" python3 -m benchmarks.train_step --config=cifar10 --synthetic_data \
      --steps=$STEPS
part memory.txt 130 python3 -m benchmarks.memory --sizes=$SIZES \
    --write_rule=batched,proposals --repeats=10 --json="$OUT/memory.json"
part topk.txt 50 python3 -m benchmarks.topk_recall --sizes=$TOPK
if [ "${SMOKE:-0}" = 1 ]; then
  part torch.txt 200 python3 -m benchmarks.torch_fashion --synthetic_data --steps=10 \
      --components=false
else  # the image's python3 holds PyTorch (CUDA); JAX runs on its default backend, the GPU
  part torch.txt 90 python3 -m benchmarks.torch_fashion --synthetic_data --steps=60 \
      --torch_device=cuda
fi
echo "== done $(date +%H:%M:%S); files in $OUT"
