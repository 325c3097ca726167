"""Sandboxes and their pool. A backend makes sandboxes (``start(memory_mb) -> Sandbox``); the pool
leases them out; ``base.Sandbox`` speaks the runtime's protocol for every backend."""
