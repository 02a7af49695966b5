"""Print docs/settings.md from the Settings class (`make docs` writes it)."""

from creditmeter.settings import settings_markdown

print(settings_markdown(), end="")
