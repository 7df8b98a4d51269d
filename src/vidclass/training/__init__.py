"""training: see ../shared/ARCHITECTURE.md (Layout)."""
