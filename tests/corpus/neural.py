"""Neural networks: an MLP classifier, two convnets, an autoencoder, normalization layers,
attention, an RNN, an LSTM and a neural ODE."""
import numpy as np
from scipy.special import erf, expit, logsumexp

from . import Program, program


def init_layers(rng, sizes, scale=None):
    """[(W, b), ...] for consecutive layer sizes, Glorot-style scaled."""
    return [(rng.standard_normal((m, n)) * (scale or np.sqrt(1.0 / m)), np.zeros(n))
            for m, n in zip(sizes[:-1], sizes[1:])]


def mlp(params, x):
    for W, b in params[:-1]:
        x = np.tanh(x @ W + b)
    W, b = params[-1]
    return x @ W + b


@program
def make_mlp_classifier():
    rng = np.random.default_rng(0)
    n, classes, batch_size = 90, 3, 30
    labels = rng.integers(0, classes, n)
    angles = labels * 2 * np.pi / classes + rng.normal(0, 0.3, n)
    radius = 1 + rng.normal(0, 0.1, n)
    X = np.column_stack([radius * np.cos(angles), radius * np.sin(angles), rng.normal(0, 1, (n, 2))])
    Y = np.eye(classes)[labels]
    num_batches = n // batch_size
    l2 = 1e-3

    def objective(params, i):
        batch = slice((i % num_batches) * batch_size, (i % num_batches + 1) * batch_size)
        logits = mlp(params, X[batch])
        log_probs = logits - logsumexp(logits, axis=1, keepdims=True)
        penalty = sum(np.sum(W ** 2) for W, _ in params)
        return -np.mean(np.sum(log_probs * Y[batch], axis=1)) + l2 * penalty

    def hand_grad(params, i):
        batch = slice((i % num_batches) * batch_size, (i % num_batches + 1) * batch_size)
        activations = [X[batch]]
        for W, b in params[:-1]:
            activations.append(np.tanh(activations[-1] @ W + b))
        W, b = params[-1]
        logits = activations[-1] @ W + b
        probs = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
        delta = (probs - Y[batch]) / batch_size
        grads = []
        for k in range(len(params) - 1, -1, -1):
            W, _ = params[k]
            grads.append((activations[k].T @ delta + 2 * l2 * W, delta.sum(axis=0)))
            if k:
                delta = (delta @ W.T) * (1 - activations[k] ** 2)
        return grads[::-1]

    params = init_layers(np.random.default_rng(1), [4, 16, 16, classes])
    return Program(objective, params, takes_step=True, step_size=0.05, hand_grad=hand_grad)


def bar_images(rng, n, size=8):
    """Noisy images of a horizontal (label 0) or vertical (label 1) bar."""
    labels = rng.integers(0, 2, n)
    images = rng.normal(0, 0.3, (n, size, size))
    for k, label in enumerate(labels):
        where = rng.integers(1, size - 1)
        if label:
            images[k, :, where] += 1.0
        else:
            images[k, where, :] += 1.0
    return images, labels


def im2col(images, k):
    """(n, h, w) -> (n, h - k + 1, w - k + 1, k * k): every k x k patch as a row."""
    n, h, w = images.shape
    patches = [images[:, di:di + h - k + 1, dj:dj + w - k + 1] for di in range(k) for dj in range(k)]
    return np.stack(patches, axis=-1)


@program
def make_convnet_im2col():
    rng = np.random.default_rng(2)
    images, labels = bar_images(rng, 24)
    targets = np.eye(2)[labels]

    def predict(params, images):
        cols = im2col(images, 3)
        kernels = params["conv"].reshape(len(params["conv"]), -1)
        features = np.maximum(cols @ kernels.T + params["conv_b"], 0.0)
        pooled = features.mean(axis=(1, 2))
        return pooled @ params["dense"] + params["dense_b"]

    def loss(params, images, targets):
        logits = predict(params, images)
        logits = logits - logits.max(axis=1, keepdims=True)
        return -np.mean(np.sum(targets * (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))), axis=1))

    r = np.random.default_rng(3)
    params = {"conv": r.normal(0, 0.5, (4, 3, 3)), "conv_b": np.full(4, 0.1),
              "dense": r.normal(0, 0.5, (4, 2)), "dense_b": np.zeros(2)}
    return Program(loss, params, (images, targets), step_size=0.05)


