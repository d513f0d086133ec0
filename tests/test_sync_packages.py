from agent.secr.sync import MAX_REQUEST_BYTES, package_prefix, split_packages


def test_splits_at_100_documents() -> None:
    packages = split_packages(list(range(250)), [1000] * 250)
    assert [len(p) for p in packages] == [100, 100, 50]


def test_splits_at_200_kb() -> None:
    sizes = [30_000] * 10
    packages = split_packages(list(range(10)), sizes)
    assert [len(p) for p in packages] == [6, 4]
    for package in packages:
        assert sum(sizes[i] + 4 for i in package) <= MAX_REQUEST_BYTES


def test_an_oversized_document_goes_alone() -> None:
    assert package_prefix([300_000, 10]) == 1
