"""``scipy.integrate.odeint`` differentiated as a whole, registered when ``scipy.integrate`` is
imported (see :mod:`.scipy_hook`).

``ys = odeint(func, y0, t, args=(p, ...))`` is one primitive, written in generated code as the
call to ``scipy.integrate.odeint`` with the user's ``func``, which runs on plain arrays: the solver
is never traced. Its gradient with respect to ``y0`` and to the float arrays in ``args`` comes from
the **adjoint method**: with a(t) = dL/dy(t), solve backwards from the last time

    dy/dt = f(y, t, p),   da/dt = -a^T df/dy,   dp_bar/dt = -a^T df/dp,

adding each time's cotangent g[i] to a as the integration passes t[i] (and restarting y there from
the forward solution, so that errors do not build up). Then y0_bar = a(t[0]) and p_bar is the
integral. The backward solve is one more ``odeint`` call, with the same tolerances; the vector-
Jacobian products a^T df/dy and a^T df/dp come from tracediff's own gradient of a^T ``func``
(compiled once, then reused at every step). The gradient is as accurate as the integration: with
``rtol=atol=1e-11`` it agrees with central finite differences to 1e-5 (tests/test_scipy_rules.py).

Limits: no gradient flows to ``t`` (differentiating with respect to it raises); ``func`` must be
differentiable by tracediff and get every differentiable parameter through ``args`` (a traced
value captured in a closure cannot reach the solver: TracerConversionError); ``y0`` is 1-D or a
scalar; ``full_output`` and ``Dfun`` are not supported on traced values. Second derivatives
(``td.hessian``, a gradient of a gradient) raise NotImplementedError: the backward pass is
itself a numerical solve.
"""
from __future__ import annotations

import ast

import numpy as np

from ..errors import MissingRuleError, NonDifferentiableError, TracerConversionError, user_location
from ..tracing import Tracer
from .core import Primitive, call, defvjp, py_literal
from .scipy_hook import install, when_imported

_OWN: dict = {}
_UNSUPPORTED = ("Dfun", "full_output", "col_deriv", "ml", "mu", "tcrit")


def _odeint_attr() -> ast.expr:
    return ast.Attribute(value=ast.Attribute(value=ast.Name(id="scipy"), attr="integrate"), attr="odeint")


def _emit_forward(args, _function_name, **options):
    y0, t, *params = args
    keywords = {k: py_literal(v) for k, v in options.items()}
    if params:
        keywords["args"] = ast.Tuple(elts=list(params), ctx=ast.Load())
    return call(_odeint_attr(), [ast.Name(id=_function_name), y0, t], keywords)


def _emit_adjoint(args, _function_name):
    return call(ast.Name(id=_function_name), list(args))


def _adjoint_solver(func, options: dict):
    """The backward solve, on plain arrays: (g, ys, t, *params) -> [y0_bar, params_bar...] joined
    into one flat vector (zeros for the parameters that are not floats)."""
    from ..api import grad  # (api imports the primitives)

    tfirst = options.get("tfirst", False)

    def f_of(y, t, *params):
        return func(t, y, *params) if tfirst else func(y, t, *params)

    def weighted(y, t, a, *params):  # a^T f(y, t, p): its gradient is a^T df/dy, a^T df/dp
        return np.sum(a * np.ravel(f_of(y, t, *params)))

    gradients: dict = {}  # argnums -> td.grad of weighted: compiled once, reused at every step

    def adjoint(g, ys, t, *params):
        n = ys.shape[1]
        floats = [k for k, p in enumerate(params) if np.result_type(p).kind == "f"]
        argnums = (0,) + tuple(3 + k for k in floats)
        pullback = gradients.setdefault(argnums, grad(weighted, argnums=argnums))

        def dynamics(state, time):
            y, a = state[:n], state[n:2 * n]
            time = np.asarray(time, dtype=np.float64)
            cts = pullback(y, time, a, *params)
            p_bars = dict(zip(floats, cts[1:]))
            return np.concatenate([np.ravel(f_of(y, time, *params)), -cts[0]]
                                  + [-np.ravel(p_bars[k]) if k in p_bars else np.zeros(np.size(p))
                                     for k, p in enumerate(params)]).astype(np.float64)

        a = np.array(g[-1], dtype=np.float64)
        p_bar = np.zeros(sum(np.size(p) for p in params))
        solver_options = {k: v for k, v in options.items() if k != "tfirst"}
        for i in range(len(t) - 1, 0, -1):
            state = np.concatenate([ys[i], a, p_bar])
            state = _OWN["odeint"](dynamics, state, [t[i], t[i - 1]], **solver_options)[-1]
            a = state[n:2 * n] + g[i - 1]
            p_bar = state[2 * n:]
        return np.concatenate([a, p_bar])

    return adjoint


