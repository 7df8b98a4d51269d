"""models: see ../shared/ARCHITECTURE.md (Layout)."""
