"""The voting-booth kiosk (Textual). Keeps no vote state."""