def _higher_order(*_):
    raise NotImplementedError(
        "scipy.integrate.odeint: second derivatives (a gradient of its gradient, td.hessian) are not "
        "supported: its backward pass is a numerical solve of the adjoint equations"
    )


def _checked(func):
    """``func``, refusing to hand the solver a traced value (one from a closure: only ``args`` are
    plain arrays when the solver runs)."""
    def checked(*args):
        out = func(*args)
        if isinstance(out, Tracer):
            raise TracerConversionError(
                "scipy.integrate.odeint: func returned a traced value, so it uses one that does not come "
                "through args= (a closure over a traced value, a global); pass every value func "
                "differentiates through args=(...)")
        return out
    return checked


def _primitives(func, options: dict, n_params: int):
    """The forward primitive (the odeint call) and its rules, for one ``func`` and options."""
    forward = Primitive("odeint", lambda y0, t, *params, **opts: _OWN["odeint"](
        _checked(func), y0, t, args=tuple(params), **opts), _emit_forward, register=False)
    forward.function = func
    adjoint = Primitive("odeint_adjoint", _adjoint_solver(func, options), _emit_adjoint, register=False)
    adjoint.function = adjoint.impl
    defvjp(adjoint, *[_higher_order] * (3 + n_params))
    import scipy  # (imported already: scipy.integrate is being used)

    forward.namespace = adjoint.namespace = {"scipy": scipy}

    def rule(i):
        def cotangent(g, ans, y0, t, *params, **opts):
            joined = adjoint.bind(g, ans, t, *params)
            sizes = [np.size(y0)] + [np.size(p) for p in params]
            k = 0 if i == 0 else i - 1  # (operand 1 is t)
            start = sum(sizes[:k])
            piece = joined[start:start + sizes[k]]
            return np.reshape(piece, np.shape(y0 if i == 0 else params[i - 2]))
        return cotangent

    defvjp(forward, rule(0), None, *[rule(i) for i in range(2, 2 + n_params)])
    return forward


def _odeint(func, y0, t, args=(), **options):
    unsupported = sorted(k for k in _UNSUPPORTED if options.get(k) not in (None, 0, False))
    if unsupported:
        raise MissingRuleError(f"scipy.integrate.odeint on traced values: {', '.join(unsupported)} "
                               "is not supported")
    options = {k: v for k, v in options.items() if k not in _UNSUPPORTED}
    if not isinstance(args, tuple):
        args = (args,)
    if isinstance(t, Tracer) and t.requires_grad:
        where = user_location()
        raise NonDifferentiableError(
            f"scipy.integrate.odeint has no gradient with respect to the times t{' at ' + where if where else ''}; "
            "pass them as a constant or wrap them in td.stop_gradient(t)")
    if np.ndim(y0) > 1:
        raise MissingRuleError("scipy.integrate.odeint on traced values: y0 must be 1-D or a scalar")
    for k, p in enumerate(args):
        if np.result_type(p).kind not in "fiub":
            raise MissingRuleError(f"scipy.integrate.odeint on traced values: args[{k}] must be a number or a "
                                   "numeric array (pass other settings to func through a closure)")
    y0 = np.reshape(y0, (1,)) if np.ndim(y0) == 0 else y0
    return _primitives(func, options, len(args)).bind(y0, t, *args, **options)


_odeint.differentiable = True  # (its primitives are made per call: the coverage page cannot see them)
_odeint.complex_values = "real only"
_odeint.caveat = ("adjoint method: gradients for y0 and array args, as accurate as rtol/atol; none for t; "
                  "first order only")


def register(module) -> None:
    """Install the wrapper in ``scipy.integrate``."""
    own = install(module, "odeint", _odeint, "scipy.integrate.odeint")
    if own is not None:
        _OWN["odeint"] = own


when_imported("scipy.integrate", register)
