"""The synthetic head start: an initial aligner per language, trained on speech we generate ourselves.

For any language espeak-ng speaks, `head_start_model(language)` synthesizes a Common Voice-style corpus of
the language's demo sentences (`corpus.demo`) read by many synthetic speakers (voice variant, pitch,
range and speaking rate: 135-215 words a minute), degrades it as found audio sounds (white, pink or
babble noise at 5-30 dB SNR, room reverb on half the clips, gain), and trains an aligner on it from a
flat start, where the word times are exact. No outside model or data is used. Its units are espeak-ng's
own phonemes for a language with a deep spelling (`corpus.align.units`: exactly what the synthetic speech
says), or graphemes (shallow spellings; a language espeak reads with a stand-in voice, Luganda).

The model is cached: `<cache>/align-headstart/<language>-<key>/`, the key a hash of the configuration
and `HEAD_START_VERSION`, so a second call returns at once and the same configuration gives the same
model on every machine (synthesis and training are deterministic). `<cache>` is `$FOUNDSPEECH_MODELS`,
else the `models/` folder beside the `corpus` package (git-ignored).

`train_aligner(..., config=AlignerConfig(init="head_start"))` starts from this model and adapts it to the
user's corpus by EM (`corpus.align.adapt`); `init="auto"` does so when the corpus is too small for a flat
start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from corpus.align.types import AlignError, AlignerConfig
from corpus.configs import stable_hash, to_jsonable, write_json

__all__ = ["HeadStartConfig", "head_start_model", "head_start_dir", "HEAD_START_VERSION"]

log = logging.getLogger(__name__)

HEAD_START_VERSION = 2  # 2: espeak-ng phonemes as units where espeak has the language's own voice
# AlignerConfig fields that do not change a flat-start model: left out of the cache key
_ADAPTATION_FIELDS = frozenset({"init", "head_start", "min_flat_start_utterances", "adapt_rounds", "adapt_epochs",
                                "adapt_lr", "adapt_synthetic_voices", "adapt_synthetic_max"})


@dataclass(frozen=True, kw_only=True)
class HeadStartConfig:
    """The synthetic corpus and the aligner trained on it."""

    sentences: int = 1200
    speakers: int = 80
    snr_db: tuple[float, float] = (5.0, 30.0)
    noise_kinds: tuple[str, ...] = ("white", "pink", "babble")
    reverb_share: float = 0.5
    rt60_s: tuple[float, float] = (0.2, 0.6)
    seed: int = 0
    aligner: AlignerConfig = field(default_factory=lambda: AlignerConfig(min_unit_count=2))

    def __post_init__(self) -> None:
        if self.sentences < 20 or self.speakers < 2:
            raise ValueError("a head start needs >= 20 sentences and >= 2 speakers")


def _cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("FOUNDSPEECH_MODELS"):
        return Path(os.environ["FOUNDSPEECH_MODELS"])
    return Path(__file__).resolve().parents[2] / "models"


def head_start_dir(language: str, config: HeadStartConfig | None = None,
                   cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the head start for `language` and `config` is (or will be) cached."""
    config = config or HeadStartConfig()
    trained = {k: v for k, v in to_jsonable(config.aligner).items() if k not in _ADAPTATION_FIELDS}
    corpus = {k: v for k, v in to_jsonable(config).items() if k != "aligner"}
    key = stable_hash(language, corpus, trained, HEAD_START_VERSION)
    return _cache_root(cache_dir) / "align-headstart" / f"{language}-{key}"


def head_start_model(language: str, *, config: HeadStartConfig | None = None,
                     cache_dir: str | os.PathLike[str] | None = None, jobs: int | None = None,
                     progress: bool = True) -> Path:
    """The cached head-start model folder for `language`, built first when missing (minutes)."""
    from corpus.synth import SynthError, espeak_voice_for

    config = config or HeadStartConfig()
    target = head_start_dir(language, config, cache_dir)
    if (target / "model.json").is_file() and (target / "model.npz").is_file():
        return target
    try:
        espeak_voice_for(language)
    except SynthError as error:
        raise AlignError(f"no synthetic head start for {language!r}: {error}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(target):  # two processes asking at once: one builds, the other waits and reuses it
        if (target / "model.json").is_file() and (target / "model.npz").is_file():
            return target
        _build(language, config, target, jobs=jobs, progress=progress)
    return target


@contextlib.contextmanager
def _build_lock(target: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock; a concurrent build would just redo the same work
        yield
        return
    with open(target.parent / f".{target.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(language: str, config: HeadStartConfig, target: Path, *, jobs: int | None, progress: bool) -> None:
    from corpus.align import train_aligner
    from corpus.align.sources import items_from_common_voice
    from corpus.demo.common_voice import SynthCVConfig, synth_common_voice
    from corpus.demo.noise import NoisePlan
    from corpus.synth import SynthError

    noise = NoisePlan(noisy_share=1.0, snr_db=config.snr_db, noise_kinds=config.noise_kinds,
                      reverb_share=config.reverb_share, rt60_s=config.rt60_s)
    log.info("building the synthetic head start for %s in %s", language, target)
    with tempfile.TemporaryDirectory(prefix=f".build-{language}-", dir=target.parent) as work:
        try:
            tree = synth_common_voice(SynthCVConfig(language=language, sentences=config.sentences,
                                                    speakers=config.speakers, seed=config.seed, noise=noise,
                                                    invalidated_share=0.0, other_share=0.0),
                                      Path(work) / "cv", jobs=jobs, progress=progress)
        except (SynthError, ValueError, FileNotFoundError) as error:
            raise AlignError(f"no synthetic head start for {language!r}: {error}") from None
        items, _ = items_from_common_voice(tree, language)
        aligner = replace(config.aligner, init="flat", seed=config.seed)
        built = train_aligner(items, language=language, out_dir=Path(work) / "model", config=aligner, jobs=jobs,
                              progress=progress)
        write_json(built / "head_start.json", {"language": language, "config": config,
                                               "version": HEAD_START_VERSION})
        if not target.exists():  # another process may have finished first: same inputs, same model
            os.replace(built, target)
        shutil.rmtree(Path(work) / "cv", ignore_errors=True)
