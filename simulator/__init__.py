"""The virtual ballot card (card side), its vpcd bridge into pcscd, fault
injection and the election-day simulation."""
