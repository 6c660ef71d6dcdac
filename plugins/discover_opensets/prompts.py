"""Candidate labels -> text prompts for a grounder whose text encoder takes a limited number of tokens.

Grounding DINO reads a prompt ``"cat. traffic light. dog."``: labels separated
by ``.``, at most ``config.max_text_len`` (256) tokens with ``[CLS]`` and
``[SEP]``. A list of 100+ labels is split, in order, into prompts that each fit
that limit and never cut a label; each label is in exactly one prompt, and
every token of a prompt knows which label it belongs to (through the
tokenizer's character offsets), so a detected phrase maps back to one label.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

log = logging.getLogger(__name__)

SEPARATOR = ". "


@dataclass(frozen=True)
class Prompt:
    """One prompt: its text, the indices of the labels it holds (into the candidate list) and their character
    spans in ``text``."""

    text: str
    labels: tuple[int, ...]
    spans: tuple[tuple[int, int], ...]


def prompt_text(label: str) -> str:
    """A label as it is written into a prompt: lower case, no ``.`` (the separator), one space between words."""
    return " ".join(label.replace(".", " ").split()).lower()


def make_prompt(indices: Sequence[int], texts: Sequence[str]) -> Prompt:
    spans, pos, parts = [], 0, []
    for i in indices:
        t = texts[i]
        spans.append((pos, pos + len(t)))
        parts.append(t)
        pos += len(t) + len(SEPARATOR)
    return Prompt(SEPARATOR.join(parts) + ".", tuple(indices), tuple(spans))


def plan_prompts(labels: Sequence[str], count_tokens: Callable[[list[str]], list[int]], max_tokens: int,
                 special_tokens: int = 2) -> list[Prompt]:
    """Split ``labels`` into prompts of at most ``max_tokens`` tokens each (``special_tokens`` included).

    ``count_tokens(texts)`` gives the number of tokens of each text without special tokens; it is asked for
    every label once, then for every prompt, and a prompt that tokenizes longer than estimated is split
    again (so the limit holds whatever the tokenizer does at the joins). A label that alone does not fit is
    left out with a warning.
    """
    texts = [prompt_text(lab) for lab in labels]
    sizes = count_tokens(texts) if texts else []
    budget = max_tokens - special_tokens
    groups: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i, (text, n) in enumerate(zip(texts, sizes)):
        need = n + 1  # the label's tokens and its "."
        if not text or n == 0:
            continue
        if need > budget:
            log.warning("candidate label %r is %d tokens long, more than a prompt holds (%d); it is left out",
                        labels[i], n, budget - 1)
            continue
        if used + need > budget and current:
            groups.append(current)
            current, used = [], 0
        current.append(i)
        used += need
    if current:
        groups.append(current)
    return _fit([make_prompt(g, texts) for g in groups], texts, count_tokens, budget)


def _fit(prompts: list[Prompt], texts: Sequence[str], count_tokens, budget: int) -> list[Prompt]:
    if not prompts:
        return []
    real = count_tokens([p.text for p in prompts])
    out: list[Prompt] = []
    for p, n in zip(prompts, real):
        if n <= budget or len(p.labels) == 1:
            out.append(p)
            continue
        half = len(p.labels) // 2
        out += _fit([make_prompt(p.labels[:half], texts), make_prompt(p.labels[half:], texts)], texts,
                    count_tokens, budget)
    return out


def token_labels(prompt: Prompt, offsets: Sequence[tuple[int, int]]) -> list[int]:
    """For each token (its character ``offsets`` in ``prompt.text``), the position in ``prompt.labels`` of the
    label it belongs to, or -1 (special tokens, separators, padding)."""
    out = []
    for start, end in offsets:
        which = -1
        if end > start:
            for j, (a, b) in enumerate(prompt.spans):
                if a <= start and end <= b:
                    which = j
                    break
        out.append(which)
    return out
