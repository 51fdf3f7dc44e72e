r"""Trains MemoryGAN (or its DCGAN baseline): checkpoints, resumes, logs, samples.

    python -m experiments.train --config=fashion --workdir=runs/fashion
    python -m experiments.train --config=cifar10 --config.batch_size=128 --workdir=...

--config is a name from experiments/configs/ (fashion, fashion_dcgan, mnist, affmnist,
cifar10, celeba, chairs) or a path to a config file; --config.KEY=VALUE overrides a field
(the config is locked: a misspelt key fails). Rerunning the same command resumes from the
newest good checkpoint in --workdir.
"""

import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from experiments import configs_lib

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config: a name in experiments/configs/ or a file path.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory: checkpoints, logs, samples. '
                               'Default: runs/<data name>_<model kind>, e.g. '
                               'runs/fashion_memory.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  # Imported here so that `--help` and config errors answer before JAX starts.
  from mgan_jax.train import checkpoints, trainer
  from mgan_jax import data
  config = _CONFIG.value
  if config is None:
    raise app.UsageError(f'--config is required; one of: {", ".join(configs_lib.config_names())}')
  workdir = _WORKDIR.value or f'runs/{config.data.name}_{config.model.kind}'
  try:
    trainer.train_and_evaluate(config, workdir)
  except trainer.StoppedBySignal as e:
    print(str(e), file=sys.stderr)
    sys.exit(e.exit_code)
  except KeyboardInterrupt:  # before the first step, or a second Ctrl-C
    print('interrupted; the last checkpoint (if any) is kept: rerun the same command to '
          'resume.', file=sys.stderr)
    sys.exit(130)
  except (data.DatasetNotFoundError, checkpoints.CheckpointMismatchError,
          trainer.NonFiniteLossError, trainer.ConfigError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)


if __name__ == '__main__':
  app.run(main, flags_parser=configs_lib.parse_flags_with_config_names)
