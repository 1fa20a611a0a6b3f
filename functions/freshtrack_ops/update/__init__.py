"""Application updates with automatic rollback (the manual's "Application Updates" and "Rollback Procedure")."""
