"""Synthetic speech speed: seconds of audio made per second of one CPU core.

Measures `corpus.synth.synthesize` (espeak-ng in its fork-per-utterance server, word timing, resampling
to 16 kHz) on one core over demo sentences of several languages and many speakers, then the whole
Common Voice tree generator (synthesis + noise/reverb + MP3 encoding + TSVs) on all cores.

Goal (foundation issue): rtf_single_core >= 200.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from common import emit, parser  # noqa: E402

from corpus.demo.common_voice import SynthCVConfig, synth_common_voice  # noqa: E402
from corpus.demo.text import DemoText  # noqa: E402
from corpus.engines import default_jobs  # noqa: E402
from corpus.synth import SpeakerBank, synthesize  # noqa: E402

LANGUAGES = ("lg", "en", "sw", "es", "de")


def single_core_rtf(utterances_per_language: int, seed: int) -> tuple[float, int]:
    # One core for this process and (inherited) for the synthesis servers it starts below.
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    bank = SpeakerBank(20, seed=seed)
    work = [(lang, sentence) for lang in LANGUAGES
            for sentence in DemoText.load(lang).sentences(utterances_per_language, seed=seed)]
    synthesize("warm up", language="en", speaker=bank[0])  # starts the synthesis server once
    for lang in LANGUAGES:
        synthesize("warm up", language=lang, speaker=bank[0])
    audio_s = 0.0
    wall_start = time.perf_counter()
    for i, (lang, sentence) in enumerate(work):
        audio_s += synthesize(sentence, language=lang, speaker=bank[i % len(bank)]).duration_s
    wall_s = time.perf_counter() - wall_start
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return audio_s / wall_s, len(work)


def main() -> None:
    args = parser(__doc__).parse_args()
    figures: dict = {}
    per_language = 40 if args.quick else 200
    wall_rtf, count = single_core_rtf(per_language, args.seed)
    figures.update(rtf_single_core=round(wall_rtf, 1), utterances=count)
    sentences = 200 if args.quick else 1000
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        start = time.perf_counter()
        lang_dir = synth_common_voice(SynthCVConfig(language="lg", sentences=sentences, speakers=40, seed=args.seed),
                                      work, progress=False)
        elapsed = time.perf_counter() - start
        clips = len(list((Path(lang_dir) / "clips").iterdir()))
    figures.update(cv_tree_sentences=sentences, cv_tree_seconds=round(elapsed, 2),
                   cv_clips_per_s=round(clips / elapsed, 1), cv_jobs=default_jobs())
    summary = (f"synth: {figures['rtf_single_core']}x real time on one core (goal >= 200); Common Voice tree of "
               f"{sentences} sentences in {figures['cv_tree_seconds']} s on {default_jobs()} cores")
    emit("synth", figures, summary)


if __name__ == "__main__":
    main()
