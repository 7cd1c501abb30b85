"""The Usage page (issue 16) in headless Chromium on the real stack: an organization's sub-pools
and lines on plans (its sub-organizations included) against their allowances with the forecast,
the selected one's chart (Chart.js, served by the gateway) and its figures as a table, a pool's
members, the period's alerts; staff choose any organization, an org user only sees its own tree.

Usage is pushed through the API for May 2043 (far from other tests' periods) and the page is
asked for the forecast as of 2043-05-12; every figure is computed by hand beside it, and the page
is compared with the API it reads. axe-core finds no serious or critical violation; screenshots
are kept in .local/test-artifacts/usage-*.png."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, Response, async_playwright, expect

from devstack.stack import Stack
from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.helpers import eventually
from tests.integration.test_web_credit_notes import token
from tests.integration.test_web_layout_a11y import ARTIFACTS, axe_findings, launch, signed_in

pytestmark = pytest.mark.integration
PERIOD, AS_OF = "2043-05", "2043-05-12"


async def created(gateway: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await gateway.post(f"/api/v1/{path}", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def plan(gateway: httpx.AsyncClient, allowance: str) -> str:
    body = {
        "name": f"Usage plan {uuid.uuid4().hex[:6]}",
        "monthly_price": "100.00",
        "allowance_gb": allowance,
        "overage_price_per_gb": "1.00",
    }
    return str((await created(gateway, "plans", body))["id"])


async def line(gateway: httpx.AsyncClient, org_id: str, name: str, start: str, **on: str) -> str:
    number = f"AST-UP-{uuid.uuid4().hex[:8]}"
    body = {"service_line_number": number, "name": name, "org_id": org_id, "active_from": start}
    await created(gateway, "service-lines", body | on)
    return number


async def push(gateway: httpx.AsyncClient, number: str, first: int, last: int, gb: str) -> None:
    records = [
        {
            "service_line_number": number,
            "date": f"{PERIOD}-{d:02d}",
            "priority_gb": gb,
            "observed_at": "2043-06-01T00:00:00Z",
        }
        for d in range(first, last + 1)
    ]
    r = await gateway.post("/api/v1/usage/records", json={"records": records})
    assert r.status_code == 202 and r.json()["accepted"] == len(records), r.text


async def figures(gateway: httpx.AsyncClient, path: str) -> dict[str, Any]:
    r = await gateway.get(f"/api/v1/{path}", params={"period": PERIOD, "as_of": AS_OF})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def settled(gateway: httpx.AsyncClient, path: str, used: str) -> dict[str, Any]:
    """The figures once the invoicing copy holds every day pushed (`used_gb` as computed)."""
    return dict(await eventually(lambda: figures(gateway, path), lambda f: f["used_gb"] == used))


async def world(gateway: httpx.AsyncClient) -> dict[str, Any]:
    """An organization alerted at 30 and 90 % with a sub-organization, and a stranger.

    - Pool P (own, 100 GB): member A from the 1st, 2 GB a day on the 1st-11th (22 GB); member
      B joins on the 6th, 3 GB a day on the 6th-11th (18 GB; its 1 GB a day on the 1st-5th,
      before it joined, counts nowhere). Days 1-5: 2 GB, days 6-11: 5 GB; used 10 + 30 = 40 of
      100: 40.00 %, 60 remaining. As of the 12th the days to the 10th are settled (35 GB); the
      last 7 (4th-10th) 2 + 2 + 5 x 5 = 29, rate 29/7; 21 days after the 10th: 35 + 87 = 122.
      A 22 GB is 55.00 % of the pool's use, B 18 GB 45.00 %. 40 % reached 30: "30 % reached".
    - Line L1 (own, plan of 50 GB, whole month): 6 GB a day on the 1st-10th, used 60: 120.00 %,
      0 remaining; rate 42/7 = 6 on the 4th-10th, 60 + 6 x 21 = 186. Past 90: "90 % reached".
    - Line L2 (the sub-organization, default thresholds 80/100, plan of 31 GB from the 11th):
      allowance 31 x 21/31 = 21; 4 GB on the 11th (unsettled): 19.05 % (4/21 = 19.047…),
      17 remaining; no settled day and no month before: rate 0, forecast what it used, 4.
    - The stranger's pool S (100 GB): 7 GB on the 1st, reachable by staff only.
    Alerts: L1 at 30 and at 90, P at 30; nothing else."""
    t = uuid.uuid4().hex[:6]
    own = await created(
        gateway,
        "organizations",
        {"name": f"Usage Own {t}", "customer_emails": [f"ops-{t}@example.com"]}
        | {"usage_alert_thresholds": [30, 90]},
    )
    sub = await created(
        gateway, "organizations", {"name": f"Usage Sub {t}", "parent_id": own["id"]}
    )
    stranger = await created(gateway, "organizations", {"name": f"Usage Stranger {t}"})
    pool_body = {"monthly_price": "500.00", "allowance_gb": "100", "overage_price_per_gb": "1.00"}
    pool = await created(
        gateway, "sub-pools", {"org_id": own["id"], "name": f"Fleet pool {t}"} | pool_body
    )
    foreign = await created(
        gateway, "sub-pools", {"org_id": stranger["id"], "name": f"Stranger pool {t}"} | pool_body
    )
    a = await line(gateway, own["id"], "Vessel Alpha", "2043-05-01", sub_pool_id=pool["id"])
    b = await line(gateway, own["id"], "Vessel Bravo", "2043-05-06", sub_pool_id=pool["id"])
    l1 = await line(gateway, own["id"], "Tug One", "2043-05-01", plan_id=await plan(gateway, "50"))
    l2 = await line(
        gateway, sub["id"], "Barge Two", "2043-05-11", plan_id=await plan(gateway, "31")
    )
    s1 = await line(
        gateway, stranger["id"], "Stranger One", "2043-05-01", sub_pool_id=foreign["id"]
    )
    await push(gateway, a, 1, 11, "2")
    await push(gateway, b, 1, 5, "1")
    await push(gateway, b, 6, 11, "3")
    await push(gateway, l1, 1, 10, "6")
    await push(gateway, l2, 11, 11, "4")
    await push(gateway, s1, 1, 1, "7")
    usage = {
        "pool": await settled(gateway, f"sub-pools/{pool['id']}/usage", "40"),
        "l1": await settled(gateway, f"service-lines/{l1}/usage-summary", "60"),
        "l2": await settled(gateway, f"service-lines/{l2}/usage-summary", "4"),
        "foreign": await settled(gateway, f"sub-pools/{foreign['id']}/usage", "7"),
    }
    # The figures by hand (the docstring), the API agreeing.
    expected = {
        "pool": ("100", "40", "60", "40.00", "122"),
        "l1": ("50", "60", "0", "120.00", "186"),
        "l2": ("21", "4", "17", "19.05", "4"),
        "foreign": ("100", "7", "93", "7.00", "7"),
    }
    for key, (allowance, used, left, percent, forecast) in expected.items():
        got = usage[key]
        assert (
            got["allowance_gb"],
            got["used_gb"],
            got["remaining_gb"],
            got["percent_used"],
            got["forecast_gb"],
        ) == (allowance, used, left, percent, forecast), (key, got)
    assert sorted((m["service_line_number"], m["used_gb"]) for m in usage["pool"]["members"]) == (
        sorted([(a, "22"), (b, "18")])
    )

    async def alerts() -> list[dict[str, Any]]:
        r = await gateway.get("/api/v1/alerts", params={"org_id": own["id"], "period": PERIOD})
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    made = await eventually(alerts, lambda items: len(items) == 3)
    assert sorted((x["subject_id"], x["threshold"]) for x in made) == sorted(
        [(l1, 30), (l1, 90), (pool["id"], 30)]
    )
    return {
        "own": own,
        "sub": sub,
        "stranger": stranger,
        "pool": pool,
        "foreign": foreign,
        "lines": {"a": a, "b": b, "l1": l1, "l2": l2},
        "usage": usage,
        "alerts": made,
    }


async def usage_shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"usage-{name}.png"), full_page=True)


async def loaded(page: Page) -> None:
    await expect(page.locator("#subjects")).to_have_attribute("aria-busy", "false")
    await expect(page.locator("#error")).to_be_hidden()


async def rows_of(page: Page, selector: str) -> list[list[str]]:
    return list(
        await page.locator(selector).evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
        )
    )


def listed(api: dict[str, Any]) -> list[str]:
    """A subject's figures as the overview row shows them (after the name, organization and bar)."""
    return [
        f"{api['percent_used']} %",
        api["used_gb"],
        api["allowance_gb"],
        api["remaining_gb"],
        api["forecast_gb"],
    ]


