"""Config names -> files, for the entry points' --config flag."""

import os
import sys

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'configs')
_NOT_EXPERIMENTS = {'__init__', 'base'}


def config_names() -> list[str]:
  return sorted(f[:-3] for f in os.listdir(CONFIG_DIR)
                if f.endswith('.py') and f[:-3] not in _NOT_EXPERIMENTS)


class UnknownConfigError(ValueError):
  pass


def resolve(value: str) -> str:
  """``NAME[:args]`` or a path -> a config file path; unknown names list the valid ones."""
  name, sep, args = value.partition(':')
  if os.path.isfile(name):
    return value
  if name in config_names():
    return os.path.join(CONFIG_DIR, f'{name}.py') + sep + args
  raise UnknownConfigError(
      f'Unknown config {name!r}. Valid names: {", ".join(config_names())} '
      f'(files in {CONFIG_DIR}), or a path to a config file.')


def resolve_argv(argv: list[str]) -> list[str]:
  """Rewrites ``--config=NAME`` / ``--config NAME`` in argv to the config file's path."""
  out = list(argv)
  for i, arg in enumerate(out):
    if arg.startswith('--config='):
      out[i] = '--config=' + resolve(arg[len('--config='):])
    elif arg == '--config' and i + 1 < len(out):
      out[i + 1] = resolve(out[i + 1])
  return out


def parse_flags_with_config_names(argv: list[str]):
  """An absl flags_parser: resolves config names, then parses; bad names exit with a list."""
  from absl import flags
  try:
    argv = resolve_argv(argv)
  except UnknownConfigError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  return flags.FLAGS(argv)
