"""FreshTrack Ops: the domain package deployed as the one Lambda asset (never imports aws_cdk)."""
