"""How closely a deployed model's predictions follow PyTorch's.

Detections are matched one to one by class and box overlap, since two runs
may order equal-scored detections differently; segmentation maps are
compared pixel by pixel. The functions take plain tensors, so they serve
any backend and any OpenMMLab codebase.
"""
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor
from torchvision.ops import box_iou


@dataclass(frozen=True)
class DetectionParity:
    """Agreement of the ``top_k`` reference detections with a candidate's.

    Attributes:
        top_k (int): Reference detections compared (the highest-scored).
        matched (int): How many of them the candidate has: same class, box
            IoU >= the threshold, score within the tolerance.
        worst_box_iou (float): Lowest box IoU over the ``top_k`` (each
            with its best same-class candidate; 0 when there is none).
        worst_score_diff (float): Largest score difference over the same
            pairs (``inf`` when a detection has no candidate).
        worst_mask_iou (float, optional): Lowest mask IoU over the same
            pairs; None without masks.
        matched_all (int): How many of all reference detections are matched
            (not only the top k).
        total (int): Number of reference detections.
    """
    top_k: int
    matched: int
    worst_box_iou: float
    worst_score_diff: float
    worst_mask_iou: Optional[float]
    matched_all: int
    total: int

    @property
    def ok(self) -> bool:
        """Whether every one of the top ``top_k`` detections matched."""
        return self.matched == self.top_k


def _best_candidates(ref_boxes: Tensor, ref_labels: Tensor, boxes: Tensor,
                     labels: Tensor) -> tuple:
    """For every reference box, the same-class candidate of highest IoU:
    (IoU (N, ), index (N, ); IoU 0 and index -1 when there is none)."""
    if len(ref_boxes) == 0 or len(boxes) == 0:
        return (ref_boxes.new_zeros(len(ref_boxes)),
                torch.full((len(ref_boxes), ), -1, dtype=torch.long))
    ious = box_iou(ref_boxes.float(), boxes.float())
    ious[ref_labels[:, None] != labels[None, :]] = -1
    best, index = ious.max(dim=1)
    index[best < 0] = -1
    return best.clamp(min=0), index


def _mask_iou(a: Tensor, b: Tensor) -> float:
    union = (a | b).sum().item()
    return 1.0 if union == 0 else (a & b).sum().item() / union


def compare_detections(reference: dict,
                       candidate: dict,
                       top_k: int = 10,
                       iou_threshold: float = 0.99,
                       score_tolerance: float = 1e-3) -> DetectionParity:
    """Match a candidate's detections to the reference's.

    Args:
        reference (dict): ``bboxes`` (N, 4) xyxy, ``scores`` (N, ),
            ``labels`` (N, ) and optionally ``masks`` (N, H, W) bool, e.g.
            ``DetDataSample.pred_instances`` of PyTorch as a dict.
        candidate (dict): The same keys, for the deployed model (M
            detections).
        top_k (int): Compare the reference's ``top_k`` highest-scored
            detections (all of them if there are fewer).
        iou_threshold (float): Lowest box IoU of a match.
        score_tolerance (float): Largest score difference of a match.

    Returns:
        DetectionParity: The agreement.

    Raises:
        ValueError: If ``top_k`` < 1.
    """
    if top_k < 1:
        raise ValueError(f'top_k must be >= 1, got {top_k}')
    order = reference['scores'].argsort(descending=True)
    ref = {key: value[order] for key, value in reference.items()}
    best_iou, index = _best_candidates(ref['bboxes'], ref['labels'],
                                       candidate['bboxes'],
                                       candidate['labels'])
    found = index >= 0
    score_diff = torch.full_like(ref['scores'], float('inf'))
    score_diff[found] = (ref['scores'][found] -
                         candidate['scores'][index[found]]).abs()
    matched = (best_iou >= iou_threshold) & (score_diff <= score_tolerance)
    count = min(top_k, len(order))
    mask_ious = None
    if 'masks' in ref and 'masks' in candidate:
        mask_ious = [
            _mask_iou(ref['masks'][i], candidate['masks'][index[i]])
            if found[i] else 0.0 for i in range(count)
        ]
    return DetectionParity(
        top_k=count,
        matched=int(matched[:count].sum()),
        worst_box_iou=float(best_iou[:count].min()) if count else 1.0,
        worst_score_diff=float(score_diff[:count].max()) if count else 0.0,
        worst_mask_iou=min(mask_ious, default=1.0)
        if mask_ious is not None else None,
        matched_all=int(matched.sum()),
        total=len(order))


def segmentation_agreement(reference: Tensor, candidate: Tensor) -> float:
    """Fraction of pixels with the same class.

    Args:
        reference (Tensor): Class map of shape (H, W) or (1, H, W).
        candidate (Tensor): Class map of the same shape.

    Returns:
        float: In [0, 1].

    Raises:
        ValueError: If the shapes differ.
    """
    if reference.shape != candidate.shape:
        raise ValueError(
            f'class maps differ in shape: {tuple(reference.shape)}'
            f' and {tuple(candidate.shape)}')
    return (reference == candidate).float().mean().item()
