"""A short soak: random kill -9, broker restarts and link drops lose nothing committed."""

from __future__ import annotations

from gateway import allocator
from gateway.soak import run_soak


async def test_random_faults_lose_no_committed_record() -> None:
    result = await run_soak(beds=1, seconds=20, seed=7, mean_fault_interval_s=4.0)
    assert sum(result.faults.values()) >= 2  # faults did happen
    assert result.committed_records > 200  # data flowed between the faults
    assert result.received_records == result.committed_records
    assert result.lost == 0
    # started as the service unit starts it (.ci/setup installs jemalloc)
    assert result.allocator == ("jemalloc" if allocator.jemalloc_installed() else "glibc")
