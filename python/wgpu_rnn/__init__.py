"""wgpu-rnn from Python: torch.nn-compatible RNN, LSTM and GRU (and minGRU, minLSTM) whose
forward and backpropagation through time run in the engine's WGSL kernels on any GPU that
wgpu reaches (Vulkan, Metal, DX12; lavapipe on a plain CPU).

    import wgpu_rnn
    lstm = wgpu_rnn.LSTM(64, 128, num_layers=2, batch_first=True)
    out, (h_n, c_n) = lstm(x)          # x: numpy float32 or a torch tensor

`precision="f16"` (or "bf16") stores the weight matrices in 16 bits on the GPU (biases,
states and sums stay f32): the model holds its weights rounded to that precision, while torch
parameters and an optimizer keep the f32 values (mixed precision).

numpy in gives numpy out; torch in gives torch out, and with tensors that require grad the
call is a torch.autograd.Function whose backward runs the engine's BPTT. torch is optional.

Copies per call: the input (and states) are copied to float32 C-contiguous host arrays
(no copy when they already are), uploaded to the GPU, and the results read back into new
arrays; with torch, parameters that changed since the last call (an optimizer step) are
copied to the GPU first, and outputs are wrapped with torch.from_numpy (no copy).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np

from . import _core

try:  # torch is optional
    import torch
except ImportError:  # pragma: no cover - exercised where torch is absent
    torch = None
if torch is not None:
    try:
        # torch.optim imports torch._dynamo on first use; once lavapipe (Mesa's software
        # Vulkan driver, which loads its own LLVM) is in the process, that import crashed
        # with a segmentation fault here (torch 2.15, Mesa 22.3). Imported first, it works.
        import torch._dynamo  # noqa: F401
    except Exception:  # pragma: no cover - older or trimmed torch builds
        pass

__all__ = [
    "RNN", "LSTM", "GRU", "MinGRU", "MinLSTM", "Stream", "from_torch", "load", "info",
    "stability",
]


def info() -> Dict[str, Any]:
    """The adapter the engine runs on: description, name, backend, device type, driver."""
    return dict(_core.info())


def _is_torch(v: Any) -> bool:
    return torch is not None and isinstance(v, torch.Tensor)


def _f32(name: str, v: Any) -> np.ndarray:
    """float32, C-contiguous host array of `v` (numpy or torch); float64 and strided inputs
    are converted (a copy), other dtypes are refused."""
    if _is_torch(v):
        v = v.detach().cpu().numpy()
    a = np.asarray(v)
    if a.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point array, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)


def _lengths(v: Any, b: int) -> Optional[np.ndarray]:
    if v is None:
        return None
    if _is_torch(v):
        v = v.detach().cpu().numpy()
    a = np.asarray(v)
    if a.dtype.kind not in "iu":
        raise TypeError(f"lengths: expected integers, got dtype {a.dtype}")
    if a.shape != (b,):
        raise ValueError(f"lengths: expected shape ({b},), got {a.shape}")
    return np.ascontiguousarray(a, dtype=np.int64)


class _RNNBase:
    """The shared body of the modules: PyTorch's constructor arguments, parameters under
    PyTorch's names, and calls in PyTorch's conventions."""

    _cell = "rnn"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 bidirectional: bool = False, *, seed: int = 0, variant: Optional[str] = None,
                 precision: str = "f32", _model: Optional["_core.Model"] = None) -> None:
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.nonlinearity = nonlinearity
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.bidirectional = bool(bidirectional)
        self._model = _model if _model is not None else _core.Model(
            self._cell, self.input_size, self.hidden_size, self.num_layers,
            self.bidirectional, self.bias, nonlinearity, seed, precision)
        if variant is not None:
            self._model.set_variant(variant)
        self._params: Optional[Dict[str, Any]] = None  # torch Parameters, made on demand
        self._synced: Dict[str, int] = {}  # parameter name -> torch version uploaded

    # ---- parameters ------------------------------------------------------------------
    @property
    def precision(self) -> str:
        """How the weight matrices are stored on the GPU: "f32", "f16" or "bf16"."""
        return self._model.precision

    @property
    def _has_c(self) -> bool:
        return self._model.cell == "lstm"

    def state_dict(self) -> Dict[str, np.ndarray]:
        """Every parameter as a float32 numpy array under PyTorch's name: the values the model
        computes with (a 16-bit model's weight matrices rounded to its precision)."""
        self._sync()
        return dict(self._model.state_dict())

    def load_state_dict(self, sd: Dict[str, Any], strict: bool = True) -> None:
        """Loads parameters by PyTorch's names (numpy arrays or torch tensors)."""
        arrays = {k: _f32(k, v) for k, v in sd.items()}
        self._model.load_state_dict(arrays, strict)
        if self._params is not None:
            with torch.no_grad():
                for k, v in arrays.items():
                    self._params[k].copy_(torch.from_numpy(v))
            self._synced = {k: p._version for k, p in self._params.items()}

    def named_parameters(self) -> Iterator[Tuple[str, Any]]:
        """(name, torch.nn.Parameter) in PyTorch's order: what a torch optimizer steps."""
        return iter(self._torch_params().items())

    def parameters(self) -> Iterator[Any]:
        return iter(self._torch_params().values())

    def _torch_params(self) -> Dict[str, Any]:
        if torch is None:
            raise ImportError("parameters() gives torch tensors: pip install torch")
        if self._params is None:
            sd = self._model.state_dict()
            self._params = {
                name: torch.nn.Parameter(torch.from_numpy(np.array(sd[name])))
                for name, _ in self._model.param_shapes()
            }
            self._synced = {k: p._version for k, p in self._params.items()}
        return self._params

    def _sync(self) -> None:
        """Uploads the torch parameters an optimizer changed since the last call."""
        if self._params is None:
            return
        changed = {k: p for k, p in self._params.items() if self._synced.get(k) != p._version}
        if changed:
            self._model.load_state_dict(
                {k: p.detach().cpu().numpy().astype(np.float32, copy=False)
                 for k, p in changed.items()}, False)
            self._synced.update({k: p._version for k, p in changed.items()})

    def save(self, path: str) -> None:
        """Writes the parameters as .safetensors under PyTorch's names (atomically); a 16-bit
        model writes its weight matrices as F16 or BF16."""
        self._sync()
        self._model.save(str(path))

    # ---- calls -----------------------------------------------------------------------
    def __call__(self, x: Any, hx: Any = None, lengths: Any = None):
        return self.forward(x, hx, lengths)

    def forward(self, x: Any, hx: Any = None, lengths: Any = None):
        """(output, h_n), or for LSTM (output, (h_n, c_n)), exactly as torch.nn returns
        them; `x` may also be a torch PackedSequence (then the output is one too)."""
        packed = False
        if torch is not None and isinstance(x, torch.nn.utils.rnn.PackedSequence):
            packed = True
            x, lengths = torch.nn.utils.rnn.pad_packed_sequence(x, batch_first=self.batch_first)
        h0, c0 = (hx if isinstance(hx, (tuple, list)) else (hx, None)) if hx is not None \
            else (None, None)
        if self._has_c and hx is not None and not isinstance(hx, (tuple, list)):
            raise ValueError("LSTM: hx must be a tuple (h0, c0)")
        use_torch = any(_is_torch(v) for v in (x, h0, c0))
        if use_torch:
            out, h_n, c_n = _EngineFunction.apply(self, x, h0, c0, lengths,
                                                  *self._torch_params().values())
        else:
            out, h_n, c_n = self._run(x, h0, c0, lengths)
        if packed:
            out = torch.nn.utils.rnn.pack_padded_sequence(
                out, lengths, batch_first=self.batch_first, enforce_sorted=False)
        return (out, (h_n, c_n)) if self._has_c else (out, h_n)

    def _arrays(self, x: Any, h0: Any, c0: Any, lengths: Any):
        xa = _f32("x", x)
        if xa.ndim != 3:
            raise ValueError(f"x: expected 3 dimensions, got shape {xa.shape}")
        if self.batch_first:
            xa = np.ascontiguousarray(xa.transpose(1, 0, 2))
        b = xa.shape[1]
        h0a = None if h0 is None else _f32("h0", h0)
        c0a = None if c0 is None else _f32("c0", c0)
        return xa, h0a, c0a, _lengths(lengths, b)

    def _run(self, x, h0, c0, lengths):
        """numpy forward: returns numpy (output, h_n, c_n) in the module's layout."""
        self._sync()
        xa, h0a, c0a, la = self._arrays(x, h0, c0, lengths)
        out, h_n, c_n = self._model.forward(xa, h0a, c0a, la)
        if self.batch_first:
            out = np.ascontiguousarray(out.transpose(1, 0, 2))
        return out, h_n, c_n

    def stream(self, batch: int, hx: Any = None) -> "Stream":
        """A stream over `batch` sequences: `step(x_chunk)` advances the state."""
        return Stream(self, batch, hx)


if torch is not None:
    class _EngineFunction(torch.autograd.Function):
        """The module's call as one autograd node: forward and BPTT in the engine."""

        @staticmethod
        def forward(ctx, module, x, h0, c0, lengths, *params):
            module._sync()
            xa, h0a, c0a, la = module._arrays(x, h0, c0, lengths)
            ctx.module = module
            ctx.saved = (xa, h0a, c0a, la)
            ctx.like = x if _is_torch(x) else None
            ctx.has_h0, ctx.has_c0 = h0 is not None, c0 is not None
            out, h_n, c_n = module._model.forward(xa, h0a, c0a, la)
            if module.batch_first:
                out = np.ascontiguousarray(out.transpose(1, 0, 2))
            dev = x.device if _is_torch(x) else "cpu"
            return (torch.from_numpy(out).to(dev), torch.from_numpy(h_n).to(dev),
                    torch.from_numpy(c_n).to(dev) if c_n is not None else None)

        @staticmethod
        def backward(ctx, d_out, d_h_n, d_c_n):
            module = ctx.module
            xa, h0a, c0a, la = ctx.saved
            t, b = xa.shape[0], xa.shape[1]
            d = 2 if module.bidirectional else 1
            if d_out is None:
                d_out = torch.zeros((t, b, d * module.hidden_size))
            elif module.batch_first:
                d_out = d_out.transpose(0, 1)
            r = module._model.forward_backward(
                xa, _f32("d_output", d_out), h0a, c0a, la,
                None if d_h_n is None else _f32("d_h_n", d_h_n),
                None if d_c_n is None or not module._has_c else _f32("d_c_n", d_c_n))
            g = r["grad"]
            dev = ctx.like.device if ctx.like is not None else "cpu"
            need = ctx.needs_input_grad
            dx = None
            if need[1]:
                dx = torch.from_numpy(g["x"])
                if module.batch_first:
                    dx = dx.transpose(0, 1).contiguous()
                dx = dx.to(dev)
            dh0 = torch.from_numpy(g["h0"]).to(dev) if need[2] else None
            dc0 = torch.from_numpy(g["c0"]).to(dev) if need[3] and "c0" in g else None
            names = [name for name, _ in module._model.param_shapes()]
            dparams = [torch.from_numpy(g[n]) if need[5 + i] else None
                       for i, n in enumerate(names)]
            return (None, dx, dh0, dc0, None, *dparams)
else:
    _EngineFunction = None


class RNN(_RNNBase):
    """torch.nn.RNN (tanh or relu) on the engine."""
    _cell = "rnn"


class LSTM(_RNNBase):
    """torch.nn.LSTM on the engine."""
    _cell = "lstm"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, bidirectional: bool = False,
                 **kw: Any) -> None:
        super().__init__(input_size, hidden_size, num_layers, "tanh", bias, batch_first,
                         bidirectional, **kw)


