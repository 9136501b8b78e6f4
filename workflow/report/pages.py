"""Generated parts of the docs pages: a table a benchmark script writes stands between two marker
lines of its page, and a rerun replaces what lies between them."""


def replace_between(text: str, block: str, *, start: str, end: str) -> str:
    """``text`` with what stands between the ``start`` marker line and the ``end`` marker
    replaced by ``block``.

    Raises:
        ValueError: the markers are missing or out of order.
    """
    head, found, rest = text.partition(start + "\n")
    _, found_end, tail = rest.partition(end)
    if not found or not found_end:
        raise ValueError(f"the page has no {start!r} ... {end!r} markers")
    return head + start + "\n" + block + found_end + tail
