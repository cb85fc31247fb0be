"""The ``news2`` sub-command: JSON on stdout, one error line and exit 2 on bad input."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from gateway.commands import news2 as news2_cmd

NORMAL_ARGS = [
    "--resp-rate",
    "16",
    "--spo2",
    "97",
    "--systolic-bp",
    "120",
    "--pulse",
    "70",
    "--consciousness",
    "A",
    "--temperature",
    "37.0",
]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="edgetwin")
    news2_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["news2", *argv])
    code: int = args.func(args)
    return code


def with_option(option: str, value: str) -> list[str]:
    argv = list(NORMAL_ARGS)
    argv[argv.index(option) + 1] = value
    return argv


def output(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    captured = capsys.readouterr()
    assert captured.err == ""
    result: dict[str, Any] = json.loads(captured.out)
    return result


def test_normal_observations(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(NORMAL_ARGS) == 0
    out = output(capsys)
    assert out["total"] == 0
    assert out["risk"] == "low"
    assert out["missing"] == []
    assert out["partial"] is False
    assert set(out["scores"]) == {
        "respiration_rate",
        "spo2",
        "air_or_oxygen",
        "systolic_bp",
        "pulse",
        "consciousness",
        "temperature",
    }
    assert set(out["scores"].values()) == {0}


def test_scale2_on_oxygen(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*with_option("--spo2", "97"), "--spo2-scale", "2", "--on-oxygen"]
    assert run(argv) == 0
    out = output(capsys)
    assert out["scores"]["spo2"] == 3
    assert out["scores"]["air_or_oxygen"] == 2
    assert (out["total"], out["risk"]) == (5, "medium")


def test_text_decimal_rounds_half_up(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(with_option("--temperature", "36.05")) == 0
    assert output(capsys)["scores"]["temperature"] == 0
    assert run(with_option("--temperature", "36.04")) == 0
    assert output(capsys)["scores"]["temperature"] == 1


def test_red_score_and_high(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(with_option("--consciousness", "c")) == 0
    assert output(capsys)["risk"] == "low-medium"
    argv = with_option("--resp-rate", "26")
    argv = [*argv[: argv.index("--pulse")], "--pulse", "135", *argv[argv.index("--pulse") + 2 :]]
    argv[argv.index("--systolic-bp") + 1] = "95"
    assert run(argv) == 0
    out = output(capsys)
    assert (out["total"], out["risk"]) == (8, "high")  # 3 + 3 + 2


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        (with_option("--spo2", "101"), "--spo2"),
        (with_option("--spo2", "abc"), "--spo2"),
        (with_option("--pulse", "-5"), "--pulse"),
        (with_option("--temperature", "nan"), "--temperature"),
        (with_option("--resp-rate", "inf"), "--resp-rate"),
        (with_option("--consciousness", "X"), "--consciousness"),
        ([*NORMAL_ARGS, "--spo2-scale", "3"], "--spo2-scale"),
        (NORMAL_ARGS[2:], "--resp-rate"),  # missing required option
        (NORMAL_ARGS[:8] + NORMAL_ARGS[10:], "--consciousness"),
    ],
)
def test_invalid_input_is_one_line_exit_2(
    argv: list[str], mentions: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert mentions in lines[0]
