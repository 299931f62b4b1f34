"""Airlock's runtime: every Python started from the sandbox runtime governs its imports."""

try:
    import airlock._imports as _airlock_imports

    _airlock_imports.install()
except Exception:  # noqa: BLE001 - a broken hook must not stop the interpreter
    pass
