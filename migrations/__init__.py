"""Alembic migrations of the session store. Run them with ``dialogdraw db upgrade`` or
``bot.store.db.upgrade(url)``; the Alembic configuration is built in code."""
