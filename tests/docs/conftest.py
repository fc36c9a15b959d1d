"""The docs' tests: the generated site against its sources, and the pages in a real browser."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS_TOOLS = REPO / "tools" / "docs"
if str(DOCS_TOOLS) not in sys.path:
    sys.path.insert(0, str(DOCS_TOOLS))
