"""`vvrun serve`: the team's web console (SPEC §9).

Starlette, uvicorn, croniter and python-multipart are imported only here, and only when
`vvrun serve` runs (the `web` extra). Pages are server-rendered Jinja2; live updates come as
server-sent events; runs execute in worker processes that are ordinary `python -m vvrun`
commands sharing the CLI's state store, so the page and the terminal see the same runs.
"""
