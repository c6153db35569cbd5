"""The fixed text corpus the benchmark and the precision tests share.

``accuracy_corpus()`` is 200 texts of mixed lengths (a few words up to past the model's 256-token
limit), built deterministically from the sentences below with a seeded generator, so the accuracy
table in ``benchmarks/results-<kind>/RESULTS.md`` and ``tests/parity/test_cpu_precision.py``
measure the same inputs on every machine. ``long_texts`` / ``short_texts`` build the two
throughput workloads. No data set is downloaded: the sentences are written for this file.
"""

from __future__ import annotations

import random

SENTENCES: tuple[str, ...] = (
    "The committee postponed its decision on the new bridge until the engineers finish their "
    "survey of the riverbed.",
    "Photosynthesis converts light energy into chemical energy stored in glucose molecules.",
    "She ordered a flat white, sat by the window and watched the rain wash the street clean.",
    "Interest rates rose for the third quarter in a row, and mortgage applications fell sharply.",
    "The patient reported mild headaches after the second dose, which resolved within two days.",
    "A binary search tree keeps its keys ordered so that lookups take logarithmic time on average.",
    "Our hiking group reached the summit just before noon and shared sandwiches in the wind.",
    "The museum's new wing displays ceramics from the Ming dynasty alongside modern glasswork.",
    "Please restart the router, wait thirty seconds, and then check whether the light turns green.",
    "The striker scored twice in the final ten minutes to secure the championship title.",
    "Glaciers in the region have lost nearly a third of their volume since the 1980s.",
    "To reset your password, open the settings page and follow the link sent to your email.",
    "The novel follows three generations of a fishing family on a small northern island.",
    "Quantum computers exploit superposition and entanglement to explore many states at once.",
    "He replaced the worn brake pads, bled the lines and took the car for a careful test drive.",
    "The city council approved funding for twelve new kilometres of protected bicycle lanes.",
    "Add the flour gradually, stirring constantly so that no lumps form in the sauce.",
    "Volcanic soil is unusually fertile, which is why vineyards thrive on the slopes of Etna.",
    "The server returned a timeout error because the upstream database was overloaded.",
    "Migratory birds navigate using the Earth's magnetic field, the stars and familiar landmarks.",
    "The contract may be terminated by either party with ninety days of written notice.",
    "Children learn languages faster when they hear them spoken in everyday situations.",
    "The telescope captured faint light from a galaxy more than ten billion years old.",
    "Shipping delays at the port have pushed up prices for furniture and electronics.",
    "Regular stretching improves flexibility and can reduce the risk of muscle injuries.",
    "The orchestra rehearsed the symphony's slow movement until the strings sounded as one.",
    "Encryption keys should be rotated regularly and never stored next to the data they protect.",
    "Farmers in the valley switched to drip irrigation after two years of severe drought.",
    "The documentary explores how coral reefs recover after bleaching events.",
    "Our quarterly revenue grew by eight percent, driven mostly by subscriptions in Europe.",
    "Wie spät ist es? Der Zug nach Berlin fährt um halb acht vom dritten Gleis ab.",
    "La reunión se aplazó hasta el jueves porque faltaban varios miembros del equipo.",
    "Le musée ouvre ses portes à neuf heures et ferme tard le vendredi soir.",
    "The gradient of the loss with respect to each weight is computed by backpropagation.",
    "A sudden frost in late spring damaged most of the apple blossoms in the orchard.",
    "The airline apologised for the cancellation and offered vouchers to every passenger.",
    "Archaeologists uncovered a Roman mosaic beneath the floor of the old parish hall.",
    "Store the vaccine between two and eight degrees Celsius and protect it from light.",
    "The startup raised forty million dollars to expand its battery recycling plants.",
    "Tides are caused mainly by the gravitational pull of the Moon on the Earth's oceans.",
)

_SHORT_WORDS: tuple[str, ...] = (
    "hello world",
    "weather today",
    "reset password",
    "cheap flights",
    "bank holiday",
    "pizza near me",
    "python tutorial",
    "stock price",
    "fix leaking tap",
    "best hiking boots",
)


def _paragraph(rng: random.Random, sentences: int) -> str:
    return " ".join(rng.choice(SENTENCES) for _ in range(sentences))


def accuracy_corpus(size: int = 200, seed: int = 1234) -> list[str]:
    """``size`` texts of mixed lengths, the same on every call and machine.

    A quarter each: short queries (2-5 words), one sentence, a paragraph of 3-6 sentences, and
    long documents of 12-20 sentences (past 256 tokens, so truncation is exercised).
    """
    rng = random.Random(seed)
    texts: list[str] = []
    for i in range(size):
        bucket = i % 4
        if bucket == 0:
            texts.append(rng.choice(_SHORT_WORDS) + " " + rng.choice(SENTENCES).split()[-1])
        elif bucket == 1:
            texts.append(rng.choice(SENTENCES))
        elif bucket == 2:
            texts.append(_paragraph(rng, rng.randint(3, 6)))
        else:
            texts.append(_paragraph(rng, rng.randint(12, 20)))
    return texts


def long_texts(count: int, tokens: int = 512, seed: int = 7) -> list[str]:
    """``count`` distinct documents of at least ``tokens`` tokens for common tokenizers."""
    rng = random.Random(seed)
    # A sentence here is 12-25 tokens; one per 12 tokens (plus two) always reaches ``tokens``.
    sentences = tokens // 12 + 2
    return [f"Document {i}. " + _paragraph(rng, sentences) for i in range(count)]


def short_texts(count: int, seed: int = 11) -> list[str]:
    """``count`` distinct texts of about five tokens with special tokens (three words)."""
    rng = random.Random(seed)
    words = [w.strip(".,?;:'").lower() for s in SENTENCES[:30] for w in s.split()]
    words = [w for w in words if w.isalpha() and len(w) <= 7]
    return [f"{rng.choice(words)} {rng.choice(words)} {i}" for i in range(count)]
