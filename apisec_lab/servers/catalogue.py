"""The print catalogue: every product the Photo API's print shop sells, one combination of options each.

``GET /catalogue`` serves it a page at a time. 12 sizes, 6 papers, 10 frames, 4 mounts and 5 borders make
14,400 products, about 3 MB of JSON in one piece: enough to show what a page without a limit costs (OWASP
API4:2023), small enough that the lab never suffers for it. Generated in code, the same every time.
"""
from __future__ import annotations

import functools
import itertools

SIZES = (("9x13", 29), ("10x15", 35), ("13x18", 59), ("15x20", 79), ("20x25", 129), ("20x30", 149),
         ("25x38", 249), ("30x40", 349), ("30x45", 399), ("40x50", 599), ("40x60", 699), ("50x75", 999))
PAPERS = (("gloss", 0), ("matte", 0), ("lustre", 20), ("metallic", 90), ("fine art", 150), ("canvas", 400))
FRAMES = (("none", 0), ("black", 900), ("white", 900), ("oak", 1500), ("walnut", 1800), ("silver", 1600),
          ("gold", 1900), ("maple", 1500), ("ash", 1400), ("acrylic", 2200))
MOUNTS = (("none", 0), ("white mount", 300), ("black mount", 300), ("ivory mount", 350))
BORDERS = (("none", 0), ("3 mm", 0), ("5 mm", 10), ("10 mm", 20), ("20 mm", 40))


@functools.lru_cache(maxsize=1)
def products() -> tuple[dict, ...]:
    """Every product, in catalogue order (sizes, then papers, frames, mounts and borders)."""
    items = []
    for (size, p1), (paper, p2), (frame, p3), (mount, p4), (border, p5) in itertools.product(
            SIZES, PAPERS, FRAMES, MOUNTS, BORDERS):
        sku = "-".join(part.upper().replace(" ", "")[:4] for part in (size, paper, frame, mount, border))
        items.append({"sku": sku, "size": f"{size} cm", "paper": paper, "frame": frame, "mount": mount,
                      "border": border, "price_cents": p1 + p2 + p3 + p4 + p5})
    return tuple(items)
