"""The comparison of deployed predictions with PyTorch's, on hand-made
detections and class maps."""
import pytest
import torch

from vsa_mm.deployment.parity import compare_detections, segmentation_agreement


def _detections(boxes, scores, labels, masks=None):
    out = dict(
        bboxes=torch.tensor(boxes, dtype=torch.float32),
        scores=torch.tensor(scores),
        labels=torch.tensor(labels))
    if masks is not None:
        out['masks'] = masks
    return out


def _masks(*boxes):
    masks = torch.zeros(len(boxes), 20, 20, dtype=torch.bool)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        masks[i, y0:y1, x0:x1] = True
    return masks


def test_reordered_equal_detections_match():
    boxes = [[0, 0, 10, 10], [5, 5, 15, 15], [2, 2, 4, 4]]
    reference = _detections(boxes, [0.9, 0.8, 0.1], [0, 1, 0], _masks(*boxes))
    candidate = _detections(boxes[::-1], [0.1, 0.8, 0.9005], [0, 1, 0],
                            _masks(*boxes[::-1]))
    parity = compare_detections(reference, candidate, top_k=2)
    assert parity.ok and (parity.matched, parity.top_k) == (2, 2)
    assert parity.worst_box_iou == pytest.approx(1.0)
    assert parity.worst_score_diff == pytest.approx(5e-4, abs=1e-6)
    assert parity.worst_mask_iou == 1.0
    assert (parity.matched_all, parity.total) == (3, 3)


def test_other_class_shifted_box_or_score_do_not_match():
    reference = _detections([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8],
                            [0, 1])
    # Same box, other class; a box shifted by one pixel (IoU 0.82).
    candidate = _detections([[0, 0, 10, 10], [21, 20, 31, 30]], [0.9, 0.8],
                            [1, 1])
    parity = compare_detections(reference, candidate, top_k=2)
    assert not parity.ok and parity.matched == 0
    assert parity.worst_box_iou == 0.0  # no class-0 candidate at all
    assert parity.worst_mask_iou is None
    assert parity.worst_score_diff == float('inf')
    second = compare_detections(
        _detections([[20, 20, 30, 30]], [0.8], [1]), candidate, top_k=1)
    assert second.worst_box_iou == pytest.approx(90 / 110)
    low_score = _detections([[0, 0, 10, 10]], [0.85], [0])
    assert compare_detections(reference, low_score, top_k=1).matched == 0


def test_top_k_counts_the_highest_scored_only():
    reference = _detections([[0, 0, 10, 10], [20, 20, 30, 30]], [0.2, 0.9],
                            [0, 0])
    candidate = _detections([[20, 20, 30, 30]], [0.9], [0])
    parity = compare_detections(reference, candidate, top_k=1)
    assert parity.ok and (parity.matched_all, parity.total) == (1, 2)
    empty = _detections(torch.zeros(0, 4).tolist(), [], [])
    assert compare_detections(reference, empty, top_k=5).matched == 0
    with pytest.raises(ValueError, match='top_k must be >= 1, got 0'):
        compare_detections(reference, candidate, top_k=0)


def test_segmentation_agreement():
    a = torch.tensor([[0, 1], [2, 3]])
    assert segmentation_agreement(a, a.clone()) == 1.0
    assert segmentation_agreement(a, torch.tensor([[0, 1], [2, 0]])) == 0.75
    with pytest.raises(ValueError, match=r'\(2, 2\) and \(1, 2, 2\)'):
        segmentation_agreement(a, a[None])
