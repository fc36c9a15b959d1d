"""The PII catalogue's tests import tools/pii as the make targets run it."""

from __future__ import annotations

import sys
from pathlib import Path

PII_TOOLS = Path(__file__).resolve().parents[2] / "tools" / "pii"
if str(PII_TOOLS) not in sys.path:
    sys.path.insert(0, str(PII_TOOLS))
