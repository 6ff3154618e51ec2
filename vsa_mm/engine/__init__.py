"""Integration with MMEngine's runner: loading, atomic saving, exact resume."""
from .atomic_io import (AtomicLocalBackend, atomic_write_bytes,
                        register_atomic_local_backend)
from .checkpoint_loaders import register_checkpoint_loaders
from .exact_resume_hook import ExactResumeHook
from .launch import build_runner, prepare_cpu_distributed
from .pretrained_guard import RequirePretrainedHook

__all__ = [
    'AtomicLocalBackend', 'atomic_write_bytes',
    'register_atomic_local_backend', 'register_checkpoint_loaders',
    'ExactResumeHook', 'build_runner', 'prepare_cpu_distributed',
    'RequirePretrainedHook'
]