@program
def make_convnet_einsum():
    rng = np.random.default_rng(4)
    n, channels, size, k = 12, 2, 7, 3
    images = rng.normal(size=(n, channels, size, size))
    images[:, 1] = np.roll(images[:, 0], 1, axis=-1) + 0.1 * images[:, 1]
    labels = (images[:, 0, 2:5, 2:5].mean(axis=(1, 2)) > 0).astype(float)

    def conv2d(x, W, b):
        out_size = x.shape[-1] - W.shape[-1] + 1
        out = b[None, :, None, None]
        for di in range(W.shape[2]):
            for dj in range(W.shape[3]):
                window = x[:, :, di:di + out_size, dj:dj + out_size]
                out = out + np.einsum("nchw,fc->nfhw", window, W[:, :, di, dj])
        return out

    def objective(params):
        h = np.tanh(conv2d(images, params["W"], params["b"]))  # (n, 3, 5, 5)
        h = h[:, :, :4, :4].reshape(n, 3, 2, 2, 2, 2).max(axis=(3, 5))  # 2x2 max pooling
        logits = np.einsum("nfhw,fhw->n", h, params["V"]) + params["c"]
        return np.mean(np.logaddexp(0.0, logits) - labels * logits)

    r = np.random.default_rng(5)
    params = {"W": r.normal(0, 0.3, (3, channels, k, k)), "b": np.zeros(3),
              "V": r.normal(0, 0.3, (3, 2, 2)), "c": np.zeros(1)}
    return Program(objective, params, step_size=0.05)


@program
def make_autoencoder():
    rng = np.random.default_rng(6)
    latent = rng.normal(size=(64, 2))
    mixing = rng.normal(size=(2, 10))
    data = np.tanh(latent @ mixing) + 0.05 * rng.normal(size=(64, 10))

    def encode(params, x):
        return mlp(params["encoder"], x)

    def decode(params, z):
        return mlp(params["decoder"], z)

    def reconstruction_loss(params, x, weight_decay=1e-4):
        x_hat = decode(params, encode(params, x))
        decay = sum(np.sum(W ** 2) for layers in params.values() for W, _ in layers)
        return np.mean(np.sum((x - x_hat) ** 2, axis=1)) + weight_decay * decay

    r = np.random.default_rng(7)
    params = {"encoder": init_layers(r, [10, 6, 2]), "decoder": init_layers(r, [2, 6, 10])}
    return Program(reconstruction_loss, params, (data,), step_size=0.02)


@program
def make_dropout_mlp():
    # Dropout masks drawn from NumPy's global random state, seeded once as scripts do.
    np.random.seed(0)
    X = np.random.uniform(-2, 2, (64, 3))
    y = np.sin(X[:, 0]) * X[:, 1] + 0.1 * np.random.randn(64)
    keep = 0.8

    def loss(params, X, y, train=True):
        h = np.tanh(X @ params["W1"] + params["b1"])
        if train:
            h = h * (np.random.rand(*h.shape) < keep) / keep  # inverted dropout
        prediction = h @ params["W2"] + params["b2"]
        return np.mean((prediction[:, 0] - y) ** 2)

    r = np.random.RandomState(1)
    params = {"W1": r.randn(3, 32) * 0.5, "b1": np.zeros(32), "W2": r.randn(32, 1) * 0.2, "b2": np.zeros(1)}
    return Program(loss, params, (X, y), step_size=0.02, random_state=np.random,
                   evaluate=lambda p: loss(p, X, y, train=False))


