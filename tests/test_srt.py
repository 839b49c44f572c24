"""SubRip parser/writer: lenient on harmless real-world quirks, strict where times would be wrong."""

from __future__ import annotations

import pytest

from corpus.formats.srt import (Cue, SrtError, format_timestamp, parse_srt, parse_timestamp, read_srt, render_srt,
                                strip_markup, write_srt)


def test_round_trip_through_a_file(tmp_path):
    cues = [Cue(index=1, start_s=0.0, end_s=1.25, text="Hello there."),
            Cue(index=2, start_s=61.5, end_s=63.001, text="Two lines\nof text"),
            Cue(index=3, start_s=3600 * 2 + 5.999, end_s=3600 * 2 + 7.0, text="Late: ünïcode & <b>")]
    path = write_srt(tmp_path / "a.srt", cues)
    document = read_srt(path, keep_markup=True)
    assert document.problems == ()
    assert document.cues == tuple(cues)
    assert [p.name for p in tmp_path.iterdir()] == ["a.srt"]  # no temporary file left behind
    assert "02:00:05,999 --> 02:00:07,000" in path.read_text(encoding="utf-8")


def test_writer_renumbers_and_writes_three_digit_milliseconds():
    text = render_srt([Cue(index=7, start_s=159.81, end_s=160.5, text="a"),
                       Cue(index=9, start_s=161, end_s=162, text="b")])
    assert text == "1\n00:02:39,810 --> 00:02:40,500\na\n\n2\n00:02:41,000 --> 00:02:42,000\nb\n"


def test_two_digit_milliseconds_mean_hundredths():
    assert parse_timestamp("00:02:39,81") == pytest.approx(159.81)
    assert parse_timestamp("00:02:39,810") == pytest.approx(159.81)
    assert parse_timestamp("00:02:39,081") == pytest.approx(159.081)
    assert parse_timestamp("00:00:01,5") == pytest.approx(1.5)
    assert parse_timestamp("00:00:01.25") == pytest.approx(1.25)
    assert parse_timestamp("02:39,81") == pytest.approx(159.81)  # hours left out
    cue = parse_srt("1\n00:02:39,81 --> 00:02:41,8\nhi\n").cues[0]
    assert (cue.start_s, cue.end_s) == (pytest.approx(159.81), pytest.approx(161.8))


def test_format_timestamp():
    assert format_timestamp(159.81) == "00:02:39,810"
    assert format_timestamp(159.81, ms_digits=2) == "00:02:39,81"
    assert format_timestamp(59.9996) == "00:01:00,000"  # rounding carries into the seconds
    with pytest.raises(ValueError):
        format_timestamp(-1.0)


def test_lenient_real_world_file():
    text = ("\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i> &amp; welcome\r\nto the show\r\n"
            "2\r\n00:00:03.2 --> 00:00:04.75 X1:10 X2:20\r\n{\\an8}No blank line before me\r\n\r\n"
            "00:00:05,000 --> 00:00:06,000\r\nno index\r\n\r\n\r\ncontinued after blank lines\r\n\r\n"
            "4\r\n00:00:07,000 --> 00:00:07,000\r\n\r\n")
    cues = parse_srt(text).cues
    assert [(c.index, c.start_s, c.end_s, c.text) for c in cues] == [
        (1, 1.0, 2.5, "Hello & welcome\nto the show"),
        (2, pytest.approx(3.2), pytest.approx(4.75), "No blank line before me"),
        (3, 5.0, 6.0, "no index\ncontinued after blank lines"),
        (4, 7.0, 7.0, ""),
    ]


def test_markup_kept_on_request():
    cues = parse_srt("1\n00:00:01,000 --> 00:00:02,000\n<i>x</i>\n", keep_markup=True).cues
    assert cues[0].text == "<i>x</i>"
    assert strip_markup('<font color="red">a</font> {\\an8}b &lt;c&gt;') == "a b <c>"


def test_cr_only_line_ends():
    cues = parse_srt("1\r00:00:01,000 --> 00:00:02,000\rold mac\r").cues
    assert cues[0].text == "old mac"


@pytest.mark.parametrize("bad_line", [
    "00:00:03,000 -> 00:00:04,000",       # mangled arrow
    "00:00:03,000 --> 00:00:0x,000",      # not a number
    "00:00:03,000 --> 00:61:04,000",      # minutes >= 60
    "00:00:03,000 --> banana",
    "00:00:03,000 - 00:00:04,000",
])
def test_malformed_timing_line_names_file_and_line(tmp_path, bad_line):
    path = tmp_path / "bad.srt"
    path.write_text(f"1\n00:00:01,000 --> 00:00:02,000\nfine\n\n2\n{bad_line}\nbroken\n\n3\n"
                    f"00:00:05,000 --> 00:00:06,000\nalso fine\n", encoding="utf-8")
    with pytest.raises(SrtError) as caught:
        read_srt(path)
    assert caught.value.line == 6
    assert str(path) in str(caught.value) and ":6:" in str(caught.value)
    skipped = read_srt(path, on_error="skip")
    assert [c.text for c in skipped.cues] == ["fine", "also fine"]  # the broken cue and its text are dropped
    assert [(p.line, p.path) for p in skipped.problems] == [(6, str(path))]


def test_end_before_start_is_an_error(tmp_path):
    path = tmp_path / "rev.srt"
    path.write_text("1\n00:00:05,000 --> 00:00:04,000\nbackwards\n\n2\n00:00:06,000 --> 00:00:07,000\nok\n")
    with pytest.raises(SrtError, match=r"rev\.srt:2: cue 1 ends \(4\.000 s\) before it starts"):
        read_srt(path)
    document = read_srt(path, on_error="skip")
    assert [c.text for c in document.cues] == ["ok"]
    assert "before it starts" in str(document.problems[0])


def test_cue_number_without_timing_line_is_an_error():
    text = "1\n00:00:01,000 --> 00:00:02,000\nx\n\n2\nthe timing line is missing\n"
    with pytest.raises(SrtError) as caught:
        parse_srt(text, path="cap.srt")
    assert caught.value.line == 5 and "cue number 2" in caught.value.reason
    assert [c.text for c in parse_srt(text, on_error="skip").cues] == ["x"]


def test_text_before_any_timing_is_an_error():
    with pytest.raises(SrtError, match=":1: text 'hello' before the first timing line"):
        parse_srt("hello\n1\n00:00:01,000 --> 00:00:02,000\nx\n")


def test_number_inside_cue_text_is_text():
    cues = parse_srt("1\n00:00:01,000 --> 00:00:02,000\nThe year was\n1984\n\n"
                     "2\n00:00:03,000 --> 00:00:04,000\ny\n").cues
    assert cues[0].text == "The year was\n1984"


def test_missing_file_and_cp1252_fallback(tmp_path):
    with pytest.raises(SrtError, match="does not exist"):
        read_srt(tmp_path / "nope.srt")
    path = tmp_path / "win.srt"
    path.write_bytes("1\r\n00:00:01,000 --> 00:00:02,000\r\ncaf\xe9\r\n".encode("latin-1"))
    assert read_srt(path).cues[0].text == "café"


def test_on_error_must_be_known():
    with pytest.raises(ValueError):
        parse_srt("", on_error="ignore")  # type: ignore[arg-type]
