"""The `dialogdraw` command. It knows none of its subcommands: each package declares its own
as a plug-in, and this module only assembles them, sets up logging and runs the chosen one.

Plug-ins are the entry points of the group ``dialogdraw.commands`` (pyproject.toml,
``[project.entry-points."dialogdraw.commands"]``): ``name = "module:register"``, where
``register(subparsers)`` adds the command ``name`` and does nothing else — no heavy imports;
those belong in the functions that run a command, so ``dialogdraw --help`` stays fast. The
commands are added in the order of their entry-point names (alphabetical), so the help text
does not depend on how the metadata happens to be read. A plug-in that fails to load does not
take the others down: its command stays listed, and running it prints one line saying why.

Logging is configured here and nowhere else (``configure_logging``): see its docstring.
"""

from __future__ import annotations

import argparse
import importlib.abc
import logging
import logging.handlers
import os
import re
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType

ENTRY_POINT_GROUP = "dialogdraw.commands"
QUIET_LIBRARIES = ("transformers", "diffusers", "huggingface_hub")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FILE = Path("logs") / "dialogdraw.log"  # under the configured data_dir
_VERBOSE_FLAG = re.compile(r"-v+|--verbose")


class _CommandParser(argparse.ArgumentParser):
    """The parser class of the subcommands. ``unavailable``: the command's plug-in failed to
    load, and parsing its arguments only reports that, on one line."""

    def __init__(self, *args, unavailable: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.unavailable = unavailable

    def parse_known_args(self, args=None, namespace=None):
        if self.unavailable:
            self.exit(1, f"{self.prog}: {self.unavailable}\n")
        return super().parse_known_args(args, namespace)


def command_plugins() -> list[EntryPoint]:
    """The registered command plug-ins, sorted by name; of two with one name the first found
    wins (a stale copy of the metadata on sys.path must not add a command twice)."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return [found[name] for name in sorted(found)]


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dialogdraw", description="Draw and edit images by talking.")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log INFO to stderr (-vv: DEBUG), with library warnings and progress bars; "
        "also accepted after the command",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_CommandParser)
    plugins = command_plugins()
    if not plugins:
        parser.epilog = (
            f"No commands are registered (entry points {ENTRY_POINT_GROUP!r}): "
            "install the package, e.g. `pip install -e .`."
        )
    for ep in plugins:
        try:
            ep.load()(sub)
        except Exception as err:  # one broken plug-in must not take the other commands down
            reason = f"unavailable: its plug-in {ep.value} failed to load ({_one_line(err)})"
            if ep.name not in sub.choices:
                sub.add_parser(ep.name, help=reason, unavailable=reason, add_help=False)
    return parser


# -- logging -----------------------------------------------------------------------------------


class _Stderr(logging.StreamHandler):
    """A handler on whatever sys.stderr is when a record comes (tests swap it)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``callbacks[name](module)`` once, right after the module ``name`` is imported
    (at once where it is imported already), so libraries can be set up without importing
    them before a command needs them."""

    def __init__(self, callbacks: dict[str, Callable[[ModuleType], None]]) -> None:
        self.callbacks = dict(callbacks)
        for name in list(self.callbacks):
            if name in sys.modules:
                self._call(name, sys.modules[name])

    def _call(self, name: str, module: ModuleType) -> None:
        callback = self.callbacks.pop(name, None)
        if callback is not None:
            try:
                callback(module)
            except Exception:  # a library's changed internals must not stop the command
                logging.getLogger(__name__).debug("setting up %s failed", name, exc_info=True)

    def find_spec(self, fullname, path, target=None):
        if fullname not in self.callbacks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _ThenCall(spec.loader, lambda module: self._call(fullname, module))
                return spec
        return None


class _ThenCall(importlib.abc.Loader):
    def __init__(self, loader, then: Callable[[ModuleType], None]) -> None:
        self.loader, self.then = loader, then

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        self.then(module)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def _route_library_logs(module: ModuleType) -> None:
    """transformers, diffusers and huggingface_hub give their root logger a handler of its own
    on stderr; take it away and let their records reach ours (file and stderr, by level)."""
    if hasattr(module, "disable_default_handler"):  # transformers, diffusers
        module.disable_default_handler()
        module.enable_propagation()
        return
    library = logging.getLogger(module.__name__.split(".")[0])  # huggingface_hub
    for handler in list(library.handlers):
        if type(handler) is logging.StreamHandler:
            library.removeHandler(handler)
    library.propagate = True


def _no_progress_bars(module: ModuleType) -> None:
    for name in ("disable_progress_bar", "disable_progress_bars"):
        if hasattr(module, name):
            getattr(module, name)()
            return


class _TrimWarning(logging.Filter):
    """``warnings.formatwarning`` ends its text with a newline: no blank line in the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = record.msg.rstrip()
        return True


def _log_file(config: str | None) -> Path | None:
    """``<data_dir>/logs/dialogdraw.log`` of the settings the command will use, or None where
    they cannot be read (the command itself then says why) or the folder cannot be made."""
    try:
        from engine.config import load_settings

        path = Path(load_settings(config).data_dir).resolve() / LOG_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
    except Exception:
        return None


def configure_logging(
    verbose: int = 0, default_level: str | int = logging.WARNING, config: str | None = None
) -> Path | None:
    """Set up logging for one command; returns the log file, if any.

    - The log file, ``<data_dir>/logs/dialogdraw.log`` (rotated at 10 MiB, 3 kept), gets
      every record from INFO up (DEBUG with -vv), library warnings included.
    - stderr gets WARNING and up, or the command's own ``log_level`` default (services such as
      ``dialogdraw bot`` set INFO), or INFO with -v, DEBUG with -vv.
    - ``warnings.warn`` output (the FutureWarnings and UserWarnings of libraries) becomes log
      records of ``py.warnings``. On a quiet stderr (above INFO) they, and the WARNING records
      of transformers, diffusers and huggingface_hub, go to the file only; where there is no
      file, to stderr.
    - The loggers of transformers, diffusers and huggingface_hub lose their own stderr
      handlers and follow these rules; on a quiet stderr their progress bars ("Loading
      weights", downloads, pipeline components) are off. A command's own tqdm bars (training,
      eval, data generation) are not touched.
    """
    chosen = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING
    default = logging.getLevelName(default_level.upper()) if isinstance(default_level, str) else default_level
    console_level = min(chosen, default if isinstance(default, int) else logging.WARNING)
    quiet = console_level > logging.INFO

    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_dialogdraw", False)]:
        root.removeHandler(handler)
        handler.close()
    console = _Stderr()
    console.setLevel(console_level)
    handlers: list[logging.Handler] = [console]
    log_file = _log_file(config)
    if log_file is not None:
        file_handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=10 * 1024 * 1024, backupCount=3, encoding="utf-8", delay=True
        )
        file_handler.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
        handlers.append(file_handler)
        if quiet:
            # library warnings (FutureWarnings, diffusers' dtype notes) are for the file; a
            # library's ERROR and our own warnings still reach the person at the terminal
            console.addFilter(
                lambda record: (
                    record.name != "py.warnings"
                    and not (record.name.split(".")[0] in QUIET_LIBRARIES and record.levelno < logging.ERROR)
                )
            )
    formatter = logging.Formatter(LOG_FORMAT)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._dialogdraw = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(min(h.level for h in handlers))
    # Off first: captureWarnings(True) does nothing if an earlier call's hook is still
    # recorded, even after someone (pytest, catch_warnings) put the original showwarning back.
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    if not any(isinstance(f, _TrimWarning) for f in warnings_logger.filters):
        warnings_logger.addFilter(_TrimWarning())
    for noisy in ("httpx", "urllib3", "aiosqlite", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    if quiet:
        # read by huggingface_hub and transformers when they are imported (and by workers)
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    bars_off = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").upper() in {"1", "ON", "YES", "TRUE"}
    callbacks: dict[str, Callable[[ModuleType], None]] = {}
    for library in ("transformers", "diffusers", "huggingface_hub"):

        def setup(module: ModuleType, off: bool = quiet and bars_off) -> None:
            _route_library_logs(module)
            if off:
                _no_progress_bars(module)

        callbacks[f"{library}.utils.logging"] = setup
    if quiet and bars_off:
        callbacks["huggingface_hub.utils.tqdm"] = _no_progress_bars
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AfterImport)]
    sys.meta_path.insert(0, _AfterImport(callbacks))
    return log_file


# -- running a command -------------------------------------------------------------------------


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parse_args``, but -v/-vv/--verbose are also taken after the command."""
    args, extra = parser.parse_known_args(argv)
    unknown = [a for a in extra if not _VERBOSE_FLAG.fullmatch(a)]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.verbose += sum(1 if a == "--verbose" else len(a) - 1 for a in extra)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(build_parser(), argv)
    configure_logging(args.verbose, getattr(args, "log_level", logging.WARNING), getattr(args, "config", None))
    try:
        result = args.func(args)
        import inspect

        if inspect.iscoroutine(result):
            import asyncio

            result = asyncio.run(result)
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        from engine.config import ConfigError

        if not isinstance(err, ConfigError):
            raise
        print(f"dialogdraw: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
