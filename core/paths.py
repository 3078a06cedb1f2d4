"""Where the project lives on disk (one definition; settings, migrations and tools use it)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
