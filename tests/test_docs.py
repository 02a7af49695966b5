"""The docs say what the code does: generated parts are current, examples are real."""

from __future__ import annotations

from pathlib import Path

from creditmeter.settings import Settings, settings_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_settings_doc_is_generated_from_the_settings_class() -> None:
    assert (ROOT / "docs" / "settings.md").read_text() == settings_markdown(), (
        "docs/settings.md is stale: run `make docs`"
    )


def test_every_setting_is_documented_with_its_variable() -> None:
    text = (ROOT / "docs" / "settings.md").read_text()
    for name, info in Settings.model_fields.items():
        assert f"`CREDITMETER_{name.upper()}`" in text
        assert info.description


def test_edge_case_10_export_settings_have_the_contract_defaults() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.export_rate_limit == 600
    assert settings.max_range_days == 366
    assert settings.max_batch_events == 10_000
    assert settings.max_body_bytes == 64 * 1024 * 1024
