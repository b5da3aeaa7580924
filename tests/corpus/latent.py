"""Latent-variable and embedding models: a Gaussian mixture, an HMM's forward algorithm, soft
k-means, ICA, t-SNE, sparse coding, matrix factorization and word2vec."""
import numpy as np
from scipy import stats
from scipy.special import log_softmax, logsumexp, softmax

from . import Program, program


def three_clusters(rng, n, d=2, spread=3.0):
    centers = rng.normal(0, spread, (3, d))
    labels = rng.integers(0, 3, n)
    return centers[labels] + rng.normal(size=(n, d)), labels


@program
def make_gmm():
    rng = np.random.default_rng(50)
    X, _ = three_clusters(rng, 150)

    def log_likelihood_terms(params, X):
        """log pi_k + log N(x_n | mu_k, diag sigma_k^2), shape (n, k)."""
        log_weights = log_softmax(params["logits"])
        sigma = np.exp(params["log_scales"])
        diff = (X[:, None, :] - params["means"][None]) / sigma
        log_normal = (-0.5 * np.sum(diff ** 2, axis=2) - np.sum(params["log_scales"], axis=1)
                      - 0.5 * X.shape[1] * np.log(2 * np.pi))
        return log_weights + log_normal

    def neg_log_likelihood(params, X):
        return -np.mean(logsumexp(log_likelihood_terms(params, X), axis=1))

    def hand_grad(params, X):
        terms = log_likelihood_terms(params, X)
        resp = np.exp(terms - logsumexp(terms, axis=1, keepdims=True)) / len(X)  # (n, k)
        inv_var = np.exp(-2 * params["log_scales"])
        diff = X[:, None, :] - params["means"][None]
        return {"logits": -(resp.sum(axis=0) - softmax(params["logits"]) * resp.sum()),
                "log_scales": -np.einsum("nk,nkd->kd", resp, diff ** 2 * inv_var - 1),
                "means": -np.einsum("nk,nkd->kd", resp, diff * inv_var)}

    r = np.random.default_rng(51)
    params = {"logits": np.zeros(3), "means": X[r.choice(len(X), 3, replace=False)].copy(),
              "log_scales": np.zeros((3, 2))}
    return Program(neg_log_likelihood, params, (X,), step_size=0.1, hand_grad=hand_grad)


@program
def make_hmm_forward():
    rng = np.random.default_rng(52)
    A = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
    state, observations = 0, []
    for _ in range(40):
        state = rng.choice(3, p=A[state])
        observations.append(rng.normal([-2.0, 0.0, 2.5][state], 0.5))
    observations = np.array(observations)

    def forward_log_likelihood(params, observations):
        log_A = log_softmax(params["transition_logits"], axis=1)
        log_emission = stats.norm.logpdf(observations[:, None], params["means"], np.exp(params["log_sd"]))
        log_alpha = log_softmax(params["initial_logits"]) + log_emission[0]
        for t in range(1, len(observations)):
            log_alpha = logsumexp(log_alpha[:, None] + log_A, axis=0) + log_emission[t]
        return logsumexp(log_alpha)

    def objective(params, observations):
        return -forward_log_likelihood(params, observations) / len(observations)

    params = {"initial_logits": np.zeros(3), "transition_logits": np.eye(3) * 2.0,
              "means": np.array([-1.0, 0.0, 1.0]), "log_sd": np.zeros(3)}
    return Program(objective, params, (observations,), step_size=0.1)


@program
def make_soft_kmeans():
    rng = np.random.default_rng(53)
    X, _ = three_clusters(rng, 90)

    def objective(centers, i):
        beta = 0.5 * (1 + i / 10)  # the inverse temperature is annealed: assignments harden
        sq_dist = np.sum((X[:, None, :] - centers[None, :, :]) ** 2, axis=-1)
        assignments = softmax(-beta * sq_dist, axis=1)
        return np.mean(np.sum(assignments * sq_dist, axis=1))

    centers = np.random.default_rng(54).normal(0, 1, (3, 2))
    return Program(objective, centers, takes_step=True, step_size=0.2)


@program
def make_ica():
    rng = np.random.default_rng(55)
    n = 200
    sources = np.column_stack([rng.laplace(size=n), np.sign(rng.normal(size=n)) * rng.exponential(size=n),
                               rng.logistic(size=n)])
    mixed = sources @ rng.normal(size=(3, 3)).T
    mixed = mixed - mixed.mean(axis=0)
    eigvals, eigvecs = np.linalg.eigh(np.cov(mixed.T))
    white = mixed @ eigvecs / np.sqrt(eigvals)  # whitened, as ICA usually starts

    def neg_log_likelihood(W, x):
        s = x @ W.T
        _, log_abs_det = np.linalg.slogdet(W)
        return -log_abs_det + np.mean(np.sum(np.log(np.cosh(s)), axis=1))  # a super-Gaussian prior

    W0 = np.eye(3) + 0.1 * np.random.default_rng(56).normal(size=(3, 3))
    return Program(neg_log_likelihood, W0, (white,), step_size=0.05)


