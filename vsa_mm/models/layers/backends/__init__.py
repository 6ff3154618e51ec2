"""Backends of the varied-window attention, one file each.

``reference`` (``grid_sample``), ``gather`` (a bilinear row gather as
``torch.library`` ops) and ``triton_fused`` (one fused Triton kernel each
way; its kernels are in ``triton_kernels``, imported on first use).
"""
