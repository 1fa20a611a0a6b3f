"""Service operations (issue 13): the manual's "Service Management" and "Emergency Procedures" as a workflow."""
