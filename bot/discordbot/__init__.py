"""The Discord front end (discord.py 2.x): `dialogdraw bot`.

A thread is a dialogue session; its turns go through ``bot.conversation`` like the
terminal's. Buttons are ``DynamicItem``s whose custom_ids carry the turn (or job) id and
whose state comes from the database, so a click works after a restart.
"""
