"""Write docs/overlay.png: the overlay pointing on Xvfb, photographed with xwd.

Run from the checkout: .venv/bin/python scripts/overlay-screenshot.py [docs/overlay.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.overlay_shot import overlay_screenshot

if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/overlay.png")
    overlay_screenshot(target)
    print(f"wrote {target}")
