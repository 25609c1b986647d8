"""Against torch.nn on the same weights: outputs within 1e-5 + 1e-4·|ref| and gradients of x,
h0, c0 and every parameter within 1e-4 + 1e-3·|ref|, for every cell, with layers,
bidirectional, batch_first, lengths and PackedSequence; and a torch optimizer stepping the
module's parameters."""
import numpy as np
import pytest

try:
    import torch
except ImportError as e:  # fail, never skip: CI must run these
    raise ImportError(
        "the torch equivalence tests need torch: pip install torch (make python-test "
        "installs it)") from e
import wgpu_rnn  # noqa: E402
from conftest import close  # noqa: E402

CONFIGS = [
    # (torch class, kwargs, layers, bidirectional, batch_first, lengths)
    (torch.nn.RNN, {"nonlinearity": "tanh"}, 1, False, False, None),
    (torch.nn.RNN, {"nonlinearity": "relu"}, 2, True, True, [5, 2, 4]),
    (torch.nn.LSTM, {}, 1, False, False, None),
    (torch.nn.LSTM, {}, 2, True, True, [5, 3, 1]),
    (torch.nn.LSTM, {"bias": False}, 2, False, False, [4, 5, 2]),
    (torch.nn.GRU, {}, 1, True, False, None),
    (torch.nn.GRU, {}, 2, True, True, [1, 5, 3]),
]


def run_torch(m, x, hx, lengths, batch_first):
    if lengths is None:
        return m(x, hx)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    out, st = m(packed, hx)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first, total_length=5)
    return out, st


@pytest.mark.parametrize("cls,kw,layers,bi,bf,lengths", CONFIGS)
def test_forward_and_backward_match_torch_nn(cls, kw, layers, bi, bf, lengths):
    torch.manual_seed(7)
    I, H, T, B = 3, 6, 5, 3
    ref = cls(I, H, num_layers=layers, bidirectional=bi, batch_first=bf, **kw)
    ours = wgpu_rnn.from_torch(ref)
    D = 2 if bi else 1
    shape = (B, T, I) if bf else (T, B, I)
    x = torch.randn(*shape)
    h0 = 0.5 * torch.randn(layers * D, B, H)
    lstm = cls is torch.nn.LSTM
    hx = (h0, 0.5 * torch.randn(layers * D, B, H)) if lstm else h0

    def leaves():
        xs = x.clone().requires_grad_()
        hs = tuple(h.clone().requires_grad_() for h in hx) if lstm else hx.clone().requires_grad_()
        return xs, hs

    xr, hr = leaves()
    out_r, st_r = run_torch(ref, xr, hr, lengths, bf)
    xo, ho = leaves()
    if lengths is None:
        out_o, st_o = ours(xo, ho)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xo, torch.tensor(lengths), batch_first=bf, enforce_sorted=False)
        out_o, st_o = ours(packed, ho)
        out_o, _ = torch.nn.utils.rnn.pad_packed_sequence(out_o, batch_first=bf, total_length=5)
    assert isinstance(out_o, torch.Tensor)
    close(out_o.detach(), out_r.detach(), 1e-5, 1e-4, "output")
    flat = lambda st: list(st) if lstm else [st]
    for a, b in zip(flat(st_o), flat(st_r)):
        close(a.detach(), b.detach(), 1e-5, 1e-4, "state")
    g = torch.Generator().manual_seed(3)
    dy = torch.randn(out_r.shape, generator=g)
    dh = [torch.randn(s.shape, generator=g) for s in flat(st_r)]

    def loss(out, st):
        return (out * dy).sum() + sum((s * d).sum() for s, d in zip(flat(st), dh))

    loss(out_r, st_r).backward()
    loss(out_o, st_o).backward()
    close(xo.grad, xr.grad, 1e-4, 1e-3, "grad x")
    for a, b in zip(flat(ho), flat(hr)):
        close(a.grad, b.grad, 1e-4, 1e-3, "grad state0")
    theirs = dict(ref.named_parameters())
    names = [n for n, _ in ours.named_parameters()]
    assert names == list(theirs), "PyTorch's names, in its order"
    for n, p in ours.named_parameters():
        close(p.grad, theirs[n].grad, 1e-4, 1e-3, f"grad {n}")


def test_a_torch_optimizer_steps_the_engine_parameters():
    torch.manual_seed(0)
    ref = torch.nn.GRU(4, 8)
    ours = wgpu_rnn.from_torch(ref)
    opt_r = torch.optim.SGD(ref.parameters(), lr=0.1)
    opt_o = torch.optim.SGD(ours.parameters(), lr=0.1)
    x = torch.randn(6, 2, 4)
    for _ in range(3):
        for m, opt in ((ref, opt_r), (ours, opt_o)):
            opt.zero_grad()
            out, _ = m(x.requires_grad_(False) if m is ref else x.clone().requires_grad_())
            (out ** 2).mean().backward()
            opt.step()
    for n, p in ours.named_parameters():
        close(p.detach(), dict(ref.named_parameters())[n].detach(), 1e-5, 1e-4, n)
    close(ours(x)[0].detach(), ref(x)[0].detach(), 1e-5, 1e-4, "output after 3 steps")


def test_a_16bit_module_trains_with_f32_parameters():
    """Mixed precision: the torch parameters are the f32 masters the optimizer updates; the
    engine computes with them rounded to f16."""
    torch.manual_seed(1)
    ref = torch.nn.LSTM(4, 8)
    ours = wgpu_rnn.from_torch(ref, precision="f16")
    assert ours.precision == "f16"
    opt = torch.optim.SGD(ours.parameters(), lr=1e-3)
    x = torch.randn(6, 2, 4)
    out, _ = ours(x)
    first = (out ** 2).mean()
    for _ in range(5):
        opt.zero_grad()
        out, _ = ours(x)
        (out ** 2).mean().backward()
        opt.step()
    w = dict(ours.named_parameters())["weight_hh_l0"].detach().numpy()
    assert w.dtype == np.float32
    # steps of ~1e-4 are kept whole in the masters, below f16's resolution of most weights
    assert not np.array_equal(w.astype(np.float16).astype(np.float32), w)
    held = ours.state_dict()["weight_hh_l0"]
    np.testing.assert_array_equal(held, w.astype(np.float16).astype(np.float32))
    out, _ = ours(x)
    assert (out ** 2).mean().item() < first.item(), "five descent steps lowered the loss"


def test_torch_in_torch_out_numpy_in_numpy_out():
    m = wgpu_rnn.LSTM(3, 4)
    out, (h, c) = m(torch.zeros(2, 1, 3))
    assert isinstance(out, torch.Tensor) and isinstance(c, torch.Tensor)
    out, (h, c) = m(np.zeros((2, 1, 3), np.float32))
    assert isinstance(out, np.ndarray) and isinstance(c, np.ndarray)
