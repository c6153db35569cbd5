"""Shared helpers of the head parity tests (test_ner_parity.py, test_classify_parity.py).

Tiny random-weight models give near-uniform label scores, which would make every NER test
trivially "all one label". :func:`calibrate_token_head` re-draws the token classifier so that
labels depend on the token (its hidden state, standardised over a small corpus) and a fair share
of tokens get confident B-/I- labels, while "O" stays the most common label. The weights are
still seeded random numbers: this checks Ember's code path, not model quality.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer

from tests.tiny_models import Arch, make_tiny_model

BIO_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")

#: Texts where offsets usually break: accents, CJK, emoji (ZWJ sequences, flags), runs of
#: whitespace, unknown characters, plus plain English with capitalised names.
TEXTS = (
    "Angela Merkel met Emmanuel Macron and Joe Biden in Paris on Tuesday.",
    "Schwarzenegger unbelievably visited Tokyo-based Mitsubishi Heavy Industries Ltd.",
    "Jürgen Müller-Lüdenscheidt arrived in Zürich; Ångström, café, naïve résumé.",
    "東京タワーで山田太郎さんに会った。北京和上海是中国的城市。",
    "Hello 🤗 world 👩‍👩‍👧 from 🇫🇷 Paris and São Paulo 😀!",
    "Spaces   between\t\ttabs\n\nand  newlines   Microsoft   Corp  ",
    "ᚠᛇᚻ runes ☃ snowman and Zoë Saldaña at the Café Müller.",
    "x",
)


def calibrate_token_head(path: Path, *, seed: int = 0, logit_std: float = 3.0) -> None:
    """Re-draw the token-classification head of the model at ``path`` and save it in place.

    The new head is a seeded random projection of the standardised hidden states, scaled so that
    the logits have a standard deviation of ``logit_std``, with a +2 bias on label 0 ("O").
    """
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForTokenClassification.from_pretrained(str(path)).eval()
    batch = tokenizer(list(TEXTS), padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model.base_model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
    states = hidden[batch["attention_mask"].bool()]
    mean = states.mean(dim=0)
    std = (states - mean).std(dim=0) + 1e-6
    generator = torch.Generator().manual_seed(seed)
    direction = torch.randn(model.config.num_labels, states.shape[1], generator=generator)
    weight = direction / std
    spread = ((states - mean) @ weight.T).std()
    weight = weight * (logit_std / spread)
    bias = -(weight @ mean)
    bias[0] += 2.0
    head = model.classifier
    with torch.no_grad():
        head.weight.copy_(weight)
        head.bias.copy_(bias)
    model.save_pretrained(str(path))


def label_names(path: Path) -> tuple[str, ...]:
    """The model's id2label names in id order."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(path))
    return tuple(config.id2label[i] for i in range(config.num_labels))


def non_trivial(results: Sequence[Sequence[str]]) -> bool:
    """Whether predictions name at least two entity types (the test is not degenerate)."""
    return len({label for labels in results for label in labels}) >= 2


def build_token_classifier(dst: Path, arch: Arch) -> Path:
    """A calibrated tiny token classifier with BIO labels and the real tokenizer of its kind."""
    path = make_tiny_model(
        dst,
        arch=arch,
        head="token-classification",
        id2label=dict(enumerate(BIO_LABELS)),
    )
    calibrate_token_head(path)
    return path


def build_sequence_classifier(
    dst: Path, arch: Arch, *, num_labels: int, problem_type: str | None = None
) -> Path:
    """A tiny sequence classifier (random weights) with the real tokenizer of its kind."""
    id2label = {0: "LABEL_0"} if num_labels == 1 else {i: f"class_{i}" for i in range(num_labels)}
    return make_tiny_model(
        dst,
        arch=arch,
        head="sequence-classification",
        id2label=id2label,
        problem_type=problem_type,
    )
