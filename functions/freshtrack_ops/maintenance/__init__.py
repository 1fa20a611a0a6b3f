"""Scheduled maintenance with a way back (the manual's "Security Maintenance" and "Scaling"): OS updates with
reboot, secret rotation, vertical scaling of EC2 targets and the database connection pool."""
