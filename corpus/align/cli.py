"""`python -m corpus align {train,run,long}`: train an aligner on a corpus, align a corpus, align long audio.

  train  reads a Common Voice language folder (or an MFA-style folder of audio + .lab files), trains a
         model on it (from a flat start, or by adapting the synthetic head start: --init; no outside
         model either way) and writes MODEL_DIR
  run    aligns a corpus with MODEL_DIR (or with an installed MFA: --backend mfa) and writes the JSONL
         alignment manifest (only aligned items; failures go to <out>.errors.jsonl with the reason),
         optionally a TextGrid per item ("words" and "phones" tiers, as MFA writes them) and a CTM.
         Progress is logged to <out>.progress.jsonl as batches finish: a killed run, rerun with the
         same arguments, resumes without redoing or duplicating items.
  long   aligns one long recording with one long transcript (windowed, bounded memory) and writes
         a JSON report with the aligned words, the words not found and the untranscribed stretches
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

from corpus.cli import UserError, positive_int

__all__ = ["register"]

_EXAMPLES = """
examples:
  python -m corpus align train --corpus data/cv/cv-corpus-17.0-synthetic/lg --lang lg --out models/align-lg
  python -m corpus align run --model models/align-lg --corpus data/cv/cv-corpus-17.0-synthetic/lg \\
      --out data/align/lg.jsonl.gz --textgrids data/align/lg_textgrids
  python -m corpus align train --corpus my_40_clips --lang en --out models/align-en --init auto
  python -m corpus align long --model models/align-lg --audio talk.mp3 --transcript talk.txt --out talk.json
