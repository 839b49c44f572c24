"""Stage 6, split: TRAIN/DEV/TEST per speaker, MSWC's CSVs and metadata.json.

Assignment: `corpus.splits.speaker_split(client_id, seed=, shares=)`, a SHA-256 of (seed, speaker) cut
at the cumulative shares (80/10/10 by default). So:

- speaker-disjoint: every clip of a speaker, of every keyword, is in one split (stronger than MSWC's
  per-keyword rule, and what a keyword spotter's test set needs: no test voice was heard in training);
- deterministic: a pure function of the speaker id and the seed;
- growth-stable: adding speakers (a newer Common Voice release) never moves an existing speaker.

Gender balance "where the data allows": because a speaker's split depends on nothing but its own id,
each split receives, in expectation, the same gender mix as the corpus, for every keyword. Actively
evening out the counts (moving a speaker because another gender is short in DEV) would make a speaker's
split depend on the other speakers, and a later release with more speakers would then move existing
ones: exactly what growth stability forbids, and it would leak test voices into a retrained model's
training set. We therefore keep the hash assignment and measure the balance instead: the report gives
each split's clips and speakers per gender, and which keywords have a gender in TRAIN that their DEV or
TEST lacks. (`corpus.splits` documents the same.)

Outliers: with `drop_outliers=P`, the ceil(P% x n) clips of each keyword farthest from their k-means
centroids (highest SCORE; ties by LINK) are written with VALID=False. Their audio stays in clips/, their
rows stay in the CSVs (VALID is MSWC's column for exactly this); every other row has VALID=True.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from typing import Iterable

from corpus.configs import to_jsonable
from corpus.formats.mswc import SETS, MswcClip, mswc_gender, write_metadata, write_scores, write_splits
from corpus.fsutil import atomic_write_text
from corpus.mswc.extract import ClipRecord
from corpus.splits import speaker_split
from corpus.stages import Context, StageOutput

__all__ = ["assign_splits", "outlier_links", "balance_report", "language_name", "run_split"]

_NAMES = {"lg": "Luganda", "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
          "pt": "Portuguese", "nl": "Dutch", "rw": "Kinyarwanda", "sw": "Swahili", "ca": "Catalan", "fa": "Persian",
          "ru": "Russian", "pl": "Polish", "tr": "Turkish", "ar": "Arabic", "zh-CN": "Chinese (China)",
          "ja": "Japanese", "uk": "Ukrainian", "eu": "Basque", "cy": "Welsh", "ta": "Tamil", "mn": "Mongolian"}


def language_name(language: str, configured: str | None = None) -> str:
    if configured:
        return configured
    return _NAMES.get(language, language)


def outlier_links(scores: dict[str, tuple[str, float]], percent: float) -> set[str]:
    """Links of the ceil(percent% x n) highest-scoring clips of each keyword."""
    if percent <= 0:
        return set()
    by_word: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for link, (word, score) in scores.items():
        by_word[word].append((score, link))
    dropped: set[str] = set()
    for word, items in by_word.items():
        count = math.ceil(percent / 100.0 * len(items) - 1e-9)
        items.sort(key=lambda item: (-item[0], item[1]))
        dropped.update(link for _, link in items[:count])
    return dropped


def assign_splits(clips: Iterable[ClipRecord], *, seed: int, shares: tuple[float, float, float],
                  dropped: set[str] = frozenset()) -> list[MswcClip]:
    """MswcClip rows from the extraction records (their link, word, speaker and gender)."""
    rows = []
    for clip in clips:
        rows.append(MswcClip(set=speaker_split(clip.speaker, seed=seed, shares=shares), link=clip.link,
                             word=clip.word, valid=clip.link not in dropped, speaker=clip.speaker,
                             gender=mswc_gender(clip.gender)))
    return rows


def balance_report(rows: list[MswcClip]) -> dict:
    """Clips and speakers per split and gender; keywords whose DEV/TEST lack a gender TRAIN has."""
    clips: dict[str, Counter] = {s: Counter() for s in SETS}
    speakers: dict[str, dict[str, set]] = {s: defaultdict(set) for s in SETS}
    per_word: dict[str, dict[str, set]] = defaultdict(lambda: {s: set() for s in SETS})
    for row in rows:
        clips[row.set][row.gender] += 1
        speakers[row.set][row.gender].add(row.speaker)
        if row.gender in ("MALE", "FEMALE"):
            per_word[row.word][row.set].add(row.gender)
    lacking = {}
    for word in sorted(per_word):
        sets = per_word[word]
        missing = {s: sorted(sets["TRAIN"] - sets[s]) for s in ("DEV", "TEST") if sets[s] and sets["TRAIN"] - sets[s]}
        if missing:
            lacking[word] = missing
    return {
        "clips": {s: dict(sorted(clips[s].items())) for s in SETS},
        "speakers": {s: {g: len(v) for g, v in sorted(speakers[s].items())} for s in SETS},
        "keywords_with_a_gender_missing_in_dev_or_test": len(lacking),
        "examples": dict(list(lacking.items())[:20]),
    }


def run_split(ctx: Context) -> StageOutput:
    """The stage: assign the splits and write the release's tables (the first stage that writes any:
    splits CSVs, metadata.json, the scores, alphabet.json and the keyword frequency plot)."""
    from corpus.mswc.plots import plot_keyword_frequency

    config, language, lang_dir = ctx.config, ctx.source.language, ctx.out_dir
    clips = ctx.read("extract", "clips")
    folders = {k.word: k.folder for k in ctx.read("extract", "keywords")}
    scored = ctx.read("score", "scores") if config.score else []
    dropped = outlier_links({s.link: (s.word, s.score) for s in scored}, config.drop_outliers)
    rows = assign_splits(clips, seed=config.seed, shares=config.shares, dropped=dropped)
    write_splits(lang_dir, language, rows)
    name = language_name(language, config.language_name)
    entry = write_metadata(lang_dir, language, name, rows, folders, config.version)
    if config.score:
        write_scores(lang_dir, language, [(s.link, s.word, s.score) for s in scored])
    else:
        (lang_dir / f"{language}_scores.csv").unlink(missing_ok=True)
    for alphabet in ctx.read("normalize", "alphabet"):
        atomic_write_text(lang_dir / "alphabet.json", json.dumps(to_jsonable(alphabet), ensure_ascii=False, indent=1,
                                                                 sort_keys=True) + "\n")
    plot_keyword_frequency(entry["wordcounts"], lang_dir / "keyword_frequency.png", title=f"{name} ({language})")
    sets = Counter(r.set for r in rows)
    return StageOutput(count_in=len(clips), kept=sum(r.valid for r in rows),
                       report={"sets": dict(sorted(sets.items())), "outliers_marked_invalid": len(dropped),
                               "keywords": entry["number_of_words"], "speakers": len({r.speaker for r in rows}),
                               "gender_balance": balance_report(rows)})