def batch_norm(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def layer_norm(x, gain, bias, eps=1e-5):
    mu = np.mean(x, axis=-1, keepdims=True)
    sigma = np.std(x, axis=-1, keepdims=True)
    return gain * (x - mu) / (sigma + eps) + bias


@program
def make_batchnorm_mlp():
    rng = np.random.default_rng(8)
    X = rng.normal(3.0, 2.0, size=(80, 5))  # badly scaled inputs: what batch norm is for
    y = np.sin(X[:, 0]) + 0.3 * X[:, 1] * X[:, 2] / 4 + 0.1 * rng.normal(size=80)

    def forward(params, X):
        h = X @ params["W1"]
        h = batch_norm(h, params["gamma"], params["beta"])
        h = np.maximum(h, 0.0)
        return (h @ params["W2"]).ravel() + params["b2"]

    def loss(params, X, y):
        return np.mean((forward(params, X) - y) ** 2)

    r = np.random.default_rng(9)
    params = {"W1": r.normal(0, 0.5, (5, 12)), "gamma": np.ones(12), "beta": np.zeros(12),
              "W2": r.normal(0, 0.3, (12, 1)), "b2": 0.0}
    return Program(loss, params, (X, y), step_size=0.05)


@program
def make_layernorm_resnet():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(60, 6))
    labels = (np.sum(X[:, :3] ** 2, axis=1) > 3).astype(float)

    def gelu(x):
        return 0.5 * x * (1 + erf(x / np.sqrt(2)))

    def objective(params, i):
        h = X @ params["embed"]
        for block in params["blocks"]:
            h = h + gelu(layer_norm(h, block["gain"], block["bias"]) @ block["W1"]) @ block["W2"]
        logits = layer_norm(h, params["final_gain"], 0.0) @ params["head"]
        return np.mean(np.logaddexp(0, logits) - labels * logits)

    r = np.random.default_rng(11)
    width = 8
    params = {
        "embed": r.normal(0, 0.4, (6, width)),
        "blocks": [{"gain": np.ones(width), "bias": np.zeros(width),
                    "W1": r.normal(0, 0.3, (width, 16)), "W2": r.normal(0, 0.3, (16, width))}
                   for _ in range(2)],
        "final_gain": np.ones(width),
        "head": r.normal(0, 0.3, width),
    }
    return Program(objective, params, takes_step=True, step_size=0.02)


@program
def make_attention():
    rng = np.random.default_rng(12)
    batch, length, d_model = 8, 6, 4
    x = rng.normal(size=(batch, length, d_model))
    # The target at each position is the running mean of the first feature so far: a causal task.
    target = np.cumsum(x[..., 0], axis=1) / np.arange(1, length + 1)
    mask = np.triu(np.ones((length, length), dtype=bool), k=1)

    def self_attention(params, x):
        q, k, v = x @ params["Wq"], x @ params["Wk"], x @ params["Wv"]
        scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
        scores = np.where(mask, -1e9, scores)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights = weights / weights.sum(axis=-1, keepdims=True)
        return weights @ v

    def loss(params, x, target):
        out = self_attention(params, x) @ params["Wo"]
        return np.mean((out[..., 0] - target) ** 2)

    r = np.random.default_rng(13)
    params = {name: r.normal(0, 0.5, (d_model, d_model)) for name in ("Wq", "Wk", "Wv")}
    params["Wo"] = r.normal(0, 0.5, (d_model, 1))
    return Program(loss, params, (x, target), step_size=0.05)


@program
def make_rnn():
    rng = np.random.default_rng(14)
    vocab, batch, steps, hidden = 5, 6, 10, 12
    transition = rng.dirichlet(np.ones(vocab) * 0.3, size=vocab)  # a Markov chain over characters
    tokens = np.zeros((batch, steps + 1), dtype=int)
    tokens[:, 0] = rng.integers(0, vocab, batch)
    for t in range(steps):
        for b in range(batch):
            tokens[b, t + 1] = rng.choice(vocab, p=transition[tokens[b, t]])
    one_hot = np.eye(vocab)[tokens]  # (batch, steps + 1, vocab)

    def rnn_loss(params, inputs):
        h = np.zeros((inputs.shape[0], params["Whh"].shape[0]))
        total = 0.0
        for t in range(inputs.shape[1] - 1):
            h = np.tanh(inputs[:, t] @ params["Wxh"] + h @ params["Whh"] + params["bh"])
            logits = h @ params["Why"] + params["by"]
            total = total - np.sum(inputs[:, t + 1] * (logits - logsumexp(logits, axis=1, keepdims=True)))
        return total / (inputs.shape[0] * (inputs.shape[1] - 1))

    def hand_grad(params, inputs):
        n, length = inputs.shape[0], inputs.shape[1] - 1
        hs = [np.zeros((n, params["Whh"].shape[0]))]
        probs = []
        for t in range(length):
            hs.append(np.tanh(inputs[:, t] @ params["Wxh"] + hs[-1] @ params["Whh"] + params["bh"]))
            logits = hs[-1] @ params["Why"] + params["by"]
            probs.append(np.exp(logits - logsumexp(logits, axis=1, keepdims=True)))
        grads = {k: np.zeros_like(v) for k, v in params.items()}
        dh_next = np.zeros_like(hs[0])
        for t in range(length - 1, -1, -1):
            dlogits = (probs[t] - inputs[:, t + 1]) / (n * length)
            grads["Why"] += hs[t + 1].T @ dlogits
            grads["by"] += dlogits.sum(axis=0)
            dpre = (dlogits @ params["Why"].T + dh_next) * (1 - hs[t + 1] ** 2)
            grads["Wxh"] += inputs[:, t].T @ dpre
            grads["Whh"] += hs[t].T @ dpre
            grads["bh"] += dpre.sum(axis=0)
            dh_next = dpre @ params["Whh"].T
        return grads

    r = np.random.default_rng(15)
    params = {"Wxh": r.normal(0, 0.3, (vocab, hidden)), "Whh": r.normal(0, 0.2, (hidden, hidden)),
              "bh": np.zeros(hidden), "Why": r.normal(0, 0.3, (hidden, vocab)), "by": np.zeros(vocab)}
    return Program(rnn_loss, params, (one_hot,), step_size=0.05, hand_grad=hand_grad)


