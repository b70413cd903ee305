"""The collector runs less often during a sync, and only during it."""

import gc

import pytest

from support_assets.sources.arrow_pages import ArrowRecords
from support_assets.sources.gc_pauses import SYNC_THRESHOLD, fewer_gc_pauses

from support_assets_tests.helpers.sync import sync


@pytest.fixture(autouse=True)
def default_threshold():
    before = gc.get_threshold()
    gc.set_threshold(700, *before[1:])
    yield
    gc.set_threshold(*before)


def test_the_threshold_is_raised_in_the_block_and_restored_after_it_even_on_error():
    with fewer_gc_pauses():
        assert gc.get_threshold()[0] == SYNC_THRESHOLD
    assert gc.get_threshold()[0] == 700

    with pytest.raises(RuntimeError), fewer_gc_pauses():
        raise RuntimeError("the sync failed")
    assert gc.get_threshold()[0] == 700


def test_a_higher_threshold_set_by_the_process_is_left_alone():
    gc.set_threshold(50_000, *gc.get_threshold()[1:])

    with fewer_gc_pauses():
        assert gc.get_threshold()[0] == 50_000
    assert gc.get_threshold()[0] == 50_000


def test_a_sync_through_dagster_collects_less_while_it_extracts_and_as_before_after(
    api_env, sandbox, warehouse, monkeypatch
):
    during = []
    to_arrow = ArrowRecords.to_arrow

    def spy(self, records, load_id):
        during.append(gc.get_threshold()[0])
        return to_arrow(self, records, load_id)

    monkeypatch.setattr(ArrowRecords, "to_arrow", spy)

    assert sync(warehouse, checks=False).success

    assert during and set(during) == {SYNC_THRESHOLD}
    assert gc.get_threshold()[0] == 700


FROZEN_THEN_COLLECTED = """
import gc
import support_assets.definitions
frozen = gc.get_freeze_count()
gc.disable()  # only the explicit collection below
class Node: pass
for _ in range(1000):  # garbage a run makes after the load: cycles, freed by the collector
    a, b = Node(), Node(); a.b, b.a = b, a
del a, b
print(frozen, gc.collect())
"""


def test_loading_the_code_location_freezes_what_it_loaded_and_later_garbage_is_still_collected():
    import subprocess
    import sys

    frozen, collected = map(int, subprocess.run(
        [sys.executable, "-c", FROZEN_THEN_COLLECTED], capture_output=True, text=True, check=True
    ).stdout.split()[-2:])
    assert frozen > 100_000  # Dagster, dlt and the definitions: out of every collection and the exit's
    assert collected >= 2000  # the run's own cycles are not frozen
