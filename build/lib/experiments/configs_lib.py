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


def _one_line(error: BaseException) -> str:
  text = str(error).strip()
  if len(text) > 1 and text[0] == text[-1] and text[0] in '\'"':  # KeyError's repr quotes
    text = text[1:-1]
  text = text.replace('\\n', ' ').replace('\\\'', "'").replace('\n', ' ')
  return ' '.join(text.split())


def parse_flags_with_config_names(argv: list[str]):
  """An absl flags_parser: resolves config names, then parses. A user's mistake (an unknown
  config name or flag, a misspelt or mistyped override, a file that is not a config) exits
  with status 2 and one line that says what to do, never a traceback."""
  from absl import flags
  try:
    argv = resolve_argv(argv)
    return flags.FLAGS(argv)
  except UnknownConfigError as e:
    message = str(e)
  except flags.Error as e:  # unknown flags, values of the wrong type
    message = _one_line(e)
  except (AttributeError, KeyError) as e:  # an override of a field the config has not
    message = (f'{_one_line(e)} (an override names a field the config does not have; '
               'experiments/configs/base.py lists every field)')
  except (TypeError, ValueError) as e:  # an override of the wrong type
    message = f'{_one_line(e)} (check the type of the --config.FIELD=VALUE overrides)'
  except (SyntaxError, ImportError, OSError) as e:  # --config=a file that is not a config
    message = (f'the --config file could not be loaded as a config ({type(e).__name__}: '
               f'{_one_line(e)}); give a name ({", ".join(config_names())}) or a Python '
               'file with get_config()')
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)
