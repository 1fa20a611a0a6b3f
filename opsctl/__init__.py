"""FreshTrack Ops operator CLI and the embedded local plane (not deployed)."""
