"""evaluation: see ../shared/ARCHITECTURE.md (Layout)."""
