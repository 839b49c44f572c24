"""`python -m kws train` / `detect` on bad input: clear one-line errors, exit code 2; `detect` streams long files."""

import subprocess
import sys

import numpy as np
import pytest

from corpus.audio import save_audio
from corpus.demo.mswc import SynthMswcConfig, synth_mswc


def kws(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "kws", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-mswc")
    synth_mswc(SynthMswcConfig(language="lg", words=4, clips_per_word=6, speakers=10, seed=2), root, jobs=2,
               progress=False)
    return root


def test_train_unknown_keyword_lists_close_matches(tree, tmp_path):
    result = kws("train", "--lang", "lg", "--data", tree, "--keywords", "akawukka", "--data-root", tmp_path)
    assert result.returncode == 2
    assert "error:" in result.stderr and "akawukka" in result.stderr and "close: akawuka" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_too_few_examples_for_k_shots(tree, tmp_path):
    result = kws("train", "--lang", "lg", "--data", tree, "--keywords", "akawuka", "--shots", "50",
                 "--data-root", tmp_path)
    assert result.returncode == 2 and "50 shots need at least 50" in result.stderr


def test_train_data_that_is_neither_mswc_nor_common_voice(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hello")
    result = kws("train", "--lang", "lg", "--data", tmp_path / "junk", "--data-root", tmp_path)
    assert result.returncode == 2
    assert "neither an MSWC-layout folder" in result.stderr and "Common Voice" in result.stderr
    result = kws("train", "--lang", "lg", "--data", tmp_path / "missing", "--data-root", tmp_path)
    assert result.returncode == 2 and "no such folder" in result.stderr


def test_train_mswc_data_of_another_language(tree, tmp_path):
    result = kws("train", "--lang", "sw", "--data", tree, "--data-root", tmp_path)
    assert result.returncode == 2 and "not for 'sw'" in result.stderr and "lg_splits.csv" in result.stderr


def test_train_common_voice_folder_the_builder_cannot_use(tmp_path):
    """A Common Voice folder with no sentences goes to the MSWC builder, whose error comes back as a message."""
    cv = tmp_path / "cv-corpus-1" / "lg"
    (cv / "clips").mkdir(parents=True)
    header = ("client_id\tpath\tsentence_id\tsentence\tsentence_domain\tup_votes\tdown_votes\tage\tgender\t"
              "accents\tvariant\tlocale\tsegment\n")
    (cv / "validated.tsv").write_text(header)
    result = kws("train", "--lang", "lg", "--data", tmp_path / "cv-corpus-1", "--data-root", tmp_path / "data")
    assert result.returncode == 2 and "MSWC builder could not make keyword clips" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_train_empty_or_unknown_language(tmp_path):
    result = kws("train", "--lang", "", "--data-root", tmp_path)
    assert result.returncode == 2 and "not valid" in result.stderr
    result = kws("train", "--lang", "xx", "--data-root", tmp_path)
    assert result.returncode == 2 and "no data for language 'xx'" in result.stderr and "lg" in result.stderr


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A real (untrained) int8 model folder: enough for detect's input handling."""
    import keras

    from export.quantize import to_int8_tflite
    from kws.bundle import save_bundle
    from kws.common import SILENCE, UNKNOWN
    from kws.features import int8_to_float
    from kws.models import build_classifier, preset
    from kws.streaming import StreamingConfig

    keras.utils.set_random_seed(0)
    model = build_classifier(preset("tiny_conv"), 3)
    representative = int8_to_float(np.random.default_rng(0).integers(-128, 128, (32, 49, 40)).astype(np.int8))
    out = tmp_path_factory.mktemp("model")
    save_bundle(out, model=model, tflite=to_int8_tflite(model, representative),
                streaming=StreamingConfig(labels=(SILENCE, UNKNOWN, "akawuka"), detection_threshold=0), report={},
                config={})
    return out


def test_detect_bad_inputs(model_dir, tmp_path):
    result = kws("detect", "--model", tmp_path / "nomodel", tmp_path / "x.wav")
    assert result.returncode == 2 and "no model folder" in result.stderr
    result = kws("detect", "--model", model_dir, tmp_path / "missing.wav")
    assert result.returncode == 2 and "does not exist" in result.stderr
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage")
    result = kws("detect", "--model", model_dir, tmp_path / "broken.wav")
    assert result.returncode == 2 and "cannot" in result.stderr and "broken.wav" in result.stderr
    save_audio(tmp_path / "short.wav", np.zeros(8000, np.float32), 16000)
    result = kws("detect", "--model", model_dir, tmp_path / "short.wav")
    assert result.returncode == 2 and "too short" in result.stderr
    assert "Traceback" not in result.stderr


def test_detect_streams_a_long_file_in_blocks(model_dir, tmp_path):
    import io

    from kws.detect import detect_file

    rng = np.random.default_rng(1)
    audio = (0.05 * rng.standard_normal(16000 * 75)).astype(np.float32)
    audio[16000 * 30:16000 * 31] += 0.3 * np.sin(np.arange(16000) * 0.2).astype(np.float32)
    path = tmp_path / "long.flac"
    save_audio(path, audio, 16000)
    small, large = io.StringIO(), io.StringIO()
    in_blocks = detect_file(model_dir, path, block_s=7.0, out=small)
    whole = detect_file(model_dir, path, block_s=600.0, out=large)
    assert in_blocks == whole and "detection(s) in 75.0 s of audio" in small.getvalue()
    result = kws("detect", "--model", model_dir, path)
    assert result.returncode == 0 and "detection(s) in 75.0 s" in result.stdout
