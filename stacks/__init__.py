"""CDK stacks of the FreshTrack Ops control plane (one construct per capability).

Nothing here is imported by the Lambda asset; the stacks import only the deployment-config models and the
task/workflow catalogs from ``functions/freshtrack_ops`` (``app.py`` puts ``functions/`` on ``sys.path``).
"""
