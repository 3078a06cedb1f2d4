"""The NINA double itself: documented shapes, conditional requests, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.fakes.nina_api import KOBLENZ, MAYEN_KOBLENZ, FakeNinaAPI

pytestmark = pytest.mark.functional  # the double itself, over real sockets


@pytest.fixture
async def fake() -> AsyncIterator[FakeNinaAPI]:
    api = FakeNinaAPI()
    await api.start()
    yield api
    await api.stop()


async def test_dashboard_and_detail_have_the_documented_shapes(fake: FakeNinaAPI) -> None:
    wid = fake.add_warning(FakeNinaAPI.mowas())
    fake.add_warning(FakeNinaAPI.mowas("mow.DE-RP-MYK-1", ars=MAYEN_KOBLENZ), ars=MAYEN_KOBLENZ)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake.url}/dashboard/{KOBLENZ}.json") as response:
            items = await response.json()
        async with session.get(f"{fake.url}/warnings/{wid}.json") as response:
            detail = await response.json()
        async with session.get(f"{fake.url}/dashboard/071110001000.json") as response:
            assert response.status == 404  # districts only
    assert [i["id"] for i in items] == [wid]  # the neighbour's warning is on its own dashboard
    assert items[0]["payload"]["version"] == 1 and items[0]["payload"]["data"]["provider"] == "MOWAS"
    assert items[0]["i18nTitle"]["de"] == detail["info"][0]["headline"]
    assert detail["info"][0]["area"][0]["geocode"][0]["valueName"] == "AreaId"


async def test_etag_and_last_modified_give_304_until_something_changes(fake: FakeNinaAPI) -> None:
    wid = fake.add_warning(FakeNinaAPI.mowas())
    url = f"{fake.url}/dashboard/{KOBLENZ}.json"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            etag, modified = response.headers["ETag"], response.headers["Last-Modified"]
        async with session.get(url, headers={"If-None-Match": etag}) as response:
            assert response.status == 304
        async with session.get(url, headers={"If-Modified-Since": modified}) as response:
            assert response.status == 304
        assert fake.new_version(wid, headline="Neu") == 2
        async with session.get(url, headers={"If-None-Match": etag}) as response:
            assert response.status == 200
            assert (await response.json())[0]["version"] == 2
        fake.remove(wid)
        async with session.get(url) as response:
            assert await response.json() == []
        async with session.get(f"{fake.url}/warnings/{wid}.json") as response:
            assert response.status == 404
    assert fake.not_modified == 2 and fake.calls["dashboard"] == 5


async def test_faults_are_injected_once(fake: FakeNinaAPI) -> None:
    fake.fail_next(1, status=503, kind="dashboard")
    fake.garbage_next(1)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake.url}/dashboard/{KOBLENZ}.json") as response:
            assert response.status == 503
        async with session.get(f"{fake.url}/dashboard/{KOBLENZ}.json") as response:
            assert response.content_type == "text/html"
        async with session.get(f"{fake.url}/dashboard/{KOBLENZ}.json") as response:
            assert await response.json() == []
