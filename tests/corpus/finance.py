"""Finance: mean-variance portfolio weights with constraints as penalties, a volatility smile
calibrated to Black-Scholes prices, and a Monte Carlo Asian option calibrated to a price."""
import numpy as np
from scipy.stats import norm

from . import Program, program


@program
def make_portfolio():
    rng = np.random.default_rng(80)
    n_assets, days = 5, 250
    expected = np.array([0.08, 0.05, 0.12, 0.03, 0.07]) / days
    vols = np.array([0.2, 0.1, 0.3, 0.05, 0.15]) / np.sqrt(days)
    correlation = 0.3 * np.ones((n_assets, n_assets)) + 0.7 * np.eye(n_assets)
    returns = rng.multivariate_normal(expected, correlation * np.outer(vols, vols), size=days)
    mu = returns.mean(axis=0) * days
    cov = np.cov(returns, rowvar=False) * days
    risk_aversion, penalty = 3.0, 100.0

    def objective(w, i):
        utility = mu @ w - 0.5 * risk_aversion * w @ cov @ w
        budget = (np.sum(w) - 1.0) ** 2  # fully invested
        no_shorts = np.sum(np.maximum(-w, 0.0) ** 2)
        concentration = np.sum(np.maximum(w - 0.4, 0.0) ** 2)  # at most 40% in one asset
        return -utility + penalty * (budget + no_shorts + concentration)

    return Program(objective, np.full(n_assets, 1.0 / n_assets), takes_step=True, step_size=0.003)


def black_scholes_call(spot, strike, maturity, rate, vol):
    d1 = (np.log(spot / strike) + (rate + 0.5 * vol ** 2) * maturity) / (vol * np.sqrt(maturity))
    d2 = d1 - vol * np.sqrt(maturity)
    return spot * norm.cdf(d1) - strike * np.exp(-rate * maturity) * norm.cdf(d2)


@program
def make_volatility_smile():
    rng = np.random.default_rng(81)
    spot, rate = 100.0, 0.02
    strikes = np.tile(np.linspace(80, 120, 9), 2)
    maturities = np.repeat([0.25, 1.0], 9)
    moneyness = np.log(strikes / spot)
    features = np.stack([np.ones_like(moneyness), moneyness, moneyness ** 2])
    true_vol = np.array([0.22, -0.15, 0.6]) @ features
    market = black_scholes_call(spot, strikes, maturities, rate, true_vol) * (1 + 0.002 * rng.normal(size=18))

    def objective(params):
        coefficients = np.array([params["atm"], params["skew"], params["smile"]])
        vol = coefficients @ features
        model = black_scholes_call(spot, strikes, maturities, rate, vol)
        return np.mean((model - market) ** 2)

    return Program(objective, {"atm": 0.3, "skew": 0.0, "smile": 0.0}, step_size=0.01)


@program
def make_asian_option():
    rng = np.random.default_rng(82)
    paths, steps, spot, strike, rate, maturity = 500, 12, 100.0, 100.0, 0.01, 1.0
    dt = maturity / steps
    normals = rng.standard_normal((paths // 2, steps))
    normals = np.concatenate([normals, -normals])  # antithetic variates
    target_price = 6.5

    def asian_call(log_vol):
        vol = np.exp(log_vol)
        log_paths = np.cumsum((rate - 0.5 * vol ** 2) * dt + vol * np.sqrt(dt) * normals, axis=1)
        average = np.mean(spot * np.exp(log_paths), axis=1)
        return np.exp(-rate * maturity) * np.mean(np.maximum(average - strike, 0.0))

    def objective(params, i):
        return (asian_call(params["log_vol"]) - target_price) ** 2

    return Program(objective, {"log_vol": np.log(0.1)}, takes_step=True, step_size=0.05)
