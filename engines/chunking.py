"""Long inputs cut into token windows: each window is the text's tokens ``[start, start + room)``
wrapped in the model's own leading and trailing special tokens (and the prompt's tokens, when
there is one), so a window is an input of its own, exactly as its token ids would be embedded
alone. Windows overlap by ``overlap`` tokens; the last one ends at the text's last token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ember.engines.errors import InvalidInputError
from ember.engines.types import TokenInfo


@dataclass(frozen=True)
class Chunk:
    """One window: its token ids (special tokens included) and the characters it covers."""

    ids: list[int]
    start: int
    end: int


def split(tokens: Sequence[TokenInfo], *, window: int, overlap: int) -> list[Chunk]:
    """Cut one text's ``tokens`` (as ``Tokenizer.tokenize(..., add_special_tokens=True)`` gives
    them) into windows of at most ``window`` tokens overlapping by ``overlap``.

    Raises :class:`InvalidInputError` when the special tokens (and prompt) leave no room in a
    window, or when ``overlap`` is not below that room.
    """
    lead = 0
    while lead < len(tokens) and (tokens[lead].special or tokens[lead].stop == 0):
        lead += 1
    trail = len(tokens)
    while trail > lead and tokens[trail - 1].special:
        trail -= 1
    head_ids = [t.id for t in tokens[:lead]]
    tail_ids = [t.id for t in tokens[trail:]]
    body = tokens[lead:trail]
    room = window - len(head_ids) - len(tail_ids)
    if room < 1:
        raise InvalidInputError(
            f"chunks of {window} tokens leave no room for text after the model's "
            f"{len(head_ids) + len(tail_ids)} special and prompt tokens",
            field="chunking",
        )
    if not 0 <= overlap < room:
        raise InvalidInputError(
            f"chunking overlap must be between 0 and {room - 1} (a chunk holds {room} text "
            f"tokens), got {overlap}",
            field="chunking",
        )
    chunks: list[Chunk] = []
    start = 0
    while True:
        part = body[start : start + room]
        span = (part[0].start, part[-1].stop) if part else (0, 0)
        chunks.append(Chunk(head_ids + [t.id for t in part] + tail_ids, *span))
        if start + room >= len(body):
            return chunks
        start += room - overlap
