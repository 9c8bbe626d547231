"""MRZ framing of the byte stream that serial MRZ/OCR readers send (pure, no port)."""

from __future__ import annotations

import random

import pytest

from kiosk.devices.idreader import LineGroup, MrzFramer, line_format
from kiosk.devices.idreader_sim import cccd_mrz, encode_lines, specimen_cccd_mrz

CARD = specimen_cccd_mrz()
CARD2 = cccd_mrz("079195001234", "TRAN", "THI MAI", "950302", "F", "350302")
# A TD3 passport MRZ (ICAO 9303 specimen, Utopia).
PASSPORT = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]


def feed_all(framer: MrzFramer, chunks: list[bytes], t0: float = 0.0, step: float = 0.01) -> list[LineGroup]:
    out: list[LineGroup] = []
    for i, chunk in enumerate(chunks):
        out += framer.feed(chunk, t0 + i * step)
    return out


@pytest.mark.parametrize("framing", ["crlf", "cr", "stx"])
def test_one_burst_each_framing(framing: str) -> None:
    groups = MrzFramer().feed(encode_lines(CARD, framing=framing), 0.0)
    assert groups == [LineGroup(tuple(CARD), "TD1", True)]


def test_lf_only_and_trailing_spaces() -> None:
    data = "".join(f"  {line} \n" for line in CARD).encode()
    assert MrzFramer().feed(data, 0.0) == [LineGroup(tuple(CARD), "TD1", True)]


def test_split_at_every_byte() -> None:
    framer = MrzFramer()
    data = encode_lines(CARD, framing="stx") + encode_lines(CARD2)
    out = feed_all(framer, [bytes([b]) for b in data], step=0.001)
    assert [g.lines for g in out] == [tuple(CARD), tuple(CARD2)]
    assert all(g.complete for g in out)


def test_two_cards_in_one_burst_and_passport() -> None:
    data = encode_lines(CARD, framing="cr") + encode_lines(PASSPORT) + encode_lines(CARD2, framing="stx")
    out = MrzFramer().feed(data, 0.0)
    assert [(g.fmt, g.lines) for g in out] == [("TD1", tuple(CARD)), ("TD3", tuple(PASSPORT)),
                                                ("TD1", tuple(CARD2))]


def test_noise_bytes_and_garbage_lines_are_dropped() -> None:
    rng = random.Random(7)
    noise = bytes(rng.choice([0x00, 0x07, 0x1B, 0x7F, 0x80, 0xFE, 0xFF]) for _ in range(40))
    data = (noise + b"\r\n@@@ READY @@@\r\nOK\r\n" + noise[:5] + CARD[0].encode() + b"\r\n" + noise[5:9]
            + CARD[1].encode() + b"\r\n#" + CARD[2].encode() + b"!\r\n" + noise)
    framer = MrzFramer()
    out = framer.feed(data, 0.0)
    assert out == [LineGroup(tuple(CARD), "TD1", True)]
    assert framer.noise_bytes == 2 * len(noise) + 9
    assert framer.noise_lines == 2  # "@@@ READY @@@" and "OK"


def test_stx_frame_that_stops_short_is_incomplete() -> None:
    data = (b"\x02" + CARD[0].encode() + b"\r" + CARD[1].encode() + b"\r\x03"
            + encode_lines(CARD2, framing="stx"))
    out = MrzFramer().feed(data, 0.0)
    assert out == [LineGroup(tuple(CARD[:2]), "TD1", False), LineGroup(tuple(CARD2), "TD1", True)]


def test_reader_that_frames_every_line() -> None:
    data = b"".join(b"\x02" + line.encode() + b"\r\x03" for line in CARD)
    assert MrzFramer().feed(data, 0.0) == [LineGroup(tuple(CARD), "TD1", True)]


def test_gap_expires_a_partial_group() -> None:
    framer = MrzFramer(gap_s=1.0)
    assert framer.feed(encode_lines(CARD[:2]), 10.0) == []
    assert framer.expire(10.5) == []
    assert framer.expire(11.5) == [LineGroup(tuple(CARD[:2]), "TD1", False)]
    # after the gap, a whole card reads normally
    assert framer.feed(encode_lines(CARD), 20.0) == [LineGroup(tuple(CARD), "TD1", True)]


def test_new_data_after_a_gap_does_not_join_old_lines() -> None:
    framer = MrzFramer(gap_s=1.0)
    framer.feed(encode_lines(CARD[:1]), 0.0)
    out = framer.feed(encode_lines(CARD2), 5.0)
    assert out == [LineGroup(tuple(CARD[:1]), "TD1", False), LineGroup(tuple(CARD2), "TD1", True)]


def test_format_change_ends_a_group() -> None:
    out = MrzFramer().feed(encode_lines([CARD[0], *PASSPORT]), 0.0)
    assert out == [LineGroup((CARD[0],), "TD1", False), LineGroup(tuple(PASSPORT), "TD3", True)]


def test_wrong_length_and_lowercase_lines_still_reach_the_parser() -> None:
    short = CARD[1][:29]
    lower = CARD[2].lower()
    out = MrzFramer().feed(encode_lines([CARD[0], short, lower]), 0.0)
    assert out == [LineGroup((CARD[0], short, lower), "TD1", True)]


def test_overlong_line_is_noise() -> None:
    framer = MrzFramer()
    out = framer.feed(b"<" * 200 + b"\r\n" + encode_lines(CARD), 0.0)
    assert out == [LineGroup(tuple(CARD), "TD1", True)]
    assert framer.noise_lines == 1


def test_line_format() -> None:
    assert line_format(CARD[0]) == "TD1"
    assert line_format(PASSPORT[0]) == "TD3"
    assert line_format("X" * 36) is None           # no filler
    assert line_format("HELLO<WORLD") is None       # wrong length
    assert line_format("<" * 20 + "#$%&!?*()@" + "<") is None  # too many foreign characters
