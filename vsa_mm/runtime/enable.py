"""Importing this module applies :func:`vsa_mm.runtime.install`.

For configs, which can only import modules::

    custom_imports = dict(
        imports=['vsa_mm', 'vsa_mm.runtime.enable'],
        allow_failed_imports=False)
"""
from . import install

install()
