"""A real local HTTP server that speaks the parts of Vercel's REST API the runbooks need, as
Vercel documents them (https://vercel.com/docs/rest-api) — not as the runbooks call them:

- every request needs `Authorization: Bearer <token>` (401 otherwise) and, for a team
  project, `?teamId=<team>` (403 without it: the token alone does not pick the team);
- `GET /v9/projects/{idOrName}`: the project, its `targets.production` (the live deployment);
- `GET /v6/deployments?projectId=&target=&state=&since=&until=&limit=`: `{"deployments":
  [...], "pagination": {...}}`, newest first, each with `uid`, `url`, `state`, `readyState`,
  `target`, `created`, `meta`; `since`/`until` keep the deployments created after/before
  that JavaScript timestamp (milliseconds);
- `GET /v13/deployments/{idOrUrl}`: one deployment (`id`, `url`, `readyState`, `target`...);
- `POST /v10/projects/{projectId}/promote/{deploymentId}`: point production at an existing
  READY deployment (201); 400 for a deployment that is not READY or not the project's;
- `POST /v13/deployments`: `name` is required ("the project name used in the deployment
  URL") and `project` ("the target project identifier … overrides name") picks the project
  by id or name; without `project`, `name` must be the project's *name* (Vercel would deploy
  to, or make, a project of that name: the stand-in refuses an unknown one with 400 rather
  than invent a project). With `{"name", "project", "deploymentId", "target"}`: redeploy (a
  new deployment built from that one, with the current environment of its target);
- `GET /v10/projects/{idOrName}/env`, `POST /v10/projects/{idOrName}/env?upsert=true`,
  `PATCH /v9/projects/{idOrName}/env/{id}` (`{"value"}`: edit in place, targets kept),
  `DELETE /v9/projects/{idOrName}/env/{id}`: environment variables (values never listed); one
  key may have several entries whose `target`s do not overlap (a production value and a
  preview value), and a new entry conflicts only with one of its key sharing a target;
- `POST /v1/edge-cache/invalidate-by-tags?projectIdOrName=` with `{"tags": [...] | "a,b",
  "target"?}` and `.../dangerously-delete-by-tags`: the CDN cache forgets those tags;
- `POST /v13/deployments` with `{"name", "project", "target", "gitSource": {"type":
  "github", "org", "repo", "ref"}}`: a new build from git; it answers `readyState: QUEUED`,
  is BUILDING on the next read and READY (or ERROR, `fail_next_build()`) on the one after; a
  READY production build goes live (the project's production domains are assigned
  automatically);
- `PATCH /v9/projects/{idOrName}` with `{"resourceConfig": {"functionDefaultRegions",
  "functionDefaultTimeout", "functionDefaultMemoryType"}}` (what `vercel project update
  --function-region/--function-cpu` sends): the project's function defaults, which a
  deployment takes when it is built (`resourceConfig` on the deployment);
- `GET /v3/deployments/{idOrUrl}/events?direction=&limit=` (build events, a JSON array) and
  `GET /v1/projects/{projectId}/deployments/{deploymentId}/runtime-logs`
  (`application/stream+json`: one JSON object a line: level, message, rowId, source,
  timestampInMs, domain, messageTruncated, requestMethod, requestPath, responseStatusCode).

`live_changed(deployment)` is called when production points at another deployment, so the
app's stand-in can answer as that version would.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "vercel-test-token-3f9a"
TEAM = "team_vocavision42"
PROJECT = {"id": "prj_vocavisionWeb1", "name": "web"}


def _deployment(uid: str, host: str, age_min: int, *, state: str = "READY",
                target: str | None = "production", healthy: bool = True,
                sha: str = "") -> dict[str, Any]:
    created = int(time.time() * 1000) - age_min * 60_000
    return {"uid": uid, "name": PROJECT["name"], "url": host, "created": created,
            "state": state, "readyState": state, "target": target,
            "projectId": PROJECT["id"], "healthy": healthy,
            "meta": {"githubCommitSha": sha or uid[-7:] * 2,
                     "githubCommitMessage": f"deploy {uid}"}}


def default_deployments() -> list[dict[str, Any]]:
    """The newest production deployment is live (and healthy); older ones, one failed."""
    return [
        _deployment("dpl_7f3k2l9qpXyZ", "web-7f3k2l9qp-vocavision.vercel.app", 12),
        _deployment("dpl_2b8d1x0mzAbC", "web-2b8d1x0mz-vocavision.vercel.app", 180),
        _deployment("dpl_9q4w7e1rtDeF", "web-9q4w7e1rt-vocavision.vercel.app", 1440,
                    state="ERROR", target=None),
        _deployment("dpl_5h6j3k8luGhI", "web-5h6j3k8lu-vocavision.vercel.app", 2880),
    ]


class VercelAPI:
    """Start with `VercelAPI()`; `url` is its base; `close()` when done."""

    def __init__(self, live_changed: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.deployments = default_deployments()
        self.production = self.deployments[0]["uid"]
        self.envs: list[dict[str, Any]] = [
            {"id": "env_nextauth01", "key": "NEXTAUTH_SECRET", "value": "old-nextauth",
             "type": "encrypted", "target": ["production", "preview"]},
            {"id": "env_database01", "key": "DATABASE_URL", "value": "postgresql://old",
             "type": "encrypted", "target": ["production"]},
            {"id": "env_openai0001", "key": "OPENAI_API_KEY", "value": "sk-old",
             "type": "encrypted", "target": ["production"]},
        ]
        self.invalidated: list[dict[str, Any]] = []
        self.resource_config: dict[str, Any] = {
            "functionDefaultRegions": ["iad1"], "functionDefaultTimeout": 10,
            "functionDefaultMemoryType": "standard"}
        self.build_fails = False
        self.requests: list[dict[str, Any]] = []
        self.live_changed = live_changed
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"api": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- helpers for tests ---------------------------------------------------------------

    def live(self) -> dict[str, Any]:
        return self.find(self.production) or {}

    def find(self, id_or_url: str) -> dict[str, Any] | None:
        host = id_or_url.removeprefix("https://").rstrip("/")
        return next((d for d in self.deployments if id_or_url in (d["uid"],) or
                     d["url"] == host), None)

    def ship_bad_release(self) -> dict[str, Any]:
        """A new production deployment that is live and broken (what a rollback undoes)."""
        bad = _deployment("dpl_badbadbadJkL", "web-badbadbad-vocavision.vercel.app", 2,
                          healthy=False)
        self.deployments.insert(0, bad)
        self._go_live(bad)
        return bad

    def ship_preview(self) -> dict[str, Any]:
        """A READY preview deployment (a branch's build) that production could be promoted to."""
        dep = _deployment("dpl_preview42MnO", "web-git-develop-vocavision.vercel.app", 30,
                          target=None, sha="c0ffee1" * 2)
        self.deployments.insert(0, dep)
        return dep

    def fail_next_build(self) -> None:
        self.build_fails = True

    def env_value(self, key: str, target: str = "production") -> str | None:
        """The value `key` has in `target` (the entry whose targets include it)."""
        return next((e["value"] for e in self.envs
                     if e["key"] == key and target in e["target"]), None)

    def _go_live(self, dep: dict[str, Any]) -> None:
        self.production = dep["uid"]
        if self.live_changed:
            self.live_changed(dep)

    # -- the API -------------------------------------------------------------------------

    def answer(self, method: str, target: str, headers: Any,
               body: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query,
                                  "body": body})
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, _error("forbidden", "Not authorized")
        if query.get("teamId") != TEAM and query.get("slug") != "vocavision":
            return 403, _error("forbidden", "You don't have permission to access this "
                               "resource: the project belongs to a team (teamId missing).")
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            return 400, _error("bad_request", "Invalid JSON body")
        seg = path.strip("/").split("/")
        with self._lock:
            return self._route(method, seg, query, payload)

    def _route(self, method: str, seg: list[str], query: dict[str, str],
               payload: Any) -> tuple[int, Any]:
        project_ok = {PROJECT["id"], PROJECT["name"]}
        if method == "GET" and seg[:2] == ["v9", "projects"] and len(seg) == 3:
            if seg[2] not in project_ok:
                return 404, _error("not_found", "Project not found")
            live = self.live()
            return 200, {**PROJECT, "resourceConfig": dict(self.resource_config),
                         "targets": {"production": _public(live, full=True)},
                         "latestDeployments": [_public(d) for d in self.deployments[:5]]}
        if method == "GET" and seg == ["v6", "deployments"]:
            found = [d for d in self.deployments
                     if query.get("projectId") in (None, *project_ok)
                     and (not query.get("target") or d["target"] == query["target"])
                     and (not query.get("state")
                          or d["state"] in query["state"].split(","))
                     and (not query.get("since") or d["created"] > int(query["since"]))
                     and (not query.get("until") or d["created"] < int(query["until"]))]
            found = found[:int(query.get("limit", 20))]
            return 200, {"deployments": [_public(d) for d in found],
                         "pagination": {"count": len(found), "next": None, "prev": None}}
        if method == "GET" and seg[:2] == ["v13", "deployments"] and len(seg) == 3:
            dep = self.find(seg[2])
            if not dep:
                return 404, _error("not_found", "Deployment not found")
            self._build_progress(dep)
            return 200, _public(dep, full=True, aliased=dep["uid"] == self.production)
        if method == "POST" and seg[:2] == ["v10", "projects"] and len(seg) == 5 \
                and seg[3] == "promote":
            dep = self.find(seg[4])
            if seg[2] not in project_ok or not dep:
                return 404, _error("not_found", "Deployment not found")
            if dep["state"] != "READY":
                return 400, _error("bad_request", "Only READY deployments can be promoted")
            self._go_live(dep)
            return 201, {}
        if method == "POST" and seg == ["v13", "deployments"]:
            if isinstance(payload, dict) and "gitSource" in payload:
                return self._git_deploy(payload)
            return self._redeploy(payload or {})
        if method == "PATCH" and seg[:2] == ["v9", "projects"] and len(seg) == 3:
            return self._update_project(seg[2], payload)
        if method == "GET" and seg[:2] == ["v3", "deployments"] and len(seg) == 4 \
                and seg[3] == "events":
            return self._events(seg[2], query)
        if method == "GET" and seg[:2] == ["v1", "projects"] and len(seg) == 6 \
                and seg[3] == "deployments" and seg[5] == "runtime-logs":
            return self._runtime_logs(seg[2], seg[4])
        if seg[:2] in (["v10", "projects"], ["v9", "projects"]) and len(seg) >= 4 \
                and seg[3] == "env":
            if seg[2] not in project_ok:
                return 404, _error("not_found", "Project not found")
            return self._env(method, seg, query, payload)
        if method == "POST" and seg[:2] == ["v1", "edge-cache"] and seg[2] in (
                "invalidate-by-tags", "dangerously-delete-by-tags"):
            if query.get("projectIdOrName") not in project_ok:
                return 400, _error("bad_request", "projectIdOrName is required")
            tags = (payload or {}).get("tags")
            if isinstance(tags, str):
                tags = [t for t in tags.split(",") if t]
            if not tags or not all(isinstance(t, str) and len(t) <= 256 for t in tags):
                return 400, _error("bad_request", "tags must be a non-empty list of strings")
            self.invalidated.append({"how": seg[2], "tags": tags,
                                     "target": (payload or {}).get("target")})
            return 200, {}
        return 404, _error("not_found", "The requested path was not found")

    def _redeploy(self, payload: dict[str, Any]) -> tuple[int, Any]:
        refused = _project_refused(payload)
        if refused:
            return refused
        source = self.find(str(payload.get("deploymentId", "")))
        if not source:
            return 400, _error("bad_request", "an existing deploymentId is required")
        n = len(self.deployments)
        dep = _deployment(f"dpl_redeploy{n:04d}", f"web-redeploy{n:04d}-vocavision.vercel.app",
                          0, healthy=source["healthy"], sha=source["meta"]["githubCommitSha"],
                          target=payload.get("target"))
        environment = dep["target"] or "preview"  # built with the env of now, for its target
        dep["env"] = {e["key"]: e["value"] for e in self.envs if environment in e["target"]}
        dep["resourceConfig"] = dict(self.resource_config)  # and the function defaults
        self.deployments.insert(0, dep)
        if dep["target"] == "production":
            self._go_live(dep)
        return 200, _public(dep, full=True)

    def _git_deploy(self, payload: dict[str, Any]) -> tuple[int, Any]:
        refused = _project_refused(payload)
        if refused:
            return refused
        git = payload.get("gitSource")
        if not isinstance(git, dict) or git.get("type") != "github" or not all(
                isinstance(git.get(k), str) and git[k] for k in ("org", "repo", "ref")):
            return 400, _error("bad_request", "gitSource {type, org, repo, ref} is required")
        if git["repo"] != "vocavision" or git["org"] != "vocavision":
            return 400, _error("incorrect_git_source_info", "The repository is not connected "
                               "to this project")
        n = len(self.deployments)
        dep = _deployment(f"dpl_git{n:04d}build", f"web-git{n:04d}-vocavision.vercel.app", 0,
                          state="QUEUED", target=payload.get("target"),
                          sha=(git["ref"] + "0" * 14)[:14])
        dep["meta"].update(githubCommitRef=git["ref"], githubOrg=git["org"],
                           githubRepo=git["repo"])
        dep["reads"], dep["fails"] = 0, self.build_fails
        dep["resourceConfig"] = dict(self.resource_config)
        self.build_fails = False
        self.deployments.insert(0, dep)
        return 200, _public(dep, full=True)

    def _build_progress(self, dep: dict[str, Any]) -> None:
        """A git build moves on each time someone looks: QUEUED → BUILDING → READY | ERROR."""
        if dep["state"] not in ("QUEUED", "BUILDING"):
            return
        dep["reads"] = dep.get("reads", 0) + 1
        if dep["reads"] == 1:
            dep["state"] = dep["readyState"] = "BUILDING"
            return
        dep["state"] = dep["readyState"] = "ERROR" if dep.get("fails") else "READY"
        if dep["state"] == "READY" and dep["target"] == "production":
            self._go_live(dep)

    def _update_project(self, id_or_name: str, payload: Any) -> tuple[int, Any]:
        if id_or_name not in (PROJECT["id"], PROJECT["name"]):
            return 404, _error("not_found", "Project not found")
        config = (payload or {}).get("resourceConfig") if isinstance(payload, dict) else None
        allowed = {"functionDefaultRegions": list, "functionDefaultTimeout": int,
                   "functionDefaultMemoryType": str}
        if not isinstance(config, dict) or not config or any(
                k not in allowed or not isinstance(v, allowed[k]) for k, v in config.items()):
            return 400, _error("bad_request", "Invalid request: resourceConfig should have "
                               f"only {sorted(allowed)} with their types")
        if config.get("functionDefaultMemoryType", "standard") not in (
                "standard_legacy", "standard", "performance"):
            return 400, _error("bad_request", "functionDefaultMemoryType must be "
                               "standard_legacy, standard or performance")
        if not 1 <= config.get("functionDefaultTimeout", 10) <= 800:
            return 400, _error("bad_request", "functionDefaultTimeout must be 1-800 seconds")
        self.resource_config.update(config)
        live = self.live()
        return 200, {**PROJECT, "resourceConfig": dict(self.resource_config),
                     "targets": {"production": _public(live, full=True)}}

    def _events(self, id_or_url: str, query: dict[str, str]) -> tuple[int, Any]:
        dep = self.find(id_or_url)
        if not dep:
            return 404, _error("not_found", "Deployment not found")
        events = [{"type": "stdout", "created": dep["created"] + i * 1000,
                   "payload": {"deploymentId": dep["uid"], "id": f"evt_{i}", "serial": str(i),
                               "date": dep["created"] + i * 1000, "text": text}}
                  for i, text in enumerate((
                      "Cloning github.com/vocavision/vocavision (Branch: main)",
                      "Running \"npm run build\"", "Build Completed in /vercel/output",
                      "Deployment completed"))]
        if query.get("direction") == "backward":
            events.reverse()
        limit = int(query.get("limit", 100))
        return 200, events if limit == -1 else events[:limit]

    def _runtime_logs(self, project: str, deployment: str) -> tuple[int, Any]:
        dep = self.find(deployment)
        if project not in (PROJECT["id"], PROJECT["name"]) or not dep:
            return 404, _error("not_found", "Deployment not found")
        rows = [("info", "GET", "/api/words", 200, "words served"),
                ("error", "POST", "/api/v1/quiz", 500, "PrismaClientKnownRequestError: Timed "
                 "out fetching a new connection from the connection pool"),
                ("info", "GET", "/api/health", 200, "ok")]
        lines = [json.dumps({"level": lvl, "message": msg, "rowId": f"row{i}",
                             "source": "serverless", "timestampInMs": dep["created"] + i,
                             "domain": "vocavision.com", "messageTruncated": False,
                             "requestMethod": m, "requestPath": path,
                             "responseStatusCode": code})
                 for i, (lvl, m, path, code, msg) in enumerate(rows)]
        return 200, _Stream("\n".join(lines) + "\n")

    def _env(self, method: str, seg: list[str], query: dict[str, str],
             payload: Any) -> tuple[int, Any]:
        if method == "GET" and len(seg) == 4:
            return 200, {"envs": [{k: v for k, v in e.items() if k != "value"}
                                  for e in self.envs]}
        if method == "POST" and len(seg) == 4:
            items = payload if isinstance(payload, list) else [payload]
            created = []
            for item in items:
                if not isinstance(item, dict) or not {"key", "value", "type", "target"} <= \
                        item.keys():
                    return 400, _error("bad_request", "key, value, type and target are required")
                targets = item["target"] if isinstance(item["target"], list) else [
                    item["target"]]
                old = next((e for e in self.envs if e["key"] == item["key"]
                            and set(e["target"]) & set(targets)), None)
                if old and query.get("upsert") != "true":
                    return 400, _error("ENV_ALREADY_EXISTS",
                                       f"A variable with the name `{item['key']}` already exists")
                if old:
                    old.update(value=item["value"], type=item["type"], target=item["target"])
                    created.append({k: v for k, v in old.items() if k != "value"})
                    continue
                new = {"id": f"env_{len(self.envs):010d}", **{k: item[k] for k in (
                    "key", "value", "type", "target")}}
                self.envs.append(new)
                created.append({k: v for k, v in new.items() if k != "value"})
            return 201, {"created": created[0] if len(created) == 1 else created,
                         "failed": []}
        if method == "PATCH" and len(seg) == 5:
            env = next((e for e in self.envs if e["id"] == seg[4]), None)
            if not env:
                return 404, _error("not_found", "Environment variable not found")
            if not isinstance(payload, dict) or not isinstance(payload.get("value", ""), str):
                return 400, _error("bad_request", "value must be a string")
            env.update({k: payload[k] for k in ("value", "type", "target") if k in payload})
            return 200, {k: v for k, v in env.items() if k != "value"}
        if method == "DELETE" and len(seg) == 5:
            env = next((e for e in self.envs if e["id"] == seg[4]), None)
            if not env:
                return 404, _error("not_found", "Environment variable not found")
            self.envs.remove(env)
            return 200, {k: v for k, v in env.items() if k != "value"}
        return 405, _error("method_not_allowed", "Method not allowed")


