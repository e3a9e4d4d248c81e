"""A SIREN's training step on a CPU in pixel tiles: the same loss and gradients, computed where the cache is.

Autograd on a full batch writes every layer's activation for all pixels (44 MB per layer for COIN's 10 x 28
net on a 768 x 512 image), so each elementwise pass streams through main memory and every matmul is a
tall, narrow one. Here the step runs tile by tile: for a few thousand pixels at a time it computes the
forward pass, the squared error and the backward pass with hand-written gradients, while that tile's
activations (a few hundred KiB per layer) stay in the core's cache, and adds the tile's weight gradients
into accumulators. The tiles are shared out among worker threads, each running single-threaded kernels on
its own tiles with its own accumulators (no OpenMP barrier per small op); the accumulators are summed in a
fixed order at the end. Each layer's omega rides on a scaled copy of its weights (omega W, omega b), so
neither direction spends an elementwise pass on it.

What changes against autograd is only the rounding (the order of the sums over tiles, omega applied to the
weights instead of the products), so losses and gradients agree within float rounding (tests check it). For one
configuration (tile rows, worker count, machine) every rerun is bit-identical: tiles go to workers by
index and every sum runs in a fixed order.

`tiled_mse(engine, inputs, values, scale)` is the loss as an autograd node: its forward computes the
gradients too and its backward hands them to the parameters, so callers keep `loss.backward()` and any
optimizer.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn

from siren_inr.models.siren import Siren, SineLayer
from siren_inr.models.siren_pe import SirenPE

TILE_ELEMENTS = 1 << 18  # rows per tile x hidden width: 1 MiB per activation, the L2 of a core here
MIN_TILE_ROWS = 256


def _mlp_layers(net: nn.Module) -> list[tuple[nn.Linear, float | None]] | None:
    """(linear, omega or None for a plain linear) per layer of a sine MLP, or None when `net` is not one."""
    if not isinstance(net, (Siren, SirenPE)):
        return None
    layers = []
    for module in net.net:
        if isinstance(module, SineLayer):
            layers.append((module.linear, float(module.omega_0)))
        elif type(module) is nn.Linear:
            layers.append((module, None))
        else:
            return None
    if not layers or any(omega is None for _, omega in layers[:-1]):
        return None
    return layers


def supports_tiled(net: nn.Module) -> bool:
    """Whether the tiled step can run `net`: a SIREN (or SIREN with positional encoding) of sine layers."""
    return _mlp_layers(net) is not None


def tile_rows(width: int) -> int:
    """Pixels per tile for a net whose widest hidden layer has `width` features."""
    rows = max(MIN_TILE_ROWS, TILE_ELEMENTS // max(1, width))
    return rows - rows % 64 if rows >= 128 else rows


def network_inputs(net: nn.Module, coords: torch.Tensor) -> torch.Tensor:
    """What the sine MLP of `net` reads: the coordinates, or their positional encoding (no parameters)."""
    if isinstance(net, SirenPE):
        with torch.no_grad():
            return net.encoding(coords).contiguous()
    return coords


class _WorkerState:
    """One worker's buffers (reused every step), gradient accumulators, and the views a tile of n rows uses."""

    def __init__(self, rows: int, shapes: list[tuple[int, int]], out_features: int, dtype: torch.dtype):
        self.shapes = shapes
        hidden = [out for out, _ in shapes[:-1]]
        self.z = [torch.empty(rows, w, dtype=dtype) for w in hidden]  # pre-activation, then cos(z) * grad
        self.a = [torch.empty(rows, w, dtype=dtype) for w in hidden]  # sin(z): the next layer's input
        widest = max(hidden)
        self.g = torch.empty(rows * widest, dtype=dtype)  # the gradient flowing down into a layer; see _rows_of
        self.out = torch.empty(rows, out_features, dtype=dtype)
        self.z_out = torch.empty(rows, out_features, dtype=dtype)
        self.ones = torch.ones(rows, dtype=dtype)
        self.grad_w = [torch.zeros(out, inp, dtype=dtype) for out, inp in shapes]
        self.grad_b = [torch.zeros(out, dtype=dtype) for out, _ in shapes]
        self.sq = torch.zeros((), dtype=dtype)
        self._views: dict[int, _TileViews] = {}

    def views(self, n: int) -> "_TileViews":
        """The buffers cut to n rows (a few sizes per fit: the full tile, the last one, a last mini-batch's)."""
        if n not in self._views:
            self._views[n] = _TileViews(self, n)
        return self._views[n]


