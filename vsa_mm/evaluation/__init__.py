"""Evaluation metrics for MMEngine evaluators (ImageNet-ReaL accuracy)."""
from .real_accuracy import ReaLAccuracy, check_topk, load_real_labels

__all__ = ['ReaLAccuracy', 'check_topk', 'load_real_labels']
