"""A SIREN's training step on a CPU in pixel tiles: the same loss and gradients, computed where the cache is.

Autograd on a full batch writes every layer's activation for all pixels (44 MB per layer for COIN's 10 x 28
net on a 768 x 512 image), so each elementwise pass streams through main memory and every matmul is a
tall, narrow one. Here the step runs tile by tile: for a few thousand pixels at a time it computes the
forward pass, the squared error and the backward pass with hand-written gradients, while that tile's
activations (a few hundred KiB per layer) stay in the core's cache, and adds the tile's weight gradients
into accumulators. The tiles are shared out among worker threads, each running single-threaded kernels on
its own tiles with its own accumulators (no OpenMP barrier per small op); the accumulators are summed in a
fixed order at the end. A worker's loop over its tiles is compiled by TorchScript, so it runs without holding
the GIL: in plain Python two workers' small ops queue for it (a 4 x 20 net at 256², two workers: 20.8 ms a
step on 2,048-pixel tiles in Python, 15.8 ms scripted; on 512-pixel tiles 40.2 against 19.6 ms). Each
layer's omega rides on a scaled copy of its weights (omega W, omega b), so neither direction spends an
elementwise pass on it. Where no hidden width is a whole number of 16-float vectors (COIN's 20-49 wide
ladder), each layer's bias rides inside its matmul too, on a constant input column (see `_run_tiles_folded`):
MKL's narrow matmul with a broadcast bias cost about twice the bare one.

What changes against autograd is only the rounding (the order of the sums over tiles, omega applied to the
weights instead of the products, the bias added inside the matmul), so losses and gradients agree within
float rounding (tests check it). For one configuration (tile rows, worker count, machine) every rerun is
bit-identical: tiles go to workers by index and every sum runs in a fixed order.

`tiled_mse(engine, inputs, values, scale)` is the loss as an autograd node: its forward computes the
gradients too and its backward hands them to the parameters, so callers keep `loss.backward()` and any
optimizer.
"""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Tuple

import torch
from torch import nn

from siren_inr.models.siren import Siren, SineLayer
from siren_inr.models.siren_pe import SirenPE

TILE_ELEMENTS = 1 << 18  # rows per tile x hidden width: 1 MiB per activation, the L2 of a core here
MIN_TILE_ROWS = 256
# Nets whose hidden widths are no multiple of this run each layer as one matmul with the bias inside it (see
# `_run_tiles_folded`). Measured on 2 AVX-512 cores, 256² pixels, a step against the bias as addmm's input: 4x20
# 0.78, 3x24 0.85, 4x30 0.75, 9x40 0.83, 12x49 0.84, 3x100 0.92; but for 3x32 1.32, 3x48 1.28, 3x64 1.09,
# 3x96 1.14, 3x128 1.07, 3x256 1.18: a width of whole 16-float vectors loses more to the extra column than
# the bias costs it.
FOLD_UNLESS_MULTIPLE_OF = 16


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
    """One worker's buffers (reused every step; a tile of n rows uses their first n rows) and gradient accumulators."""

    def __init__(self, rows: int, shapes: list[tuple[int, int]], out_features: int, dtype: torch.dtype):
        self.shapes = shapes
        hidden = [out for out, _ in shapes[:-1]]
        self.z = [torch.empty(rows, w, dtype=dtype) for w in hidden]  # pre-activation, then cos(z) * grad
        self.a = [torch.empty(rows, w, dtype=dtype) for w in hidden]  # sin(z): the next layer's input
        widest = max(hidden)
        self.g = torch.empty(rows * widest, dtype=dtype)  # the gradient flowing down into a layer (as [n, w])
        self.out = torch.empty(rows, out_features, dtype=dtype)
        self.z_out = torch.empty(rows, out_features, dtype=dtype)
        self.ones = torch.ones(rows, dtype=dtype)
        self.grad_w = [torch.zeros(out, inp, dtype=dtype) for out, inp in shapes]
        self.grad_b = [torch.zeros(out, dtype=dtype) for out, _ in shapes]
        self.sq = torch.zeros((), dtype=dtype)


