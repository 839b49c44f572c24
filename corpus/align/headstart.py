"""The synthetic head start: an initial aligner per language, trained on speech we generate ourselves.

For any language espeak-ng speaks, `head_start_model(language)` synthesizes a Common Voice-style corpus of
the language's demo sentences (`corpus.demo`) read by many synthetic speakers (voice variant, pitch,
range and speaking rate: 135-215 words a minute), degrades it as found audio sounds (white, pink or
babble noise at 5-30 dB SNR, room reverb on half the clips, gain), and trains an aligner on it from a
flat start, where the word times are exact. Then, where another synthesizer family speaks the language
(`corpus.voices`: Flite's CMU voices for English, built from recordings of real speakers), that model is
EM-adapted on their readings of other demo sentences (`corpus.align.voice_readings`; no word times
needed): on six real English clips this took agreement within 40 ms from 0.69 to 0.78. No outside model
or data is used. Its units are espeak-ng's
own phonemes for a language with a deep spelling (`corpus.align.units`: exactly what the synthetic speech
says), or graphemes (shallow spellings; a language espeak reads with a stand-in voice, Luganda).

The model is cached: `<cache>/align-headstart/<language>-<key>/`, the key a hash of the configuration,
`HEAD_START_VERSION` and the other families that can run here (none: the espeak-only model, whose
folder the adapted one is built from), so a second call returns at once and the same configuration gives the same
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
_OTHER_FIELDS = ("other_families", "other_readings", "other_voices", "other_speed")  # in the key only when a family runs here


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
    # other synthesizer families (corpus.voices) whose readings the espeak-trained model is EM-adapted on;
    # those that do not speak the language or cannot run here are skipped (said in the log)
    other_families: tuple[str, ...] = ("flite",)
    other_readings: int = 400          # demo sentences they read (0: espeak only)
    other_voices: int = 16             # voices per family (Flite: 4 base voices, rate and pitch vary)
    other_speed: tuple[float, float] = (1.0, 1.0)  # speed perturbation of their readings (voice_readings)

    def __post_init__(self) -> None:
        if self.sentences < 20 or self.speakers < 2:
            raise ValueError("a head start needs >= 20 sentences and >= 2 speakers")
        if self.other_readings < 0 or self.other_voices < 0:
            raise ValueError("other_readings and other_voices must be >= 0")


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
    corpus = {k: v for k, v in to_jsonable(config).items() if k not in ("aligner", *_OTHER_FIELDS)}
    parts: list[object] = [language, corpus, trained, HEAD_START_VERSION]
    families = _other_families(language, config)
    if families:  # only then is the model adapted to other voices (an espeak-only key stays as it was)
        other = {"families": families, "readings": config.other_readings, "voices": config.other_voices}
        if config.other_speed != (1.0, 1.0):
            other["speed"] = list(config.other_speed)
        parts.append(other)
    return _cache_root(cache_dir) / "align-headstart" / f"{language}-{stable_hash(*parts)}"


def _other_families(language: str, config: HeadStartConfig) -> tuple[str, ...]:
    from corpus.align.voice_readings import available_families

    if config.other_readings <= 0 or config.other_voices <= 0 or not config.other_families:
        return ()
    return available_families(language, config.other_families)


def _espeak_only(config: HeadStartConfig) -> HeadStartConfig:
    return replace(config, other_readings=0)


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
    families = _other_families(language, config)
    if config.other_readings > 0 and config.other_families and not families:
        from corpus.voices import skipped_lines

        for line in skipped_lines(language, config.other_families):
            log.warning("head start for %s: %s (espeak-ng voices only)", language, line)
    base = head_start_model(language, config=_espeak_only(config), cache_dir=cache_dir, jobs=jobs,
                            progress=progress) if families else None
    with _build_lock(target):  # two processes asking at once: one builds, the other waits and reuses it
        if (target / "model.json").is_file() and (target / "model.npz").is_file():
            return target
        if base is None:
            _build(language, config, target, jobs=jobs, progress=progress)
            return target
        try:
            _adapt_to_other_voices(language, config, families, base, target, jobs=jobs, progress=progress)
        except AlignError as error:  # the other voices failed here: the espeak-only model still serves
            log.warning("%s; using the espeak-ng-only head start %s", error, base)
            return base
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


def _adapt_to_other_voices(language: str, config: HeadStartConfig, families: tuple[str, ...], base: Path,
                           target: Path, *, jobs: int | None, progress: bool) -> None:
    """EM-adapt the espeak-only model `base` on readings by the other `families` (no word times needed)."""
    from corpus.align import train_aligner
    from corpus.align.voice_readings import ReadingPlan, family_readings
    from corpus.demo.noise import NoisePlan

    noise = NoisePlan(noisy_share=1.0, snr_db=config.snr_db, noise_kinds=config.noise_kinds,
                      reverb_share=config.reverb_share, rt60_s=config.rt60_s)
    plan = ReadingPlan(language=language, families=families, readings=config.other_readings,
                       voices=config.other_voices, seed=config.seed, noise=noise, speed=config.other_speed)
    log.info("adapting the %s head start to %s voices in %s", language, ", ".join(families), target)
    with tempfile.TemporaryDirectory(prefix=f".build-{language}-", dir=target.parent) as work:
        items = family_readings(plan, Path(work) / "readings", jobs=jobs, progress=progress)
        if len(items) < 20:
            raise AlignError(f"head start for {language!r}: only {len(items)} readings by {', '.join(families)} "
                             "could be synthesized")
        aligner = replace(config.aligner, init="head_start", head_start=str(base), seed=config.seed)
        built = train_aligner(items, language=language, out_dir=Path(work) / "model", config=aligner, jobs=jobs,
                              progress=progress)
        write_json(built / "head_start.json", {"language": language, "config": config, "version": HEAD_START_VERSION,
                                               "espeak_model": base.name, "adapted_to": list(families),
                                               "readings": len(items)})
        if not target.exists():
            os.replace(built, target)
