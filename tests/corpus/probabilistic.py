"""Probabilistic models fitted by gradients: a VAE, black-box variational inference, a Bayesian
neural net, a GAN's two losses and a planar normalizing flow."""
import numpy as np
from scipy.stats import norm

from . import Program, program
from .neural import init_layers, mlp


def softplus(x):
    return np.logaddexp(0.0, x)


# --- VAE ---------------------------------------------------------------------------------------

vae_rs = np.random.RandomState(0)  # the noise of the reparameterization trick


def binary_patterns(rng, n, side=4):
    prototypes = rng.random((3, side * side)) < 0.4
    which = rng.integers(0, 3, n)
    flips = rng.random((n, side * side)) < 0.05
    return (prototypes[which] ^ flips).astype(float)


def vae_elbo(params, x, eps):
    """The ELBO of a Bernoulli VAE with a 2-D Gaussian latent, per data point."""
    h = mlp(params["encoder"], x)
    mean, log_std = h[:, :2], h[:, 2:]
    z = mean + np.exp(log_std) * eps  # the reparameterization trick
    logits = mlp(params["decoder"], z)
    log_likelihood = np.sum(x * logits - np.logaddexp(0, logits), axis=1)
    kl = 0.5 * np.sum(np.exp(2 * log_std) + mean ** 2 - 1 - 2 * log_std, axis=1)
    return np.mean(log_likelihood - kl)


@program
def make_vae():
    rng = np.random.default_rng(20)
    data = binary_patterns(rng, 60)
    batch_size = 20
    batches = rng.permutation(len(data)).reshape(-1, batch_size)

    def objective(params, i):
        x = data[batches[i % len(batches)]]
        eps = vae_rs.randn(batch_size, 2)
        return -vae_elbo(params, x, eps)

    fixed_eps = np.random.default_rng(21).standard_normal((len(data), 2))
    r = np.random.default_rng(22)
    params = {"encoder": init_layers(r, [16, 8, 4]), "decoder": init_layers(r, [2, 8, 16])}
    return Program(objective, params, takes_step=True, step_size=0.05, random_state=vae_rs,
                   evaluate=lambda p: -vae_elbo(p, data, fixed_eps))


# --- black-box variational inference -----------------------------------------------------------

bbvi_rs = np.random.RandomState(1)


@program
def make_bbvi():
    # A mean-field Gaussian posterior for Bayesian logistic regression.
    rng = np.random.default_rng(23)
    D, N, num_samples = 3, 40, 50
    X = rng.normal(size=(N, D))
    y = np.where(X @ np.array([1.5, -2.0, 0.5]) + 0.3 * rng.normal(size=N) > 0, 1.0, -1.0)

    def log_posterior(w):  # w: (num_samples, D)
        log_prior = np.sum(norm.logpdf(w, 0.0, 2.0), axis=1)
        log_likelihood = -np.sum(np.logaddexp(0, -y * (w @ X.T)), axis=1)
        return log_prior + log_likelihood

    def gaussian_entropy(log_std):
        return 0.5 * D * (1.0 + np.log(2 * np.pi)) + np.sum(log_std)

    def variational_objective(params, t):
        mean, log_std = params[:D], params[D:]
        samples = bbvi_rs.randn(num_samples, D) * np.exp(log_std) + mean
        lower_bound = gaussian_entropy(log_std) + np.mean(log_posterior(samples))
        return -lower_bound

    fixed = np.random.default_rng(24).standard_normal((500, D))

    def evaluate(params):
        mean, log_std = params[:D], params[D:]
        return -(gaussian_entropy(log_std) + np.mean(log_posterior(fixed * np.exp(log_std) + mean)))

    params = np.concatenate([np.zeros(D), -1.0 * np.ones(D)])
    return Program(variational_objective, params, takes_step=True, step_size=0.1,
                   random_state=bbvi_rs, evaluate=evaluate)


# --- a Bayesian neural net, by the same variational inference ----------------------------------

bnn_rs = np.random.RandomState(2)


