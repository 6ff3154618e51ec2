"""Reading and writing checkpoints safely.

``safe_load``: ``torch.load(weights_only=True)`` everywhere, the allowlist
for MMEngine checkpoints (registered by ``import vsa_mm``) and one-line
explanations of refusals; ``history_buffers``: MMEngine's history buffers
read without ``getattr``; ``atomic_io``: files written atomically.
"""
from .atomic_io import AtomicLocalBackend, atomic_write_bytes, atomic_writer
from .safe_load import (UnsafeCheckpointError, check_checkpoint_file,
                        load_checkpoint_file, load_http_checkpoint,
                        mmengine_safe_globals, register_mmengine_safe_globals)

__all__ = [
    'AtomicLocalBackend', 'atomic_write_bytes', 'atomic_writer',
    'UnsafeCheckpointError', 'check_checkpoint_file', 'load_checkpoint_file',
    'load_http_checkpoint', 'mmengine_safe_globals',
    'register_mmengine_safe_globals'
]