class GRU(LSTM):
    """torch.nn.GRU on the engine."""
    _cell = "gru"


class MinGRU(LSTM):
    """minGRU (Feng et al. 2024): weight_ih/bias_ih only, time loop as a scan."""
    _cell = "mingru"


class MinLSTM(LSTM):
    """minLSTM (Feng et al. 2024): weight_ih/bias_ih only, time loop as a scan."""
    _cell = "minlstm"


class Stream:
    """A module advanced a chunk of steps at a time; only the state is kept between calls."""

    def __init__(self, module: _RNNBase, batch: int, hx: Any = None) -> None:
        self.module = module
        self.batch = int(batch)
        h0, c0 = (hx if isinstance(hx, (tuple, list)) else (hx, None)) if hx is not None \
            else (None, None)
        self.h = None if h0 is None else _f32("h0", h0)
        self.c = None if c0 is None else _f32("c0", c0)

    def step(self, x_chunk: Any):
        """Runs x_chunk ([T, B, I], or [B, T, I] with batch_first) from the kept state;
        returns its output and keeps the new state."""
        shape = np.shape(x_chunk)
        b = shape[0] if self.module.batch_first else (shape[1] if len(shape) > 1 else None)
        if len(shape) != 3 or b != self.batch:
            raise ValueError(f"x_chunk: expected 3 dimensions with batch {self.batch}, got {shape}")
        out, h, c = self.module._run(x_chunk, self.h, self.c, None)
        self.h, self.c = h, c
        return out

    @property
    def state(self):
        return (self.h, self.c) if self.module._has_c else self.h