"""


def _stem(out: Path) -> str:
    name = out.name
    for suffix in (".jsonl.gz", ".jsonl", ".gz"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _load_items(corpus: str, lang: str, tsv: str):
    from corpus.align.sources import items_from_corpus

    try:
        items, skipped = items_from_corpus(corpus, lang, tsv=tsv)
    except FileNotFoundError as error:
        raise UserError(str(error)) from None
    if not items:
        raise UserError(f"{corpus}: no utterances found ({len(skipped)} skipped"
                        + (f", e.g. {skipped[0]}" if skipped else "") + ")")
    return items, skipped


def _train(args: argparse.Namespace) -> int:
    from corpus.align import AlignerConfig, train_aligner
    from corpus.align.types import AlignError

    items, skipped = _load_items(args.corpus, args.lang, args.tsv)
    try:
        config = AlignerConfig.load(args.config) if args.config else AlignerConfig()
        explicit = {name: value for name, value in (("dictionary", args.dictionary),
                                                    ("max_train_utterances", args.max_utterances),
                                                    ("seed", args.seed), ("head_start", args.head_start),
                                                    ("init", args.init and args.init.replace("-", "_")),
                                                    ("units", args.units))
                    if value is not None}
        config = dataclasses.replace(config, **explicit)
        model_dir = train_aligner(items, language=args.lang, out_dir=args.out, config=config, jobs=args.jobs,
                                  progress=not args.quiet)
    except (AlignError, ValueError, OSError) as error:
        raise UserError(str(error)) from None
    summary = json.loads((Path(model_dir) / "model.json").read_text(encoding="utf-8"))["summary"]
    start = "adapted from the synthetic head start" if summary.get("init") == "head_start" else "flat start"
    if summary.get("head_start_voices"):
        start += f" of {' + '.join(summary['head_start_voices'])} voices"
    print(f"wrote {model_dir}: trained on {summary['trained_on']} utterances ({start}; {len(skipped)} rows "
          f"skipped, {summary['unusable']} unusable) in {summary['train_seconds']:.0f} s")
    if summary.get("units"):
        letters = summary.get("words_spelled_by_letters", 0)
        print(f"units: {summary['unit_count']} {summary['units']}"
              + (f"; {letters} words espeak-ng gave nothing usable for were spelled by letters (e.g. "
                 f"{', '.join(summary.get('words_spelled_by_letters_examples', [])[:5])})" if letters else ""))
    if summary.get("small_corpus") and summary.get("init") == "flat":
        print(f"warning: {summary['utterances']} utterances are few for a flat start; --init auto (or head-start) "
              "starts from the synthetic head start and adapts it to this corpus")
    return 0


def _write_outputs(args, items, log, stem_errors: Path) -> tuple[int, int]:
    from corpus.formats.ctm import alignment_rows, write_ctm
    from corpus.manifest import Alignment, write_jsonl, write_manifest

    alignments, errors = [], []
    for item in items:
        value = log.get(item.id)["value"]
        if value["alignment"] is not None:
            alignments.append(Alignment(**value["alignment"]))
        else:
            errors.append({"id": item.id, "audio_path": item.audio_path, "error": value["error"]})
    if args.textgrids:  # items finished by an earlier run without --textgrids get theirs now
        folder = Path(args.textgrids)
        for alignment in alignments:
            if not (folder / f"{alignment.id}.TextGrid").exists():
                _write_textgrid(folder, alignment)
    write_manifest(args.out, alignments)
    write_jsonl(stem_errors, errors)
    if args.ctm:
        write_ctm(args.ctm, alignment_rows(alignments))
    return len(alignments), len(errors)


def _write_textgrid(folder: Path, alignment) -> None:
    from corpus.formats.textgrid import write_textgrid

    duration_s = alignment.custom.get("duration_s")
    end = max([w.end_s for w in alignment.words] + [w.end_s for w in alignment.units] + [0.0])
    duration = max(duration_s or 0.0, end, 1e-3)
    target = folder / f"{alignment.id}.TextGrid"
    if folder.resolve() not in target.resolve().parents:
        return  # an id that would escape the folder: no TextGrid (the manifest still has it)
    write_textgrid(target, {"words": [(w.start_s, w.end_s, w.text) for w in alignment.words],
                            "phones": [(u.start_s, u.end_s, u.text) for u in alignment.units]}, duration)


def _check_same_model(progress_path: Path, args: argparse.Namespace) -> None:
    """A progress log belongs to one model (or one MFA setup): refuse to mix two in one manifest."""
    from corpus.fsutil import atomic_write_text, sha256_file

    if args.backend == "builtin":
        identity = {"backend": "builtin", "model": sha256_file(Path(args.model) / "model.npz")}
    else:
        identity = {"backend": "mfa", "dictionary": args.mfa_dictionary, "acoustic_model": args.mfa_acoustic_model}
    meta = progress_path.with_name(progress_path.name + ".model.json")
    if progress_path.exists() and meta.exists():
        previous = json.loads(meta.read_text(encoding="utf-8"))
        if previous != identity:
            raise UserError(f"{progress_path} holds results of another model or backend ({previous}); delete it "
                            "(and the manifest) to start over, or pass another --out")
    elif not progress_path.exists():
        progress_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(meta, json.dumps(identity, sort_keys=True) + "\n")


def _run(args: argparse.Namespace) -> int:
    from corpus.align import iter_aligned
    from corpus.align.model import load_model
    from corpus.align.types import AlignError
    from corpus.engines import default_jobs
    from corpus.manifest import CheckpointLog, to_dict

    out = Path(args.out)
    if args.backend == "builtin":
        if not args.model:
            raise UserError("--model MODEL_DIR is required with the built-in backend")
        try:
            model = load_model(args.model)
        except AlignError as error:
            raise UserError(str(error)) from None
        lang = args.lang or model.language
    else:
        from corpus.align.mfa import find_mfa

        try:
            find_mfa()
        except AlignError as error:
            raise UserError(str(error)) from None
        if not args.lang:
            raise UserError("--lang is required with --backend mfa")
        lang = args.lang
    items, skipped = _load_items(args.corpus, lang, args.tsv)
    progress_path = out.with_name(_stem(out) + ".progress.jsonl")
    errors_path = out.with_name(_stem(out) + ".errors.jsonl")
    textgrids = Path(args.textgrids) if args.textgrids else None
    _check_same_model(progress_path, args)
    with CheckpointLog(progress_path) as log:
        pending = [item for item in items if item.id not in log]
        if args.max_items is not None:
            pending = pending[:args.max_items]
        if pending:
            print(f"aligning {len(pending)} of {len(items)} items ({len(log)} done before; progress in "
                  f"{progress_path})")
        if args.backend == "mfa":
            from corpus.align.mfa import run_mfa

            with tempfile.TemporaryDirectory(prefix="mfa-", dir=out.parent if out.parent.exists() else None) as work:
                try:
                    stream = [run_mfa(pending, work, dictionary=args.mfa_dictionary,
                                      acoustic_model=args.mfa_acoustic_model, jobs=args.jobs or default_jobs())]
                except AlignError as error:
                    raise UserError(str(error)) from None
        else:
            stream = iter_aligned(pending, args.model, jobs=args.jobs, progress=not args.quiet, filler=args.filler)
        for results in stream:
            for result in results:
                if textgrids is not None and result.alignment is not None:
                    _write_textgrid(textgrids, result.alignment)
                log.append(result.id, {"alignment": to_dict(result.alignment) if result.alignment else None,
                                       "error": result.error})
        remaining = sum(item.id not in log for item in items)
        if remaining:
            print(f"{remaining} items remain; rerun the same command to continue")
            return 0
        aligned, failed = _write_outputs(args, items, log, errors_path)
    print(f"wrote {out}: {aligned} aligned, {failed} failed (reasons in {errors_path}); {len(skipped)} corpus rows "
          f"skipped" + (f"; TextGrids in {textgrids}" if textgrids else ""))
    return 0


def _long(args: argparse.Namespace) -> int:
    from corpus.align.long_audio import LongAudioConfig, align_long
    from corpus.align.model import load_model
    from corpus.align.types import AlignError
    from corpus.audio import AudioError
    from corpus.fsutil import atomic_write_text
    from corpus.text import normalize_words, rules_for

    try:
        model = load_model(args.model)
    except AlignError as error:
        raise UserError(str(error)) from None
    transcript = Path(args.transcript)
    if not transcript.is_file():
        raise UserError(f"{transcript}: transcript not found")
    words = normalize_words(transcript.read_text(encoding="utf-8-sig"), rules_for(args.lang or model.language))
    if not words.words:
        raise UserError(f"{transcript}: no words to align ({words.excluded})")
    try:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(args.jobs):
            result = align_long(args.audio, words.words, args.model,
                                config=dataclasses.replace(LongAudioConfig(), window_s=args.window_s,
                                                           commit_s=args.window_s * 2 / 3), progress=not args.quiet)
    except AudioError as error:
        raise UserError(str(error)) from None
    atomic_write_text(args.out, json.dumps(result.to_json(), ensure_ascii=False, indent=1) + "\n")
    if args.textgrid:
        from corpus.formats.textgrid import write_textgrid

        write_textgrid(args.textgrid, {"words": [(w.start_s, w.end_s, w.text) for w in result.alignment.words]},
                       max(result.duration_s, 1e-3))
    print(f"wrote {args.out}: {len(result.alignment.words)} of {len(words.words)} words aligned, "
          f"{len(result.unaligned_words)} not found, {len(result.unaligned_audio)} untranscribed stretches")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("align", help="forced alignment trained on the corpus itself (or MFA)",
                            formatter_class=argparse.RawDescriptionHelpFormatter, description=__doc__ + _EXAMPLES)
    commands = parser.add_subparsers(title="align commands", metavar="COMMAND")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)

    train = commands.add_parser("train", help="train an aligner on a corpus (no outside model)",
                                formatter_class=argparse.RawDescriptionHelpFormatter, description=__doc__ + _EXAMPLES)
    train.add_argument("--corpus", required=True, help="Common Voice language folder, or audio + .lab folder")
    train.add_argument("--lang", required=True, help="language code (text normalization rules)")
    train.add_argument("--out", required=True, help="model folder to write")
    train.add_argument("--tsv", default="validated.tsv", help="Common Voice TSV to read (default validated.tsv)")
    train.add_argument("--dictionary", default=None, help="MFA-format pronunciation dictionary (replaces --units)")
    train.add_argument("--units", choices=("auto", "phonemes", "graphemes"), default=None,
                       help="espeak-ng phonemes or letters as units (default auto: phonemes where espeak-ng has "
                            "a voice of the language's own and the spelling is deep, as in English; a head "
                            "start's units win when adapting it)")
    train.add_argument("--max-utterances", type=positive_int, default=None,
                       help="train on at most this many (default 4000)")
    train.add_argument("--config", default=None,
                       help="AlignerConfig as JSON (e.g. another model's aligner_config.json); options above override")
    train.add_argument("--init", choices=("flat", "head-start", "auto"), default=None,
                       help="flat: flat start on the corpus alone; head-start: adapt the synthetic head start (built "
                            "for the language and cached under models/align-headstart/ on first use); auto: head "
                            "start when the corpus is small (< 150 utterances). Default: the config's (flat)")
    train.add_argument("--head-start", default=None, metavar="MODEL",
                       help="with --init head-start/auto: start from this model folder instead")
    train.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    train.add_argument("--jobs", type=positive_int, default=None, help="worker processes (default: all cores)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=_train)

    run = commands.add_parser("run", help="align a corpus; writes the JSONL manifest (+ TextGrids, CTM)",
                              formatter_class=argparse.RawDescriptionHelpFormatter, description=__doc__ + _EXAMPLES)
    run.add_argument("--model", default=None, help="model folder from `align train` (built-in backend)")
    run.add_argument("--corpus", required=True, help="Common Voice language folder, or audio + .lab folder")
    run.add_argument("--out", required=True, help="alignment manifest (.jsonl or .jsonl.gz)")
    run.add_argument("--textgrids", default=None, help="folder for one TextGrid per item (MFA layout)")
    run.add_argument("--ctm", default=None, help="also write the words as a CTM file")
    run.add_argument("--lang", default=None, help="language code (default: the model's)")
    run.add_argument("--tsv", default="validated.tsv", help="Common Voice TSV to read (default validated.tsv)")
    run.add_argument("--backend", choices=("builtin", "mfa"), default="builtin",
                     help="builtin (default) or mfa: an installed Montreal Forced Aligner (conda)")
    run.add_argument("--mfa-dictionary", default=None, help="with --backend mfa: dictionary (default: graphemes)")
    run.add_argument("--mfa-acoustic-model", default=None,
                     help="with --backend mfa: model for `mfa align` (default: `mfa train` on the corpus)")
    run.add_argument("--max-items", type=positive_int, default=None,
                     help="align at most this many new items in this run (a rerun continues)")
    run.add_argument("--filler", action="store_true",
                     help="pauses may hold untranscribed speech (hesitations, words missing from the transcript): "
                          "it is reported as custom.filler_speech_s instead of stretching the neighbouring words")
    run.add_argument("--jobs", type=positive_int, default=None, help="worker processes (default: all cores)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--seed", type=int, default=0, help="accepted for the common options (alignment draws nothing)")
    run.set_defaults(func=_run)

    long = commands.add_parser("long", help="align one long recording with one long transcript",
                               formatter_class=argparse.RawDescriptionHelpFormatter, description=__doc__ + _EXAMPLES)
    long.add_argument("--model", required=True, help="model folder from `align train`")
    long.add_argument("--audio", required=True, help="the recording (any format corpus.audio reads)")
    long.add_argument("--transcript", required=True, help="UTF-8 text file with the transcript")
    long.add_argument("--out", required=True, help="JSON report to write")
    long.add_argument("--textgrid", default=None, help="also write a TextGrid with the words")
    long.add_argument("--lang", default=None, help="language code (default: the model's)")
    long.add_argument("--window-s", type=float, default=30.0, help="alignment window in seconds (default 30)")
    long.add_argument("--jobs", type=positive_int, default=None, help="BLAS threads (default: all cores)")
    long.add_argument("--quiet", action="store_true", help="no progress bar")
    long.add_argument("--seed", type=int, default=0, help="accepted for the common options (alignment draws nothing)")
    long.set_defaults(func=_long)
