"""TextGrid read/write: MFA 3 long format, short format, MSWC-published style, encodings, round trips."""

from __future__ import annotations

import pytest

from corpus.formats.textgrid import (TextGridError, format_textgrid, labelled, read_textgrid, word_intervals,
                                     write_textgrid)

# What MFA 3.x writes (long text format via Praat layout): "words" and "phones" IntervalTiers,
# silence as empty intervals, 4-space indents, a space before each newline.
MFA3 = '''File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0 
xmax = 1.52 
tiers? <exists> 
size = 2 
item []: 
    item [1]:
        class = "IntervalTier" 
        name = "words" 
        xmin = 0 
        xmax = 1.52 
        intervals: size = 4 
        intervals [1]:
            xmin = 0 
            xmax = 0.31 
            text = "" 
        intervals [2]:
            xmin = 0.31 
            xmax = 0.72 
            text = "akawuka" 
        intervals [3]:
            xmin = 0.72 
            xmax = 1.2 
            text = "corona" 
        intervals [4]:
            xmin = 1.2 
            xmax = 1.52 
            text = "" 
    item [2]:
        class = "IntervalTier" 
        name = "phones" 
        xmin = 0 
        xmax = 1.52 
        intervals: size = 5 
        intervals [1]:
            xmin = 0 
            xmax = 0.31 
            text = "" 
        intervals [2]:
            xmin = 0.31 
            xmax = 0.5 
            text = "a" 
        intervals [3]:
            xmin = 0.5 
            xmax = 0.72 
            text = "k" 
        intervals [4]:
            xmin = 0.72 
            xmax = 1.2 
            text = "c" 
        intervals [5]:
            xmin = 1.2 
            xmax = 1.52 
            text = "" 
'''

# The MSWC release's alignments came from MFA 1.x/2.0, written by the `textgrid` Python package:
# tab indents, no trailing spaces, '.0' floats, speaker-prefixed tier names in some languages.
MSWC_STYLE = ('File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0.0\nxmax = 2.0\ntiers? <exists>\n'
              'size = 2\nitem []:\n\titem [1]:\n\t\tclass = "IntervalTier"\n\t\tname = "spk7 - words"\n'
              '\t\txmin = 0.0\n\t\txmax = 2.0\n\t\tintervals: size = 3\n\t\t\tintervals [1]:\n\t\t\t\txmin = 0.0\n'
              '\t\t\t\txmax = 0.5\n\t\t\t\ttext = ""\n\t\t\tintervals [2]:\n\t\t\t\txmin = 0.5\n\t\t\t\txmax = 1.25\n'
              '\t\t\t\ttext = "ng\'ombe"\n\t\t\tintervals [3]:\n\t\t\t\txmin = 1.25\n\t\t\t\txmax = 2.0\n'
              '\t\t\t\ttext = "sil"\n\titem [2]:\n\t\tclass = "IntervalTier"\n\t\tname = "spk7 - phones"\n'
              '\t\txmin = 0.0\n\t\txmax = 2.0\n\t\tintervals: size = 1\n\t\t\tintervals [1]:\n\t\t\t\txmin = 0.0\n'
              '\t\t\t\txmax = 2.0\n\t\t\t\ttext = ""\n')

SHORT = '''File type = "ooTextFile"
Object class = "TextGrid"

0
2.5
<exists>
2
"IntervalTier"
"words"
0
2.5
2
0
1.25
"say ""hi"""
1.25
2.5
""
"TextTier"
"events"
0
2.5
1
1.5e0
"click"
'''


def test_reads_mfa3_long_format(tmp_path):
    path = tmp_path / "clip.TextGrid"
    path.write_text(MFA3, encoding="utf-8")
    tiers = read_textgrid(path)
    assert list(tiers) == ["words", "phones"]
    assert tiers["words"] == [(0.0, 0.31, ""), (0.31, 0.72, "akawuka"), (0.72, 1.2, "corona"), (1.2, 1.52, "")]
    assert labelled(tiers["phones"]) == [(0.31, 0.5, "a"), (0.5, 0.72, "k"), (0.72, 1.2, "c")]
    assert word_intervals(tiers) == [(0.31, 0.72, "akawuka"), (0.72, 1.2, "corona")]


