"""One error shape for every failure: ``{"errors": {...}}`` and the right status."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bitnexus.exceptions import CallTimeout, Refused
from bitnexus.repo import Conflict, NotFound
from bitnexus.web.errors import ApiError, error_middleware, json_response
from bitnexus.web.plugs import request_id_middleware


class Fielded(Refused):
    status = 422

    def __init__(self) -> None:
        self.errors = {"email": ["has invalid format"]}
        super().__init__("invalid")


def raising(exc: BaseException) -> Any:
    async def handler(request: web.Request) -> web.Response:
        raise exc

    return handler


async def client_for(aiohttp_client: Any, **routes: Any) -> Any:
    app = web.Application(middlewares=[request_id_middleware, error_middleware])
    for name, handler in routes.items():
        app.router.add_route("*", f"/{name}", handler)

    async def ok(request: web.Request) -> web.Response:
        return json_response({"ok": True})

    app.router.add_get("/ok", ok)
    return await aiohttp_client(app)


async def test_api_error_renders_its_status_errors_and_headers(aiohttp_client: Any) -> None:
    client = await client_for(
        aiohttp_client, limited=raising(ApiError(429, "slow down", headers={"retry-after": "3"}))
    )
    response = await client.get("/limited")
    assert response.status == 429
    assert response.headers["retry-after"] == "3"
    assert response.content_type == "application/json"
    assert await response.json() == {"errors": {"detail": "slow down"}}


async def test_refusals_use_their_status_and_field_errors(aiohttp_client: Any) -> None:
    client = await client_for(
        aiohttp_client,
        missing=raising(NotFound("product 9 does not exist")),
        taken=raising(Conflict("email is already registered")),
        fields=raising(Fielded()),
    )
    missing = await client.get("/missing")
    assert (missing.status, await missing.json()) == (
        404,
        {"errors": {"detail": "product 9 does not exist"}},
    )
    assert (await client.get("/taken")).status == 409
    fields = await client.get("/fields")
    assert (fields.status, await fields.json()) == (
        422,
        {"errors": {"email": ["has invalid format"]}},
    )


async def test_a_crash_is_a_500_with_the_request_id_and_no_stack_trace(
    aiohttp_client: Any,
) -> None:
    client = await client_for(aiohttp_client, boom=raising(RuntimeError("secret internals")))
    response = await client.get("/boom", headers={"x-request-id": "req-42"})
    text = await response.text()
    assert response.status == 500
    assert await response.json() == {
        "errors": {"detail": "internal server error", "request_id": "req-42"}
    }
    assert "secret internals" not in text and "Traceback" not in text


async def test_an_unavailable_dependency_is_a_503_with_retry_after(aiohttp_client: Any) -> None:
    client = await client_for(aiohttp_client, slow=raising(CallTimeout("svc", "op", 5.0)))
    response = await client.get("/slow")
    assert response.status == 503
    assert response.headers["retry-after"] == "1"
    assert (await response.json())["errors"]["detail"] == "service unavailable"


async def test_unknown_paths_and_methods_get_the_json_shape(aiohttp_client: Any) -> None:
    client = await client_for(aiohttp_client)
    missing = await client.get("/nowhere")
    assert (missing.status, await missing.json()) == (404, {"errors": {"detail": "not found"}})
    wrong = await client.delete("/ok")
    assert wrong.status == 405
    assert "GET" in wrong.headers["allow"]
    assert await wrong.json() == {"errors": {"detail": "method not allowed"}}


async def test_a_websocket_upgrade_passes_the_http_middlewares_and_leaves_no_frame_behind() -> None:
    import gc
    import inspect

    import aiohttp

    from bitnexus.web.plugs import access_log_middleware, request_id_middleware

    async def plain(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    app = web.Application(
        middlewares=[request_id_middleware, access_log_middleware, error_middleware]
    )
    app.router.add_get("/plain", plain)
    app.router.add_get("/ws", socket)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    codes = {
        m.__wrapped__.__code__
        for m in (request_id_middleware, access_log_middleware, error_middleware)
    }
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/plain") as response:
                assert "x-request-id" in response.headers  # HTTP requests still go through
            async with session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
                assert "x-request-id" not in ws._response.headers
                gc.collect()
                alive = [
                    o for o in gc.get_objects() if inspect.iscoroutine(o) and o.cr_code in codes
                ]
                assert alive == []  # no middleware frame lives as long as the socket
                await ws.close()
    finally:
        await runner.cleanup()
