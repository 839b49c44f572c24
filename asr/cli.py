"""`python -m asr train | eval | wer | transcribe | export`: the Conformer-CTC recognizer's commands.
(Data commands live in `python -m corpus`: download librispeech, synth-librispeech.)"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from corpus.cli import UserError, positive_int
from corpus.configs import quiet_tensorflow

__all__ = ["register_all"]

DEMO_DIR = Path("data/demo/asr")


def _utterances(spec: str, splits: list[str] | None = None):
    from asr.data import DataError, read_source

    try:
        items, problems = read_source(spec, splits=splits)
    except DataError as error:
        raise UserError(str(error)) from None
    for problem in problems[:5]:
        print(f"skipped: {problem}")
    if len(problems) > 5:
        print(f"... and {len(problems) - 5} more skipped items")
    return items


def _run_train(args: argparse.Namespace) -> int:
    quiet_tensorflow()
    from asr.data import DataConfig
    from asr.demo import demo_corpus
    from asr.lm import write_lm
    from asr.train import TrainConfig, TrainingError, train

    if args.data is None:
        print(f"no --data given: using the synthetic English LibriSpeech-layout demo corpus in {DEMO_DIR} "
              f"(espeak-ng voices; WER on it says little about real speech)")
        splits = demo_corpus(DEMO_DIR, "full", seed=args.seed, jobs=args.jobs)
        train_items, dev_items = _utterances(str(splits["train"])), _utterances(str(splits["dev"]))
    else:
        train_items = [u for spec in args.data for u in _utterances(spec)]
        if args.dev:
            dev_items = _utterances(args.dev)
        else:  # hold out the last speakers (by id) so dev WER is on unheard voices
            speakers = sorted({u.speaker for u in train_items})
            held = set(speakers[-max(1, len(speakers) // 10):]) if len(speakers) > 1 else set()
            dev_items = [u for u in train_items if u.speaker in held]
            train_items = [u for u in train_items if u.speaker not in held]
    data = DataConfig(speed_factors=(0.9, 1.0, 1.1) if args.speed_perturb else (1.0,),
                      max_duration_s=args.max_duration)
    config = TrainConfig(size=args.size, tokenizer=args.tokenizer, steps=args.steps, seed=args.seed,
                         checkpoint_every=args.checkpoint_every, mixed_precision=args.mixed_precision,
                         replicas=args.replicas, data=data)
    try:
        report = train(config, train_items, dev_items, args.model, jobs=args.jobs, progress=not args.quiet)
    except TrainingError as error:
        raise UserError(str(error)) from None
    if args.lm:
        write_lm([u.text for u in train_items], args.model)
    print(f"{args.model}: {report['steps']} steps, dev WER {report['dev_wer']:.3f}, "
          f"{report['audio_s_per_s']:.1f} audio s per s; data: {report['train_data']['kept']} kept, "
          f"dropped {report['train_data']['dropped'] or 'none'}")
    return 0


def _eval_data(spec: str | None, jobs: int | None, seed: int) -> tuple[str, str]:
    """(path, what) of the evaluation set: DATA, data/LibriSpeech/test-clean, a download, or the demo."""
    if spec:
        return spec, spec
    local = Path("data/LibriSpeech/test-clean")
    if local.is_dir():
        return str(local), "LibriSpeech test-clean"
    from corpus.download import DownloadError, download_librispeech

    try:
        return str(download_librispeech("test-clean", "data", progress=True)), "LibriSpeech test-clean (downloaded)"
    except (DownloadError, OSError) as error:
        print(f"LibriSpeech test-clean is not in data/LibriSpeech and cannot be downloaded ({error}); "
              f"evaluating on the synthetic English test set instead (espeak-ng voices, not real speech)")
    from asr.demo import demo_corpus

    return str(demo_corpus(DEMO_DIR, "full", seed=seed, jobs=jobs)["test"]), "synthetic test-clean (espeak-ng)"


def _run_eval(args: argparse.Namespace) -> int:
    quiet_tensorflow()
    from asr.evaluate import evaluate
    from asr.recognizer import ModelFolderError, Recognizer

    try:
        recognizer = Recognizer.load(args.model)
    except ModelFolderError as error:
        raise UserError(str(error)) from None
    path, what = _eval_data(args.data, args.jobs, args.seed)
    out = Path(args.out or Path(args.model) / "eval")
    result = evaluate(recognizer, _utterances(path), out, method=args.method, jobs=args.jobs,
                      progress=not args.quiet)
    print(f"{what}: WER {100 * result['wer']:.2f} % (S {result['substitutions']}, D {result['deletions']}, "
          f"I {result['insertions']}, N {result['ref_words']}), CER {100 * result['cer']:.2f} %; "
          f"wrote {out}/wer.json, wer.pra, wer_by_length.png")
    return 0


def _run_wer(args: argparse.Namespace) -> int:
    from asr.wer import TranscriptError, pra_text, read_transcripts, score

    try:
        scored = score(read_transcripts(args.ref), read_transcripts(args.hyp), normalize=not args.no_normalize)
    except TranscriptError as error:
        raise UserError(str(error)) from None
    counts = scored.counts
    print(f"WER {100 * counts.wer:.2f} % (S {counts.substitutions}, D {counts.deletions}, I {counts.insertions}, "
          f"N {counts.ref_words}; {counts.utterances} utterances), CER {100 * scored.char_counts.wer:.2f} %")
    if args.pra:
        from corpus.fsutil import atomic_write_text

        atomic_write_text(args.pra, pra_text(scored))
    if args.json:
        print(json.dumps({**counts.as_dict(), "cer": round(scored.char_counts.wer, 6)}, sort_keys=True))
    return 0


def _run_transcribe(args: argparse.Namespace) -> int:
    quiet_tensorflow()
    from corpus.audio import AudioError
    from asr.recognizer import ModelFolderError, Recognizer

    try:
        recognizer = Recognizer.load(args.model)
    except ModelFolderError as error:
        raise UserError(str(error)) from None
    failed = 0
    for path in args.files:
        try:
            print(f"{path}\t{recognizer.transcribe_file(path, args.method)}")
        except AudioError as error:
            print(f"{path}\terror: {error}")
            failed += 1
    return 1 if failed else 0


def _run_export(args: argparse.Namespace) -> int:
    quiet_tensorflow()
    from asr.export import export_tflite

    report = export_tflite(args.model, data=args.data, jobs=args.jobs, progress=not args.quiet)
    print(json.dumps(report, sort_keys=True))
    return 0


def register_all(subparsers: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser("train", help="train a Conformer-CTC model", formatter_class=fmt, description="""\
Train a Conformer-CTC recognizer into a model folder (config.json, model.weights.h5, tokens.json,
train_report.json, checkpoints/, logs/ for TensorBoard). Rerunning the same command resumes from the last
checkpoint. --data takes LibriSpeech trees, NeMo manifests or corpus supervision JSONL (several allowed).

