"""Tiny, randomly initialised models of the real architectures, for tests and benchmarks (no download).

:func:`tiny_grounding_dino` writes a Grounding DINO folder (``save_pretrained``
of model and processor) built from a config: a Swin backbone with
``embed_dim`` 16, a one-layer BERT with a hand-written WordPiece vocabulary
(``[CLS]``, ``[SEP]``, ``.`` and ``?`` at BERT's ids 101, 102, 1012 and 1029,
which Grounding DINO's text masks rely on), two decoder layers (one fails in
transformers 5). Its detections are meaningless; its shapes, tokenizer and
code paths are the real ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

BERT_SPECIAL = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103, ".": 1012, "?": 1029}


def wordpiece_vocab(words: Sequence[str]) -> list[str]:
    """A WordPiece vocabulary: BERT's special tokens at their ids, ``[unusedN]`` fillers, then ``words``."""
    size = max(BERT_SPECIAL.values()) + 1
    vocab = [f"[unused{i}]" for i in range(size)]
    for tok, i in BERT_SPECIAL.items():
        vocab[i] = tok
    extra = [w for w in dict.fromkeys(words) if w not in BERT_SPECIAL]
    return vocab + extra + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"
                            if f"##{c}" not in extra] + [c for c in "abcdefghijklmnopqrstuvwxyz0123456789"
                                                          if c not in extra]


def tiny_grounding_dino(folder: str | Path, words: Sequence[str] = (), *, seed: int = 0, num_queries: int = 30,
                        image_size: int = 96) -> Path:
    """Write a tiny Grounding DINO (model + processor) into ``folder``; ``words`` join the vocabulary."""
    import torch
    from transformers import (BertConfig, BertTokenizer, GroundingDinoConfig, GroundingDinoForObjectDetection,
                              GroundingDinoImageProcessor, GroundingDinoProcessor, SwinConfig)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = wordpiece_vocab(words)
    tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=4,
                                   image_size=64, out_features=["stage2", "stage3", "stage4"]),
        text_config=BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=512),
        d_model=32, encoder_layers=1, decoder_layers=2, num_queries=num_queries, encoder_ffn_dim=64,
        decoder_ffn_dim=64, encoder_attention_heads=2, decoder_attention_heads=2, num_feature_levels=4,
        encoder_n_points=2, decoder_n_points=2, max_text_len=256)
    torch.manual_seed(seed)
    model = GroundingDinoForObjectDetection(config).eval()
    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": image_size,
                                                          "longest_edge": image_size * 4 // 3}),
        tokenizer=tokenizer)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def tiny_clip_text(folder: str | Path, *, seed: int = 0, projection_dim: int = 512) -> Path:
    """Write a tiny CLIP text model (``CLIPTextModelWithProjection`` + a character-level BPE tokenizer without
    merges) into ``folder``: the layout of ``openai/clip-vit-base-patch32``'s text half, random weights."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789")
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    config = CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                            num_attention_heads=2, projection_dim=projection_dim, max_position_embeddings=77,
                            bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                            pad_token_id=vocab["<|endoftext|>"])
    torch.manual_seed(seed)
    CLIPTextModelWithProjection(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
