"""Every subcommand of every package answers `--help` with an example, and shares one option vocabulary.

The commands are found by walking the argparse tree that each `python -m <package>` builds, so a new
subcommand is covered without editing this test.
"""

from __future__ import annotations

import argparse
import importlib

import pytest

PACKAGES = ("corpus", "kws", "export", "asr")


def _root_parser(package: str) -> argparse.ArgumentParser:
    from corpus import cli

    captured: list[argparse.ArgumentParser] = []
    original = argparse.ArgumentParser.parse_args

    def capture(self, *args, **kwargs):  # the root parser is the first one asked to parse
        captured.append(self)
        raise SystemExit(0)

    argparse.ArgumentParser.parse_args = capture
    try:
        with pytest.raises(SystemExit):
            importlib.import_module(f"{package}.__main__").main([])
    finally:
        argparse.ArgumentParser.parse_args = original
    assert captured and cli  # run_cli built the parser
    return captured[0]


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


def _all_commands():
    out = []
    for package in PACKAGES:
        for path, parser in _leaves(_root_parser(package)):
            out.append(pytest.param(package, path, parser, id=" ".join((package, *path))))
    return out


@pytest.mark.parametrize("package,path,parser", _all_commands())
def test_help_has_an_example_and_the_shared_options(package, path, parser, capsys):
    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(f"{package}.__main__").main([*path, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "example" in text.lower(), f"python -m {package} {' '.join(path)} --help shows no example"
    options = {o: a for a in parser._actions for o in a.option_strings}
    if "--jobs" in options:  # one meaning everywhere: a positive worker count, all cores by default
        assert options["--jobs"].default is None and options["--jobs"].type.__name__ == "positive_int"
    assert "--no-progress" not in options, "use --quiet for 'no progress bars'"
    if "--quiet" in options:
        assert isinstance(options["--quiet"], argparse._StoreTrueAction)
    if "--seed" in options:
        assert options["--seed"].type is int


def test_every_package_has_commands():
    for package in PACKAGES:
        assert list(_leaves(_root_parser(package))), package


def test_asr_holds_asr_commands_only():
    names = {path[0] for path, _ in _leaves(_root_parser("asr")) if path}
    assert not names & {"download", "synth-librispeech"}, "data commands live in python -m corpus"