async def overview_matches(page: Page, w: dict[str, Any], keys: dict[str, str]) -> None:
    """Each subject's row holds the API's figures, level and organization; no other row."""
    subjects = page.locator("#subjects tbody tr")
    await expect(subjects).to_have_count(len(keys))
    levels = {"pool": "30 % reached", "l1": "90 % reached", "l2": "below 80 %"}
    orgs = {"pool": w["own"]["name"], "l1": w["own"]["name"], "l2": w["sub"]["name"]}
    for name, key in keys.items():
        (cells,) = await rows_of(page, f"#subjects tbody tr[data-subject='{key}']")
        assert cells[1] == orgs[name], cells
        assert cells[2] == levels[name], cells
        assert cells[3:] == listed(w["usage"][name]), (name, cells)


async def chart_drawn(page: Page) -> dict[str, Any]:
    """The Chart instance on the canvas (its datasets' labels and data) and whether pixels were
    painted on it."""
    return dict(
        await page.evaluate(
            """() => {
              const canvas = document.getElementById('chart');
              const chart = Chart.getChart(canvas);
              const {width, height} = canvas;
              const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data;
              let painted = 0;
              for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted += 1;
              return {
                instance: !!chart, width: canvas.width, painted,
                labels: chart.data.labels, label: canvas.getAttribute('aria-label'),
                datasets: chart.data.datasets.map(
                  d => ({label: d.label, type: d.type, data: d.data})),
              };
            }"""
        )
    )


