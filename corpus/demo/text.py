"""Sentences for the synthetic corpora, from the hand-written word lists in `corpus/demo_text/<lang>.json`.

Each file has slots (lists of words or short phrases) and templates with `{SLOT}` placeholders.
`DemoText.sentences(n, seed=...)` fills templates deterministically and returns n distinct sentences;
the same seed always gives the same list, and a longer list starts with the shorter one.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["DemoText", "demo_languages"]

_SLOT = re.compile(r"\{([A-Z_]+)\}")


def demo_languages() -> tuple[str, ...]:
    folder = resources.files("corpus") / "demo_text"
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json")))


@dataclass(frozen=True)
class DemoText:
    language: str
    name: str
    slots: dict[str, tuple[str, ...]]
    templates: tuple[str, ...]
    keywords: tuple[str, ...]

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def load(language: str) -> "DemoText":
        path = resources.files("corpus") / "demo_text" / f"{language}.json"
        if not path.is_file():
            raise ValueError(f"no demo text for language {language!r}; available: {', '.join(demo_languages())}")
        data = json.loads(path.read_text(encoding="utf-8"))
        slots = {name: tuple(values) for name, values in data["slots"].items()}
        templates = tuple(data["templates"])
        for template in templates:
            missing = set(_SLOT.findall(template)) - set(slots)
            if missing:
                raise ValueError(f"{path}: template {template!r} uses unknown slot(s) {sorted(missing)}")
        return DemoText(language=data["language"], name=data["name"], slots=slots, templates=templates,
                        keywords=tuple(data["keywords"]))

    def fill(self, template: str, rng: np.random.Generator) -> str:
        sentence = _SLOT.sub(lambda m: self.slots[m.group(1)][int(rng.integers(len(self.slots[m.group(1)])))],
                             template)
        return sentence[:1].upper() + sentence[1:]

    def sentences(self, count: int, *, seed: int = 0) -> list[str]:
        """`count` distinct sentences; templates are used in turn so every slot word appears often."""
        rng = np.random.default_rng([seed, 0xD3E0])
        order = rng.permutation(len(self.templates))
        seen: set[str] = set()
        out: list[str] = []
        attempts = 0
        while len(out) < count:
            template = self.templates[order[attempts % len(order)]]
            attempts += 1
            sentence = self.fill(template, rng)
            if sentence not in seen:
                seen.add(sentence)
                out.append(sentence)
            if attempts > 50 * count + 1000:
                raise ValueError(f"{self.language}: templates cannot make {count} distinct sentences "
                                 f"(got {len(out)})")
        return out

    def vocabulary(self) -> set[str]:
        words = set()
        for values in self.slots.values():
            for value in values:
                words.update(value.split())
        for template in self.templates:
            words.update(_SLOT.sub(" ", template).split())
        return words
