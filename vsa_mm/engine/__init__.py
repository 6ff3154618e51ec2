"""Integration with MMEngine's runner: safe loading, atomic saving, resume."""
from .atomic_io import (AtomicLocalBackend, atomic_write_bytes, atomic_writer,
                        register_atomic_local_backend)
from .compile_train_step import (keep_optimizer_step_eager,
                                 register_eager_optimizer_step)
from .exact_resume_hook import ExactResumeHook
from .launch import build_runner, prepare_cpu_distributed
from .pretrained_guard import RequirePretrainedHook
from .safe_load import (OFFICIAL_CHECKPOINT_GLOBALS, UnsafeCheckpointError,
                        load_checkpoint_file, load_http_checkpoint,
                        mmengine_safe_globals, register_mmengine_safe_globals,
                        register_weights_only_http_loader)
from .side_effects import applied as applied_side_effects

__all__ = [
    'AtomicLocalBackend', 'atomic_write_bytes', 'atomic_writer',
    'register_atomic_local_backend', 'keep_optimizer_step_eager',
    'register_eager_optimizer_step', 'ExactResumeHook', 'build_runner',
    'prepare_cpu_distributed', 'RequirePretrainedHook',
    'OFFICIAL_CHECKPOINT_GLOBALS', 'UnsafeCheckpointError',
    'load_checkpoint_file', 'load_http_checkpoint', 'mmengine_safe_globals',
    'register_mmengine_safe_globals', 'register_weights_only_http_loader',
    'applied_side_effects'
]
