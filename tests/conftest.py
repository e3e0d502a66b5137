"""Shared fixtures live in plugin modules named after the real part they start."""

pytest_plugins = ["fixtures_pcsc", "fixtures_postgres"]
