"""The recognizer end to end on a tiny synthetic LibriSpeech tree: data filters, training with exact resume,
model folder -> eval / transcribe / plugin / TFLite export, and MirroredStrategy over two logical CPUs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from corpus.audio import load_audio, save_audio
from corpus.configs import quiet_tensorflow

from asr.data import DataConfig, prepare, read_source
from asr.demo import demo_corpus
from asr.tokens import CharTokenizer, BpeTokenizer
from asr.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
TINY = (("d_model", 48), ("heads", 2), ("layers", 1), ("subsampling_channels", 8), ("kernel_size", 7))
CONFIG = TrainConfig(steps=6, warmup_steps=3, checkpoint_every=2, eval_every=3, dev_utterances=4,
                     augment_after_steps=2,  # the resume at step 2 must replay SpecAugment exactly
                     data=DataConfig(batch_frames=3000, max_batch_utterances=4), model_overrides=TINY)


@pytest.fixture(scope="module")
def corpus_splits(tmp_path_factory):
    return demo_corpus(tmp_path_factory.mktemp("asr-data"), "test", jobs=2)


def test_tokenizers_round_trip(tmp_path):
    chars = CharTokenizer.from_texts(["HELLO WORLD", "IT'S"])
    assert chars.decode(chars.encode("hello  world")) == "HELLO WORLD"
    bpe = BpeTokenizer.train(["THE CAT SAT ON THE MAT"] * 20 + ["A DOG RAN"] * 20, vocab_size=30)
    bpe.save(tmp_path)
    assert bpe.encode("THE CAT")[0] > 0 and bpe.decode(bpe.encode("the cat")) == "THE CAT"


def test_filters_are_counted(corpus_splits, tmp_path):
    items = read_source(corpus_splits["train"])[0]
    audio = load_audio(items[0].path)[:8000]  # 0.5 s cannot hold a long sentence at 4x subsampling
    save_audio(tmp_path / "short.wav", audio, 16000)
    manifest = tmp_path / "m.json"
    rows = [{"audio_filepath": "short.wav", "duration": 0.5, "text": "A VERY LONG SENTENCE " * 3},
            {"audio_filepath": "missing.wav", "duration": 1.0, "text": "HELLO"},
            {"audio_filepath": "short.wav", "duration": 40.0, "text": "HELLO"},
            {"audio_filepath": "short.wav", "duration": 0.5, "text": "!!"}]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    utterances, problems = read_source(manifest)
    tokenizer = CharTokenizer.from_texts(["A VERY LONG SENTENCE HELLO"])
    examples, report = prepare(utterances, tokenizer.encode, features=CONFIG.features, config=DataConfig(),
                               train=True, jobs=1, progress=False)
    assert examples == [] and problems == []
    assert report.dropped == {"tokens do not fit the output frames": 1, "unreadable audio": 1,
                              "longer than 20 s": 1, "no text left after normalization": 1}


@pytest.mark.slow
def test_train_resume_eval_export(corpus_splits, tmp_path):
    quiet_tensorflow()
    train_items = read_source(corpus_splits["train"])[0]
    dev_items = read_source(corpus_splits["dev"])[0]
    straight = train(CONFIG, train_items, dev_items, tmp_path / "straight", jobs=1, progress=False)
    assert straight["finished"] and straight["steps"] == 6 and np.isfinite(straight["loss"])
    killed = train(CONFIG, train_items, dev_items, tmp_path / "resumed", jobs=1, progress=False, stop_after=3)
    assert not killed["finished"] and not (tmp_path / "resumed" / "model.weights.h5").exists()
    train(CONFIG, train_items, dev_items, tmp_path / "resumed", jobs=1, progress=False)  # resumes at step 2
    from asr.recognizer import Recognizer

    a, b = Recognizer.load(tmp_path / "straight"), Recognizer.load(tmp_path / "resumed")
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)  # exact resume, deterministic on CPU
    assert list((tmp_path / "straight" / "logs").rglob("events.out.tfevents.*")), list((tmp_path / "straight").rglob("*"))
    with pytest.raises(Exception, match="another configuration"):
        train(replace(CONFIG, steps=7), train_items, dev_items, tmp_path / "straight", jobs=1, progress=False)

    model = tmp_path / "straight"
    run = [sys.executable, "-m", "asr"]
    out = subprocess.run(run + ["eval", "--model", str(model), "--data", str(corpus_splits["test"]), "--quiet",
                                "--jobs", "1"], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert "WER" in out and "(S " in out
    wer = json.loads((model / "eval" / "wer.json").read_text())
    assert wer["ref_words"] > 0 and (model / "eval" / "wer_by_length.png").stat().st_size > 1000
    assert "Scores: (#C #S #D #I)" in (model / "eval" / "wer.pra").read_text()
    if importlib.util.find_spec("flashlight") is not None:  # the optional LM extra (in dev)
        from asr.lm import write_lm

        write_lm([u.text for u in train_items], model)
        subprocess.run(run + ["eval", "--model", str(model), "--data", str(corpus_splits["test"]), "--quiet",
                              "--jobs", "1", "--method", "lm", "--out", str(tmp_path / "lm")],
                       capture_output=True, text=True, cwd=ROOT, check=True)
        assert json.loads((tmp_path / "lm" / "wer.json").read_text())["method"] == "lm"

    long_audio = np.concatenate([load_audio(u.path) for u in train_items[:6]])  # > 15 s: cut at pauses
    save_audio(tmp_path / "long.wav", long_audio, 16000)
    out = subprocess.run(run + ["transcribe", "--model", str(model), str(tmp_path / "long.wav")],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.startswith(str(tmp_path / "long.wav") + "\t")

    from asr.plugin import load_recognizer

    recognize = load_recognizer(str(model))
    assert isinstance(recognize(load_audio(train_items[0].path, sample_rate_hz=22050), 22050), str)

    from asr.export import export_tflite

    report = export_tflite(model, data=str(corpus_splits["test"]), jobs=1, progress=False)
    for kind in ("float16", "int8"):
        assert (model / f"model_{kind}.tflite").is_file()
        assert abs(report[kind]["wer_delta"]) <= 0.5
    assert json.loads((model / "report.json").read_text())["keras"]["wer"] == report["keras"]["wer"]


_MIRRORED = """
import sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from dataclasses import replace
sys.path.insert(0, sys.argv[3])
from tests.test_asr_train import CONFIG
from asr.data import read_source
from asr.train import train
items = read_source(sys.argv[1])[0]
report = train(replace(CONFIG, steps=2, replicas=2), items, items[:2], sys.argv[2], jobs=1, progress=False)
assert report["replicas"] == 2 and report["finished"], report
print("ok", report["loss"])
"""


@pytest.mark.slow
def test_mirrored_strategy_two_logical_cpus(corpus_splits, tmp_path):
    out = subprocess.run([sys.executable, "-c", _MIRRORED, str(corpus_splits["train"]), str(tmp_path / "m"),
                          str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1].startswith("ok"), out.stdout
