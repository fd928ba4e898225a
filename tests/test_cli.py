"""The command line as a user meets it: help, clear errors, exit codes."""

import subprocess
import sys

import pytest

from bflc.cli import main

pytestmark = pytest.mark.slow


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bflc.cli", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_commands():
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("demo", "simulate", "contract"):
        assert command in out.stdout


@pytest.mark.parametrize("command", [["demo"], ["simulate"], ["contract", "verify"], ["chain", "deploy"], ["cluster", "up"], ["status"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit:
        main([*command, "--help"])
    assert exit.value.code == 0
    assert "usage: bflc" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        (["chain", "deploy"], ["--min-committee-size", "--commit-deadline-blocks", "--reveal-deadline-blocks", "--score-deadline-blocks", "--round-deadline-blocks"]),
        (["cluster", "up"], ["--min-committee", "--commit-deadline", "--reveal-deadline", "--score-deadline", "--round-deadline"]),
    ],
)
def test_deploying_commands_explain_the_phases_and_the_filter(command, flags, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for flag in [*flags, "--no-filter", "--relative-min-score"]:
        assert flag in text
    for words in ["commit phase:", "reveal phase:", "scoring phase:", "A round runs in phases", "(default: 0.5)", "odd"]:
        assert words in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--active-fraction", "1.5"], "--active-fraction must be in (0, 1]"),
        (["simulate", "--dataset", "mnist"], "unknown dataset 'mnist'"),
        (["simulate", "--dataset", "leaf:/no/such/dir", "--rounds", "1"], "/no/such/dir"),
        (["simulate", "--model", "resnet", "--dataset", "digits"], "unknown model 'resnet'"),
        (["simulate", "--dataset", "digits", "--nodes", "5", "--active-fraction", "0.2"], "leave no trainer"),
        (["demo", "--rounds", "0"], "--rounds 0 must be at least 1"),
        (["simulate", "--dataset", "digits", "--nodes", "20", "--active-fraction", "0.5", "--updates-per-round", "8"], "more than the 7 active nodes"),
    ],
)
def test_bad_input_gives_one_clear_line(args, message):
    out = run_cli(*args)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("bflc: error:") and message in lines[0]


def test_debug_shows_the_traceback():
    out = run_cli("--debug", "simulate", "--active-fraction", "2")
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_contract_verify_passes():
    out = run_cli("contract", "verify")
    assert out.returncode == 0 and "matches" in out.stdout