@program
def make_bayesian_nn():
    rng = np.random.default_rng(25)
    inputs = np.concatenate([np.linspace(-3, -1, 12), np.linspace(1, 3, 12)])[:, None]
    targets = np.cos(inputs[:, 0]) + 0.1 * rng.normal(size=24)
    layer_sizes = [1, 10, 1]
    shapes = list(zip(layer_sizes[:-1], layer_sizes[1:]))
    num_weights = sum((m + 1) * n for m, n in shapes)
    noise_std, prior_var, num_samples = 0.1, 1.0, 8

    def unpack_layers(weights):
        num_samples = len(weights)
        for m, n in shapes:
            yield (weights[:, :m * n].reshape((num_samples, m, n)),
                   weights[:, m * n:m * n + n].reshape((num_samples, 1, n)))
            weights = weights[:, (m + 1) * n:]

    def predictions(weights, inputs):
        h = np.repeat(inputs[None], len(weights), axis=0)
        for W, b in unpack_layers(weights):
            out = np.einsum("sni,sio->sno", h, W) + b
            h = np.tanh(out)
        return out[:, :, 0]

    def logprob(weights):
        log_prior = -0.5 * np.sum(weights ** 2, axis=1) / prior_var
        preds = predictions(weights, inputs)
        return log_prior - 0.5 * np.sum((preds - targets) ** 2, axis=1) / noise_std ** 2

    def objective(params, i):
        mean, log_std = params["mean"], params["log_std"]
        weights = mean + np.exp(log_std) * bnn_rs.randn(num_samples, num_weights)
        kl_weight = min(1.0, (i + 1) / 10)  # the prior and entropy terms are annealed in
        log_prior = -0.5 * np.sum(weights ** 2, axis=1) / prior_var
        log_likelihood = -0.5 * np.sum((predictions(weights, inputs) - targets) ** 2, axis=1) / noise_std ** 2
        elbo = np.mean(log_likelihood + kl_weight * log_prior) + kl_weight * np.sum(log_std)
        return -elbo / len(targets)

    fixed = np.random.default_rng(26).standard_normal((64, num_weights))

    def evaluate(params):
        weights = params["mean"] + np.exp(params["log_std"]) * fixed
        return -(np.mean(logprob(weights)) + np.sum(params["log_std"])) / len(targets)

    params = {"mean": np.random.default_rng(27).normal(0, 0.5, num_weights), "log_std": np.full(num_weights, -3.0)}
    return Program(objective, params, takes_step=True, step_size=0.05, max_traces=2, random_state=bnn_rs,
                   evaluate=evaluate, traces_why="KL annealing: min(1.0, (i + 1) / 10) is a branch")


# --- GAN ---------------------------------------------------------------------------------------

gan_rs = np.random.RandomState(3)
GAN_BATCH = 32


def gan_setup():
    rng = np.random.default_rng(28)
    modes = rng.integers(0, 2, 96)
    real = np.where(modes, 2.0, -2.0)[:, None] + 0.3 * rng.normal(size=(96, 1))
    r = np.random.default_rng(29)
    gen_params = init_layers(r, [2, 8, 1])
    dsc_params = init_layers(r, [1, 8, 1])
    fixed_noise = r.normal(size=(GAN_BATCH, 2))
    return real, gen_params, dsc_params, fixed_noise


def generate(gen_params, noise):
    return mlp(gen_params, noise)


def discriminator_loss(dsc_params, gen_params, real, noise):
    real_logits = mlp(dsc_params, real)
    fake_logits = mlp(dsc_params, generate(gen_params, noise))
    return np.mean(softplus(-real_logits)) + np.mean(softplus(fake_logits))


def generator_loss(gen_params, dsc_params, noise):
    return np.mean(softplus(-mlp(dsc_params, generate(gen_params, noise))))  # the non-saturating loss


@program
def make_gan_discriminator():
    real, gen_params, dsc_params, fixed_noise = gan_setup()
    num_batches = len(real) // GAN_BATCH

    def objective(dsc_params, i, gen_params):
        start = (i % num_batches) * GAN_BATCH
        noise = gan_rs.randn(GAN_BATCH, 2)
        return discriminator_loss(dsc_params, gen_params, real[start:start + GAN_BATCH], noise)

    return Program(objective, dsc_params, (gen_params,), takes_step=True, step_size=0.05, random_state=gan_rs,
                   evaluate=lambda p: discriminator_loss(p, gen_params, real, fixed_noise))


@program
def make_gan_generator():
    real, gen_params, dsc_params, fixed_noise = gan_setup()

    def objective(gen_params, i, dsc_params):
        return generator_loss(gen_params, dsc_params, gan_rs.randn(GAN_BATCH, 2))

    return Program(objective, gen_params, (dsc_params,), takes_step=True, step_size=0.05, random_state=gan_rs,
                   evaluate=lambda p: generator_loss(p, dsc_params, fixed_noise))


# --- planar normalizing flow -------------------------------------------------------------------


def banana_log_density(z):
    z1, z2 = z[:, 0], z[:, 1]
    return -0.5 * z1 ** 2 / 4 - 0.5 * (z2 - 0.5 * z1 ** 2 + 1) ** 2 / 0.25


def planar_layer(layer, z):
    """z + u_hat * tanh(w . z + b) and log|det J|, with u_hat keeping the layer invertible."""
    u, w, b = layer["u"], layer["w"], layer["b"]
    wu = w @ u
    u_hat = u + (-1 + softplus(wu) - wu) * w / np.sum(w ** 2)
    activation = np.tanh(z @ w + b)
    psi = (1 - activation ** 2)[:, None] * w
    log_det = np.log(np.abs(1 + psi @ u_hat))
    return z + activation[:, None] * u_hat, log_det


@program
def make_planar_flow():
    z0 = np.random.default_rng(30).standard_normal((200, 2))

    def reverse_kl(flow, z0):
        log_q = np.sum(norm.logpdf(z0), axis=1)
        z = z0
        for layer in flow:
            z, log_det = planar_layer(layer, z)
            log_q = log_q - log_det
        return np.mean(log_q - banana_log_density(z))

    r = np.random.default_rng(31)
    flow = [{"u": r.normal(0, 0.3, 2), "w": r.normal(0, 0.3, 2), "b": 0.0} for _ in range(4)]
    return Program(reverse_kl, flow, (z0,), step_size=0.05)
