"""Fixtures that start a real pcscd with the vpcd driver (filled in by the PC/SC work)."""
