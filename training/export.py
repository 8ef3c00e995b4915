"""Preference pairs from the users' feedback in the session store, as JSONL.

The extraction itself lives with the store (``bot.store.preferences.preference_pairs``), so
``/feedback export`` and this command give the same pairs; here they are only written out.
"""

from __future__ import annotations

from pathlib import Path

from engine.irpem.pairs import dedupe, write_pairs


async def export_pairs(db_url: str, out: Path, guild: str | None = None) -> dict[str, int]:
    from bot.store.db import Database
    from bot.store.preferences import preference_pairs

    db = Database(db_url)
    try:
        pairs = dedupe(await preference_pairs(db, guild))
    finally:
        await db.dispose()
    out.parent.mkdir(parents=True, exist_ok=True)
    write_pairs(out, pairs)
    counts: dict[str, int] = {"pairs": len(pairs)}
    for p in pairs:
        counts[p.source] = counts.get(p.source, 0) + 1
    return counts
