"""Route modules: one per surface (health, sessions, each threshold scheme)."""
