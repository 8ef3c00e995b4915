from pathlib import Path

import pytest

from engine.config import DEFAULT_CONFIG, ConfigError, load_settings


def test_repository_config_loads_with_every_pipeline_kind_known():
    settings = load_settings(DEFAULT_CONFIG)
    assert settings.profile == "default"
    assert {p.id for p in settings.pipelines} >= {
        "text2image",
        "img2img",
        "instruct_edit",
        "inpaint",
        "upscale",
        "adjust",
        "vqa",
        "chat",
    }
    assert settings.db_url.startswith("sqlite+aiosqlite:///")


def test_environment_overrides_a_nested_key(monkeypatch):
    monkeypatch.setenv("DIALOGDRAW_LIMITS__MAX_MESSAGE_CHARS", "123")
    monkeypatch.setenv("DIALOGDRAW_PROFILE", "tiny")
    settings = load_settings(DEFAULT_CONFIG)
    assert settings.limits.max_message_chars == 123
    assert settings.profile == "tiny"


def test_bad_environment_value_names_the_key(monkeypatch):
    monkeypatch.setenv("DIALOGDRAW_LIMITS__PER_USER_CONCURRENT_JOBS", "many")
    with pytest.raises(ConfigError, match=r"limits\.per_user_concurrent_jobs"):
        load_settings(DEFAULT_CONFIG)


def test_bad_file_value_names_the_key(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('profile = "huge"\n[queue]\nmax_attempts = 0\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "profile" in str(err.value) and "queue.max_attempts" in str(err.value)


def test_unknown_key_is_refused(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[limits]\nmax_mesage_chars = 5\n")
    with pytest.raises(ConfigError, match=r"limits\.max_mesage_chars"):
        load_settings(cfg)


def test_duplicate_pipeline_ids_are_refused(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[pipelines]]\nid = "a1"\nkind = "chat"\n[[pipelines]]\nid = "a1"\nkind = "chat"\n')
    with pytest.raises(ConfigError, match="defined twice"):
        load_settings(cfg)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_a_relative_adapter_path_is_next_to_the_config_file(tmp_path, monkeypatch):
    (tmp_path / "adapters" / "mine").mkdir(parents=True)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[irpem]\nadapter = "adapters/mine"\n')
    monkeypatch.chdir("/")  # resolved from the file, not from where the command runs
    assert load_settings(cfg).irpem.adapter == str(tmp_path / "adapters" / "mine")
    cfg.write_text('[irpem]\nadapter = "someone/hub-adapter"\n')  # not a folder there: a hub id
    assert load_settings(cfg).irpem.adapter == "someone/hub-adapter"


def test_the_repository_config_ships_a_trained_adapter():
    from engine.irpem.adapter import read_training_config

    adapter = load_settings(DEFAULT_CONFIG).irpem.adapter
    assert adapter and (DEFAULT_CONFIG.parent / "engine" / "irpem" / "adapters").resolve() in Path(adapter).parents
    record = read_training_config(adapter)
    assert record["stage"] == "dpo" and record["prompt"] == "short"
    assert (Path(adapter) / "adapter_model.safetensors").is_file()
