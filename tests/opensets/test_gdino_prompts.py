"""Splitting candidate labels into prompts under the text limit; tokens -> labels; phrase -> label; NMS merge."""

from __future__ import annotations

import random

import pytest

from discover_opensets.prompts import plan_prompts, prompt_text, token_labels

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tokenizer(tiny_gdino):
    from transformers import GroundingDinoProcessor

    return GroundingDinoProcessor.from_pretrained(str(tiny_gdino)).tokenizer


def count(tokenizer):
    return lambda texts: [len(x) for x in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def labels_of_varied_length(n, seed=0):
    rng = random.Random(seed)
    pool = ["cat", "dog", "traffic light", "fire hydrant", "potted plant", "stop sign", "hair dryer", "street light"]
    out = []
    for i in range(n):
        words = [rng.choice(pool) for _ in range(rng.randint(1, 4))] + [f"w{i}"]
        out.append(" ".join(words))
    return out


def test_300_labels_give_several_prompts_under_the_limit_and_no_label_is_cut(tokenizer):
    labels = labels_of_varied_length(300)
    prompts = plan_prompts(labels, count(tokenizer), 256)
    assert len(prompts) > 3
    for p in prompts:
        ids = tokenizer(p.text)["input_ids"]
        assert len(ids) <= 256
        for i, (a, b) in zip(p.labels, p.spans):
            assert p.text[a:b] == prompt_text(labels[i])
    placed = sorted(i for p in prompts for i in p.labels)
    assert placed == list(range(300))  # every label in exactly one prompt, none dropped
    # the greedy packing fills prompts: no two neighbours would fit into one
    sizes = [len(tokenizer(p.text)["input_ids"]) for p in prompts]
    assert all(a + b - 2 > 256 for a, b in zip(sizes, sizes[1:]))


def test_limit_is_respected_for_small_limits(tokenizer):
    labels = labels_of_varied_length(50, seed=3)
    for limit in (16, 33, 64):
        prompts = plan_prompts(labels, count(tokenizer), limit)
        assert all(len(tokenizer(p.text)["input_ids"]) <= limit for p in prompts)
        fits = [i for i, lab in enumerate(labels) if count(tokenizer)([prompt_text(lab)])[0] + 1 <= limit - 2]
        assert sorted(i for p in prompts for i in p.labels) == fits  # only labels too long alone are left out


def test_dots_in_labels_do_not_split_them(tokenizer):
    prompts = plan_prompts(["St. Bernard", "cat"], count(tokenizer), 256)
    assert prompts[0].text == "st bernard. cat." and prompts[0].labels == (0, 1)


def test_tokens_know_their_label(tokenizer):
    labels = ["traffic light", "cat", "fire hydrant"]
    (p,) = plan_prompts(labels, count(tokenizer), 256)
    enc = tokenizer(p.text, return_offsets_mapping=True)
    owners = token_labels(p, enc["offset_mapping"])
    words = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    assert list(zip(words, owners)) == [("[CLS]", -1), ("traffic", 0), ("light", 0), (".", -1), ("cat", 1),
                                        (".", -1), ("fire", 2), ("hydrant", 2), (".", -1), ("[SEP]", -1)]


def test_phrase_maps_to_exactly_one_label():
    from discover_opensets.merge import assign_labels

    # tokens: CLS, traffic(0), light(0), ., light(1), ., cat(2), ., SEP
    owners = [-1, 0, 0, -1, 1, -1, 2, -1, -1]
    probs = torch.zeros(4, 12)
    probs[0, [1, 2, 4]] = torch.tensor([0.8, 0.9, 0.9])   # both words of "traffic light" and "light" light up
    probs[1, 4] = 0.7                                     # "light" alone
    probs[2, 6] = 0.2                                     # below text_threshold
    probs[3, [1, 6]] = torch.tensor([0.3, 0.6])           # a phrase spanning two labels: the stronger one wins
    labels, scores = assign_labels(probs, owners, 3, text_threshold=0.25)
    assert labels.tolist() == [0, 1, -1, 2]
    assert scores.tolist() == pytest.approx([0.9, 0.7, 0.0, 0.6])


def test_merge_is_class_aware():
    from discover_opensets.merge import merge_detections

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], dtype=torch.float)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    labels = torch.tensor([0, 0, 1, 0])
    assert merge_detections(boxes, scores, labels, 0.5).tolist() == [0, 2, 3]
    assert merge_detections(boxes, scores, labels, 0.5, max_regions=2).tolist() == [0, 2]
    assert merge_detections(boxes, scores, torch.zeros(4, dtype=torch.long), 0.5).tolist() == [0, 3]
