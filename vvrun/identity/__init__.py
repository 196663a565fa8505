"""Proved identity: SSH signatures (`ssh-keygen -Y`, namespace `vvrun`) over an action's digest,
checked against the repository's `.vvrun/allowed_signers` (the format git uses).

Modules, in the order data flows: `signers` (find and read allowed_signers), `sshsig` (read a
signature's envelope), `keygen` (the one place ssh-keygen runs), `sign`, `verify`, `approval`
(digests, records, counting approvers), `schema` (the `approvers:` fragment), `flow` (what
`vvrun approve` does, on plain values).
"""

NAMESPACE = "vvrun"
