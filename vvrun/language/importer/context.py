"""What one procedure needs besides its steps: inputs (from `$VARS`, placeholders and literal
secrets) and connections (from the URLs its commands use), and the review notes for them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SECRETISH = re.compile(r"URL|DSN|TOKEN|SECRET|KEY|PASS|PWD|AUTH|CREDENTIAL", re.I)
_ENV_REF = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)\}?")
# A password inside a URL: scheme://user:PASSWORD@host
_URL_PASSWORD = re.compile(
    r"\b([a-z][a-z0-9+.-]*)://([^\s:/@'\"`]+):([^\s@'\"`]+)@([^\s'\"`)>\]]+)", re.I)
# `[deployment-url]`, `<deployment-id>`: a value the reader is meant to fill in
_PLACEHOLDER = re.compile(r"\[([a-z][a-z0-9_-]{2,40})\]|<([a-z][a-z0-9_-]{2,40})>")
_SHELL_VARS = frozenset({"HOME", "PATH", "PWD", "USER", "SHELL", "IFS", "RANDOM", "TMPDIR"})
_SCHEME_INPUT = {"postgres": "database_url", "postgresql": "database_url", "redis": "redis_url",
                 "rediss": "redis_url", "mysql": "database_url"}


_JINJA = re.compile(r"\{% raw %\}.*?\{% endraw %\}|(\{\{|\{%|\{#)", re.S)


def escape(text: str) -> str:
    """Document text printed literally, never read as a template (idempotent)."""
    return _JINJA.sub(
        lambda m: "{% raw %}" + m.group(1) + "{% endraw %}" if m.group(1) else m.group(0), text)


def ref(name: str) -> str:
    """The template that reads input `name`."""
    return "{{ inputs." + name + " }}"


@dataclass
class Input:
    name: str
    env: str | None
    secret: bool
    description: str
    review: str = ""


@dataclass
class Context:
    """Inputs and connections one procedure collects while its steps are translated."""

    inputs: dict[str, Input] = field(default_factory=dict)
    # name → (kind, url template, review note)
    connections: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def env_input(self, var: str) -> str:
        """The input that takes environment variable `var`; declared on first use."""
        name = var.lower()
        if name not in self.inputs:
            self.inputs[name] = Input(name, var, bool(_SECRETISH.search(var)),
                                      f"Taken from ${var}, as the document uses it.")
        return name

    def placeholder_input(self, word: str) -> str:
        name = re.sub(r"[^a-z0-9]+", "_", word.lower()).strip("_")
        if not name[0].isalpha():
            name = "v_" + name
        if name not in self.inputs:
            self.inputs[name] = Input(name, None, False, f"The document's placeholder [{word}].",
                                      review=f"the document wrote [{word}] as a placeholder; "
                                      "it is an input the operator must give")
        return name

    def secret_url(self, scheme: str, host: str) -> str:
        """An input standing for a URL that had a literal password in the document."""
        name = _SCHEME_INPUT.get(scheme.lower(), re.sub(r"\W+", "_", host.lower())[:30] + "_url")
        if name not in self.inputs:
            self.inputs[name] = Input(
                name, name.upper(), True, f"The {scheme} URL (it held a password in the document).",
                review=f"the document wrote a {scheme}:// URL with a literal password; it was "
                "left out: give the URL in the environment variable named here")
        else:
            self.inputs[name].secret = True
        return name

    def connection(self, kind: str, url_template: str, review: str = "") -> str:
        """The connection of `kind` for `url_template`, declared on first use."""
        for name, (k, url, _) in self.connections.items():
            if k == kind and url == url_template:
                return name
        base = {"postgres": "db", "redis": "cache"}[kind]
        name = base
        n = 2
        while name in self.connections:
            name, n = f"{base}{n}", n + 1
        self.connections[name] = (kind, url_template, review)
        return name

    def last(self, kind: str) -> str | None:
        """The connection of `kind` declared last, to reuse for a command that names none."""
        names = [n for n, (k, _, _) in self.connections.items() if k == kind]
        return names[-1] if names else None

    def url_template(self, word: str) -> str:
        """`$DATABASE_URL` → `{{ inputs.database_url }}`; a literal URL stays as written."""
        m = _ENV_REF.fullmatch(word)
        if m:
            return ref(self.env_input(m.group(1)))
        return word

    def templated(self, text: str) -> str:
        """`$VAR` and `[placeholder]` in text bound for an http/redis/sql step → templates."""
        text = _PLACEHOLDER.sub(
            lambda m: ref(self.placeholder_input(m.group(1) or m.group(2))), text)
        return _ENV_REF.sub(lambda m: ref(self.env_input(m.group(1))), text)

    def shell_env(self, command: str) -> tuple[str, dict[str, str]]:
        """A shell command with placeholders as templates, and the `env:` its `$VARS` need."""
        command = _PLACEHOLDER.sub(
            lambda m: ref(self.placeholder_input(m.group(1) or m.group(2))),
            command)
        env = {}
        for var in _ENV_REF.findall(command):
            if var not in _SHELL_VARS:
                env[var] = ref(self.env_input(var))
        return command, env

    def redact(self, text: str) -> tuple[str, int]:
        """Text with every literal URL password replaced by its input; how many were found."""
        count = 0

        def sub(m: re.Match[str]) -> str:
            nonlocal count
            count += 1
            return "$" + self.inputs[self.secret_url(m.group(1), m.group(4))].env  # type: ignore[operator]

        return _URL_PASSWORD.sub(sub, text), count
