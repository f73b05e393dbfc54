"""Piano-roll frame models: the NADE is a normalized distribution over frames, the Bernoulli NLL is
the textbook formula, sampling draws from the distribution the likelihood scores, the network is
causal, and the frame batches are exact and resumable."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo.codecs import get_codec
from zoo.config import TrainConfig
from zoo.data.batcher import Augment
from zoo.families.frames.batches import eval_batches as eval_frame_batches
from zoo.families.frames.batches import train_batches as frame_batches
from zoo.families.frames.task import FrameModelTask
from zoo.nets.decoding import sample_frames
from zoo.nets.pianoroll import Config, PianorollNet, bernoulli_log_prob


def _net(head, keys, **kw):
    return PianorollNet(Config(vocab_size=keys, hidden=16, num_layers=2, head=head,
                               nade_hidden=12, **kw))


@functools.lru_cache
def _jitted(model, method, **static):
    return jax.jit(functools.partial(model.apply, method=method, **static))


def _apply(model, params, *args, method="__call__", **static):
    """``model.apply`` compiled once per (model, method, static arguments)."""
    return _jitted(model, method, **static)({"params": params}, *args)


def _params(model, keys, seed=0, noise=0.7):
    """Random parameters of the model's shapes, every one N(0, noise^2): far from the initial
    ones, so the distributions are far from uniform, and no init to compile (any parameters
    must give a normalized distribution)."""
    frames = jnp.zeros((1, 4, keys), jnp.uint8)
    shapes = jax.eval_shape(functools.partial(model.init, method="score"), jax.random.key(0),
                            frames, frames, model.initial_carry(1))["params"]
    leaves, tree = jax.tree.flatten(shapes)
    rng = np.random.default_rng(seed)
    return jax.tree.unflatten(tree, [jnp.asarray(rng.normal(0, noise, x.shape), jnp.float32)
                                     for x in leaves])


def _all_frames(keys):
    return jnp.asarray(list(itertools.product([0, 1], repeat=keys)), jnp.float32)  # (2^P, P)


def _random_frames(seed, shape, p_on=0.3):
    return (np.random.default_rng(seed).random(shape) < p_on).astype(np.uint8)


def test_nade_frame_probabilities_sum_to_one():
    P = 7
    model = _net("nade", P)
    params = _params(model, P, noise=1.0)
    inputs = jnp.asarray(_random_frames(0, (2, 3, P)))
    cond, _ = _apply(model, params, inputs, model.initial_carry(2))
    frames = _all_frames(P)                                      # every frame of 7 keys
    cond_all = jax.tree.map(lambda x: jnp.broadcast_to(
        x[:, :, None], (2, 3, len(frames), x.shape[-1])), cond)
    logp = _apply(model, params, cond_all, frames, method="log_prob")
    probs = np.exp(np.asarray(logp))                             # (B, T, 128)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    assert probs.max() > 10 / len(frames), "a distribution this flat tests little"
    # the keys are dependent: the joint is not the product of its key marginals
    on = np.asarray(frames, bool)
    marg = np.stack([probs[..., on[:, k]].sum(-1) for k in range(P)], -1)   # (B, T, P)
    product = np.prod(np.where(on[None, None], marg[:, :, None], 1 - marg[:, :, None]), -1)
    assert np.abs(product - probs).max() > 1e-3
    # the Monte Carlo key marginals (for the expected accuracy) match the enumerated ones
    estimate = _apply(model, params, cond, jax.random.key(3), method="marginals",
                      num_samples=8000)
    np.testing.assert_allclose(estimate, marg, atol=0.03)


def test_nade_log_prob_equals_the_formula_in_numpy():
    """log p(v) = sum_k log Bernoulli(v_k | sigmoid(b_vis_k + sigmoid(a_k) . w_dec_k)) with
    a_k = b_hid + sum_{j<k} v_j w_enc_j, written out key by key in float64."""
    P = 88
    model = _net("nade", P)
    params = _params(model, P, noise=0.2)
    x = _random_frames(1, (2, 5, P), p_on=0.05)
    logp = _apply(model, params, jnp.asarray(x), jnp.asarray(x), model.initial_carry(2),
                  method="score")[0]
    cond, _ = _apply(model, params, jnp.asarray(x), model.initial_carry(2))
    head = jax.tree.map(lambda a: np.asarray(a, np.float64), params["head"])
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))
    expected = np.zeros((2, 5))
    for b, t in itertools.product(range(2), range(5)):
        a = np.asarray(cond["b_hid"][b, t], np.float64)
        for k in range(P):
            p = sig(float(cond["b_vis"][b, t, k]) + sig(a) @ head["w_dec"][k])
            expected[b, t] += np.log(p if x[b, t, k] else 1.0 - p)
            a = a + x[b, t, k] * head["w_enc"][k]
    np.testing.assert_allclose(np.asarray(logp), expected, rtol=1e-5)


def test_bernoulli_nll_and_expected_accuracy_equal_numpy():
    P = 88
    model = _net("bernoulli", P)
    task = FrameModelTask(model, get_codec("pianoroll"), TrainConfig())
    params = _params(model, P, noise=0.3)
    targets = _random_frames(2, (4, 10, P), p_on=0.05)
    inputs = np.concatenate([np.zeros((4, 1, P), np.uint8), targets[:, :-1]], 1)
    mask = np.ones((4, 10), np.float32)
    mask[1, 6:] = 0      # a short piece
    mask[3] = 0          # a padding row
    batch = {"inputs": inputs, "targets": targets, "mask": mask}
    loss, sums = jax.jit(functools.partial(task.loss, train=False))(params, batch, jax.random.key(0))
    cond, _ = _apply(model, params, inputs, model.initial_carry(4))
    p = 1.0 / (1.0 + np.exp(-np.asarray(cond["logits"], np.float64)))
    v = targets.astype(np.float64)
    nll_bt = -np.sum(v * np.log(p) + (1 - v) * np.log(1 - p), axis=-1)
    expected_nll = np.sum(nll_bt * mask) / mask.sum()
    np.testing.assert_allclose(float(loss), expected_nll, rtol=1e-5)
    w = mask[..., None]
    tp, fp, fn = np.sum(w * v * p), np.sum(w * (1 - v) * p), np.sum(w * v * (1 - p))
    m = task.summarize(jax.device_get(sums))
    assert m["frames"] == 26
    np.testing.assert_allclose(m["nll"], expected_nll, rtol=1e-5)
    np.testing.assert_allclose(m["accuracy"], tp / (tp + fp + fn), rtol=1e-5)


@pytest.mark.parametrize("head", ["bernoulli", "nade"])
def test_whole_piece_evaluation_is_frame_weighted_and_scores_the_first_frame(head):
    P = 88
    model = _net(head, P)
    task = FrameModelTask(model, get_codec("pianoroll"), TrainConfig())
    params = _params(model, P, noise=0.2)
    rng = np.random.default_rng(3)
    pieces = [_random_frames(i, (int(n), P), p_on=0.05) for i, n in
              enumerate(rng.choice([9, 14], size=6))]
    loss = jax.jit(functools.partial(task.loss, train=False))
    sums = None
    for batch in eval_frame_batches(pieces, batch_size=4):
        _, s = loss(params, batch, jax.random.key(0))
        sums = s if sums is None else jax.tree.map(jnp.add, sums, s)
    got = task.summarize(jax.device_get(sums))
    total = 0.0
    for piece in pieces:        # one piece at a time, unpadded: inputs [silence] + piece[:-1]
        inputs = np.concatenate([np.zeros((1, P), np.uint8), piece[:-1]])[None]
        logp = _apply(model, params, inputs, piece[None], model.initial_carry(1),
                      method="score")[0]
        total -= float(jnp.sum(logp))
    assert got["frames"] == sum(len(p) for p in pieces)
    np.testing.assert_allclose(got["nll"], total / got["frames"], rtol=1e-5)


@pytest.mark.parametrize("head", ["bernoulli", "nade"])
def test_jitted_sampler_draws_the_joint_the_likelihood_scores(head):
    """Two frames of 3 keys from the jitted sampler: the empirical frequency of each of the 64
    two-frame sequences matches exp(log p(frame 0) + log p(frame 1 | frame 0))."""
    P, N = 3, 40_000
    model = _net(head, P)
    params = _params(model, P, noise=1.0)
    out = sample_frames(model, params, jnp.zeros((N, 0, P)), jax.random.key(7), num_steps=2)
    out = np.asarray(out, np.int64)                                 # (N, 2, P)
    code = (out[:, 0] @ (1 << np.arange(P))[::-1]) * 8 + out[:, 1] @ (1 << np.arange(P))[::-1]
    empirical = np.bincount(code, minlength=64) / N
    frames = _all_frames(P)
    pairs = jnp.asarray([[f0, f1] for f0 in frames for f1 in frames])  # (64, 2, P), same order
    inputs = jnp.concatenate([jnp.zeros((64, 1, P)), pairs[:, :1]], 1)
    logp = _apply(model, params, inputs, pairs, model.initial_carry(64), method="score")[0]
    model_p = np.exp(np.asarray(logp).sum(-1))
    np.testing.assert_allclose(model_p.sum(), 1.0, rtol=1e-5)
    assert model_p.max() > 3 / 64
    assert np.abs(empirical - model_p).max() < 0.01, np.abs(empirical - model_p).max()


def test_nade_sampler_log_prob_equals_the_model_log_prob():
    P = 88
    model = _net("nade", P)
    params = _params(model, P, noise=0.2)
    x = jnp.asarray(_random_frames(4, (2, 6, P), p_on=0.05))
    cond, _ = _apply(model, params, x, model.initial_carry(2))
    v, logits = _apply(model, params, cond, jax.random.key(1), method="sample")
    assert set(np.unique(np.asarray(v))) <= {0.0, 1.0}
    np.testing.assert_allclose(
        bernoulli_log_prob(logits, v),
        _apply(model, params, cond, v, method="log_prob"), rtol=1e-5, atol=1e-4)


def test_causal_and_one_frame_at_a_time_equals_the_full_pass():
    P = 20
    model = _net("nade", P)
    params = _params(model, P, noise=0.3)
    x = jnp.asarray(_random_frames(5, (2, 8, P)), jnp.float32)
    full, _ = _apply(model, params, x, model.initial_carry(2))
    changed = x.at[:, 5].set(1.0 - x[:, 5])
    other, _ = _apply(model, params, changed, model.initial_carry(2))
    for k in full:
        np.testing.assert_array_equal(full[k][:, :5], other[k][:, :5])
        assert not np.allclose(full[k][:, 5], other[k][:, 5])
    carry, steps = model.initial_carry(2), []
    for t in range(8):
        cond, carry = _apply(model, params, x[:, t : t + 1], carry)
        steps.append(cond)
    for k in full:
        np.testing.assert_allclose(jnp.concatenate([s[k] for s in steps], 1), full[k],
                                   rtol=1e-5, atol=1e-6)


def _pieces(n=9, keys=88):
    rng = np.random.default_rng(0)
    pieces = []
    for i in range(n):
        f = np.zeros((int(rng.integers(5, 30)), keys), np.uint8)
        f[:, 40:50] = _random_frames(i, (len(f), 10), p_on=0.4)   # keys 61..70: room to move
        f[0, 45] = 1
        pieces.append(f)
    return pieces


def test_train_batches_are_a_pure_function_of_seed_and_index():
    codec, pieces = get_codec("pianoroll"), _pieces()
    a = frame_batches(pieces, codec, 8, 12, seed=3)
    b = frame_batches(pieces, codec, 8, 12, seed=3)
    for k in (0, 5, 17):
        for key in ("inputs", "targets", "mask"):
            np.testing.assert_array_equal(a.batch(k)[key], b.batch(k)[key])
    resumed = next(b.iterate(5))
    np.testing.assert_array_equal(resumed["targets"], a.batch(5)["targets"])
    assert not np.array_equal(frame_batches(pieces, codec, 8, 12, seed=4).batch(0)["targets"],
                              a.batch(0)["targets"])
    halves = [frame_batches(pieces, codec, 8, 12, seed=3, process_index=i, process_count=2)
              for i in range(2)]
    np.testing.assert_array_equal(
        np.concatenate([h.batch(2)["inputs"] for h in halves]), a.batch(2)["inputs"])
    batch = a.batch(1)
    assert batch["inputs"].shape == (8, 12, 88) and batch["inputs"].dtype == np.uint8
    m = batch["mask"] > 0
    np.testing.assert_array_equal(batch["inputs"][:, 1:][m[:, :-1]],
                                  batch["targets"][:, :-1][m[:, :-1]])   # inputs lag by one
    assert not batch["targets"][~m].any()


def test_transposed_windows_are_moved_crops_of_the_pieces():
    codec, pieces = get_codec("pianoroll"), _pieces()
    batches = frame_batches(pieces, codec, 8, 10, seed=0, augment=Augment((-3, 3)))
    moved = set()
    for k in range(3):
        batch = batches.batch(k)
        for targets, mask in zip(batch["targets"], batch["mask"] > 0):
            window = targets[mask]
            found = [s for s in range(-3, 4) for p in pieces
                     if any(np.array_equal(np.roll(window, -s, -1), p[i : i + len(window)])
                            for i in range(len(p) - len(window) + 1))]
            assert found, "every window is a transposed crop of a piece"
            moved.update(found)
    assert len(moved) > 2


def test_eval_batches_hold_every_piece_whole_once():
    pieces = _pieces(11)
    batches = eval_frame_batches(pieces, batch_size=4)
    rows = [(b["inputs"][r], b["targets"][r], b["mask"][r] > 0) for b in batches for r in range(4)]
    got = sorted((t[m].tobytes() for _, t, m in rows if m.any()))
    assert got == sorted(p.tobytes() for p in pieces)
    for inputs, _, m in rows:
        assert not inputs[0].any()                                # the silent start frame
        assert m.sum() == 0 or m[: m.sum()].all()
    assert all(b["inputs"].shape[1] in (16, 32) for b in batches)
