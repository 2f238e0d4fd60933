"""What `promote.run_dbt` changes in dbt before invoking it."""

from __future__ import annotations

from typing import Any

from dbt_common.behavior_flags import BehaviorFlagRendered

from listings.pipeline import promote


def test_a_behavior_flag_is_named_after_the_module_that_declares_it_without_reading_sources() -> None:
    promote._quick_behavior_flags()
    flag = BehaviorFlagRendered({"name": "x", "default": False, "description": "d"}, {})
    assert flag._behavior_change_event.flag_source == __name__
    # Code run from a string (as a pytest-xdist worker runs) has no source file to look a module up by:
    # its frames name their module all the same.
    scope: dict[str, Any] = {"__name__": "run_from_a_string", "Flag": BehaviorFlagRendered}
    exec("flag = Flag({'name': 'y', 'default': True, 'description': 'd'}, {})", scope)
    assert scope["flag"]._behavior_change_event.flag_source == "run_from_a_string"
