"""The status page in a real headless browser: Debian's chromium driven by Playwright.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium``. The page is
opened with the token once (as a technician would), renders patients and devices, and its
live values change between two reads. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ops_ward import PATIENT_IDS, running_ward
from playwright.async_api import Page, async_playwright

from gateway.broker import LocalBroker

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TOKEN = "browser-test-token-0123456789"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
)


async def records_shown(page: Page) -> list[int]:
    cells = page.locator("#devices tbody td[data-field=rate]")
    return [int(await c.get_attribute("data-records") or -1) for c in await cells.all()]


async def test_status_page_renders_and_updates_live(tmp_path: Path, broker: LocalBroker) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    async with (
        running_ward(tmp_path, beds=4, mqtt_port=broker.port, token=TOKEN) as ward,
        async_playwright() as pw,
    ):
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda m: errors.append(m.text) if m.type == "error" else None,
            )
            started = time.perf_counter()
            await page.goto(f"{ward.base_url}/?token={TOKEN}")
            await page.wait_for_selector("[data-patient] tr[data-stream]", timeout=20_000)
            load_s = time.perf_counter() - started
            print(f"status page: first vitals rendered {load_s * 1000:.0f} ms after goto")

            # the token left the address bar; the cookie carries it (EventSource too)
            assert "token" not in page.url
            await page.wait_for_function(
                "() => document.getElementById('pill-live').textContent === 'live'",
                timeout=20_000,
            )
            cards = page.locator("[data-patient]")
            assert await cards.count() == 4
            ids = [await c.get_attribute("data-patient") for c in await cards.all()]
            assert ids == list(PATIENT_IDS)
            beds = await page.locator("[data-patient] .bed").all_inner_texts()
            assert beds == ["bed-01", "bed-02", "bed-03", "bed-04"]
            assert await page.locator("#devices tbody tr").count() == 4
            states = await page.locator("#devices td[data-field=state]").all_inner_texts()
            assert all(s.strip() == "connected" for s in states)
            assert (await page.locator("#pill-uplink").inner_text()) == "uplink connected"

            # NEWS2 badges wear their band colour once the twins have scored
            await page.wait_for_function(
                "() => [...document.querySelectorAll('[data-patient] .news2')]"
                ".every(n => /risk-/.test(n.className))",
                timeout=20_000,
            )
            # class and colour read together: a live update between two reads changed the
            # band in between once (the badge had moved from low-medium to low)
            pairs = await page.locator("[data-patient] .news2").evaluate_all(
                "ns => ns.map(n => [n.className, getComputedStyle(n).backgroundColor])"
            )
            classes = [cls for cls, _ in pairs]
            colours = [colour for _, colour in pairs]
            band_colour = {
                "risk-low": "rgb(46, 158, 91)",
                "risk-low-medium": "rgb(229, 194, 27)",
                "risk-medium": "rgb(240, 138, 36)",
                "risk-high": "rgb(214, 58, 47)",
            }
            for cls, colour in zip(classes, colours, strict=True):
                band = next(c for c in (cls or "").split() if c.startswith("risk-"))
                assert colour == band_colour[band], (cls, colour)
            # p-0002 is "V" on the ACVPU scale: 3 points alone, never the low band
            assert "risk-low " not in (classes[1] or "") + " "

            # sparklines are drawn: the SpO2 canvas of bed-01 has painted pixels
            await page.wait_for_function(
                """() => {
                        const c = document.querySelector('[data-patient="p-0001"] tr canvas');
                        if (!c || !c.width) return false;
                        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                        for (let i = 3; i < d.length; i += 4) if (d[i]) return true;
                        return false;
                    }""",
                timeout=20_000,
            )

            # live: the record counts shown change between two reads
            first = await records_shown(page)
            version = await page.evaluate("() => Number(document.body.dataset.version)")
            await page.wait_for_function(
                f"() => Number(document.body.dataset.version) >= {version + 2}",
                timeout=20_000,
            )
            second = await records_shown(page)
            assert len(first) == len(second) == 4
            assert all(b > a >= 0 for a, b in zip(first, second, strict=True)), (first, second)
            await page.screenshot(path=str(ARTIFACTS / "status-page.png"), full_page=True)
            phone = await browser.new_page(viewport={"width": 390, "height": 844})
            await phone.goto(f"{ward.base_url}/?token={TOKEN}")
            await phone.wait_for_selector("[data-patient] tr[data-stream]", timeout=20_000)
            await phone.screenshot(path=str(ARTIFACTS / "status-page-narrow.png"))
            assert errors == []
        finally:
            await browser.close()


async def test_page_without_token_is_refused_in_the_browser(tmp_path: Path) -> None:
    async with running_ward(tmp_path, beds=1, token=TOKEN) as ward, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page()
            response = await page.goto(ward.base_url + "/")
            assert response is not None and response.status == 401
            assert await page.locator("[data-patient]").count() == 0
        finally:
            await browser.close()
