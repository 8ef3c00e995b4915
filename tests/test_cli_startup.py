"""`dialogdraw` starts fast and stays up: its subcommands are plug-ins (entry points of the
group ``dialogdraw.commands``) whose ``register`` only builds parsers, a broken plug-in costs
its own command only, and logging is set up once, quiet for people and talkative for services."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import warnings
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from bot import cli
from bot.cli import ENTRY_POINT_GROUP, build_parser, main

REPO = Path(__file__).resolve().parent.parent
COMMANDS = ["bot", "chat", "db", "eval", "pipelines", "train"]
HEAVY = ["torch", "transformers", "diffusers", "peft", "trl", "sqlalchemy", "alembic", "discord"]


def _dialogdraw(*args: str, **kwargs) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "dialogdraw"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "bot.cli"]
    return subprocess.run(command + list(args), capture_output=True, text=True, cwd=REPO, timeout=120, **kwargs)


def test_every_command_is_a_registered_plug_in():
    assert [ep.name for ep in cli.command_plugins()] == COMMANDS
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == COMMANDS  # in the documented order: by entry-point name


def test_help_lists_every_command_in_a_fixed_order():
    proc = _dialogdraw("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: dialogdraw")
    listed = re.findall(r"^    (\S+)", proc.stdout, flags=re.MULTILINE)
    assert listed == COMMANDS
    assert proc.stderr == ""


def test_building_the_parser_imports_no_heavy_library():
    code = (
        "import json, sys; from bot.cli import build_parser; p = build_parser(); "
        "p.format_help(); [a.choices[c].format_help() for a in p._actions if a.dest == 'command' "
        "for c in a.choices]; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_an_unknown_option_exits_2_with_a_usage_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["db", "current", "--no-such-option"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: dialogdraw")
    assert "unrecognized arguments: --no-such-option" in err


def test_an_unknown_option_in_a_subprocess():
    proc = _dialogdraw("pipelines", "list", "--no-such-option")
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: dialogdraw")
    assert "Traceback" not in proc.stderr


def test_verbose_is_taken_before_and_after_the_command():
    assert cli._parse(build_parser(), ["-v", "db", "current"]).verbose == 1
    assert cli._parse(build_parser(), ["db", "current", "-vv"]).verbose == 2
    assert cli._parse(build_parser(), ["-v", "db", "current", "--verbose"]).verbose == 2


def _with_plugins(monkeypatch, *extra: EntryPoint) -> None:
    real = list(cli.entry_points(group=ENTRY_POINT_GROUP))
    monkeypatch.setattr(cli, "entry_points", lambda group: [*real, *extra] if group == ENTRY_POINT_GROUP else [])


def test_a_plug_in_that_fails_to_import_costs_only_its_own_command(monkeypatch, capsys):
    _with_plugins(monkeypatch, EntryPoint("broken", "dialogdraw_no_such_module:register", ENTRY_POINT_GROUP))
    parser = build_parser()
    assert "broken" in parser.format_help()
    capsys.readouterr()

    with pytest.raises(SystemExit) as exit_:
        main(["broken", "--anything"])
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("dialogdraw broken: unavailable")
    assert "ModuleNotFoundError" in lines[0] and "dialogdraw_no_such_module" in lines[0]
    assert "Traceback" not in captured.err

    with pytest.raises(SystemExit) as exit_:  # the others still work
        main(["db", "--help"])
    assert exit_.value.code == 0
    assert "upgrade" in capsys.readouterr().out


def test_a_plug_in_whose_register_raises_is_reported_the_same_way(tmp_path, monkeypatch, capsys):
    (tmp_path / "dd_bad_plugin.py").write_text("def register(sub):\n    raise RuntimeError('a bad\\nday')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _with_plugins(monkeypatch, EntryPoint("oops", "dd_bad_plugin:register", ENTRY_POINT_GROUP))
    with pytest.raises(SystemExit) as exit_:
        main(["oops"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError: a bad day" in err
    sys.modules.pop("dd_bad_plugin", None)


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    meta_path = list(sys.meta_path)
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    logging.captureWarnings(False)
    sys.meta_path[:] = meta_path


def test_commands_are_quiet_by_default_and_services_log_info():
    parser = build_parser()
    assert getattr(parser.parse_args(["chat"]), "log_level", "WARNING") == "WARNING"
    assert getattr(parser.parse_args(["pipelines", "list"]), "log_level", "WARNING") == "WARNING"
    assert parser.parse_args(["bot"]).log_level == "INFO"


def test_quiet_logging_sends_info_and_library_warnings_to_the_file_only(tmp_path, monkeypatch, capsys, restore_logging):
    monkeypatch.setenv("DIALOGDRAW_DATA_DIR", str(tmp_path))
    log_file = cli.configure_logging(0)
    assert log_file == tmp_path / "logs" / "dialogdraw.log"
    logging.getLogger("engine.test").info("loading the models")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a library's future", FutureWarning, stacklevel=1)
    logging.getLogger("engine.test").warning("a real problem")
    logging.getLogger("diffusers.models.modeling_utils").warning("a dtype note")
    logging.getLogger("transformers.modeling_utils").error("a library failure")
    err = capsys.readouterr().err
    assert "loading the models" not in err and "a library's future" not in err
    assert "a real problem" in err and "a library failure" in err and "a dtype note" not in err
    assert "a dtype note" in log_file.read_text()
    text = log_file.read_text()
    assert "INFO engine.test: loading the models" in text
    assert "FutureWarning: a library's future" in text
    assert "a real problem" in text


def test_verbose_and_services_show_info_on_stderr(tmp_path, monkeypatch, capsys, restore_logging):
    monkeypatch.setenv("DIALOGDRAW_DATA_DIR", str(tmp_path))
    cli.configure_logging(0, "INFO")  # what `dialogdraw bot` asks for
    logging.getLogger("bot.test").info("connected")
    assert "INFO bot.test: connected" in capsys.readouterr().err
    cli.configure_logging(2)
    logging.getLogger("bot.test").debug("details")
    assert "DEBUG bot.test: details" in capsys.readouterr().err
    assert len([h for h in logging.getLogger().handlers if getattr(h, "_dialogdraw", False)]) == 2


def test_without_a_data_dir_only_warnings_reach_stderr(tmp_path, monkeypatch, capsys, restore_logging):
    assert cli.configure_logging(0, config=str(tmp_path / "missing.toml")) is None
    logging.getLogger("engine.test").info("loading the models")
    logging.getLogger("engine.test").warning("a real problem")
    err = capsys.readouterr().err
    assert "loading the models" not in err and "a real problem" in err


def test_after_import_hook_sees_a_module_once_it_is_imported(tmp_path, monkeypatch, restore_logging):
    (tmp_path / "dd_probe_module.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = []
    sys.meta_path.insert(0, cli._AfterImport({"dd_probe_module": lambda m: seen.append(m.VALUE)}))
    import dd_probe_module  # noqa: F401

    assert seen == [42]
    sys.modules.pop("dd_probe_module", None)


def test_library_loggers_and_progress_bars_follow_the_rules(tmp_path):
    """transformers and huggingface_hub lose their own stderr handlers, and their progress bars
    are off on a quiet command, on when verbose."""
    code = """
import json, logging, os, sys
from bot.cli import configure_logging
configure_logging(int(sys.argv[1]))
import huggingface_hub.utils as hub
import transformers.utils.logging as tl
tl.get_logger("transformers.probe").info("probe")
print(json.dumps({
    "bars": tl.is_progress_bar_enabled(), "hub_bars": not hub.are_progress_bars_disabled(),
    "handlers": [len(logging.getLogger(n).handlers) for n in ("transformers", "huggingface_hub")],
    "propagate": [logging.getLogger(n).propagate for n in ("transformers", "huggingface_hub")],
    "torch": "torch" in sys.modules}))
"""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    env["DIALOGDRAW_DATA_DIR"] = str(tmp_path)
    results = {}
    for verbose in ("0", "1"):
        proc = subprocess.run(
            [sys.executable, "-c", code, verbose], capture_output=True, text=True, cwd=REPO, env=env, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        results[verbose] = json.loads(proc.stdout)
    assert results["0"]["bars"] is False and results["0"]["hub_bars"] is False
    assert results["1"]["bars"] is True and results["1"]["hub_bars"] is True
    for r in results.values():
        assert r["handlers"] == [0, 0] and r["propagate"] == [True, True]
