"""Sandboxed Jinja2 templates and expressions, with escaping chosen by where a value lands.

    environment.py  the one sandboxed environment; compile once, cached by source
    allowed.py      the filters and globals templates may call (an allow-list), with their checks
    budget.py       the budget of one render: loop turns, text and list sizes, all it builds
    filters.py      vvrun's filters (`ident`, `raw`, `host`, `b64encode`) and Unknown pass-through
    values.py       what a render produces: SqlText (bound values), Ident, Raw
    unknown.py      what only a run can know, for plans: Unknown, DependsOn
    names.py        the names a template reads; the values an expression saw
    templater.py    Templater: one context, one method per destination (text, sql, shell, url, …)
"""

from vvrun.language.templates.environment import (
    ENV,
    EnvVars,
    TemplateRefused,
    TemplateRenderError,
    compile_expression,
    compile_template,
)
from vvrun.language.templates.names import (
    explain,
    has_template,
    parse_template,
    referenced_names,
    refusals,
    template_names,
)
from vvrun.language.templates.templater import Templater
from vvrun.language.templates.unknown import DependsOn, Unknown
from vvrun.language.templates.values import Ident, Param, Raw, SqlText

__all__ = [
    "ENV", "DependsOn", "EnvVars", "Ident", "Param", "Raw", "SqlText", "TemplateRefused",
    "TemplateRenderError",
    "Templater", "Unknown", "compile_expression", "compile_template", "explain", "has_template",
    "parse_template", "referenced_names", "refusals", "template_names",
]
