from hypothesis import given
from hypothesis import strategies as st

from agentflux.runtime.offsets import MAX_METADATA, OffsetTracker, PartitionOffsets, decode_done, encode_done
from agentflux.transport.base import Position, TopicPartition

TP = TopicPartition("demo.thing.v1", 0)


@given(st.permutations(list(range(30))), st.integers(min_value=0, max_value=30))
def test_commit_position_is_the_lowest_unfinished_offset_and_metadata_names_the_rest(
    order: list[int], finished: int
) -> None:
    offsets = PartitionOffsets()
    for offset in range(30):
        offsets.add(offset * 2)  # gaps, as compaction and transaction markers leave
    done = {o * 2 for o in order[:finished]}
    for offset in done:
        offsets.complete(offset)
    lowest_open = min((o * 2 for o in range(30) if o * 2 not in done), default=None)
    position = offsets.position()
    assert position is not None
    if lowest_open is None:  # everything finished: resume after the last record
        assert position == Position(59, "")
        assert offsets.in_flight == 0
    else:  # resume at the lowest open record; everything finished above it travels in the metadata
        assert position.offset == (lowest_open - 1 if lowest_open else 0)
        assert decode_done(position.metadata) == {o for o in done if o > lowest_open}
        assert offsets.in_flight == 30 - lowest_open // 2


@given(st.integers(min_value=0, max_value=2**40), st.sets(st.integers(min_value=0, max_value=5000)))
def test_metadata_round_trips_and_stays_under_the_broker_limit(position: int, deltas: set[int]) -> None:
    done = {position + d for d in deltas}
    text = encode_done(position, done | {position - 1} if position else done)  # below the position: not encoded
    assert len(text) <= MAX_METADATA
    assert decode_done(text) == done


def test_metadata_too_spread_keeps_the_lowest_offsets() -> None:
    import random

    rng = random.Random(7)
    done = set(rng.sample(range(10, 2_000_000), 20_000))
    kept = decode_done(encode_done(10, done))
    assert kept and kept <= done
    assert max(kept) < min(done - kept)  # what is left out is only the highest part


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_decoding_garbage_metadata_is_empty_never_an_error(garbage: bytes | str) -> None:
    text = garbage.decode("latin-1") if isinstance(garbage, bytes) else garbage
    assert decode_done("af1:" + text) is not None
    assert decode_done(text) is not None


def test_restored_offsets_are_skipped_and_still_reported_until_passed() -> None:
    tracker = OffsetTracker()
    assert tracker.restore(TP, Position(10, encode_done(10, {12, 14}))) == 2
    assert tracker.add(TP, 10) is False  # the record that was in flight runs again
    assert tracker.to_commit()[TP] == Position(10, encode_done(10, {12, 14}))
    assert tracker.add(TP, 11) is False
    assert tracker.add(TP, 12) is True  # finished before the restart: skipped
    tracker.complete(TP, 10)
    tracker.complete(TP, 11)
    assert tracker.to_commit() == {TP: Position(13, encode_done(13, {14}))}


def test_tracker_reports_only_changed_positions_and_forgets_revoked() -> None:
    tracker = OffsetTracker()
    for offset in (5, 6, 7):
        tracker.add(TP, offset)
    first = tracker.to_commit()
    assert first == {TP: Position(5, "")}
    tracker.mark_committed(first)
    assert tracker.to_commit() == {}
    tracker.complete(TP, 6)
    assert tracker.to_commit() == {TP: Position(5, encode_done(5, {6}))}  # finished above the position
    tracker.complete(TP, 5)
    assert tracker.to_commit() == {TP: Position(7, "")}
    tracker.mark_committed({TP: Position(7, "")})
    assert tracker.to_commit() == {}
    tracker.forget([TP])
    tracker.complete(TP, 7)  # a late completion for a revoked partition is ignored
    assert tracker.to_commit() == {} and tracker.in_flight() == 0


def test_what_finished_is_kept_when_a_partition_comes_back_uncommitted() -> None:
    """A lost or fenced member could not commit: when it gets the partition back, it skips what it finished."""
    tracker = OffsetTracker()
    tracker.restore(TP, Position(0, ""))
    for offset in range(6):
        tracker.add(TP, offset)
    for offset in (0, 1, 2, 4):
        tracker.complete(TP, offset)
    tracker.forget([TP])  # released without a commit that went through
    assert tracker.restore(TP, Position(0, "")) == 4  # the broker still says 0
    assert [tracker.add(TP, o) for o in range(6)] == [True, True, True, False, True, False]
    tracker.forget([TP])
    tracker.restore(TP, Position(5, ""))  # someone else committed further meanwhile: the broker wins
    assert tracker.add(TP, 5) is False
