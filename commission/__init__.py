"""Territorial and central tabulation: signed protocols in, seats out."""
