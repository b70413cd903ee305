"""The progress lines a long sync writes to the run's log, without a line per page."""

from support_assets.sources.progress import SyncProgress


def test_a_long_sync_logs_the_first_page_then_throttles_then_always_the_end():
    lines = []
    progress = SyncProgress(log=lines.append, log_every=3600)

    for _ in range(30):
        progress.page("customer_support_data", 100, total=3000)
    progress.finished("customer_support_data")

    assert lines == [
        "customer_support_data: 1 page, 100 of 3000 records fetched so far",
        "customer_support_data: all pages fetched (30 pages, 3000 of 3000 records)",
    ]
    assert (progress.pages, progress.records) == (30, 3000)


def test_without_a_total_from_the_api_the_lines_count_what_arrived():
    lines = []
    progress = SyncProgress(log=lines.append, log_every=0)

    progress.page("customers", 100)
    progress.page("customers", 40)
    progress.finished("customers")

    assert lines == [
        "customers: 1 page, 100 records fetched so far",
        "customers: 2 pages, 140 records fetched so far",
        "customers: all pages fetched (2 pages, 140 records)",
    ]


def test_endpoints_are_counted_apart():
    progress = SyncProgress()

    progress.page("customer_support_data", 100, total=250)
    progress.page("customers", 30, total=30)

    assert progress.endpoints["customer_support_data"].records == 100
    assert progress.endpoints["customers"].total == 30
    assert progress.records == 130


def test_counts_of_one_are_singular():
    progress = SyncProgress()
    progress.page("customer_support_data", 1, 1)
    progress.finished("customer_support_data")
    assert progress.endpoints["customer_support_data"].summary() == "1 page, 1 of 1 record"
    progress = SyncProgress()
    progress.page("customer_support_data", 1)
    assert progress.endpoints["customer_support_data"].summary() == "1 page, 1 record"
