"""Every `dialogdraw` command answers --help: argparse formats help texts with %, so one
stray percent sign in an option's help breaks the help of its whole command."""

from __future__ import annotations

import argparse

from bot.cli import build_parser


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, path + (name,))


def test_every_command_formats_its_help():
    commands = dict(_commands(build_parser()))
    assert ("train", "sft") in commands and ("train", "dpo") in commands
    for path, parser in commands.items():
        text = parser.format_help()
        assert text.startswith("usage: "), path
    # the percent sign in the LoRA dropout help is shown, not taken as a format
    assert "~10% of a CPU step" in " ".join(commands[("train", "sft")].format_help().split())
