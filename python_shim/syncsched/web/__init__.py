"""`syncsched web`: the web console and the HTTP API.

`create_app(WebConfig(...))` returns an aiohttp application: run it with `syncsched web`, or mount
it in another aiohttp application (`parent.add_subapp("/syncsched/", create_app(config))`).
"""

from syncsched.web.app import WebConfig, create_app

__all__ = ["WebConfig", "create_app"]
