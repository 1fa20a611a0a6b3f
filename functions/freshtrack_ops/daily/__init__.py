"""The daily check (issue 13): the manual's "Daily Operations" read on the host, judged, reported."""
