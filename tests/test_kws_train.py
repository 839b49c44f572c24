"""A tiny real run of the whole `kws train` pipeline on small synthetic trees (real TF training, real LiteRT):
it must beat chance clearly on held-out speakers, the int8 model must agree with the float one, the model
folder must be complete, a rerun must reuse data and embedding, training must be deterministic, and
`python -m kws detect` must find a keyword spliced into a stream near its true time."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kws.embedding import EmbeddingConfig
from kws.train import run_train
from kws.train_config import DemoConfig, TrainConfig
from kws.training import FitConfig

pytestmark = pytest.mark.slow

TINY_EMBEDDING = EmbeddingConfig(backbone="ds_cnn_s", backbone_overrides={"channels": 32, "blocks": 3},
                                 embedding_dim=32, fit=FitConfig(epochs=20, batch_size=32, learning_rate=5e-3))
TINY_DEMO = DemoConfig(embedding_words=20, embedding_clips_per_word=16, target_words=6, target_clips_per_word=30,
                       speakers=30)


def tiny_config(**overrides) -> TrainConfig:
    return TrainConfig(language="lg", embedding_languages=("sw",), embedding=TINY_EMBEDDING, demo=TINY_DEMO,
                       stream_minutes=0.75, augmentations_per_shot=30, fine_tune_epochs=3,
                       **overrides)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("kws-train")
    lines: list[str] = []
    report = run_train(tiny_config(), out=root / "models" / "kws-lg", data_root=root / "data",
                       models_root=root / "models", jobs=2, verbose=False, say=lines.append)
    return root, report, "\n".join(lines)


def test_beats_chance_clearly_on_held_out_speakers(run):
    _, report, _ = run
    metrics = report["heldout_clips"]
    assert metrics["labels"] == ["_silence_", "_unknown_", "akawuka", "senyiga", "okugema"]
    keyword_f1 = np.mean([metrics["per_class"][k]["f1"] for k in report["keywords"]])
    # chance is 1/5 per class (uniform guess), 0.5 accuracy for always "unknown" (the largest class)
    assert metrics["accuracy"] > 0.55 and keyword_f1 > 0.35, metrics


def test_int8_agrees_with_float(run):
    _, report, _ = run
    q = report["int8"]
    assert q["agreement"] >= 0.9 and abs(q["float_accuracy"] - q["int8_accuracy"]) <= 0.1
    assert q["input_scale"] == pytest.approx(666 / 6553.6) and q["input_zero_point"] == -128


def test_model_folder_is_complete_and_says_synthetic(run):
    root, report, text = run
    out = root / "models" / "kws-lg"
    for name in ("model.keras", "model_int8.tflite", "labels.txt", "streaming.json", "config.json", "report.json",
                 "files_shots.tsv", "files_unknown.tsv", "files_eval.tsv", "confusion.png", "f1.png", "frr_fa.png",
                 "example_stream.wav", "example_stream.wav.truth.json", "c/model_data.cc", "c/model_data.h",
                 "c/model_settings.h"):
        assert (out / name).exists(), name
    shots = (out / "files_shots.tsv").read_text().splitlines()[1:]
    assert len(shots) == 15 and all(line.split("\t")[1].startswith("lg/") for line in shots)
    assert "SYNTHETIC" in text and "akawuka" in text
    streaming = json.loads((out / "streaming.json").read_text())
    assert streaming["labels"][0] == "_silence_" and streaming["detection_threshold"] == \
        report["streaming"]["test"]["at_threshold"]["threshold"]
    by_keyword = report["streaming"]["test"]["frr_by_keyword"]
    assert sorted(by_keyword) == sorted(report["keywords"]) and all(0.0 <= v <= 1.0 for v in by_keyword.values())
    # the pooled FRR is the occurrence-weighted mean of the keywords' (each keyword is said about equally often)
    pooled = report["streaming"]["test"]["at_threshold"]["frr"]
    assert min(by_keyword.values()) <= pooled + 1e-9 and pooled <= max(by_keyword.values()) + 1e-9
    assert (root / "data" / "demo" / "mswc" / "lg" / "lg_splits.csv").exists()
    assert report["data"]["synthetic"] and report["embedding"]["origin"].startswith("trained")
    # the real-speech check (kws.real_check) runs on ../shared/real_speech when it is there, printed apart
    real = report["real_speech"]
    if (Path(__file__).resolve().parents[1].parent / "shared" / "real_speech" / "MANIFEST.tsv").is_file():
        assert real["data"].startswith("REAL") and real["keywords"] == ["down", "yes", "stop"]
        assert real["test_clips"] > 20 and 0.0 <= real["mean_f1"] <= 1.0 and "REAL speech check" in text
    else:
        assert real is None and "REAL speech: not checked" in text


def test_rerun_reuses_data_and_embedding(run):
    root, first, _ = run
    lines: list[str] = []
    again = run_train(tiny_config(), out=root / "models" / "kws-lg-again", data_root=root / "data",
                      models_root=root / "models", jobs=2, verbose=False, say=lines.append)
    assert again["embedding"]["origin"].startswith("reused") and again["embedding"]["path"] == first["embedding"]["path"]
    assert "reused" in again["data"]["origin"] and not any("building the SYNTHETIC" in l for l in lines)
    assert again["heldout_clips"]["confusion"] == first["heldout_clips"]["confusion"]  # same seed, same result


def test_training_is_deterministic(run, tmp_path):
    import keras

    from kws.data import make_noise_bank, open_tree
    from kws.embedding import train_embedding

    root, report, _ = run
    trees = {"sw": open_tree(root / "data" / "demo" / "mswc" / "sw")}
    config = replace(TINY_EMBEDDING, fit=replace(TINY_EMBEDDING.fit, epochs=1))
    weights = []
    for name in ("a", "b"):
        keras.backend.clear_session()
        embedding = train_embedding(trees, config, tmp_path / name, noise=make_noise_bank(seed=0, seconds=5),
                                    cache_dir=root / "data" / "cache" / "kws", verbose=False)
        weights.append([w.copy() for w in embedding.model.get_weights()])
        assert (tmp_path / name / "files_train.tsv").read_text() == (tmp_path / "a" / "files_train.tsv").read_text()
    assert all(np.array_equal(a, b) for a, b in zip(*weights))


def test_detect_cli_finds_a_spliced_keyword_near_its_true_time(run, tmp_path):
    """Streams a clip the model was trained on (a shot) spliced into noise and running speech. This checks detect's
    streaming, its use of streaming.json and its timing end to end, with a shorter averaging window than the
    default because the test's model is tiny; generalization is measured on held-out speakers above."""
    import shutil

    from corpus.audio import load_audio, save_audio
    from corpus.synth import SpeakerBank, synthesize
    from kws.streaming import load_streaming, save_streaming
    from kws.streams import _cut, _energy_span

    root, report, _ = run
    out = tmp_path / "model"
    shutil.copytree(root / "models" / "kws-lg", out)
    streaming = load_streaming(out / "streaming.json")
    save_streaming(out / "streaming.json", replace(streaming, average_window_ms=400, detection_threshold=110))
    keyword, clip_id = (out / "files_shots.tsv").read_text().splitlines()[1].split("\t")
    clip = load_audio(root / "data" / "demo" / "mswc" / "lg" / "clips" / clip_id.split("/", 1)[1])
    word, _, _ = _cut(clip, *_energy_span(clip))
    speaker = SpeakerBank(3, seed=99, prefix="detect")[1]
    sentence = synthesize("Omwana asoma mu ssomero enkya", language="lg", speaker=speaker).samples
    rng = np.random.default_rng(0)
    audio = np.concatenate([np.zeros(24000, np.float32), word, np.zeros(24000, np.float32), sentence,
                            np.zeros(16000, np.float32)])
    audio = audio + 0.002 * rng.standard_normal(len(audio)).astype(np.float32)
    start_s, end_s = 1.5, 1.5 + len(word) / 16000
    wav = tmp_path / "stream.wav"
    save_audio(wav, audio, 16000)
    result = subprocess.run([sys.executable, "-m", "kws", "detect", "--model", str(out), str(wav)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    hits = [float(line.split()[0]) for line in result.stdout.splitlines()
            if len(line.split()) >= 3 and line.split()[1] == "s" and line.split()[2] == keyword]
    assert any(start_s <= t <= end_s + 1.0 for t in hits), (keyword, start_s, end_s, result.stdout)
    assert "threshold 110" in result.stdout


def test_fine_tuning_trains_a_copy_of_the_last_layers(run):
    from kws.data import make_noise_bank, open_tree
    from kws.embedding import Embedding
    from kws.fewshot import FewShotConfig, train_fewshot
    from export.quantize import to_int8_tflite, check_int8

    root, report, _ = run
    embedding = Embedding.load(report["embedding"]["path"])
    encoder = embedding.encoder
    before = [w.copy() for w in encoder.get_weights()]
    tree = open_tree(root / "data" / "demo" / "mswc" / "lg")
    config = FewShotConfig(keywords=("akawuka",), shots=5, augmentations_per_shot=10, unknown_clips=60,
                           silence_examples=20, head_epochs=5, fine_tune_layers=2,
                           fine_tune=FitConfig(epochs=1, learning_rate=1e-3))
    trained = train_fewshot(encoder, tree, config, noise=make_noise_bank(seed=0, seconds=5),
                            cache_dir=root / "data" / "cache" / "kws", verbose=False)
    assert all(np.array_equal(a, b) for a, b in zip(before, encoder.get_weights()))  # shared embedding untouched
    tuned = trained.model.get_layer(index=1).get_weights()  # the encoder copy inside the few-shot model
    changed = [not np.array_equal(a, b) for a, b in zip(before, tuned)]
    assert any(changed) and not all(changed)  # the last layers moved, the early ones did not
    check_int8(to_int8_tflite(trained.model, trained.representative))


def test_fine_tune_mix_interpolates_between_the_embedding_and_the_fine_tuned_weights(run):
    """WiSE-FT: mix 0 is the model before fine-tuning, 1 the fine-tuned one, 0.5 the midpoint of the two."""
    from kws.data import make_noise_bank, open_tree
    from kws.embedding import Embedding
    from kws.fewshot import FewShotConfig, train_fewshot

    root, report, _ = run
    encoder = Embedding.load(report["embedding"]["path"]).encoder
    start = encoder.get_weights()
    tree = open_tree(root / "data" / "demo" / "mswc" / "lg")
    config = FewShotConfig(keywords=("akawuka",), shots=5, augmentations_per_shot=10, unknown_clips=60,
                           silence_examples=20, head_epochs=5, fine_tune_layers=-1,
                           fine_tune=FitConfig(epochs=1, learning_rate=3e-3))
    encoders = {}
    for mix in (0.0, 0.5, 1.0):
        trained = train_fewshot(encoder, tree, replace(config, fine_tune_mix=mix), noise=make_noise_bank(
            seed=0, seconds=5), cache_dir=root / "data" / "cache" / "kws", verbose=False)
        encoders[mix] = trained.model.get_layer(index=1).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(encoders[0.0], start))
    assert max(np.abs(a - b).max() for a, b in zip(encoders[1.0], start)) > 1e-3  # fine-tuning moved them
    for half, full, before in zip(encoders[0.5], encoders[1.0], start):
        np.testing.assert_allclose(half, 0.5 * (full + before), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="fine_tune_mix"):
        replace(config, fine_tune_mix=1.5)


def test_closed_set_model_trains_and_beats_chance(run):
    from kws.closed_set import ClosedSetConfig, train_closed_set
    from kws.data import load_pool, make_noise_bank, open_tree, refs_of
    from kws.datasets import clip_features
    from kws.training import predict_classes

    root, _, _ = run
    tree = open_tree(root / "data" / "demo" / "mswc" / "lg")
    words = ("akawuka", "senyiga", "okugema")
    config = ClosedSetConfig(words=words, model="ds_cnn_s", model_overrides={"channels": 32, "blocks": 2},
                             fit=FitConfig(epochs=25, batch_size=32, learning_rate=5e-3))
    cache = root / "data" / "cache" / "kws"
    trained = train_closed_set(tree, config, noise=make_noise_bank(seed=0, seconds=5), cache_dir=cache,
                               verbose=False)
    assert trained.labels == ("_silence_", "_unknown_", *words)
    assert trained.test["examples"] >= 10 and trained.train_ids
    assert not {i for i in trained.train_ids} & {r.id for r in refs_of(tree, tree.clips) if r.set != "TRAIN"}
    # every held-out (DEV + TEST speaker) clip of the three words: the TEST report alone is a handful of clips
    held = [r for r in refs_of(tree, tree.clips) if r.set != "TRAIN" and r.word in words]
    pool = load_pool({"lg": tree}, held, cache_dir=cache)
    predicted, _ = predict_classes(trained.model, clip_features(pool, cache_dir=cache))
    truth = np.array([2 + words.index(r.word) for r in pool.refs])
    assert len(truth) >= 9 and np.mean(predicted == truth) > 0.5, (predicted, truth)  # chance 1/5
