"""td.checkpoint: a block's intermediates are recomputed in the backward pass, not kept."""

import numpy as np
import pytest

import tracediff as td
from tracediff.bench import _deep_chain, _deep_chain_hand, peak_memory
from tracediff.testing import check_grads

RNG = np.random.default_rng(7)


def chain(x, steps=3):
    for _ in range(steps):
        x = np.sin(x) * 1.01 + 0.1 * x
    return x


def deep(x, blocks=4, checkpointed=True):
    block = td.checkpoint(chain) if checkpointed else chain
    for _ in range(blocks):
        x = block(x)
    return np.sum(x ** 2)


def test_checkpointed_gradient_is_the_plain_gradient():
    x = RNG.standard_normal(6)
    plain = td.grad(lambda x: deep(x, checkpointed=False))(x)
    np.testing.assert_array_equal(td.grad(deep)(x), plain)  # the same operations, recomputed
    check_grads(deep, x)


def test_the_backward_pass_reads_no_intermediate_of_a_block():
    x = RNG.standard_normal(5)
    graph = td.grad(lambda x: np.sum(td.checkpoint(chain)(x) ** 2)).ir(x)
    forward = [n for n in graph.nodes if n.backward_of is None]
    backward = [n for n in graph.nodes if n.backward_of is not None]
    read_back = {v.id for n in backward for v in n.inputs if hasattr(v, "id")}
    block_values = {n.out.id for n in forward if n.out is not None} - {graph.inputs[0].id}
    # the block's output is the only forward value kept for the backward pass (x ** 2 reads it)
    kept = block_values & read_back
    assert len(kept) <= 1, [str(n) for n in forward if n.out.id in kept]
    # and the block runs again there, as far as the rules need: sin's rule reads its input, so
    # the inputs of steps 2 and 3 are recomputed (step 1's is the block's input, kept)
    assert sum(n.primitive.name == "sin" for n in backward) == 2
    assert sum(n.primitive.name == "sin" for n in forward) == 3


def test_checkpoint_lowers_peak_memory_on_a_deep_chain():
    x = RNG.standard_normal(200_000)

    def peak(fun):
        grad = td.grad(fun)
        return peak_memory(lambda: grad(x))  # after a first call: the generated code's own arrays

    plain = peak(lambda x: deep(x, blocks=6, checkpointed=False))
    checkpointed = peak(lambda x: deep(x, blocks=6))
    # plain keeps 3 values per step of 18 (1.6 MB each); checkpointed keeps the 6 block boundaries
    # and one block's recomputed values at a time
    assert checkpointed < 0.6 * plain, (checkpointed, plain)


def test_a_deep_chain_needs_no_more_memory_than_by_hand_and_half_with_checkpoints():
    # bench's deep chain: x = sin(x) * 1.01 + 0.1 * x, 16 steps, checkpoints every 4. Each step's
    # gradient is one product (the common factor g taken out of g*0.1 + g*1.01*cos(x)), and the
    # products of one block are computed before the next block is recomputed.
    x = RNG.standard_normal(200_000)
    plain, checkpointed = td.grad(_deep_chain(16, 4, False)), td.grad(_deep_chain(16, 4, True))
    np.testing.assert_allclose(plain(x), _deep_chain_hand(x, 16), rtol=1e-13)
    np.testing.assert_allclose(checkpointed(x), _deep_chain_hand(x, 16), rtol=1e-13)
    by_hand = peak_memory(lambda: _deep_chain_hand(x, 16))  # each measured after a first call
    assert peak_memory(lambda: plain(x)) <= by_hand + 4096  # (the call's own Python objects)
    assert peak_memory(lambda: checkpointed(x)) < 0.5 * by_hand


def test_nested_checkpoints_and_kwargs():
    inner = td.checkpoint(chain)

    @td.checkpoint
    def outer(x, scale=1.0):
        return inner(x * scale, steps=2) + inner(x, steps=1)

    x = RNG.standard_normal(4)
    f = lambda x: np.sum(outer(x, scale=0.5) ** 2)  # noqa: E731
    check_grads(f, x)
    plain = lambda x: np.sum((chain(x * 0.5, steps=2) + chain(x, steps=1)) ** 2)  # noqa: E731
    np.testing.assert_allclose(td.grad(f)(x), td.grad(plain)(x), rtol=1e-14)


def test_second_order_through_a_checkpoint():
    x = RNG.standard_normal(3)
    f = lambda x: deep(x, blocks=2)  # noqa: E731
    check_grads(f, x, order=2)
    np.testing.assert_allclose(td.hessian(f)(x), td.hessian(lambda x: deep(x, blocks=2, checkpointed=False))(x),
                               rtol=1e-12)


def test_jacobian_through_a_checkpoint():
    x = RNG.standard_normal(4)
    J = td.jacobian(lambda x: td.checkpoint(chain)(x[::-1]) * x)(x)
    np.testing.assert_allclose(J, td.jacobian(lambda x: chain(x[::-1]) * x)(x), rtol=1e-13)


def test_random_draws_in_a_block_are_not_drawn_again():
    # The recomputation must see the noise the forward pass drew, or the gradient is wrong.
    @td.checkpoint
    def noisy(x):
        return np.tanh(x + np.random.normal(size=x.shape))

    x = RNG.standard_normal(5)
    np.random.seed(3)
    g = td.grad(lambda x: np.sum(noisy(x) ** 2))(x)
    np.random.seed(3)
    noise = np.random.normal(size=5)
    t = np.tanh(x + noise)
    np.testing.assert_allclose(g, 2 * t * (1 - t ** 2), rtol=1e-13)


def test_no_grad_inside_a_block_stays_a_constant():
    @td.checkpoint
    def block(x):
        with td.no_grad():
            scale = np.sum(x ** 2)
        return x * scale

    x = np.array([1.0, 2.0])
    # scale is a constant 5: d/dx sum(x * 5) = 5
    np.testing.assert_array_equal(td.grad(lambda x: np.sum(block(x)))(x), [5.0, 5.0])
    np.testing.assert_array_equal(td.hessian(lambda x: np.sum(block(x) * x))(x), 10 * np.eye(2))


def test_outside_a_trace_checkpoint_is_the_function():
    x = RNG.standard_normal(3)
    assert np.array_equal(td.checkpoint(chain)(x), chain(x))
    assert td.checkpoint(chain).__name__ == "chain"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_checkpoint_keeps_dtypes(dtype):
    x = RNG.standard_normal(4).astype(dtype)
    g = td.grad(lambda x: np.sum(td.checkpoint(chain)(x)))(x)
    assert g.dtype == dtype
    check_grads(lambda x: np.sum(td.checkpoint(chain)(x)), x)
