"""fuse-producers: duplicates cheap producers into each consumer that can recompute them.

Takes: `graph` dialect, possibly with `fusion.region`s (typically after fuse-epilogues and
fuse-reductions, before fuse-elementwise). Leaves: every cheap plain producer — data movement
(`broadcast_to`, `transpose`, `slice`, `pad`, … of a tensor of at most `small_elements` elements, or
a `reshape` of any size, which is free) — copied into each consumer region that can evaluate it (a view feeding a matmul/conv root
becomes an operand view of its prologue; anything else an elemental op), and into a private copy for
each plain elemental consumer, so that `fuse-elementwise` can fuse each copy with its own consumer.
Reading the small input instead of the materialised big one saves its bytes in every consumer; the
producer's own kernel disappears when no consumer is left. The cost model weighs that against the
recomputation (`small_elements` bounds what counts as small). Inline constants are always copied
into regions when they are materialised, so they need no help here.
MLIR/XLA equivalent: XLA's producer-consumer fusion with duplication of cheap producers.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.ir import Operation

from graphc.dialects import fusion as f
from graphc.dialects import graph as g
from graphc.passes import fusion_cost_model as cm
from graphc.passes.fuse_common import FusionPass, FusionState, Group


@dataclass(frozen=True)
class FuseProducersPass(FusionPass):
    name = "fuse-producers"

    def fuse(self, state: FusionState) -> None:
        for producer in reversed(state.plain_ops()):
            if producer.parent is not None and self._cheap(producer):
                self._duplicate(state, producer)

    def _cheap(self, op: Operation) -> bool:
        """Data movement of a small tensor (a reshape of any size: it is free). Arithmetic is never
        duplicated: copying it into every consumer can recompute whole chains (an LSTM's cell state
        would be recomputed from the first step in every later one)."""
        if isinstance(op, g.ReshapeOp):
            return True
        return isinstance(op, f.VIEW_OPS) and sum(cm.numel(v) for v in op.operands) <= self.small_elements

    def _duplicate(self, state: FusionState, producer: Operation) -> None:
        consumers = state.users(producer)
        if not consumers or (len(consumers) == 1 and not isinstance(consumers[0], Group)):
            return  # one plain consumer: ordinary fusion will take it
        scored = [(self._gain(state, producer, consumer), consumer) for consumer in consumers]
        legal = [(gain, consumer) for gain, consumer in scored if gain is not None]
        total = sum(gain for gain, _ in legal) + state.cost(producer)
        if len(legal) == len(scored) and (total > 0 or total == 0 and cm.is_free(producer)):
            chosen = [consumer for _, consumer in legal]  # every consumer gets a copy: the producer goes
        else:
            chosen = [consumer for gain, consumer in legal if gain > 0]
        for consumer in chosen:
            self._clone_into(state, producer, consumer)
        state.erase_if_dead(producer)

    def _gain(self, state: FusionState, producer: Operation, consumer) -> float | None:
        """Cost saved in `consumer` by reading the producer's inputs instead of its result and
        recomputing it there; None when the consumer's template cannot hold a copy."""
        if isinstance(consumer, Group):
            kind = consumer.kind
            if kind == "opaque":
                return None
        elif isinstance(consumer, f.ELEMENTAL_OPS):
            kind = "loop"
        else:
            return None
        before = state.cost(consumer, kind)
        copy = self._clone_into(state, producer, consumer)
        try:
            ops = state.ops_of(consumer) if isinstance(consumer, Group) else [copy, consumer]
            if not state.fits(ops, kind):
                return None
            return before - cm.group_cost(ops, kind, state.model).total(state.model)
        finally:
            self._undo(state, producer, copy, consumer)

    def _clone_into(self, state: FusionState, producer: Operation, consumer) -> Operation:
        members = set(state.ops_of(consumer))
        uses = [u for r in producer.results for u in r.uses if u.operation in members]
        return state.clone_for(producer, uses, consumer if isinstance(consumer, Group) else None)

    def _undo(self, state: FusionState, producer: Operation, copy: Operation, consumer) -> None:
        for old, new in zip(copy.results, producer.results):
            old.replace_all_uses_with(new)
        if isinstance(consumer, Group):
            consumer.ops.discard(copy)
        state.group_of.pop(copy, None)
        state.block.erase_op(copy)
        state.renumber()
