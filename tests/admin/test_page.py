"""The observer page in headless Chromium (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from .support import COUNTER, WORKERS, AdminServer, admin_server

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed"),
]


@pytest.fixture
async def browser_page() -> AsyncIterator[tuple[Any, list[str]]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 800})
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on(
                "response",
                lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )
            page.on(
                "console",
                lambda msg: (
                    problems.append(f"console: {msg.text}") if msg.type == "error" else None
                ),
            )
            yield page, problems
        finally:
            await browser.close()


async def sign_in(page: Any, server: AdminServer, role: str = "admin") -> None:
    await page.goto(server.url + "/admin")
    await page.fill("#token-input", server.token(role))
    await page.click("#use-token")


async def restarts_of(page: Any, name: str) -> tuple[str, int]:
    row = page.locator(f'#rows tr[data-name="{name}"]')
    pid = await row.get_attribute("data-pid")
    restarts = int(await row.locator("td.restarts").inner_text())
    return pid, restarts


async def test_an_operator_kills_a_worker_and_sees_it_come_back(
    browser_page: tuple[Any, list[str]],
) -> None:
    page, problems = browser_page
    async with admin_server() as server:
        await sign_in(page, server)
        counter_row = page.locator(f'#rows tr[data-name="{COUNTER}"]')
        await counter_row.wait_for()
        # The workers supervisor is opened by default, its children indented below it.
        assert await page.locator(f'#rows tr[data-name="{WORKERS}"]').count() == 1
        old_pid, old_restarts = await restarts_of(page, COUNTER)
        assert old_pid == str(server.pid_of(COUNTER))

        await counter_row.click()
        await page.locator("#detail h2", has_text=old_pid).wait_for()
        await page.click("#kill-button")
        dialog = page.locator("#confirm")
        await dialog.wait_for(state="visible")
        assert "Kill" in await page.locator("#confirm-text").inner_text()
        await page.click("#confirm-ok")

        await page.wait_for_function(
            """([name, oldPid, oldRestarts]) => {
                const row = document.querySelector(`#rows tr[data-name="${name}"]`);
                return row && row.dataset.pid !== oldPid &&
                    Number(row.querySelector("td.restarts").textContent) === oldRestarts + 1;
            }""",
            arg=[COUNTER, old_pid, old_restarts],
            timeout=5000,
        )
        new_pid, new_restarts = await restarts_of(page, COUNTER)
        assert new_pid == str(server.pid_of(COUNTER)) != old_pid
        assert new_restarts == old_restarts + 1
        # The detail pane follows the replacement and shows why it restarted.
        await page.locator("#detail h2", has_text=new_pid).wait_for()
        detail = await page.locator("#detail").inner_text()
        assert "killed" in detail
        assert "restarted as" in await page.locator("#banner").inner_text()

        await page.fill("#search", "admin_test.")
        await page.wait_for_function(
            "() => document.querySelectorAll('#rows tr.proc').length === 4"
        )
        await page.fill("#search", "")
        # Back to the tree: the root (not matched by the search) is shown again.
        await page.locator('#rows tr[data-name="bitnexus"]').wait_for()
        await page.locator(f'#rows tr[data-name="{COUNTER}"]').click()
        await page.locator("#detail h2", has_text=new_pid).wait_for()

        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "admin.png"), full_page=True)
    assert problems == []


async def test_a_non_admin_token_is_turned_away_on_the_page(
    browser_page: tuple[Any, list[str]],
) -> None:
    page, _problems = browser_page
    async with admin_server() as server:
        await sign_in(page, server, role="user")
        error = page.locator("#login-error")
        await error.filter(has_text="403").wait_for()
        assert await page.locator("#app").is_hidden()
        assert await page.evaluate("sessionStorage.getItem('bitnexus.admin.token')") is None
        await sign_in(page, server, role="admin")
        await page.locator(f'#rows tr[data-name="{COUNTER}"]').wait_for()
        token = await page.evaluate("sessionStorage.getItem('bitnexus.admin.token')")
        assert token
        await page.reload()  # the token survives a reload in this tab
        await page.locator(f'#rows tr[data-name="{COUNTER}"]').wait_for()