def _project_refused(payload: dict[str, Any]) -> tuple[int, Any] | None:
    """`name` is required; `project` (id or name) overrides it; `name` alone names the project
    by its name, never its id. None when the payload targets this project."""
    name, project = payload.get("name"), payload.get("project")
    if not isinstance(name, str) or not name:
        return 400, _error("bad_request", "Invalid request: missing required property `name`")
    if project is not None:
        if project not in (PROJECT["id"], PROJECT["name"]):
            return 404, _error("not_found", "Project not found")
        return None
    if name != PROJECT["name"]:
        return 400, _error("bad_request", f"No project named `{name}` (the deployment's `name` "
                           "is a project name; send `project` to pick one by id)")
    return None


def _public(dep: dict[str, Any], *, full: bool = False, aliased: bool = False) -> dict[str, Any]:
    if not dep:
        return {}
    out = {k: dep[k] for k in ("uid", "name", "url", "created", "state", "readyState",
                               "target", "meta")}
    if full:
        out.update(id=dep["uid"], createdAt=dep["created"], status=dep["state"],
                   projectId=dep["projectId"], aliasAssigned=aliased,
                   alias=["vocavision.com", "www.vocavision.com"] if aliased else [])
        if "resourceConfig" in dep:
            out["resourceConfig"] = dict(dep["resourceConfig"])
        del out["uid"]
    return out


class _Stream(str):
    """A body sent as `application/stream+json` (newline-delimited JSON), not one document."""


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    api: VercelAPI

    def log_message(self, *args: Any) -> None:
        return None

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload = self.api.answer(self.command, self.path, self.headers, body)
        stream = isinstance(payload, _Stream)
        data = payload.encode() if stream else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/stream+json" if stream
                         else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _handle
