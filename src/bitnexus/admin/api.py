"""The operators' admin endpoint: the live supervision tree as JSON, one process
in detail, kill / exit / restart-child actions, the HTML observer page, and
``/metrics`` for Prometheus.

Every ``/admin/api`` route needs an admin access token (``Authorization:
Bearer``): reads need ``admin:tree``, actions ``admin:act``. Refusals (401,
403) and every action are logged on ``bitnexus.admin`` with who did it.
``GET /admin`` (the page itself, no data) and ``GET /metrics`` are public:
keep ``/metrics`` on a network only your scraper reaches.

Example::

    children += install_admin(app, node, pubsub, settings)   # before the tree starts
    # GET /admin/api/tree?kind=channel&sort=mailbox&limit=50
    # POST /admin/api/processes/%3C0.42.0%3E/kill
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from bitnexus.actors import Node, Pid
from bitnexus.admin.actions import ActionRefused, exit_process, kill, parse_reason, restart_child
from bitnexus.admin.inspect import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    SORTS,
    RateSampler,
    TreeIndex,
    TreeQuery,
    parse_pid,
    process_detail,
    tree_page,
)
from bitnexus.admin.metrics import CONTENT_TYPE, Metrics
from bitnexus.admin.page import ObserverPage
from bitnexus.admin.sampler import sampler_spec
from bitnexus.auth import Forbidden, Permission, Tokens, require
from bitnexus.config import Settings
from bitnexus.exceptions import BitnexusError
from bitnexus.supervision import ChildSpec, Supervisor
from bitnexus.web.errors import ApiError, json_response
from bitnexus.web.keys import PLATFORM_KEY
from bitnexus.web.plugs import (
    REQUEST_OBSERVER_KEY,
    Authenticate,
    ParseJson,
    access_log_middleware,
)
from bitnexus.web.request_keys import BODY_KEY, PRINCIPAL_KEY, REQUEST_ID_KEY, ROUTE_KEY
from bitnexus.web.router import Route, Router

__all__ = ["ADMIN_KEY", "Admin", "admin_router", "install_admin"]

_audit = logging.getLogger("bitnexus.admin")
_MAX_BODY = 16 * 1024


class Admin:
    """What the admin routes share: the node, the rate sampler, the metrics.

    Args:
        node: the node to observe.
        pubsub: its PubSub (for broadcast metrics), or None.
        settings: the server settings (token issuer and audience, admin.enabled).
        sample_interval: seconds between rate samples.

    Example::

        admin = request.app[ADMIN_KEY]
        tree_page(admin.node, TreeQuery(), rates=admin.sampler.rates, index=admin.index)
    """

    def __init__(
        self, node: Node, pubsub: Any, settings: Settings, *, sample_interval: float = 1.0
    ) -> None:
        self.node = node
        self.pubsub = pubsub
        self.settings = settings
        self.sample_interval = sample_interval
        self.sampler = RateSampler(node)
        self.index = TreeIndex(node)
        self.metrics = Metrics(node, pubsub, self.sampler)
        self._tokens: Tokens | None = None

    def child_specs(self) -> list[ChildSpec]:
        """The sampler process, for the application tree."""
        return [sampler_spec(self.sampler, interval=self.sample_interval)]

    def tokens(self, app: web.Application) -> Tokens:
        """The platform's token verifier, or one built the same way from settings."""
        if self._tokens is None:
            platform = app.get(PLATFORM_KEY)
            if platform is not None:
                self._tokens = platform.tokens
            else:
                from bitnexus.platform import tokens_from_settings

                self._tokens = tokens_from_settings(self.settings.auth)
        return self._tokens


ADMIN_KEY = web.AppKey("bitnexus_admin", Admin)
"""The :class:`Admin` of this app."""
RESULT_KEY: web.RequestKey[dict[str, Any]] = web.RequestKey("admin_result")
"""What an action did, for the audit log line."""


# -- plugs -----------------------------------------------------------------------------
async def _authenticate(request: web.Request) -> None:
    admin = request.app[ADMIN_KEY]
    await Authenticate(admin.tokens(request.app))(request)


async def _authorize(request: web.Request) -> None:
    route: Route = request[ROUTE_KEY]
    principal = request[PRINCIPAL_KEY]
    try:
        require(principal, route.permission)
    except Forbidden:
        raise ApiError(
            403, {"detail": f"role {principal.role} may not {route.permission}"}
        ) from None


_parse_json = ParseJson(max_body=_MAX_BODY)


# -- handlers ----------------------------------------------------------------------------
def _int_param(request: web.Request, name: str, default: int, minimum: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, {name: ["must be an integer"]}) from None
    if value < minimum:
        raise ApiError(422, {name: [f"must be at least {minimum}"]})
    return value


def _tree_query(request: web.Request) -> TreeQuery:
    q = request.query
    sort = q.get("sort") or None
    if sort is not None and sort not in SORTS:
        raise ApiError(422, {"sort": [f"must be one of {', '.join(SORTS)}"]})
    return TreeQuery(
        kind=q.get("kind") or None,
        name_prefix=q.get("name") or None,
        topic=q.get("topic") or None,
        parent=q.get("parent") or None,
        status=q.get("status") or None,
        sort=sort,
        offset=_int_param(request, "offset", 0, 0),
        # Larger limits are capped, not refused: clients may ask for "all".
        limit=min(_int_param(request, "limit", DEFAULT_LIMIT, 1), MAX_LIMIT),
    )


