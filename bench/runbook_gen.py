"""Generated 40-step runbooks for the benchmarks: every step type, templates that reference
inputs and earlier steps, expectations and outputs — valid, so validate does all its work."""

from __future__ import annotations

_STEPS = (
    """  - id: check_{i}
    title: Count active sessions ({i})
    sql:
      query: |
        SELECT count(*) AS n FROM pg_stat_activity
        WHERE state = 'active' AND query_start < now() - {{{{ inputs.stuck_after }}}}::interval
      read_only: true
    expect: result.rowcount >= 0
    outputs: {{n: result.value}}
""",
    """  - id: cache_{i}
    title: Cache size ({i})
    redis: DBSIZE
    when: steps.check_{p}.outputs.n > 0
    outputs: {{keys: result.value}}
""",
    """  - id: health_{i}
    title: API health ({i})
    http:
      method: GET
      url: /health/{{{{ inputs.region }}}}
      status: [200, 204]
    retry: {{attempts: 3, delay: 2s, until: result.status == 200}}
    timeout: 10s
""",
    """  - id: disk_{i}
    title: Disk usage ({i})
    shell: df -h {{{{ inputs.mount }}}} | tail -1
    expect: [result.exit_code == 0]
    tags: [disk]
""",
    """  - id: ok_{i}
    confirm: Continue with {{{{ steps.check_{p}.outputs.n }}}} sessions?
    on_failure: continue
""",
    """  - id: note_{i}
    manual:
      instructions: |
        Post the numbers in #incidents ({{{{ run.operator }}}}).
      checklist: [posted]
      record: [ticket_url]
""",
)


def runbook_text(seed: int, steps: int = 40) -> str:
    """A valid runbook of `steps` steps; `seed` varies its name."""
    out = [
        "# yaml-language-server: $schema=../../../schema/runbook.schema.json\n"
        "version: 1\n"
        f"name: bench-{seed}\n"
        f"title: Benchmark runbook {seed}\n"
        "description: |\n  Generated for bench/validate_bench.py.\n"
        "tags: [bench]\n"
        "inputs:\n"
        "  stuck_after: {type: string, default: 5 minutes, "
        "pattern: '^\\d+ (seconds|minutes|hours)$'}\n"
        "  region: {type: string, default: eu, choices: [eu, us]}\n"
        "  mount: {type: string, default: /}\n"
        "connections:\n"
        "  db: {postgres: \"{{ env.DATABASE_URL }}\", statement_timeout: 30s}\n"
        "  cache: {redis: \"{{ env.REDIS_URL }}\"}\n"
        "  api: {http: {base_url: 'https://api.example.com', headers: {Accept: "
        "application/json}}}\n"
        "defaults: {timeout: 2m}\n"
        "steps:\n"
    ]
    last_check = 0
    for i in range(steps):
        kind = i % len(_STEPS)
        if kind == 0:
            last_check = i
        out.append(_STEPS[kind].format(i=i, p=last_check))
    return "".join(out)
