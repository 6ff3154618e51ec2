"""Integration with MMEngine's runner: loading, atomic saving, exact resume."""
from .atomic_io import (AtomicLocalBackend, atomic_write_bytes,
                        register_atomic_local_backend)
from .checkpoint_loaders import register_checkpoint_loaders
from .exact_resume_hook import ExactResumeHook
from .launch import needs_cpu_distributed, prepare_cpu_distributed

__all__ = [
    'AtomicLocalBackend', 'atomic_write_bytes',
    'register_atomic_local_backend', 'register_checkpoint_loaders',
    'ExactResumeHook', 'needs_cpu_distributed', 'prepare_cpu_distributed'
]
