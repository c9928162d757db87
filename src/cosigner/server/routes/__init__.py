"""Route modules: one per surface (health, sessions, each threshold scheme).

:mod:`.threshold_common` holds what the threshold schemes' routers share.
"""
