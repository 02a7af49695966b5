"""The docs say what the code does: generated parts are current, examples are real."""

from __future__ import annotations

import difflib
import functools
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

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


@functools.cache
def _generator() -> ModuleType:
    """scripts/gen_docs.py, which `make docs` runs."""
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_generated_regions_hold_what_the_commands_print_now() -> None:
    generator = _generator()
    texts = {name: (ROOT / name).read_text() for name in generator.FILES}
    current = generator.generate(texts)
    differences = [
        line
        for name in generator.FILES
        for line in difflib.unified_diff(
            texts[name].splitlines(), current[name].splitlines(), name, "generated", lineterm=""
        )
    ]
    assert not differences, "The docs are stale: run `make docs`.\n" + "\n".join(differences[:60])


def test_every_pasted_help_is_generated() -> None:
    generator = _generator()
    for name in generator.FILES:
        text = (ROOT / name).read_text()
        regions = [match.span() for match in generator._REGION.finditer(text)]
        for pasted in re.finditer(r"^\$ creditmeter\b.*--help$", text, re.M):
            inside = any(start <= pasted.start() < end for start, end in regions)
            assert inside, f"{name} pastes `{pasted[0][2:]}`: put it in a generated region"
