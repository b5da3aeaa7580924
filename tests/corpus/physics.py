"""Simulations differentiated through their time loops: 2-D diffusion and 1-D Burgers' equation
(finite differences with np.roll), a damped pendulum (RK4) and a chain of springs (velocity
Verlet), each fitted to observations."""
import numpy as np

from . import Program, program


def laplacian(u, dx):
    """The 5-point Laplacian on a periodic grid."""
    return (np.roll(u, 1, axis=0) + np.roll(u, -1, axis=0) + np.roll(u, 1, axis=1) + np.roll(u, -1, axis=1)
            - 4 * u) / dx ** 2


@program
def make_diffusion():
    rng = np.random.default_rng(70)
    n, dx, dt, steps = 16, 1.0, 0.1, 20
    yy, xx = np.mgrid[0:n, 0:n]
    u0 = np.exp(-((xx - 5) ** 2 + (yy - 8) ** 2) / 4.0)
    true_source = 0.05 * np.exp(-((xx - 11) ** 2 + (yy - 6) ** 2) / 3.0)

    def simulate(log_diffusivity, source):
        u = u0
        kappa = np.exp(log_diffusivity)
        for _ in range(steps):
            u = u + dt * (kappa * laplacian(u, dx) + source)
        return u

    observed = simulate(np.log(0.8), true_source) + 1e-3 * rng.normal(size=(n, n))

    def objective(params):
        u = simulate(params["log_diffusivity"], params["source"])
        return np.sum((u - observed) ** 2) + 1e-3 * np.sum(params["source"] ** 2)

    return Program(objective, {"log_diffusivity": 0.0, "source": np.zeros((n, n))}, step_size=0.02)


@program
def make_burgers():
    rng = np.random.default_rng(71)
    n, nu, dt, steps = 32, 0.05, 0.01, 25
    x = np.linspace(0, 2 * np.pi, n, endpoint=False)
    dx = x[1] - x[0]
    modes = np.arange(1, 5)

    def initial_condition(amplitudes):
        return amplitudes @ np.sin(np.outer(modes, x))

    def solve(amplitudes):
        u = initial_condition(amplitudes)
        for _ in range(steps):
            u_x = (np.roll(u, -1) - np.roll(u, 1)) / (2 * dx)
            u_xx = (np.roll(u, -1) - 2 * u + np.roll(u, 1)) / dx ** 2
            u = u + dt * (-u * u_x + nu * u_xx)
        return u

    observed = solve(np.array([1.0, 0.5, -0.3, 0.1])) + 1e-3 * rng.normal(size=n)

    def objective(amplitudes, i):
        return np.mean((solve(amplitudes) - observed) ** 2)

    return Program(objective, np.array([0.5, 0.0, 0.0, 0.0]), takes_step=True, step_size=0.05)


GRAVITY = 9.81


def pendulum_rhs(state, length, damping):
    theta, omega = state
    return np.array([omega, -GRAVITY / length * np.sin(theta) - damping * omega])


def rk4(f, state, dt, *args):
    k1 = f(state, *args)
    k2 = f(state + dt / 2 * k1, *args)
    k3 = f(state + dt / 2 * k2, *args)
    k4 = f(state + dt * k3, *args)
    return state + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


@program
def make_pendulum():
    rng = np.random.default_rng(72)
    dt, steps = 0.05, 40

    def simulate(length, damping, theta0=1.0):
        state = np.array([theta0, 0.0])
        angles = []
        for _ in range(steps):
            state = rk4(pendulum_rhs, state, dt, length, damping)
            angles.append(state[0])
        return np.stack(angles)

    observed = simulate(1.3, 0.25) + 0.01 * rng.normal(size=steps)

    def objective(params, i):
        angles = simulate(np.exp(params["log_length"]), np.exp(params["log_damping"]))
        return np.mean((angles - observed) ** 2)

    return Program(objective, {"log_length": 0.0, "log_damping": np.log(0.1)}, takes_step=True, step_size=0.05)


@program
def make_spring_chain():
    # Four unit masses between two walls, joined by five springs of unknown stiffness.
    rng = np.random.default_rng(73)
    masses, wall, dt, steps = 4, 5.0, 0.05, 40
    rest = np.full(masses + 1, 1.0)
    x0 = np.array([1.3, 1.8, 3.1, 4.2])

    def forces(x, stiffness):
        extended = np.concatenate([[0.0], x, [wall]])
        tension = stiffness * (np.diff(extended) - rest)
        return tension[1:] - tension[:-1]

    def simulate(stiffness):
        x, v = x0, np.zeros(masses)
        a = forces(x, stiffness)
        trajectory = []
        for _ in range(steps):  # velocity Verlet
            x = x + dt * v + 0.5 * dt ** 2 * a
            a_new = forces(x, stiffness)
            v = v + 0.5 * dt * (a + a_new)
            a = a_new
            trajectory.append(x)
        return np.stack(trajectory)

    observed = simulate(np.array([2.0, 1.0, 3.0, 1.5, 2.5])) + 0.005 * rng.normal(size=(steps, masses))

    def objective(log_stiffness, observed):
        return np.mean((simulate(np.exp(log_stiffness)) - observed) ** 2)

    return Program(objective, np.log(np.full(5, 1.8)), (observed,), step_size=0.05)


def rotation(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


@program
def make_arm_kinematics():
    # Joint angles of a three-link planar arm that put its tip on a target (inverse kinematics).
    lengths = [1.0, 0.8, 0.5]
    target = np.array([1.2, 1.1])

    def tip(angles):
        position, frame = np.zeros(2), np.eye(2)
        for angle, length in zip(angles, lengths):
            frame = frame @ rotation(angle)
            position = position + frame @ np.array([length, 0.0])
        return position

    def objective(angles, i):
        miss = tip(angles) - target
        return miss @ miss + 1e-3 * np.sum(angles ** 2)  # prefer small joint angles

    return Program(objective, np.array([0.3, 0.2, 0.1]), takes_step=True, step_size=0.05)
