"""vsa_mm's pieces of an MMEngine run: hooks and the compiled-step helper.

Importing it registers the hooks (``vsa_mm.ExactResumeHook``,
``vsa_mm.RequirePretrainedHook``) and changes nothing of MMEngine's.
"""
from .compile_train_step import keep_optimizer_step_eager
from .exact_resume_hook import ExactResumeHook
from .pretrained_guard import RequirePretrainedHook

__all__ = [
    'keep_optimizer_step_eager', 'ExactResumeHook', 'RequirePretrainedHook'
]