class _TileViews:
    """Views of a worker's buffers for a tile of n rows, made once (slicing per tile costs Python time)."""

    def __init__(self, state: _WorkerState, n: int):
        self.z = [z[:n] for z in state.z]
        self.z_t = [z.t() for z in self.z]
        self.a = [a[:n] for a in state.a]
        self.out = state.out[:n]
        self.out_t = self.out.t()
        self.out_flat = self.out.view(-1)
        self.z_out = state.z_out[:n]
        self.z_out_t = self.z_out.t()
        self.ones = state.ones[:n]
        # upstream[i]: d loss / d (output of layer i), written by the matmul with layer i + 1's weights. One buffer
        # serves every layer: each is read (into cos(z) * upstream) before the next layer down writes it.
        self.upstream = [_rows_of(state.g, n, state.shapes[i + 1][1]) for i in range(len(state.z))]


def _rows_of(buffer: torch.Tensor, rows: int, width: int) -> torch.Tensor:
    """A contiguous [rows, width] view at the start of a flat buffer."""
    return buffer[: rows * width].view(rows, width)


class TiledSirenStep:
    """The MSE of a sine MLP over pixel tiles, with its gradients, on the CPU (see the module docstring).

    `workers` threads (the calling thread is one of them; None: torch's thread count at each call) share the
    tiles, at most one per tile; each runs single-threaded kernels. The network's own parameters are read at
    every call, so an optimizer may update them between calls.
    """

    def __init__(self, net: nn.Module, *, workers: int | None = None, rows: int | None = None):
        layers = _mlp_layers(net)
        if layers is None:
            raise ValueError(f"the tiled step needs a SIREN of sine layers, got {type(net).__name__}")
        self.net = net
        self.layers = layers
        self.omegas = [omega for _, omega in layers]
        self.final_sine = layers[-1][1] is not None
        self.in_features = layers[0][0].in_features
        self.out_features = layers[-1][0].out_features
        self.shapes = [(lin.out_features, lin.in_features) for lin, _ in layers]
        self.workers = None if workers is None else max(1, int(workers))
        self.rows = int(rows) if rows else tile_rows(max(out for out, _ in self.shapes[:-1]))
        dtype = layers[0][0].weight.dtype
        self.dtype = dtype
        self.weights = [torch.zeros(out, inp, dtype=dtype) for out, inp in self.shapes]
        self.biases = [torch.zeros(out, dtype=dtype) for out, _ in self.shapes]
        self.weights_t = [w.t() for w in self.weights]
        self._states: list[_WorkerState] = []
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0
        self._lock = threading.Lock()

    @property
    def parameters(self) -> list[nn.Parameter]:
        """The parameters whose gradients `run` returns, in this order: weight, bias per layer."""
        return [p for lin, _ in self.layers for p in (lin.weight, lin.bias)]

    def _load_weights(self, params: list[torch.Tensor]) -> None:
        """omega W and omega b of every layer (W and b for a plain linear output) into the working copies."""
        if len(params) != 2 * len(self.layers):
            raise ValueError(f"{len(params)} parameter tensors; the network has {2 * len(self.layers)}")
        with torch.no_grad():
            for i, ((lin, omega), weight, bias) in enumerate(zip(self.layers, self.weights, self.biases)):
                source_w, source_b = params[2 * i], params[2 * i + 1]
                if source_w.shape != weight.shape or source_b.shape != bias.shape:
                    raise ValueError(f"layer {i}: weight {tuple(source_w.shape)}, bias {tuple(source_b.shape)}; "
                                     f"expected {tuple(weight.shape)}, {tuple(bias.shape)}")
                if omega is None:
                    weight.copy_(source_w)
                    bias.copy_(source_b)
                else:
                    torch.mul(source_w, omega, out=weight)
                    torch.mul(source_b, omega, out=bias)

    def _ensure_states(self, workers: int) -> None:
        while len(self._states) < workers:
            self._states.append(_WorkerState(self.rows, self.shapes, self.out_features, self.dtype))
        if workers > 1 and (self._pool is None or self._pool_size < workers - 1):
            self.close()
            self._pool = ThreadPoolExecutor(workers - 1, thread_name_prefix="siren-inr-tile")
            self._pool_size = workers - 1

    def close(self) -> None:
        """Stop the worker threads (they also stop with the process)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __getstate__(self) -> dict:
        # Threads, locks and scratch buffers are not state: a copy (deepcopy, pickle) starts without them.
        state = dict(self.__dict__)
        state.update(_states=[], _pool=None, _pool_size=0, _lock=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __del__(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)

    def run(self, inputs: torch.Tensor, values: torch.Tensor, scale: float, output: torch.Tensor | None = None,
            params: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(scale * sum of squared errors, its gradient for each of `parameters`) on `inputs` [N, in] and
        `values` [N, out]; with `output` ([N, out]), the network's output is written into it. `params`: other
        tensors in the place of `parameters` (e.g. their quantized copies), in the same order."""
        if inputs.device.type != "cpu":
            raise ValueError("the tiled step runs on the CPU")
        if inputs.ndim != 2 or inputs.shape[1] != self.in_features:
            raise ValueError(f"inputs of shape {tuple(inputs.shape)}; the network takes [N, {self.in_features}]")
        n = inputs.shape[0]
        if n == 0:
            raise ValueError("inputs hold no pixels")
        if values.shape != (n, self.out_features):
            raise ValueError(f"values of shape {tuple(values.shape)}; expected ({n}, {self.out_features})")
        inputs = inputs.detach().to(self.dtype).contiguous()
        values = values.detach().to(self.dtype).contiguous()
        with self._lock, torch.no_grad():
            tiles, workers = self._tiles(n)
            self._ensure_states(workers)
            self._load_weights(self.parameters if params is None else list(params))
            shares = [tiles[k::workers] for k in range(workers)]
            if workers == 1:
                self._run_tiles(self._states[0], inputs, values, 2.0 * scale, shares[0], output)
            else:
                before = torch.get_num_threads()
                futures = [self._pool.submit(self._run_tiles, self._states[k], inputs, values, 2.0 * scale,
                                             shares[k], output, True) for k in range(1, workers)]
                try:
                    self._run_tiles(self._states[0], inputs, values, 2.0 * scale, shares[0], output, True)
                finally:
                    for future in futures:
                        future.exception()  # wait for every worker before the threads are restored
                    torch.set_num_threads(before)
                for future in futures:
                    future.result()
            states = self._states[:workers]
            loss = states[0].sq.clone()
            for state in states[1:]:
                loss += state.sq
            loss *= scale
            grads = []
            for i, (lin, _) in enumerate(self.layers):
                grad_w = states[0].grad_w[i].clone()
                grad_b = states[0].grad_b[i].clone()
                for state in states[1:]:
                    grad_w += state.grad_w[i]
                    grad_b += state.grad_b[i]
                grads.append(grad_w)
                grads.append(grad_b)
        return loss, grads

    def _tiles(self, n: int) -> tuple[list[tuple[int, int]], int]:
        """Tiles of at most `rows` pixels, as many per worker and as even as they can be (a short last tile
        would leave a worker idle), and the worker count."""
        count = max(1, -(-n // self.rows))
        workers = min(self.workers or torch.get_num_threads(), count)
        count = -(-count // workers) * workers
        rows = min(self.rows, -(-(-(-n // count)) // 16) * 16)  # rounded up to 16 rows (64-byte aligned starts)
        return [(start, min(start + rows, n)) for start in range(0, n, rows)], workers

    def _run_tiles(self, state: _WorkerState, inputs: torch.Tensor, values: torch.Tensor, grad_scale: float,
                   tiles: list[tuple[int, int]], output: torch.Tensor | None, single_thread: bool = False) -> None:
        if single_thread:
            torch.set_num_threads(1)  # this thread's OpenMP team and MKL threads; the caller restores its own
        for grad in state.grad_w:
            grad.zero_()
        for grad in state.grad_b:
            grad.zero_()
        state.sq.zero_()
        weights, biases, omegas = self.weights, self.biases, self.omegas  # weights and biases: omega W, omega b
        weights_t = self.weights_t
        last = len(weights) - 1
        final_sine = self.final_sine
        grad_w, grad_b = state.grad_w, state.grad_b
        for start, stop in tiles:
            v = state.views(stop - start)
            x_in = inputs[start:stop]
            zs, acts = v.z, v.a
            x = x_in
            for i in range(last):
                torch.addmm(biases[i], x, weights_t[i], out=zs[i])  # z = omega (x W^T + b)
                torch.sin(zs[i], out=acts[i])
                x = acts[i]
            out = v.out
            if final_sine:
                torch.addmm(biases[last], x, weights_t[last], out=v.z_out)
                torch.sin(v.z_out, out=out)
            else:
                torch.addmm(biases[last], x, weights_t[last], out=out)
            if output is not None:
                output[start:stop].copy_(out)
            out.sub_(values[start:stop])
            state.sq += torch.dot(v.out_flat, v.out_flat)
            out.mul_(grad_scale)  # d loss / d output
            ones = v.ones
            # grad: d loss / d z of the layer at hand, z = x (omega W)^T + omega b; so d loss / d W carries omega.
            if final_sine:
                grad, grad_t, omega = v.z_out.cos_().mul_(out), v.z_out_t, omegas[last]
            else:
                grad, grad_t, omega = out, v.out_t, 1.0
            grad_w[last].addmm_(grad_t, x, alpha=omega)
            grad_b[last].addmv_(grad_t, ones, alpha=omega)
            for i in range(last - 1, -1, -1):
                upstream = v.upstream[i]
                torch.mm(grad, weights[i + 1], out=upstream)  # d loss / d (this layer's output)
                grad = zs[i].cos_().mul_(upstream)  # times d sin(z) / dz
                omega = omegas[i]
                grad_w[i].addmm_(v.z_t[i], x_in if i == 0 else acts[i - 1], alpha=omega)
                grad_b[i].addmv_(v.z_t[i], ones, alpha=omega)


class _TiledMSE(torch.autograd.Function):
    """The loss as an autograd node: the gradients are computed in forward and handed out in backward."""

    @staticmethod
    def forward(ctx, engine: TiledSirenStep, inputs: torch.Tensor, values: torch.Tensor, scale: float,
                output: torch.Tensor | None, *params: torch.Tensor) -> torch.Tensor:
        loss, grads = engine.run(inputs, values, scale, output, list(params))
        ctx.grads = grads
        return loss

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        grads = [g * grad_loss for g in ctx.grads]
        ctx.grads = None
        return (None, None, None, None, None, *grads)


def tiled_mse(engine: TiledSirenStep, inputs: torch.Tensor, values: torch.Tensor, scale: float | None = None,
              output: torch.Tensor | None = None, params: list[torch.Tensor] | None = None) -> torch.Tensor:
    """scale * sum((net(inputs) - values)^2) as a differentiable scalar (scale None: 1 / values.numel(), the MSE).

    `inputs` are what the network's sine MLP reads (`network_inputs`); `output`, when given, receives the
    network's output; `params` stand in for the network's parameters (the gradients then go to them)."""
    scale = 1.0 / values.numel() if scale is None else float(scale)
    tensors = engine.parameters if params is None else list(params)
    return _TiledMSE.apply(engine, inputs, values, scale, output, *tensors)


def tiled_step_for(net: nn.Module, inputs: torch.Tensor) -> TiledSirenStep | None:
    """A tiled step for fitting `net` on `inputs`, or None where it does not apply (not a SIREN, not on the CPU,
    not fp32)."""
    first = next(net.parameters(), None)
    if (first is None or first.device.type != "cpu" or inputs.device.type != "cpu" or first.dtype != torch.float32
            or not supports_tiled(net)):
        return None
    return TiledSirenStep(net)