def test_reads_mswc_published_style_with_speaker_tiers(tmp_path):
    path = tmp_path / "common_voice_lg_1.TextGrid"
    path.write_bytes(MSWC_STYLE.replace("\n", "\r\n").encode("utf-8"))
    tiers = read_textgrid(path)
    assert set(tiers) == {"spk7 - words", "spk7 - phones"}
    assert word_intervals(tiers) == [(0.5, 1.25, "ng'ombe")]  # 'sil' is not a word


def test_reads_short_format_points_and_escaped_quotes(tmp_path):
    path = tmp_path / "short.TextGrid"
    path.write_text(SHORT, encoding="utf-8")
    tiers = read_textgrid(path)
    assert tiers["words"] == [(0.0, 1.25, 'say "hi"'), (1.25, 2.5, "")]
    assert tiers["events"] == [(1.5, 1.5, "click")]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-16-le"])
def test_reads_praat_encodings(tmp_path, encoding):
    path = tmp_path / "enc.TextGrid"
    path.write_bytes(MFA3.replace("akawuka", "ŋŋaali ẽ").encode(encoding))
    assert word_intervals(read_textgrid(path))[0][2] == "ŋŋaali ẽ"


def test_round_trip_fills_gaps_and_matches_mfa_layout(tmp_path):
    words = [(0.31, 0.72, "akawuka"), (0.72, 1.2, "corona")]
    phones = [(0.31, 0.5, "a"), (0.5, 0.72, "k"), (0.72, 1.2, "c")]
    path = write_textgrid(tmp_path / "out" / "clip.TextGrid", {"words": words, "phones": phones}, 1.52)
    assert path.read_text(encoding="utf-8") == MFA3  # byte for byte what MFA 3 writes
    again = read_textgrid(path)
    assert labelled(again["words"]) == words and labelled(again["phones"]) == phones
    assert again["words"][0] == (0.0, 0.31, "") and again["words"][-1] == (1.2, 1.52, "")


def test_write_quotes_odd_labels_and_clamps(tmp_path):
    tiers = {"words": [(0.0, 0.4, 'a "quoted" word'), (0.4, 0.9, "ŋ!x [1]"), (0.9, 3.0, "past the end")]}
    path = write_textgrid(tmp_path / "x.TextGrid", tiers, 1.0)
    back = read_textgrid(path)["words"]
    assert back == [(0.0, 0.4, 'a "quoted" word'), (0.4, 0.9, "ŋ!x [1]"), (0.9, 1.0, "past the end")]


def test_write_rejects_overlaps_and_bad_duration(tmp_path):
    with pytest.raises(ValueError, match="overlaps"):
        format_textgrid({"words": [(0.0, 0.5, "a"), (0.3, 0.8, "b")]}, 1.0)
    with pytest.raises(ValueError, match="duration"):
        format_textgrid({"words": []}, 0.0)
    assert read_textgrid(write_textgrid(tmp_path / "e.TextGrid", {"words": []}, 2.0)) == {"words": [(0.0, 2.0, "")]}


@pytest.mark.parametrize("content,reason", [
    (b"", "empty"),
    (b"ooBinaryFile\x08TextGrid", "binary"),
    (b'File type = "ooTextFile"\nObject class = "Sound"\n', "not a Praat TextGrid"),
    (MFA3[: len(MFA3) // 2].encode(), "file ends"),
    (MFA3.replace('"IntervalTier"', '"Weird"', 1).encode(), "unknown tier class"),
])
def test_malformed_files_name_the_file(tmp_path, content, reason):
    path = tmp_path / "bad.TextGrid"
    path.write_bytes(content)
    with pytest.raises(TextGridError, match=reason) as info:
        read_textgrid(path)
    assert str(path) in str(info.value)


def test_missing_words_tier_is_clear():
    with pytest.raises(TextGridError, match="no 'words' tier"):
        word_intervals({"phones": []})
