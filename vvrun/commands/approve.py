"""`vvrun approve RUN STEP`: show the exact action a paused run's step waits for, sign it with
your SSH key, and record the signature in the run's audit trail. `vvrun resume` verifies it
again (vvrun.engine.signed); nothing here decides on its own that the step may run."""

from __future__ import annotations

import socket

import click

from vvrun.commands.app import get_app
from vvrun.commands.runs import _FINISHED, _get_run, _out, _store
from vvrun.errors import UsageError
from vvrun.state import operator_name


@click.command("approve")
@click.argument("run_id", metavar="RUN")
@click.argument("step_id", metavar="STEP")
@click.option("--key", "signing_key", default=None, metavar="PATH",
              help="Your SSH key (else $VVRUN_SIGNING_KEY, else ~/.ssh/id_ed25519).")
@click.option("--allowed-signers", default=None, metavar="PATH",
              help="Who may approve (else $VVRUN_ALLOWED_SIGNERS, else the nearest "
              ".vvrun/allowed_signers above the runbook).")
@click.option("--yes", is_flag=True,
              help="Sign without asking (the action is still printed first).")
@click.pass_context
def approve(ctx: click.Context, run_id: str, step_id: str, signing_key: str | None,
            allowed_signers: str | None, yes: bool) -> None:
    """Approve the exact action a step of a paused run waits for, signing it with your SSH key.

    \b
    vvrun approve 261127-035212-a7f3 restore --key ~/.ssh/id_ed25519
    """
    import os
    import sys

    from vvrun.commands.run import _isatty
    from vvrun.engine.pending import REQUESTED, SIGNED, keygen_environ, proved_web, records
    from vvrun.identity import flow, signers
    from vvrun.identity.approval import check_approvers, verify_approval
    from vvrun.identity.errors import ApprovalRefused
    from vvrun.identity.schema import Approvers
    from vvrun.identity.sign import resolve_key

    app = get_app(ctx)
    environ = keygen_environ(app.environ)
    from vvrun.state.verify import require_intact

    with _store(app) as store:
        run = _get_run(store, run_id)
        # an approval signs what the trail says the step will do: the trail must be the one
        # the run wrote (a forged `approval_requested` would ask for a signature on a lie)
        require_intact(store, run_id)
        trail = store.events(run_id)
        asked = [e for e in trail if e["kind"] == REQUESTED  # the step, or its items `id[2]`
                 and str(e["data"].get("step_id")).split("[", 1)[0] == step_id.split("[")[0]
                 and ("[" not in step_id or e["data"].get("step_id") == step_id)]
        if run.status in _FINISHED or not asked:
            why = (f"the run has {run.status}" if run.status in _FINISHED
                   else f"step '{step_id}' has not asked for approvals")
            raise UsageError(
                f"run {run_id}: nothing waits for approval at step '{step_id}' ({why})",
                hint=f"see what the run waits for: `vvrun show {run_id} --events`")
        data = asked[-1]["data"]
        key = str(data["step_id"])
        pending = flow.PendingAction(run_id, key, int(data.get("attempt") or 1),
                                     str(data.get("type")), data.get("body"),
                                     data.get("target"), tuple(data.get("params") or ()))
        if pending.digest.hex != data.get("action_hash"):
            raise ApprovalRefused(
                f"run {run_id}: the action recorded for step '{key}' does not match its hash "
                "(the audit trail was altered); nothing was signed",
                hint=f"check the trail with `vvrun show {run_id} --events`")
        wanted = data.get("approvers") or {}
        approvers = Approvers(int(wanted.get("count") or 2), wanted.get("group"))
        folder = os.path.dirname(run.path) if run.path else None
        allowed = signers.load(signers.find(allowed_signers, app.environ, folder))
        mine = resolve_key(signing_key, app.environ,
                           app.environ.get("HOME") or os.path.expanduser("~"))
        existing = records(trail, key)
        # approvals given in the web console count as the engine counts them (engine/signed.py)
        web = proved_web(trail, run_id, key, pending.digest, store.audit_key, allowed)

        def confirm(text: str) -> bool:
            _out(app, text)
            if yes:
                return True
            if not _isatty(sys.stdin):
                raise UsageError("no terminal to ask whether you approve the action above",
                                 hint=f"read it, then `vvrun approve {run_id} {step_id} --yes`")
            return click.confirm("Approve and sign this action?", default=False)

        record = flow.approve_action(pending, existing=existing, approvers=approvers, key=mine,
                                     signers=allowed, environ=environ, confirm=confirm,
                                     proved=web)
        store.append_event(run_id, SIGNED, {"step_id": key, "action_hash": pending.digest.hex,
                                            **record.to_dict(), "attempt": pending.attempt,
                                            "by": operator_name(app.environ)},
                           operator=operator_name(app.environ), host=socket.gethostname())
    proved = list(web)
    for one in [*existing, record]:
        try:
            proved.append(verify_approval(one, pending.digest, allowed, environ))
        except ApprovalRefused:
            continue
    _out(app, f"approved step '{key}' of run {run_id} (action {pending.digest.hex[:12]}) as "
              f"{record.principal} (key {record.fingerprint})")
    try:
        check_approvers(proved, approvers.count, approvers.group)
    except ApprovalRefused as exc:
        _out(app, f"still waiting: {exc.message}")
        return
    _out(app, f"continue the run: vvrun resume {run_id}")
