"""The capacity model (bench/capacity.py): a calculation over the cost table that
tests/perf/test_request_cost.py checks against the code. Fast: nothing is called."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import capacity
from bench.request_costs import COSTS


def _result(level: float, layout: capacity.Layout) -> capacity.Result:
    need = capacity.MIX_1X["generator event"] * level * 60
    return capacity.model(level, layout, bedrock_per_minute=need)


def _crossed(result: capacity.Result, *kinds: str) -> list[str]:
    return [c.what for c in result.crossed if c.kind in kinds]


def test_the_cost_table_is_consistent_with_itself() -> None:
    for name, cost in COSTS.items():
        reads = cost.calls.get("dynamodb.GetItem", 0)
        queries = cost.calls.get("dynamodb.Query", 0)
        writes = sum(cost.calls.get(op, 0) for op in ("dynamodb.UpdateItem", "dynamodb.PutItem"))
        assert cost.rru >= reads + 0.5 * queries, name
        assert cost.wru >= writes + 2 * sum(cost.transaction_items), name
        assert cost.index_wru_total <= cost.wru, name
        assert len(cost.transaction_items) == cost.calls.get("dynamodb.TransactWriteItems", 0), name
    assert set(capacity.MIX_1X) <= set(COSTS)


def test_partition_loads_follow_from_the_mix_and_the_costs() -> None:
    before, after = _result(1, capacity.BEFORE), _result(1, capacity.AFTER)
    gsi4 = sum(rate * COSTS[name].index_wru.get("gsi4", 0) for name, rate in capacity.MIX_1X.items())
    assert before.partitions["gsi4 IMAGES"]["wru"] == pytest.approx(gsi4)
    sharded = after.partitions["gsi4 IMAGES#{0..15}"]
    assert sharded["wru"] == pytest.approx(gsi4 / 16 * capacity.SHARD_SKEW)
    assert sharded["partitions"] == 16
    # A merged admin page queries every shard: the reads do not shrink with the shards.
    assert sharded["rru"] == pytest.approx(before.partitions["gsi4 IMAGES"]["rru"])


def test_before_the_single_partitions_throttle_writes_between_100x_and_1000x() -> None:
    assert not _crossed(_result(100, capacity.BEFORE), "hard")
    hard = _crossed(_result(1000, capacity.BEFORE), "hard")
    assert any("gsi4 IMAGES" in what for what in hard)
    assert any("STATUS#PENDING" in what for what in hard)
    # At 10x the polled route already exceeds the template's old per-route throttle.
    assert any("GET /images/{id}" in what for what in _crossed(_result(10, capacity.BEFORE), "setting"))


@pytest.mark.parametrize("level", [1, 10, 100])
def test_after_nothing_is_crossed_up_to_100x(level: float) -> None:
    assert _result(level, capacity.AFTER).crossed == []


def test_after_at_1000x_only_quotas_and_the_named_generator_limit_remain() -> None:
    result = _result(1000, capacity.AFTER)
    assert not any("IMAGES" in what or "STATUS#" in what for what in _crossed(result, "hard", "adaptive"))
    assert not [c for c in result.crossed if c.kind == "setting" and c.what.startswith("API ")]
    quotas = {c.what.split(":")[0] for c in result.crossed if c.kind == "quota"}
    assert quotas == {
        "DynamoDB table WRU/s",
        "DynamoDB table RRU/s",
        "Lambda concurrency, account",
        "Lambda reserved concurrency + 100 unreserved",
        "API requests/s, account",
    }
    # 6,200 generations in flight would need 6,200 executions, more than one event source mapping
    # runs: batches of 10 in parallel make it 620.
    assert not _crossed(result, "hard", "setting")
    assert result.parameters["GeneratorBatchSize"] == 10
    assert result.concurrency["generator"] == pytest.approx(620)
    assert result.queue_depth <= 1000 * 6.2  # in flight only: no backlog


def test_with_a_low_bedrock_quota_the_queue_holds_the_backlog(tmp_path: Path) -> None:
    result = capacity.model(10, capacity.AFTER, bedrock_per_minute=100)
    assert result.parameters["GeneratorMaxConcurrency"] == 11  # 100 a minute x 6.2 s
    assert result.parameters["GeneratorBatchSize"] == 1
    assert result.queue_depth > 1000
    assert "the Bedrock quota" in [c.lift for c in result.crossed]
    out = tmp_path / "capacity.json"
    assert capacity.main(["--levels", "1", "1000", "--json", str(out)]) == 0
    assert {r["level"] for r in json.loads(out.read_text())} == {1, 1000}
