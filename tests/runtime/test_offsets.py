from hypothesis import given
from hypothesis import strategies as st

from agentflux.runtime.offsets import OffsetTracker, PartitionOffsets
from agentflux.transport.base import TopicPartition

TP = TopicPartition("demo.thing.v1", 0)


@given(st.permutations(list(range(30))), st.integers(min_value=0, max_value=30))
def test_commit_position_is_the_lowest_unfinished_offset(order: list[int], finished: int) -> None:
    offsets = PartitionOffsets()
    for offset in range(30):
        offsets.add(offset * 2)  # gaps, as compaction and transaction markers leave
    done = {o * 2 for o in order[:finished]}
    for offset in done:
        offsets.complete(offset)
    lowest_open = min((o * 2 for o in range(30) if o * 2 not in done), default=None)
    if lowest_open is None:  # everything finished: resume after the last record
        assert offsets.committable == 58 + 1
        assert offsets.in_flight == 0
    elif lowest_open == 0:  # nothing contiguous from the start: nothing to commit
        assert offsets.committable is None
    else:  # resume right after the last record of the finished prefix
        assert offsets.committable == lowest_open - 2 + 1
        assert offsets.in_flight == 30 - lowest_open // 2


def test_tracker_reports_only_advanced_positions_and_forgets_revoked() -> None:
    tracker = OffsetTracker()
    for offset in (5, 6, 7):
        tracker.add(TP, offset)
    tracker.complete(TP, 6)
    assert tracker.to_commit() == {}
    tracker.complete(TP, 5)
    assert tracker.to_commit() == {TP: 7}
    tracker.mark_committed({TP: 7})
    assert tracker.to_commit() == {}
    tracker.forget([TP])
    tracker.complete(TP, 7)  # a late completion for a revoked partition is ignored
    assert tracker.to_commit() == {} and tracker.in_flight() == 0