example:
  python -m asr train --data data/LibriSpeech/train-clean-100 --model models/asr-en --size small""")
    p.add_argument("--data", nargs="+", default=None, help="training sources (default: the synthetic demo)")
    p.add_argument("--dev", default=None, help="dev source (default: the last 10%% of speakers of --data)")
    p.add_argument("--model", "--out", dest="model", default="models/asr-en", help="model folder (default: %(default)s)")
    p.add_argument("--size", "--backbone", dest="size", default="tiny", choices=("tiny", "small", "medium"))
    p.add_argument("--tokenizer", default="char", choices=("char", "bpe"))
    p.add_argument("--steps", type=positive_int, default=4000)
    p.add_argument("--checkpoint-every", type=positive_int, default=200)
    p.add_argument("--max-duration", type=float, default=20.0, help="longest utterance in s (default: %(default)s)")
    p.add_argument("--speed-perturb", action="store_true", help="train on 0.9x, 1x and 1.1x speed copies")
    p.add_argument("--lm", action="store_true", help="also write lm.arpa (3-gram of the training text) + lexicon")
    p.add_argument("--mixed-precision", action="store_true", help="float16 compute (GPUs)")
    p.add_argument("--replicas", type=int, default=0, help="MirroredStrategy over N devices (default: auto)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=positive_int, default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_run_train)

    p = subparsers.add_parser("eval", help="WER of a model on a data set (make eval-wer)", formatter_class=fmt,
                              description="""\
Decode a data set and score it: prints WER with S/D/I counts, writes wer.json, wer.pra (sclite style),
hyp.trn and wer_by_length.png. Without --data: data/LibriSpeech/test-clean, else a download of it, else
(offline) the synthetic English test set, said plainly.

example:
  python -m asr eval --model models/asr-en --data data/LibriSpeech/test-clean""")
    p.add_argument("--model", default="models/asr-en")
    p.add_argument("--data", default=None)
    p.add_argument("--out", default=None, help="results folder (default: MODEL/eval)")
    p.add_argument("--method", default="greedy", choices=("greedy", "beam", "lm"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=positive_int, default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_run_eval)

    p = subparsers.add_parser("wer", help="score hypotheses against references", formatter_class=fmt,
                              description="""\
Corpus WER = (S + D + I) / N after LibriSpeech normalization, with sclite's alignment. Files hold
'ID TEXT' lines (trans.txt style) or sclite trn lines 'TEXT (ID)'.

example:
  python -m asr wer --ref ref.txt --hyp hyp.txt --pra out.pra""")
    p.add_argument("--ref", required=True)
    p.add_argument("--hyp", required=True)
    p.add_argument("--pra", default=None, help="write the per-utterance alignments here")
    p.add_argument("--json", action="store_true", help="also print the counts as JSON")
    p.add_argument("--no-normalize", action="store_true", help="compare the texts as they are")
    p.set_defaults(func=_run_wer)

    p = subparsers.add_parser("transcribe", help="transcribe audio files of any length", formatter_class=fmt,
                              description="""\
Print 'FILE<TAB>TEXT' per file. Long files are read in blocks and cut at pauses.

example:
  python -m asr transcribe --model models/asr-en talk.wav interview.flac""")
    p.add_argument("--model", default="models/asr-en")
    p.add_argument("--method", default="greedy", choices=("greedy", "beam", "lm"))
    p.add_argument("files", nargs="+")
    p.set_defaults(func=_run_transcribe)

    p = subparsers.add_parser("export", help="float16 and int8 TFLite models with their WER", formatter_class=fmt,
                              description="""\
Write MODEL/model_float16.tflite and MODEL/model_int8.tflite (dynamic time axis) and report.json with the
WER of the Keras model and of each TFLite model on the same set (LiteRT interpreter).

example:
  python -m asr export --model models/asr-en --data data/demo/asr/LibriSpeech/test-clean""")
    p.add_argument("--model", default="models/asr-en")
    p.add_argument("--data", required=True, help="evaluation source for the WER comparison")
    p.add_argument("--jobs", type=positive_int, default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_run_export)