@program
def make_lstm():
    rng = np.random.default_rng(16)
    batch, steps, hidden = 6, 10, 8
    phase = rng.uniform(0, 2 * np.pi, (batch, 1))
    t = np.arange(steps + 1) * 0.4
    series = np.sin(t + phase) + 0.05 * rng.normal(size=(batch, steps + 1))

    def lstm_step(params, x, h, c):
        z = np.concatenate([x, h], axis=1) @ params["W"] + params["b"]
        i, f, o, g = np.split(z, 4, axis=1)
        c = expit(f) * c + expit(i) * np.tanh(g)
        h = expit(o) * np.tanh(c)
        return h, c

    def objective(params, i):
        h = np.zeros((batch, hidden))
        c = np.zeros((batch, hidden))
        errors = []
        for t in range(steps):
            h, c = lstm_step(params, series[:, t:t + 1], h, c)
            prediction = h @ params["V"] + params["v0"]
            errors.append((prediction[:, 0] - series[:, t + 1]) ** 2)
        return np.mean(np.stack(errors))

    r = np.random.default_rng(17)
    b = np.zeros(4 * hidden)
    b[hidden:2 * hidden] = 1.0  # forget-gate bias of 1, the usual initialization
    params = {"W": r.normal(0, 0.3, (1 + hidden, 4 * hidden)), "b": b,
              "V": r.normal(0, 0.3, (hidden, 1)), "v0": np.zeros(1)}
    return Program(objective, params, takes_step=True, step_size=0.03)


@program
def make_neural_ode():
    # Fit dynamics dz/dt = f(z) (an MLP) to a spiral observed at a few times, integrating with RK4.
    rng = np.random.default_rng(18)
    A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
    dt, steps_between, observations = 0.05, 4, 6
    z0 = np.array([2.0, 0.0])
    true_path = [z0]
    for _ in range(observations * steps_between):
        true_path.append(true_path[-1] + dt * A @ true_path[-1])
    observed = np.array(true_path[steps_between::steps_between]) + 0.01 * rng.normal(size=(observations, 2))

    def dynamics(params, z):
        h = np.tanh(z @ params[0] + params[1])
        return h @ params[2] + params[3]

    def rk4_step(params, z, h):
        k1 = dynamics(params, z)
        k2 = dynamics(params, z + h / 2 * k1)
        k3 = dynamics(params, z + h / 2 * k2)
        k4 = dynamics(params, z + h * k3)
        return z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    def objective(params, i):
        z, predicted = z0, []
        for step in range(1, observations * steps_between + 1):
            z = rk4_step(params, z, dt)
            if step % steps_between == 0:
                predicted.append(z)
        return np.mean((np.stack(predicted) - observed) ** 2)

    r = np.random.default_rng(19)
    params = [r.normal(0, 0.5, (2, 16)), np.zeros(16), r.normal(0, 0.5, (16, 2)), np.zeros(2)]
    return Program(objective, params, takes_step=True, step_size=0.02)