_CLASSES = {"rnn_tanh": RNN, "rnn_relu": RNN, "lstm": LSTM, "gru": GRU, "mingru": MinGRU,
            "minlstm": MinLSTM}


def _wrap(model: "_core.Model", batch_first: bool = False) -> _RNNBase:
    """A module around an engine model, its sizes as the engine holds them."""
    z = model.sizes()
    cls = _CLASSES[model.cell]
    kw = dict(batch_first=batch_first, bidirectional=z["bidirectional"], bias=z["bias"],
              _model=model)
    if cls is RNN:
        nl = "relu" if model.cell == "rnn_relu" else "tanh"
        return RNN(z["input_size"], z["hidden_size"], z["num_layers"], nl, **kw)
    return cls(z["input_size"], z["hidden_size"], z["num_layers"], **kw)


def load(path: str, cell: str, nonlinearity: str = "tanh", batch_first: bool = False,
         precision: Optional[str] = None):
    """A module from a .safetensors file of PyTorch-named parameters (sizes from the file),
    its weight matrices in `precision` (None: the precision the file was saved in)."""
    return _wrap(_core.Model.load(str(path), cell, nonlinearity, precision), batch_first)


def from_torch(module: Any, precision: str = "f32") -> _RNNBase:
    """The engine's twin of a torch.nn.RNN, LSTM or GRU, with a copy of its weights (rounded
    to `precision` on the GPU)."""
    if torch is None:
        raise ImportError("from_torch needs torch")
    kinds = {torch.nn.LSTM: LSTM, torch.nn.GRU: GRU, torch.nn.RNN: RNN}
    cls = kinds.get(type(module))
    if cls is None:
        raise TypeError(f"from_torch: expected torch.nn.RNN, LSTM or GRU, got {type(module)}")
    if getattr(module, "proj_size", 0):
        raise ValueError("from_torch: LSTM with proj_size is not supported")
    kw = dict(num_layers=module.num_layers, bias=module.bias, batch_first=module.batch_first,
              bidirectional=module.bidirectional, precision=precision)
    if cls is RNN:
        m = RNN(module.input_size, module.hidden_size, nonlinearity=module.nonlinearity, **kw)
    else:
        m = cls(module.input_size, module.hidden_size, **kw)
    m.load_state_dict({k: v for k, v in module.state_dict().items()})
    return m


def stability(module: _RNNBase, x: Any, loss: str = "last") -> Dict[str, Any]:
    """`wgpu-rnn stability`'s report for `module` over x [T, B, I] (batch_first respected):
    ‖dL/dh_t‖ per step, growth, verdict, σ_max(W_hh), saturation, as a dict."""
    module._sync()
    xa = _f32("x", x)
    if module.batch_first:
        xa = np.ascontiguousarray(xa.transpose(1, 0, 2))
    return json.loads(module._model.stability_json(xa, loss))
