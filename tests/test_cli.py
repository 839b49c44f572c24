import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["corpus", "asr", "kws", "export"])
def test_help_lists_subcommands(package):
    result = subprocess.run([sys.executable, "-m", package, "--help"], capture_output=True, text=True, check=True)
    assert f"python -m {package}" in result.stdout and "subcommands" in result.stdout


def test_every_corpus_command_teaches_with_an_example():
    for command in ["synth-cv", "synth-librispeech", "synth-ia", "synth-mswc"]:
        result = subprocess.run([sys.executable, "-m", "corpus", command, "--help"], capture_output=True, text=True,
                                check=True)
        assert "example" in result.stdout.lower(), command


def test_no_command_prints_help_and_fails():
    result = subprocess.run([sys.executable, "-m", "corpus"], capture_output=True, text=True)
    assert result.returncode == 2 and "synth-cv" in result.stdout
