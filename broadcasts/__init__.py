"""Posts and alerts: lifecycle, scheduler, outbox, fan-out and CAP 1.2 (see issue 5; not built yet)."""
