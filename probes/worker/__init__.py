"""The monitoring worker: scheduler, probe registry, targets, /metrics and /probe, inventory link and spool."""
