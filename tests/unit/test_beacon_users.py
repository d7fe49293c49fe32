"""Unit tests of UserSpec validation in module_utils/beacon_users.py: what each state needs."""

from __future__ import annotations

import pytest
from beacon_routing import ValidationError
from beacon_users import spec_from_params


def test_stopping_as_it_is_needs_only_the_user_id():
    spec = spec_from_params({"user_id": "7"}).validated("stopped")
    assert spec.user_id == "7" and spec.image == ""


@pytest.mark.parametrize("state", ["present", "started"])
def test_running_needs_an_image_and_says_so(state):
    with pytest.raises(ValidationError, match="image"):
        spec_from_params({"user_id": "7", "domain": "shlinx.test"}).validated(state)


def test_stopping_with_an_image_checks_the_whole_spec():
    with pytest.raises(ValidationError, match="domain"):
        spec_from_params({"user_id": "7", "image": "codercom/code-server:4.100.3"}).validated("stopped")


@pytest.mark.parametrize("user_id", ["", "1`) || PathPrefix(`/", "../7", "UPPER"])
def test_a_hostile_id_is_refused_even_to_stop(user_id):
    with pytest.raises(ValidationError, match="user_id"):
        spec_from_params({"user_id": user_id}).validated("stopped")
