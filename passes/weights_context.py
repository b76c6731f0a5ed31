"""How passes reach the weights of the module they rewrite.

xDSL passes see only `(ctx, module)`. graphc keeps weight blobs outside the IR, so the driver (or
`graphc opt --weights`) binds the current `WeightStore` around a pipeline run with `bound_weights`,
and passes that read or create weights call `current_weights()`.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from graphc.dialects.resources import WeightStore

_CURRENT: contextvars.ContextVar[WeightStore | None] = contextvars.ContextVar("graphc_weights", default=None)


@contextlib.contextmanager
def bound_weights(weights: WeightStore) -> Iterator[WeightStore]:
    token = _CURRENT.set(weights)
    try:
        yield weights
    finally:
        _CURRENT.reset(token)


def current_weights() -> WeightStore:
    weights = _CURRENT.get()
    if weights is None:  # no model weights bound: inline constants only (e.g. hand-written IR)
        weights = WeightStore()
        _CURRENT.set(weights)
    return weights