class _FoldedState:
    """A worker's buffers when the biases ride in the matmuls: each hidden layer's pre-activation and activation
    carry one more column, constant (pi / 2, whose sine is exactly 1: the next layer's bias input), and the
    input tile one more column of ones; one accumulator per layer holds its weight and bias gradients."""

    def __init__(self, rows: int, shapes: list[tuple[int, int]], out_features: int, dtype: torch.dtype):
        hidden = [out for out, _ in shapes[:-1]]
        self.x = torch.ones(rows, shapes[0][1] + 1, dtype=dtype)  # the input tile, then a column of ones
        self.z = [torch.empty(rows, w + 1, dtype=dtype) for w in hidden]
        self.a = [torch.empty(rows, w + 1, dtype=dtype) for w in hidden]
        self.g = torch.empty(rows * (max(hidden) + 1), dtype=dtype)
        self.out = torch.empty(rows, out_features, dtype=dtype)
        self.z_out = torch.empty(rows, out_features, dtype=dtype)
        # layer i: [in_i + 1, out_i + 1] (the last layer [in + 1, out]); the extra column is not a parameter's
        self.grad = [torch.zeros(inp + 1, out + (1 if i < len(shapes) - 1 else 0), dtype=dtype)
                     for i, (out, inp) in enumerate(shapes)]
        self.sq = torch.zeros((), dtype=dtype)


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
        # The working copies omega W and omega b (W and b for a plain linear output). Folded: layer i as one matrix
        # [[omega W^T, 0], [omega b, pi / 2]] applied to [x, 1] (the last layer without the constant column), so a
        # layer is one bare matmul, bias included; the working copies are then views into it.
        self.folded = all(out % FOLD_UNLESS_MULTIPLE_OF for out, _ in self.shapes[:-1])
        self.mats: list[torch.Tensor] = []
        if self.folded:
            for i, (out, inp) in enumerate(self.shapes):
                last = i == len(self.shapes) - 1
                mat = torch.zeros(inp + 1, out + (0 if last else 1), dtype=dtype)
                if not last:
                    mat[inp, out] = torch.pi / 2
                self.mats.append(mat)
            self.weights = [mat[:inp, :out].t() for mat, (out, inp) in zip(self.mats, self.shapes)]
            self.biases = [mat[inp, :out] for mat, (out, inp) in zip(self.mats, self.shapes)]
        else:
            self.weights = [torch.zeros(out, inp, dtype=dtype) for out, inp in self.shapes]
            self.biases = [torch.zeros(out, dtype=dtype) for out, _ in self.shapes]
        self.weights_t = [w.t() for w in self.weights]
        self._states: list = []
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0
        self._lock = threading.Lock()

    @property
    def parameters(self) -> list[nn.Parameter]:
        """The parameters whose gradients `run` returns, in this order: weight, bias per layer."""
        return [p for lin, _ in self.layers for p in (lin.weight, lin.bias)]

    def _load_weights(self, params: list[torch.Tensor]) -> None:
        """omega W and omega b of every layer (W and b for a plain linear output) into the working copies (folded:
        into the layer matrices)."""
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
        kind = _FoldedState if self.folded else _WorkerState
        while len(self._states) < workers:
            self._states.append(kind(self.rows, self.shapes, self.out_features, self.dtype))
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
            for i, (out, inp) in enumerate(self.shapes):
                if self.folded:
                    total = states[0].grad[i].clone()
                    for state in states[1:]:
                        total += state.grad[i]
                    omega = self.omegas[i]
                    if omega is not None:
                        total *= omega  # d z / d W carries omega
                    grad_w, grad_b = total[:inp, :out].t().contiguous(), total[inp, :out].clone()
                else:
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
        starts, stops = [t[0] for t in tiles], [t[1] for t in tiles]
        if self.folded:
            _tile_kernel(folded=True)(inputs, values, self.mats, self.final_sine, grad_scale, starts, stops, state.x,
                                      state.z, state.a, state.g, state.out, state.z_out, state.grad, state.sq, output)
        else:
            _tile_kernel()(inputs, values, self.weights, self.weights_t, self.biases, self.omegas, self.final_sine,
                           grad_scale, starts, stops, state.z, state.a, state.g, state.out, state.z_out, state.ones,
                           state.grad_w, state.grad_b, state.sq, output)


