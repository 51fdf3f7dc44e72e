"""Test-session set-up: 8 host CPU devices, so pmap tests run on any machine.

XLA reads XLA_FLAGS once, when JAX first starts a backend, so this must run before any test
module touches JAX; conftest.py is imported first.
"""

import os

_FLAG = '--xla_force_host_platform_device_count=8'
if _FLAG not in os.environ.get('XLA_FLAGS', ''):
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') + ' ' + _FLAG).strip()
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
