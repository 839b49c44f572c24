"""Data resolution for `python -m kws train` (kws.train): the target language's tree (`--data`, an MSWC
folder under the data root, or the synthetic demo corpus built once), the embedding languages' trees, and
the default keywords."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from corpus.formats.mswc import MswcRelease
from corpus.configs import stable_hash
from kws.data import DataError, open_tree
from kws.train_config import DEFAULT_KEYWORDS, TrainConfig, TrainError

__all__ = ["ResolvedData", "resolve_target", "resolve_embedding_trees", "default_keywords", "is_synthetic"]


@dataclass
class ResolvedData:
    release: MswcRelease
    synthetic: bool
    origin: str  # what was done to get it


def is_synthetic(release: MswcRelease) -> bool:
    return (release.root / "synthetic_truth.jsonl.gz").exists()


def _demo_tree(language: str, out_root: Path, *, words: int, clips: int, speakers: int, seed: int,
               include: tuple[str, ...], jobs: int | None, say: Callable[[str], None]) -> ResolvedData:
    from corpus.demo.mswc import SynthMswcConfig, synth_mswc
    from corpus.demo.text import DemoText

    lang_dir = out_root / language
    if (lang_dir / f"{language}_splits.csv").exists():
        return ResolvedData(open_tree(lang_dir), True, f"synthetic demo corpus reused from {lang_dir}")
    try:
        DemoText.load(language)
    except ValueError as error:
        raise TrainError(f"no data for language {language!r} and no demo text to synthesize it: {error}") from None
    say(f"building the SYNTHETIC demo corpus for {language} (espeak-ng speech, {words} words x {clips} clips) "
        f"in {lang_dir} ...")
    try:
        synth_mswc(SynthMswcConfig(language=language, words=words, clips_per_word=clips, speakers=speakers, seed=seed,
                                   include=include), out_root, jobs=jobs, progress=True)
    except ValueError as error:
        raise TrainError(f"cannot build the demo corpus for {language}: {error}") from None
    return ResolvedData(open_tree(lang_dir), True, f"synthetic demo corpus built in {lang_dir}")


def _looks_like_common_voice(path: Path, language: str) -> Path | None:
    from corpus.formats.common_voice import find_cv_language_dir

    try:
        return find_cv_language_dir(path, language)
    except (FileNotFoundError, ValueError):
        return None


def resolve_target(config: TrainConfig, data_root: Path, *, jobs: int | None, say: Callable[[str], None]
                   ) -> ResolvedData:
    language = config.language
    if config.data:
        path = Path(config.data)
        if not path.exists():
            raise TrainError(f"DATA={path}: no such folder")
        if (path / f"{language}_splits.csv").exists() or (path / language / f"{language}_splits.csv").exists():
            try:
                release = open_tree(path, language)
            except DataError as error:
                raise TrainError(str(error)) from None
            return ResolvedData(release, is_synthetic(release), f"MSWC-layout data from {release.root}")
        other = sorted(p.name for p in path.glob("*_splits.csv")) + sorted(p.name for p in path.glob("*/*_splits.csv"))
        if other:
            raise TrainError(f"DATA={path} is MSWC-layout data, but not for {language!r} (found {', '.join(other)})")
        cv_dir = _looks_like_common_voice(path, language)
        if cv_dir is not None:
            from corpus.mswc import BuildConfig, BuildError, build_mswc

            say(f"building MSWC-layout keyword clips from the Common Voice folder {cv_dir} ...")
            try:
                built = build_mswc(cv_dir, language, data_root / "mswc-built", BuildConfig(), engine="local",
                                   jobs=jobs, progress=True)
            except BuildError as error:  # includes BuildStopped and ValidationFailed
                raise TrainError(f"DATA={path}: the MSWC builder could not make keyword clips from {cv_dir}: {error}. "
                                f"Its work folder {data_root / 'mswc-built'} keeps finished stages; rerun to "
                                "resume") from None
            release = open_tree(built)
            return ResolvedData(release, is_synthetic(release) or (cv_dir / "synthetic_truth.jsonl.gz").exists(),
                                f"MSWC builder run on {cv_dir} -> {built}")
        raise TrainError(f"DATA={path} is neither an MSWC-layout folder (<lang>/<lang>_splits.csv and clips/<word>/...) "
                        f"nor a Common Voice language folder (validated.tsv and clips/, or cv-corpus-*/{language}/)")
    real = data_root / "mswc" / language
    if (real / f"{language}_splits.csv").exists():
        release = open_tree(real)
        return ResolvedData(release, is_synthetic(release), f"MSWC-layout data found in {real}")
    include = config.keywords or DEFAULT_KEYWORDS.get(language, ())
    default = tuple(DEFAULT_KEYWORDS.get(language, ()))
    folder = data_root / "demo" / "mswc" if not config.keywords or set(config.keywords) <= set(default) \
        else data_root / "demo" / f"mswc-{stable_hash(sorted(config.keywords), length=8)}"
    if (folder / language / f"{language}_splits.csv").exists() and config.keywords:
        release = open_tree(folder / language)
        if not set(config.keywords) <= set(release.words()):
            folder = data_root / "demo" / f"mswc-{stable_hash(sorted(config.keywords), length=8)}"
    say(f"no DATA given and nothing under {data_root}/mswc/{language}: using the SYNTHETIC demo corpus")
    demo = config.demo
    return _demo_tree(language, folder, words=demo.target_words, clips=demo.target_clips_per_word,
                      speakers=demo.speakers, seed=demo.seed, include=tuple(include), jobs=jobs, say=say)


def resolve_embedding_trees(config: TrainConfig, data_root: Path, *, jobs: int | None, say: Callable[[str], None]
                            ) -> tuple[dict[str, MswcRelease], bool]:
    trees, synthetic = {}, False
    for language in config.embedding_languages:
        if config.embedding_data:
            try:
                trees[language] = open_tree(config.embedding_data, language)
            except DataError as error:
                raise TrainError(f"embedding data: {error}") from None
        elif (data_root / "mswc" / language / f"{language}_splits.csv").exists():
            trees[language] = open_tree(data_root / "mswc" / language)
        else:
            demo = config.demo
            resolved = _demo_tree(language, data_root / "demo" / "mswc", words=demo.embedding_words,
                                  clips=demo.embedding_clips_per_word, speakers=demo.speakers, seed=demo.seed,
                                  include=(), jobs=jobs, say=say)
            trees[language] = resolved.release
        synthetic = synthetic or is_synthetic(trees[language])
    return trees, synthetic


def default_keywords(release: MswcRelease, exclude: set[str], count: int = 3) -> tuple[str, ...]:
    language = release.language
    words = set(release.words())
    if language in DEFAULT_KEYWORDS and set(DEFAULT_KEYWORDS[language]) <= words:
        return DEFAULT_KEYWORDS[language]
    try:
        from corpus.demo.text import DemoText
        demo = [w for w in DemoText.load(language).keywords if w in words and f"{language}/{w}" not in exclude]
    except ValueError:
        demo = []
    if len(demo) >= count:
        return tuple(demo[:count])
    counts: dict[str, int] = {}
    for clip in release.by_set("TRAIN"):
        if clip.valid:
            counts[clip.word] = counts.get(clip.word, 0) + 1
    ranked = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if f"{language}/{w}" not in exclude]
    return tuple(ranked[:count])
