"""The HTTP edge: views, routes, metrics, middlewares and browser assets."""
