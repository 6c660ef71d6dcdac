"""Per-query token scores -> one candidate label per detection, and the merge of several prompts' detections."""

from __future__ import annotations

from typing import Sequence


def assign_labels(probs, token_label: Sequence[int], n_labels: int, text_threshold: float):
    """For each query, the label its phrase is (an index into the prompt's labels, -1: none) and its score.

    ``probs`` is ``(queries, tokens)`` (sigmoid of the logits); ``token_label`` gives each token's label
    (-1: not a label token). A query's phrase is its tokens scoring above ``text_threshold`` (as in Grounding
    DINO); the label is the one that holds most of the phrase (the largest sum of its phrase tokens' scores,
    so "traffic light" beats "light" when both words light up); its score is the largest token score of that
    label. Returns ``(labels, scores)`` tensors of shape ``(queries,)``.
    """
    import torch

    q = probs.shape[0]
    idx = torch.as_tensor(list(token_label[: probs.shape[1]]) + [-1] * max(0, probs.shape[1] - len(token_label)),
                          device=probs.device)
    if n_labels == 0 or q == 0:
        return torch.full((q,), -1, dtype=torch.long), torch.zeros(q)
    member = torch.stack([idx == j for j in range(n_labels)], dim=1).to(probs.dtype)  # (T, L)
    phrase = torch.where(probs > text_threshold, probs, torch.zeros_like(probs))
    mass = phrase @ member                                                                # (Q, L)
    masked = probs.unsqueeze(-1) * member.unsqueeze(0) + (member.unsqueeze(0) - 1)        # non-members < 0
    peak = masked.amax(dim=1)                                                             # (Q, L)
    has_phrase = peak > text_threshold
    mass = torch.where(has_phrase, mass, torch.full_like(mass, -1.0))
    best = mass.argmax(dim=1)
    found = has_phrase.gather(1, best[:, None])[:, 0]
    scores = peak.gather(1, best[:, None])[:, 0]
    labels = torch.where(found, best, torch.full_like(best, -1))
    return labels, torch.where(found, scores, torch.zeros_like(scores))


def merge_detections(boxes, scores, labels, iou: float, max_regions: int | None = None):
    """Class-aware non-maximum suppression (``torchvision.ops.batched_nms``) over the detections of all prompts:
    indices of the kept ones, best first."""
    import torch
    from torchvision.ops import batched_nms

    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    keep = batched_nms(boxes.float(), scores.float(), labels, iou)
    return keep[:max_regions] if max_regions else keep
