"""Test-wide setup: nothing may reach a network or a model hub."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from engine.config import DEFAULT_CONFIG, load_settings  # noqa: E402

# A data directory kept between test runs (git-ignored) for what is slow to make and never
# changes: the SmolLM2 checkpoint converted from the packaged GGUF.
SHARED_DATA = Path(
    os.environ.get("DIALOGDRAW_TEST_CACHE", Path(__file__).resolve().parent.parent / "data" / "test-cache")
)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """One data directory per test run: tiny models are built once and shared."""
    return tmp_path_factory.mktemp("dialogdraw-data")


@pytest.fixture
def tiny_settings(tiny_root, tmp_path):
    """The repository's config on the tiny profile, with a fresh database per test."""
    return load_settings(
        DEFAULT_CONFIG,
        profile="tiny",
        data_dir=tiny_root,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'test.db'}",
    )


@pytest.fixture
def db_url(tmp_path) -> str:
    """A real SQLite file of its own for each test."""
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'store.db'}"


@pytest.fixture
async def db(db_url):
    """The session store on that file, migrated to head."""
    from bot.store.db import Database

    database = Database(db_url)
    await database.upgrade()
    yield database
    await database.dispose()


@pytest.fixture
def store(tmp_path):
    from bot.store.images import ImageStore

    return ImageStore(tmp_path / "images")
