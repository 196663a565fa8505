"""What every command gets from the edge: the App (click's ctx.obj) and how to find it.

It lives here, not in `cli`, so that commands never import the CLI module that imports them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import click

from vvrun.secrets import Masker


@dataclass
class App:
    """What every command gets from the edge (click's ctx.obj)."""

    masker: Masker = field(default_factory=Masker)
    debug: bool = False
    environ: dict[str, str] = field(default_factory=dict)


def get_app(ctx: click.Context) -> App:
    """The edge's App for a command (tests with CliRunner get a fresh one)."""
    obj: Any = ctx.find_object(App)
    if obj is None:
        obj = ctx.ensure_object(App)
        obj.environ = dict(os.environ)
        obj.masker.add_env(obj.environ)
    return obj