@program
def make_tsne():
    rng = np.random.default_rng(57)
    X, _ = three_clusters(rng, 24, d=5, spread=4.0)
    n = len(X)
    sq = np.sum(X ** 2, axis=1)
    D = sq[:, None] + sq[None, :] - 2 * X @ X.T
    P = np.exp(-D / (2 * np.median(D)))
    np.fill_diagonal(P, 0.0)
    P = P / P.sum(axis=1, keepdims=True)
    P = (P + P.T) / (2 * n)

    def kl_divergence(Y, i):
        exaggeration = 4.0 if i < 10 else 1.0  # early exaggeration, for the first iterations
        sum_Y = np.sum(Y ** 2, axis=1)
        num = 1.0 / (1.0 + sum_Y[:, None] + sum_Y[None, :] - 2.0 * Y @ Y.T)
        num[range(n), range(n)] = 0.0
        Q = np.maximum(num / np.sum(num), 1e-12)
        P_used = exaggeration * P
        return np.sum(P_used * np.log(np.maximum(P_used, 1e-12) / Q))

    Y0 = 1e-2 * np.random.default_rng(58).normal(size=(n, 2))
    return Program(kl_divergence, Y0, takes_step=True, step_size=0.05, max_traces=2,
                   traces_why="early exaggeration: a branch on the step number",
                   evaluate=lambda Y: kl_divergence(Y, 100))


@program
def make_sparse_coding():
    rng = np.random.default_rng(59)
    true_dictionary = rng.normal(size=(8, 5))
    true_codes = rng.normal(size=(5, 20)) * (rng.random((5, 20)) < 0.3)
    signals = true_dictionary @ true_codes + 0.01 * rng.normal(size=(8, 20))
    lam, eps = 0.1, 1e-3

    def objective(params, signals):
        D = params["dictionary"] / np.linalg.norm(params["dictionary"], axis=0, keepdims=True)
        residual = signals - D @ params["codes"]
        sparsity = np.sum(np.sqrt(params["codes"] ** 2 + eps))  # a smooth L1
        return 0.5 * np.sum(residual ** 2) / signals.shape[1] + lam * sparsity / signals.shape[1]

    r = np.random.default_rng(60)
    params = {"dictionary": r.normal(size=(8, 5)), "codes": 0.1 * r.normal(size=(5, 20))}
    return Program(objective, params, (signals,), step_size=0.05)


@program
def make_matrix_factorization():
    rng = np.random.default_rng(61)
    n_users, n_items, rank = 30, 20, 3
    truth = rng.normal(size=(n_users, rank)) @ rng.normal(size=(rank, n_items)) + 3.0
    observed = rng.random((n_users, n_items)) < 0.3
    users, items = np.nonzero(observed)
    ratings = truth[users, items] + 0.1 * rng.normal(size=len(users))
    l2 = 0.05

    def predict(params, users, items):
        interaction = np.sum(params["U"][users] * params["V"][items], axis=1)
        return interaction + params["user_bias"][users] + params["item_bias"][items] + params["mean"]

    def loss(params, users, items, ratings):
        regularizer = l2 * (np.sum(params["U"] ** 2) + np.sum(params["V"] ** 2))
        return np.mean((predict(params, users, items) - ratings) ** 2) + regularizer

    def hand_grad(params, users, items, ratings):
        U, V = params["U"], params["V"]
        d = 2 * (predict(params, users, items) - ratings) / len(ratings)
        gU, gV = 2 * l2 * U, 2 * l2 * V
        np.add.at(gU, users, d[:, None] * V[items])
        np.add.at(gV, items, d[:, None] * U[users])
        return {"U": gU, "V": gV, "item_bias": np.bincount(items, d, n_items),
                "mean": float(np.sum(d)), "user_bias": np.bincount(users, d, n_users)}

    r = np.random.default_rng(62)
    params = {"U": 0.3 * r.normal(size=(n_users, rank)), "V": 0.3 * r.normal(size=(n_items, rank)),
              "user_bias": np.zeros(n_users), "item_bias": np.zeros(n_items), "mean": float(np.mean(ratings))}
    return Program(loss, params, (users, items, ratings), step_size=0.05, hand_grad=hand_grad)


@program
def make_word2vec():
    rng = np.random.default_rng(63)
    vocab, dim, window, negatives, batch_size = 12, 6, 2, 3, 32
    topics = [list(range(0, 6)), list(range(6, 12))]  # words co-occur within their topic
    sentences = [rng.choice(topics[rng.integers(2)], 8) for _ in range(30)]
    pairs = np.array([(s[c], s[o]) for s in sentences for c in range(len(s))
                      for o in range(max(0, c - window), min(len(s), c + window + 1)) if o != c])
    pairs = pairs[rng.permutation(len(pairs))][:4 * batch_size]
    noise = rng.integers(0, vocab, (len(pairs), negatives))
    num_batches = len(pairs) // batch_size

    def log_sigmoid(x):
        return -np.logaddexp(0, -x)

    def objective(params, i):
        rows = np.arange(batch_size) + (i % num_batches) * batch_size
        center, context = pairs[rows, 0], pairs[rows, 1]
        v = params["W_in"][center]  # (batch, dim)
        positive = np.sum(v * params["W_out"][context], axis=1)
        negative = np.einsum("bd,bkd->bk", v, params["W_out"][noise[rows]])
        return -np.mean(log_sigmoid(positive) + np.sum(log_sigmoid(-negative), axis=1))

    r = np.random.default_rng(64)
    params = {"W_in": r.uniform(-0.5, 0.5, (vocab, dim)) / dim, "W_out": r.uniform(-0.5, 0.5, (vocab, dim))}
    return Program(objective, params, takes_step=True, step_size=0.05)