def _forward(x_in: torch.Tensor, mats: List[torch.Tensor], biases: Optional[List[torch.Tensor]], final_sine: bool,
             n: int, zs_full: List[torch.Tensor], acts_full: List[torch.Tensor], out_full: torch.Tensor,
             z_out_full: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor], torch.Tensor, torch.Tensor]:
    """A tile's forward pass into the first n rows of the buffers: (pre-activations, activations, output, the
    output's pre-activation: only written with a final sine). Layer i is x @ mats[i] (+ biases[i] when given:
    the bias as addmm's input)."""
    zs: List[torch.Tensor] = []
    acts: List[torch.Tensor] = []
    x = x_in
    last = len(mats) - 1
    out = out_full[:n]
    z_out = z_out_full[:n]
    for i in range(last + 1):
        z = zs_full[i][:n] if i < last else (z_out if final_sine else out)
        if biases is None:
            torch.mm(x, mats[i], out=z)
        else:
            torch.addmm(biases[i], x, mats[i], out=z)
        if i < last:
            a = acts_full[i][:n]
            torch.sin(z, out=a)
            zs.append(z)
            acts.append(a)
            x = a
    if final_sine:
        torch.sin(z_out, out=out)
    return zs, acts, out, z_out


def _output_gradient(out: torch.Tensor, z_out: torch.Tensor, final_sine: bool, values: torch.Tensor, start: int,
                     stop: int, sq: torch.Tensor, grad_scale: float, output: Optional[torch.Tensor]) -> torch.Tensor:
    """A tile's output `out` (with a final sine, `z_out` its pre-activation) against values[start:stop]: the
    output copied into `output` when given, the squared error added into `sq`, and d loss / d (the last
    layer's pre-activation) returned, computed in place in `out` (`z_out`)."""
    if output is not None:
        output[start:stop].copy_(out)
    out.sub_(values[start:stop])
    flat = out.reshape(-1)
    sq.add_(torch.dot(flat, flat))
    out.mul_(grad_scale)  # d loss / d output
    if final_sine:
        return z_out.cos_().mul_(out)
    return out


def _run_tiles(inputs: torch.Tensor, values: torch.Tensor, weights: List[torch.Tensor], weights_t: List[torch.Tensor],
               biases: List[torch.Tensor], omegas: List[Optional[float]], final_sine: bool, grad_scale: float,
               starts: List[int], stops: List[int], zs_full: List[torch.Tensor], acts_full: List[torch.Tensor],
               g: torch.Tensor, out_full: torch.Tensor, z_out_full: torch.Tensor, ones_full: torch.Tensor,
               grad_w: List[torch.Tensor], grad_b: List[torch.Tensor], sq: torch.Tensor,
               output: Optional[torch.Tensor]) -> None:
    """One worker's tiles: forward, squared error and backward of each, the weight gradients added into grad_w and
    grad_b and the squared error into sq (all zeroed first). `weights` and `biases` are omega W and omega b.

    Written in the subset of Python that TorchScript compiles: scripted, the whole loop runs without the GIL, so the
    workers' many small ops do not queue for it (in plain Python two workers ran barely faster than one)."""
    for grad in grad_w:
        grad.zero_()
    for grad in grad_b:
        grad.zero_()
    sq.zero_()
    last = len(weights) - 1
    for t in range(len(starts)):
        start = starts[t]
        stop = stops[t]
        n = stop - start
        x_in = inputs[start:stop]
        zs, acts, out, z_out = _forward(x_in, weights_t, biases, final_sine, n, zs_full, acts_full, out_full,
                                        z_out_full)
        x = acts[last - 1] if last > 0 else x_in
        # grad: d loss / d z of the layer at hand, z = x (omega W)^T + omega b; so d loss / d W carries omega.
        grad = _output_gradient(out, z_out, final_sine, values, start, stop, sq, grad_scale, output)
        ones = ones_full[:n]
        omega = 1.0
        last_omega = omegas[last]
        if final_sine and last_omega is not None:
            omega = last_omega
        grad_t = grad.t()
        grad_w[last].addmm_(grad_t, x, alpha=omega)
        grad_b[last].addmv_(grad_t, ones, alpha=omega)
        for i in range(last - 1, -1, -1):
            # d loss / d (this layer's output), in one buffer shared by all layers: each layer's upstream is read
            # (into cos(z) * upstream) before the next layer down writes it
            upstream = g[: n * weights[i + 1].shape[1]].view(n, weights[i + 1].shape[1])
            torch.mm(grad, weights[i + 1], out=upstream)
            grad = zs[i].cos_().mul_(upstream)  # times d sin(z) / dz
            layer_omega = omegas[i]
            omega = 1.0 if layer_omega is None else layer_omega
            grad_t = grad.t()
            grad_w[i].addmm_(grad_t, x_in if i == 0 else acts[i - 1], alpha=omega)
            grad_b[i].addmv_(grad_t, ones, alpha=omega)


