"""Host steps: the workflow tasks that run a script on a host, over any transport (see ``steps.base``)."""