async def tree(request: web.Request) -> web.Response:
    """``GET /admin/api/tree``: the filtered, paged process list."""
    admin = request.app[ADMIN_KEY]
    page = tree_page(admin.node, _tree_query(request), rates=admin.sampler.rates, index=admin.index)
    page["messages_per_second"] = round(admin.sampler.total_rate, 2)
    return json_response(page)


def _target(request: web.Request) -> Pid[Any]:
    admin = request.app[ADMIN_KEY]
    text = request.match_info["pid"]
    pid = parse_pid(admin.node, text)
    if pid is None:
        raise ApiError(404, {"detail": f"no live process {text[:40]}"})
    return pid


async def process(request: web.Request) -> web.Response:
    """``GET /admin/api/processes/{pid}``: one process in detail."""
    admin = request.app[ADMIN_KEY]
    pid = _target(request)
    detail = process_detail(admin.node, pid, rates=admin.sampler.rates, index=admin.index)
    if detail is None:
        raise ApiError(404, {"detail": f"no live process {pid}"})
    proc = pid._proc
    parent = proc.parent._proc if proc is not None and proc.parent is not None else None
    # Only a static supervisor can restart one child by id (restart-child).
    detail["restartable"] = parent is not None and isinstance(parent.actor, Supervisor)
    detail["child_id"] = detail["history"].get("id")
    if proc is not None and isinstance(proc.actor, Supervisor):
        detail["child_specs"] = await _child_specs(pid)
    return json_response(detail)


async def _child_specs(sup: Pid[Any]) -> list[dict[str, Any]] | None:
    """A static supervisor's specs, terminated children included (None if busy)."""
    try:
        children = await Supervisor.which_children(sup)
    except BitnexusError:
        return None  # dead, or busy restarting: the next poll will tell
    return [
        {
            "id": cid if isinstance(cid, str | int) else str(cid),
            "pid": str(pid) if pid is not None else None,
            "running": isinstance(pid, Pid),
            "type": ctype,
            "description": description,
        }
        for cid, pid, ctype, description in children
    ]


async def kill_process(request: web.Request) -> web.Response:
    """``POST /admin/api/processes/{pid}/kill``: exit reason ``kill``."""
    admin = request.app[ADMIN_KEY]
    result = await kill(admin.node, _target(request))
    request[RESULT_KEY] = result
    return json_response(result)


async def exit_with_reason(request: web.Request) -> web.Response:
    """``POST /admin/api/processes/{pid}/exit`` with ``{"reason": ...}``."""
    admin = request.app[ADMIN_KEY]
    pid = _target(request)
    reason = parse_reason(request[BODY_KEY].get("reason"))
    result = await exit_process(admin.node, pid, reason)
    request[RESULT_KEY] = result
    return json_response(result)


