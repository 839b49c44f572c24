"""The captions of `synth-ia` (corpus.demo.internet_archive): SubRip text from the true sentences with the
faults real IA captions have (shift, drift, jitter, merged cues, two-digit milliseconds, wrong text)."""

from __future__ import annotations

from typing import Any

import numpy as np

from corpus.formats.srt import format_timestamp

__all__ = ["render_captions", "rounded"]

_LINE_CHARS = 42  # the usual subtitle line length


def rounded(value: float) -> float:
    return round(float(value), 6)


def _wrap(text: str) -> str:
    """Two caption lines for long text, split at the space nearest the middle."""
    if len(text) <= _LINE_CHARS or " " not in text:
        return text
    middle = len(text) // 2
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    cut = min(spaces, key=lambda i: abs(i - middle))
    return text[:cut] + "\n" + text[cut + 1:]


def render_captions(sentences: list[dict[str, Any]], stretches: list[dict[str, Any]], rng: np.random.Generator, *,
                     replacement: list[str] | None, non_speech: bool, crlf: bool) -> tuple[str, dict[str, Any]]:
    """SubRip text whose times are wrong the way real captions are: offset, drift, jitter, merges."""
    offset_s = float(rng.uniform(-2.0, 2.0))
    drift = float(rng.uniform(-0.01, 0.01))
    groups: list[list[dict[str, Any]]] = []
    for sentence in sentences:
        if groups and len(groups[-1]) == 1 and sentence["start_s"] - groups[-1][0]["end_s"] < 3.0 \
                and rng.random() < 0.15:
            groups[-1].append(sentence)  # one cue for two sentences, as hurried captioners write
        else:
            groups.append([sentence])
    raw = [(g[0]["start_s"], g[-1]["end_s"] + float(rng.uniform(0.1, 0.5)),
            "\n".join(_wrap(s["text"]) if len(g) == 1 else s["text"] for s in g)) for g in groups]
    if not non_speech and replacement is None:
        raw += [(s["start_s"], s["end_s"], "[music]") for s in stretches
                if s["kind"] == "music" and s["end_s"] - s["start_s"] >= 3.0 and rng.random() < 0.5]
        raw.sort(key=lambda cue: cue[0])
    blocks, two_digit = [], 0
    for number, (start_s, end_s, text) in enumerate(raw, start=1):
        if non_speech:
            text = str(rng.choice(["[applause]", "[music]"]))
        elif replacement is not None:
            text = _wrap(replacement[(number - 1) % len(replacement)])
        elif rng.random() < 0.05:
            text = f"<i>{text}</i>"
        times = []
        for t in (start_s, end_s):
            jitter = float(rng.uniform(0.1, 0.3)) * (1 if rng.random() < 0.5 else -1)
            times.append(max(0.0, offset_s + t * (1 + drift) + jitter))
        times[1] = max(times[1], times[0] + 0.3)  # players need a minimum display time
        stamps = []
        for t in times:
            digits = 2 if rng.random() < 0.15 else 3
            two_digit += digits == 2
            stamps.append(format_timestamp(t, ms_digits=digits))
        blocks.append(f"{number}\n{stamps[0]} --> {stamps[1]}\n{text}\n")
    body = "\n".join(blocks)
    if crlf:
        body = body.replace("\n", "\r\n")
    info = {"offset_s": rounded(offset_s), "drift": rounded(drift), "jitter_s": [0.1, 0.3], "cues": len(raw),
            "merged_cues": sum(len(g) > 1 for g in groups), "two_digit_ms_timestamps": two_digit,
            "line_ends": "crlf" if crlf else "lf"}
    return body, info
