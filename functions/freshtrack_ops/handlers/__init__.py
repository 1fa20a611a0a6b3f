"""Lambda entry points: parse the event into a model, call the domain, return a JSON-able dict."""