async def restart_supervisor_child(request: web.Request) -> web.Response:
    """``POST /admin/api/supervisors/{pid}/restart-child`` with ``{"id"}`` or ``{"pid"}``."""
    admin = request.app[ADMIN_KEY]
    sup = _target(request)
    body = request[BODY_KEY]
    child_id = body.get("id")
    child_pid = None
    if body.get("pid") is not None:
        child_pid = parse_pid(admin.node, str(body["pid"]))
        if child_pid is None:
            raise ApiError(404, {"detail": f"no live process {str(body['pid'])[:40]}"})
    if child_id is None and child_pid is None:
        raise ApiError(422, {"id": ["give the child's id (or its pid)"]})
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise ApiError(422, {"force": ["must be a boolean"]})
    result = await restart_child(
        admin.node, sup, child_id=child_id, child_pid=child_pid, force=force
    )
    request[RESULT_KEY] = result
    return json_response(result)


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: Prometheus text exposition."""
    body = request.app[ADMIN_KEY].metrics.render()
    return web.Response(body=body, headers={"content-type": CONTENT_TYPE})


# -- routes -----------------------------------------------------------------------------
def admin_router(*, enabled: bool = True) -> Router:
    """The admin routes (and ``/metrics``), for installing and for route tables.

    Example::

        print(admin_router().format_table())
    """
    router = Router()
    router.pipeline("public")
    router.pipeline("admin", _authenticate, _authorize)
    router.pipeline("admin_json", _parse_json)
    tags = ("admin",)
    with router.scope("", pipe_through=("public",), tags=tags) as public:
        public.get("/metrics", metrics, summary="Prometheus metrics", statuses=(200,))
        if enabled:
            public.get("/admin", ObserverPage(), summary="The observer page", statuses=(200,))
    if not enabled:
        return router
    with router.scope("/admin/api", pipe_through=("admin",), tags=tags) as api:
        read, act = Permission.ADMIN_TREE, Permission.ADMIN_ACT
        api.get(
            "/tree",
            tree,
            summary="The supervision tree: filtered, sorted, paged",
            permission=read,
            query=(
                ("kind", "string", "worker, supervisor, channel, connection, service, thread"),
                ("name", "string", "registered-name prefix"),
                ("topic", "string", "channel topic"),
                ("parent", "string", 'children of this pid, or "root"'),
                ("status", "string", "running, waiting, exiting"),
                ("sort", {"enum": list(SORTS)}, "largest first (uptime: oldest first)"),
                ("offset", {"type": "integer", "minimum": 0}, "matches to skip"),
                ("limit", {"type": "integer", "minimum": 1}, f"page size, capped at {MAX_LIMIT}"),
            ),
            statuses=(200, 401, 403, 422),
        )
        api.get(
            "/processes/{pid}",
            process,
            summary="One process in detail",
            permission=read,
            statuses=(200, 401, 403, 404),
        )
        with api.scope("", pipe_through=("admin_json",)) as actions:
            actions.post(
                "/processes/{pid}/kill",
                kill_process,
                summary="Kill a process (exit reason kill)",
                permission=act,
                statuses=(200, 401, 403, 404),
            )
            actions.post(
                "/processes/{pid}/exit",
                exit_with_reason,
                summary="Send an exit signal with a reason",
                permission=act,
                request_schema={
                    "type": "object",
                    "required": ["reason"],
                    "properties": {"reason": {"type": ["string", "array"]}},
                },
                statuses=(200, 401, 403, 404, 422),
            )
            actions.post(
                "/supervisors/{pid}/restart-child",
                restart_supervisor_child,
                summary="Start a supervisor's child again from its spec",
                permission=act,
                request_schema={
                    "type": "object",
                    "properties": {
                        "id": {"type": ["string", "integer"]},
                        "pid": {"type": "string"},
                        "force": {"type": "boolean"},
                    },
                },
                statuses=(200, 401, 403, 404, 409, 422),
            )
    return router


def _compile(router: Router, route: Route) -> Any:
    plugs = router.plugs_for(route)
    handler = route.handler
    acting = route.permission is Permission.ADMIN_ACT
    action = route.path.rsplit("/", 1)[1] if acting else "read"

    async def run(request: web.Request) -> web.StreamResponse:
        request[ROUTE_KEY] = route
        status, errors, headers = 200, None, None
        try:
            for plug in plugs:
                await plug(request)
            response = await handler(request)
            status = response.status
            return response
        except (ApiError, ActionRefused) as exc:
            status, errors = exc.status, exc.errors
            headers = getattr(exc, "headers", None)
            return json_response({"errors": errors}, status=status, headers=headers)
        except (asyncio.CancelledError, web.HTTPException):
            raise
        except BitnexusError as exc:
            status = exc.status if 400 <= exc.status < 600 else 500
            errors = {"detail": "service unavailable" if status == 503 else "error"}
            _audit.error("admin %s %s failed: %r", request.method, request.path, exc)
            return json_response({"errors": errors}, status=status)
        finally:
            if route.permission is not None:
                _log_outcome(request, action, status, errors, acting)

    run.__qualname__ = f"admin[{route.method} {route.path}]"
    return run


def _log_outcome(request: web.Request, action: str, status: int, errors: Any, acting: bool) -> None:
    principal = request.get(PRINCIPAL_KEY)
    user_id = principal.user_id if principal is not None else None
    role = str(principal.role) if principal is not None else None
    target = request.match_info.get("pid")
    extra = {
        "user_id": user_id,
        "role": role,
        "action": action,
        "target": target,
        "status": status,
        "request_id": request.get(REQUEST_ID_KEY),
        "remote": request.remote,
    }
    if status in (401, 403):
        _audit.warning(
            "admin access refused (%d): %s %s by user %s (role %s)",
            status, request.method, request.path, user_id, role, extra=extra,
        )  # fmt: skip
    elif acting:
        extra["result"] = request.get(RESULT_KEY) or errors
        _audit.info(
            "admin action %s on %s by user %s: %d %s",
            action, target, user_id, status, extra["result"], extra=extra,
        )  # fmt: skip


def install_admin(
    app: web.Application,
    node: Node,
    pubsub: Any,
    settings: Settings,
    *,
    sample_interval: float = 1.0,
) -> list[ChildSpec]:
    """Add the admin routes and ``/metrics`` to ``app``; return the sampler's child spec.

    Also makes the access-log middleware count HTTP requests into the metrics
    (and adds that middleware when the app has none yet). With
    ``settings.admin.enabled`` false only ``/metrics`` is added.

    Example::

        children = [*hub.child_specs(), *install_admin(app, node, pubsub, settings)]
    """
    admin = Admin(node, pubsub, settings, sample_interval=sample_interval)
    app[ADMIN_KEY] = admin
    app[REQUEST_OBSERVER_KEY] = admin.metrics.observe_request
    if access_log_middleware not in app.middlewares:
        app.middlewares.append(access_log_middleware)
    router = admin_router(enabled=settings.admin.enabled)
    for route in router.routes:
        app.router.add_route(route.method, route.path, _compile(router, route))
    return admin.child_specs()
