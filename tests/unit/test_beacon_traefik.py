"""Unit tests of the polling in module_utils/beacon_traefik.py, against a scripted API object."""

from __future__ import annotations

from beacon_traefik import qualified, wait_until_gone


class ScriptedAPI:
    """Lists each router until it has been asked about it `polls` times."""

    def __init__(self, polls: dict[str, int]) -> None:
        self.polls = {qualified(name): count for name, count in polls.items()}
        self.asked: dict[str, int] = {}

    def _listed(self, name: str) -> bool:
        self.asked[name] = self.asked.get(name, 0) + 1
        return self.asked[name] <= self.polls.get(name, 0)

    def router(self, name: str) -> dict | None:
        return {"name": name} if self._listed(qualified(name)) else None

    def routers(self) -> list[dict]:
        return [{"name": name} for name in list(self.polls) if self._listed(name)]


def test_gone_returns_once_traefik_drops_the_router():
    api = ScriptedAPI({"code-user-1": 3})
    assert wait_until_gone(api, ["code-user-1"], timeout=5, interval=0) == []
    assert api.asked == {"code-user-1@docker": 4}


def test_gone_waits_for_every_router_of_a_bulk_call():
    api = ScriptedAPI({"code-user-1": 1, "code-user-2": 4})
    assert wait_until_gone(api, ["code-user-1", "code-user-2", "code-user-3"], timeout=5, interval=0) == []
    assert api.asked["code-user-2@docker"] == 5


def test_gone_names_the_routers_still_listed_at_the_timeout():
    api = ScriptedAPI({"code-user-1": 10**6, "code-user-2": 0})
    assert wait_until_gone(api, ["code-user-1", "code-user-2"], timeout=0.05, interval=0.01) == ["code-user-1@docker"]


def test_gone_asks_nothing_for_no_routers():
    api = ScriptedAPI({})
    assert wait_until_gone(api, [], timeout=5) == []
    assert api.asked == {}