def _run_tiles_folded(inputs: torch.Tensor, values: torch.Tensor, mats: List[torch.Tensor], final_sine: bool,
                      grad_scale: float, starts: List[int], stops: List[int], x_full: torch.Tensor,
                      zs_full: List[torch.Tensor], acts_full: List[torch.Tensor], g: torch.Tensor,
                      out_full: torch.Tensor, z_out_full: torch.Tensor, grads: List[torch.Tensor], sq: torch.Tensor,
                      output: Optional[torch.Tensor]) -> None:
    """`_run_tiles` for narrow nets with each layer's bias inside its matmul: `mats[i]` is [[omega W^T, 0],
    [omega b, pi / 2]] (see `_FoldedState`). grads[i] receives [x, 1]^T (d loss / d z): the weight gradient
    (transposed) over the bias gradient, both still to be multiplied by omega, and a last column that is no
    parameter's. The constant column only ever feeds the constant column below it, so whatever its gradient
    holds stays there."""
    for grad in grads:
        grad.zero_()
    sq.zero_()
    last = len(mats) - 1
    in_features = x_full.shape[1] - 1
    for t in range(len(starts)):
        start = starts[t]
        stop = stops[t]
        n = stop - start
        x_in = x_full[:n]
        x_in[:, :in_features].copy_(inputs[start:stop])  # the last column stays 1
        # z = omega (x W^T + b) in the parameters' columns, pi / 2 in the last
        zs, acts, out, z_out = _forward(x_in, mats, None, final_sine, n, zs_full, acts_full, out_full, z_out_full)
        x = acts[last - 1] if last > 0 else x_in
        grad = _output_gradient(out, z_out, final_sine, values, start, stop, sq, grad_scale, output)
        grads[last].addmm_(x.t(), grad)
        for i in range(last - 1, -1, -1):
            cols = mats[i + 1].shape[0]
            upstream = g[: n * cols].view(n, cols)  # one buffer for every layer, as in _run_tiles
            torch.mm(grad, mats[i + 1].t(), out=upstream)
            grad = zs[i].cos_().mul_(upstream)
            grads[i].addmm_((x_in if i == 0 else acts[i - 1]).t(), grad)


_KERNELS: dict = {}
_KERNEL_LOCK = threading.Lock()


def _tile_kernel(folded: bool = False):
    """`_run_tiles` (`_run_tiles_folded`) compiled by TorchScript once per process (the plain function where
    TorchScript cannot)."""
    kernel = _KERNELS.get(folded)
    if kernel is None:
        with _KERNEL_LOCK:
            kernel = _KERNELS.get(folded)
            if kernel is None:
                source = _run_tiles_folded if folded else _run_tiles
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # TorchScript's deprecation notice; it still runs here
                        kernel = torch.jit.script(source)
                except Exception:  # noqa: BLE001 - a torch without TorchScript: the same code, in Python
                    kernel = source
                _KERNELS[folded] = kernel
    return kernel


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


def tiled_step_applies(net: nn.Module, device_type: str) -> bool:
    """Whether a fit of `net` on `device_type` ("cpu", "cuda") would take the tiled step: a SIREN of sine layers,
    fp32, on the CPU."""
    first = next(net.parameters(), None)
    return (first is not None and device_type == "cpu" and first.dtype == torch.float32 and supports_tiled(net))


def tiled_step_for(net: nn.Module, inputs: torch.Tensor) -> TiledSirenStep | None:
    """A tiled step for fitting `net` on `inputs`, or None where it does not apply (not a SIREN, not on the CPU,
    not fp32)."""
    first = next(net.parameters(), None)
    if first is None or first.device.type != inputs.device.type or not tiled_step_applies(net, inputs.device.type):
        return None
    return TiledSirenStep(net)
