"""Lab storage systems built on the formats: experiment store, result bundles, result store (one module each)."""