async def test_staff_see_every_organization_and_the_selected_pool(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    w = await world(gateway)
    pool_key, l1, l2 = f"pool:{w['pool']['id']}", w["lines"]["l1"], w["lines"]["l2"]
    keys = {"pool": pool_key, "l1": f"line:{l1}", "l2": f"line:{l2}"}
    finance = await token(gateway, "finance")
    found: list[str] = []

    async with async_playwright() as p:
        browser = await launch(p)
        page, errors = await signed_in(browser, stack, ADMIN_TOKEN)
        # From the Invoices page to the Usage page by its link, and back.
        await page.locator("nav.pages a", has_text="Usage").click()
        await page.wait_for_url("**/usage*")
        await expect(page.locator("nav.pages a[aria-current=page]")).to_have_text("Usage")
        await loaded(page)
        # This month by default (UTC); all organizations to choose from, none chosen yet.
        await expect(page.locator("#period")).to_have_value(datetime.now(UTC).strftime("%Y-%m"))
        picker = page.locator("#org")
        await expect(picker).to_be_enabled()
        for org in (w["own"], w["sub"], w["stranger"]):
            await expect(picker.locator(f"option[value='{org['id']}']")).to_have_count(1)
        await expect(page.locator("#status")).to_have_text(
            "Choose an organization to see its sub-pools and lines."
        )

        await picker.select_option(w["own"]["id"])
        await page.fill("#period", PERIOD)
        await page.fill("#as-of", AS_OF)
        await loaded(page)
        await expect(page.locator("#status")).to_contain_text(
            f"1 sub-pool and 2 lines on plans of {w['own']['name']} and its sub-organizations"
            f" in May 2043; forecasts as of {AS_OF}."
        )
        await overview_matches(page, w, keys)
        # The first one (the pool) is selected: its chart, figures, days, members.
        await expect(page.locator("#detail-title")).to_have_text(
            f"Sub-pool · {w['pool']['name']} · May 2043"
        )
        await expect(page.locator(f"button[data-subject='{pool_key}']")).to_have_attribute(
            "aria-pressed", "true"
        )
        for field, text in (
            ("used", "40 GB"),
            ("allowance", "100 GB"),
            ("remaining", "60 GB"),
            ("percent", "40.00 %"),
            ("forecast", "122 GB"),
        ):
            await expect(page.locator(f"#d-{field}")).to_have_text(text)

        drawn = await chart_drawn(page)
        assert drawn["instance"] and drawn["width"] > 300 and drawn["painted"] > 2000, drawn
        assert drawn["labels"] == [str(d) for d in range(1, 32)]
        daily, cumulative, allowance, forecast = drawn["datasets"]
        assert (daily["type"], cumulative["type"]) == ("bar", "line")
        # Days 1-5: 2 GB, 6-11: 5 GB; shown to the as-of day (the 12th, nothing yet).
        assert daily["data"] == [2] * 5 + [5] * 6 + [0] + [None] * 19
        assert cumulative["data"] == [2, 4, 6, 8, 10, 15, 20, 25, 30, 35, 40, 40] + [None] * 19
        assert allowance["data"] == [100] * 31 and allowance["label"] == "Allowance 100 GB"
        # The projection: from 40 GB on the 12th to 122 GB on the 31st.
        assert forecast["data"] == [None] * 11 + [40] + [None] * 18 + [122]
        assert forecast["label"] == "Forecast 122 GB"
        assert "Used 40 GB (40.00 %), 60 GB remaining, as of 2043-05-12" in drawn["label"]

        # The table of the chart's figures matches the API's days, the sums by hand.
        api_days = {d["date"]: d["priority_gb"] for d in w["usage"]["pool"]["days"]}
        await page.locator("#days-box summary").click()
        table = await rows_of(page, "#days tbody tr")
        assert [r[0] for r in table] == [f"{PERIOD}-{d:02d}" for d in range(1, 13)]
        assert [r[1] for r in table] == [api_days.get(r[0], "0") for r in table]
        sums = [2, 4, 6, 8, 10, 15, 20, 25, 30, 35, 40, 40]  # 2 a day, then 5, then none
        assert [r[2] for r in table] == [str(gb) for gb in sums]
        assert await rows_of(page, "#days tfoot tr") == [
            ["Used", "", "40", "100"],
            ["Forecast, 2043-05-31", "", "122", "100"],
        ]
        members = await rows_of(page, "#members tbody tr")
        by_api = {m["service_line_number"]: m for m in w["usage"]["pool"]["members"]}
        assert sorted(members) == sorted(
            [
                [w["lines"]["a"], "Vessel Alpha", by_api[w["lines"]["a"]]["used_gb"], "55.00 %"],
                [w["lines"]["b"], "Vessel Bravo", by_api[w["lines"]["b"]]["used_gb"], "45.00 %"],
            ]
        )

        # The alerts of the period, as the API lists them (newest first).
        alerts = await rows_of(page, "#alerts tbody tr")
        assert [(r[1], r[3], r[4], r[5], r[6]) for r in alerts] == [
            (
                ("Sub-pool " if a["subject"] == "sub_pool" else "Line ") + a["subject_name"],
                f"{a['threshold']} %",
                a["used_gb"],
                a["allowance_gb"],
                a["forecast_gb"],
            )
            for a in w["alerts"]
        ]
        await usage_shot(page, "admin-pool")
        found += await axe_findings(page, "usage-admin")

        # Another one: line L1, past its allowance.
        await page.locator(f"button[data-subject='line:{l1}']").click()
        await expect(page.locator("#detail-title")).to_have_text(f"Line {l1} · Tug One · May 2043")
        await expect(page.locator("#members-box")).to_be_hidden()
        await expect(page.locator("#d-percent")).to_have_text("120.00 %")
        drawn = await chart_drawn(page)
        assert drawn["datasets"][1]["data"][:10] == [6 * d for d in range(1, 11)]
        assert drawn["datasets"][3]["data"][-1] == 186
        assert f"subject=line%3A{l1}" in page.url or f"subject=line:{l1}" in page.url
        await usage_shot(page, "admin-line-over")

        # The stranger's organization: its pool, none of the first one's.
        await picker.select_option(w["stranger"]["id"])
        await loaded(page)
        await expect(page.locator("#subjects tbody tr")).to_have_count(1)
        (row,) = await rows_of(page, "#subjects tbody tr")
        assert row[0].startswith(w["foreign"]["name"]) and row[3:] == listed(w["usage"]["foreign"])
        await usage_shot(page, "admin-stranger")
        await page.context.close()

        # Finance sees every organization as well.
        fin, fin_errors = await signed_in(browser, stack, finance)
        await fin.goto(
            f"{stack.config.gateway_url}/usage?org={w['stranger']['id']}&period={PERIOD}"
        )
        await loaded(fin)
        await expect(fin.locator("#org")).to_be_enabled()
        await expect(fin.locator("#org")).to_have_value(w["stranger"]["id"])
        await expect(fin.locator("#subjects tbody tr")).to_have_count(1)
        await browser.close()
    assert found == []
    assert errors == [] and fin_errors == []


async def test_an_org_user_sees_its_own_tree_only(stack: Stack, gateway: httpx.AsyncClient) -> None:
    w = await world(gateway)
    pool_key, l1, l2 = f"pool:{w['pool']['id']}", w["lines"]["l1"], w["lines"]["l2"]
    keys = {"pool": pool_key, "l1": f"line:{l1}", "l2": f"line:{l2}"}
    customer = await token(gateway, "org_user", w["own"]["id"])

    async with async_playwright() as p:
        browser = await launch(p)
        page, errors = await signed_in(browser, stack, customer)
        calls: list[tuple[str, int]] = []

        def heard(response: Response) -> None:
            if "/api/v1/" in response.url:
                path = response.url.split("/api/v1", 1)[1]
                calls.append((f"{response.request.method} {path}", response.status))

        page.on("response", heard)
        # Asking, by the address, for the stranger's organization and its pool changes nothing.
        await page.goto(
            f"{stack.config.gateway_url}/usage?org={w['stranger']['id']}&period={PERIOD}"
            f"&as_of={AS_OF}&subject=pool:{w['foreign']['id']}"
        )
        await loaded(page)
        picker = page.locator("#org")
        await expect(picker).to_be_disabled()
        await expect(picker).to_have_value(w["own"]["id"])
        await expect(picker.locator("option")).to_have_count(1)
        await expect(picker.locator("option")).to_contain_text("and its sub-organizations")
        await overview_matches(page, w, keys)
        await expect(page.locator(f"[data-subject='pool:{w['foreign']['id']}']")).to_have_count(0)
        await expect(page.locator("#detail-title")).to_contain_text(w["pool"]["name"])
        drawn = await chart_drawn(page)
        assert drawn["instance"] and drawn["painted"] > 2000
        assert drawn["datasets"][1]["data"][10] == 40
        members = await rows_of(page, "#members tbody tr")
        assert sorted(r[0] for r in members) == sorted([w["lines"]["a"], w["lines"]["b"]])
        await expect(page.locator("#alerts tbody tr")).to_have_count(3)
        await usage_shot(page, "org-user-pool")

        # The sub-organization's line: its prorated allowance.
        await page.locator(f"button[data-subject='line:{l2}']").click()
        await expect(page.locator("#d-allowance")).to_have_text("21 GB")
        await expect(page.locator("#d-forecast")).to_have_text("4 GB")
        await page.locator("#days-box summary").click()
        # Its days from the first on its plan (the 11th) to the as-of day; none before drawn.
        assert await rows_of(page, "#days tbody tr") == [
            [f"{PERIOD}-11", "4", "4", "21"],
            [f"{PERIOD}-12", "0", "4", "21"],
        ]
        drawn = await chart_drawn(page)
        assert drawn["datasets"][0]["data"] == [None] * 10 + [4, 0] + [None] * 19
        assert drawn["datasets"][1]["data"] == [None] * 10 + [4, 4] + [None] * 19
        assert drawn["datasets"][3]["data"] == [None] * 11 + [4] + [None] * 18 + [4]
        found = await axe_findings(page, "usage-org-user")
        await usage_shot(page, "org-user-line")

        # Back to its invoices by the link.
        await page.locator("nav.pages a", has_text="Invoices").click()
        await page.wait_for_url("**/invoices")
        await expect(page.locator("#org")).to_have_value(w["own"]["id"])

        # Route by route: only its own tree's figures asked for, nothing refused.
        routes = {call.split("?")[0] for call, _ in calls}
        assert {
            "GET /whoami",
            "GET /organizations",
            "GET /sub-pools",
            "GET /service-lines",
            f"GET /sub-pools/{w['pool']['id']}/usage",
            f"GET /service-lines/{l1}/usage-summary",
            f"GET /service-lines/{l2}/usage-summary",
            "GET /alerts",
        } <= routes, routes
        assert not any(w["foreign"]["id"] in call or w["stranger"]["id"] in call for call in routes)
        refused = [(call, status) for call, status in calls if status >= 400]
        assert refused == []
        await browser.close()
    assert found == []
    assert errors == []
