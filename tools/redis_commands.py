"""Regenerate `vvrun/steps/redis/commands.json` from a real Redis server's `COMMAND` table.

    python tools/redis_commands.py [redis://127.0.0.1:6379/0]

vvrun classes redis commands (read, write, admin, dangerous…) at validate and plan time, without
a server, from this table: Redis's own flags (`write`, `admin`, `noscript`, `blocking`…) and ACL
categories (`@dangerous`, `@admin`…) for every command and subcommand (`config|set`), with the
version they came from. Run it against the oldest Redis vvrun supports, and commit the result.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "vvrun" / "steps" / "redis" / "commands.json"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def table(url: str) -> dict[str, object]:
    import redis

    client = redis.Redis.from_url(url)
    version = client.info("server")["redis_version"]
    commands: dict[str, list[str]] = {}
    for name, info in client.execute_command("COMMAND").items():
        commands[_text(name).lower()] = sorted(
            [_text(f) for f in info["flags"]] + [_text(c) for c in info["acl_categories"]])
        for sub in info.get("subcommands") or []:
            # the raw reply: [name, arity, flags, first, last, step, acl categories, …]
            commands[_text(sub[0]).lower()] = sorted(
                [_text(f) for f in sub[2]] + [_text(c) for c in sub[6]])
    return {"redis_version": version, "generated_by": "tools/redis_commands.py",
            "commands": dict(sorted(commands.items()))}


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/0"
    data = table(url)
    rows = ",\n".join(f"  {json.dumps(name)}: {json.dumps(flags)}"
                      for name, flags in data["commands"].items())  # type: ignore[attr-defined]
    OUT.write_text(f'{{"redis_version": {json.dumps(data["redis_version"])},\n'
                   f' "generated_by": {json.dumps(data["generated_by"])},\n'
                   f' "commands": {{\n{rows}\n}}}}\n')
    print(f"{OUT}: {len(data['commands'])} commands from Redis {data['redis_version']}")


if __name__ == "__main__":
    main()
