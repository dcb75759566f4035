"""Issue 16: every bad input or fault named there gets one clear behaviour, checked here (each test failed before its fix).

Sections: profile parser (item 9), profile store (item 10), image/mask reader and `data summary` (item 6),
run folders and `train --out` (items 1, 2), evaluation folders (item 3), `run` error line (item 8)."""
import json, math, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

from vlmfilm_wb.cli import main as cli_main

CLI = [str(Path(sys.executable).parent / 'vlmfilm-wb')]


def _cli(args, capsys):
    "Run `vlmfilm-wb ARGS` in this process: (exit code, stdout, stderr)."
    rc = cli_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


# ---------------------------------------------------------------- item 9: the profile parser
from vlmfilm_wb.profiles import parse_profile, DEFAULT_PROFILE


@pytest.mark.parametrize('reply, field, value', [
    ('{"confidence": 1.0001}', 'confidence', 1.0),          # overshoot of the 0-1 scale: clamped, not 0.010001
    ('{"confidence": 1.5}', 'confidence', 1.0),             # was 0.015
    ('{"confidence": 85}', 'confidence', 0.85),             # a 0-100 answer stays a percentage
    ('{"difficulty": "100%"}', 'difficulty', 5.0),          # was 1: a percentage is a position on 1..5
    ('{"difficulty": "0%"}', 'difficulty', 1.0),
    ('{"difficulty": "50%"}', 'difficulty', 3.0),
])
def test_parser_numbers(reply, field, value):
    p = parse_profile(reply)
    assert p.parsed and getattr(p, field) == value


@pytest.mark.parametrize('reply', ['{"difficulty": NaN, "confidence": Infinity}',
                                   '{"difficulty": NaN, "focus": {"clutter": -Infinity, "boundary": NaN}}',
                                   '{"confidence": "n/a"}'])
def test_parser_all_defaulted_reply_is_a_parse_failure(reply):
    assert parse_profile(reply) == DEFAULT_PROFILE and not parse_profile(reply).parsed
