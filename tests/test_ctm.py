"""CTM read/write round trip and alignment conversion."""

from __future__ import annotations

import pytest

from corpus.formats.ctm import CtmError, CtmRow, alignment_rows, read_ctm, write_ctm
from corpus.manifest import AlignedWord, Alignment


def test_round_trip_and_kaldi_style_input(tmp_path):
    rows = [CtmRow(recording="utt1", channel="1", start_s=0.31, duration_s=0.41, label="akawuka", confidence=0.93),
            CtmRow(recording="utt1", channel="1", start_s=0.72, duration_s=0.48, label="corona", confidence=1.0)]
    path = write_ctm(tmp_path / "a.ctm", rows)
    assert path.read_text().splitlines()[0] == "utt1 1 0.31 0.41 akawuka 0.93"
    assert read_ctm(path) == rows
    kaldi = tmp_path / "k.ctm"
    kaldi.write_text(";; comment\nutt2 A 0.000 0.250 hello\n\nutt2 A 0.25 0.5 world 0.5\n")
    back = read_ctm(kaldi)
    assert [r.label for r in back] == ["hello", "world"] and back[0].confidence is None and back[1].end_s == 0.75


def test_alignment_rows():
    alignment = Alignment(id="c1", recording_id="rec", words=(AlignedWord(text="a", start_s=0.1, duration_s=0.2,
                                                                          score=0.5),),
                          units=(AlignedWord(text="a", start_s=0.1, duration_s=0.2),))
    assert alignment_rows([alignment])[0] == CtmRow(recording="c1", channel="1", start_s=0.1, duration_s=0.2,
                                                    label="a", confidence=0.5)
    assert alignment_rows([alignment], units=True, by_recording=True)[0].recording == "rec"


@pytest.mark.parametrize("line,reason", [("u 1 0.1 word\n", "5 or 6 fields"), ("u 1 x 0.1 w\n", "numbers"),
                                         ("u 1 -1 0.1 w\n", "bad times")])
def test_bad_lines(tmp_path, line, reason):
    path = tmp_path / "b.ctm"
    path.write_text(line)
    with pytest.raises(CtmError, match=reason):
        read_ctm(path)


def test_write_rejects_whitespace_labels(tmp_path):
    with pytest.raises(CtmError, match="whitespace"):
        write_ctm(tmp_path / "c.ctm", [CtmRow(recording="u", channel="1", start_s=0, duration_s=1, label="a b")])
    assert not (tmp_path / "c.ctm").exists()
