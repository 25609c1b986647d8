"""numpy only: the modules against the committed PyTorch fixtures, forward and gradients."""
import numpy as np
import pytest

import wgpu_rnn
from conftest import close, fixture, read_header

CASES = ["rnn_tanh", "rnn_relu", "lstm", "gru", "rnn_tanh_l2_bi_len", "lstm_l2_bi_len",
         "gru_l2_bi_len", "lstm_nobias_l2", "mingru_l2_bi_len", "minlstm_l2_bi_len"]
CLASSES = {"rnn": wgpu_rnn.RNN, "lstm": wgpu_rnn.LSTM, "gru": wgpu_rnn.GRU,
           "mingru": wgpu_rnn.MinGRU, "minlstm": wgpu_rnn.MinLSTM}


def module_for(t, meta):
    kw = dict(num_layers=int(meta["num_layers"]), bias=meta["bias"] == "true",
              bidirectional=meta["bidirectional"] == "true")
    cls = CLASSES[meta["cell"]]
    if cls is wgpu_rnn.RNN:
        kw["nonlinearity"] = meta["nonlinearity"]
    m = cls(int(meta["input_size"]), int(meta["hidden_size"]), **kw)
    m.load_state_dict({k: v for k, v in t.items() if k.startswith(("weight_", "bias_"))})
    return m


@pytest.mark.parametrize("name", CASES)
def test_forward_and_gradients_match_pytorch_fixtures(name):
    t, meta = fixture(name)
    m = module_for(t, meta)
    lstm = meta["cell"] == "lstm"
    hx = (t["h0"], t["c0"]) if lstm else t["h0"]
    out, st = m(t["x"], hx, lengths=t.get("lengths"))
    h_n = st[0] if lstm else st
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    close(out, t["output"], 1e-5, 1e-4, f"{name} output")
    close(h_n, t["h_n"], 1e-5, 1e-4, f"{name} h_n")
    if lstm:
        close(st[1], t["c_n"], 1e-5, 1e-4, f"{name} c_n")
    # gradients through the low-level model (what the torch autograd Function calls)
    x = np.ascontiguousarray(t["x"], np.float32)
    f32 = lambda k: np.ascontiguousarray(t[k], np.float32)
    lengths = t.get("lengths")
    r = m._model.forward_backward(x, f32("d_output"), f32("h0"), f32("c0") if lstm else None,
                                  None if lengths is None else np.ascontiguousarray(lengths),
                                  f32("d_h_n"), f32("d_c_n") if lstm else None)
    for k, g in r["grad"].items():
        close(g, t["grad." + k], 1e-4, 1e-3, f"{name} grad.{k}")


def test_batch_first_is_a_transpose():
    t, meta = fixture("gru")
    m = module_for(t, meta)
    out, h_n = m(t["x"], t["h0"])
    m.batch_first = True
    out_bf, h_n_bf = m(np.ascontiguousarray(t["x"].transpose(1, 0, 2)), t["h0"])
    np.testing.assert_array_equal(out_bf, out.transpose(1, 0, 2))
    np.testing.assert_array_equal(h_n_bf, h_n)


def test_save_load_and_state_dict_round_trip(tmp_path):
    m = wgpu_rnn.LSTM(5, 7, num_layers=2, bidirectional=True, seed=3)
    p = tmp_path / "m.safetensors"
    m.save(p)
    back = wgpu_rnn.load(p, "lstm")
    assert (back.num_layers, back.bidirectional, back.hidden_size) == (2, True, 7)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v)
    x = np.random.default_rng(0).standard_normal((6, 3, 5)).astype(np.float32)
    np.testing.assert_array_equal(m(x)[0], back(x)[0])


def test_stream_matches_the_whole_sequence():
    m = wgpu_rnn.MinGRU(4, 8, num_layers=2, seed=1)
    x = np.random.default_rng(1).standard_normal((9, 2, 4)).astype(np.float32)
    full, h_n = m(x)
    s = m.stream(2)
    parts = [s.step(x[a:b]) for a, b in [(0, 1), (1, 5), (5, 9)]]
    close(np.concatenate(parts), full, 1e-6, 1e-5, "streamed output")
    close(s.state, h_n, 1e-6, 1e-5, "streamed state")


def test_info_and_stability_report():
    i = wgpu_rnn.info()
    assert i["name"] and i["backend"]
    m = wgpu_rnn.GRU(3, 6, seed=2)
    x = np.random.default_rng(2).standard_normal((12, 2, 3)).astype(np.float32)
    r = wgpu_rnn.stability(m, x)
    assert len(r["grad_h_norm"]) == 12 and r["verdict"] in ("vanishing", "stable", "exploding")
    assert abs(r["grad_h_norm"][-1] - 6 ** 0.5) < 1e-4


def test_bad_inputs_are_python_errors_with_the_engines_message():
    m = wgpu_rnn.LSTM(4, 5)
    with pytest.raises(ValueError, match="x: expected shape"):
        m(np.zeros((3, 2, 7), np.float32))
    with pytest.raises(ValueError, match="expected 3 dimensions"):
        m(np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        m(np.zeros((3, 2, 4), np.int32))
    with pytest.raises(ValueError, match="h0"):
        m(np.zeros((3, 2, 4), np.float32), (np.zeros((1, 3, 5), np.float32),
                                            np.zeros((1, 2, 5), np.float32)))
    with pytest.raises(ValueError, match="length"):
        m(np.zeros((3, 2, 4), np.float32), lengths=[4, 1])
    with pytest.raises(ValueError, match="not finite|NaN|non-finite"):
        m(np.full((3, 2, 4), np.nan, np.float32))
    with pytest.raises(ValueError, match="unexpected parameter `weight_hh_l9`"):
        m.load_state_dict({"weight_hh_l9": np.zeros((20, 5), np.float32)})
    with pytest.raises(ValueError, match="expected shape"):
        m.load_state_dict({"weight_hh_l0": np.zeros((5, 5), np.float32)}, strict=False)
    with pytest.raises(ValueError, match="cell"):
        wgpu_rnn.RNN(3, 4, nonlinearity="sigmoid")


def test_float64_and_strided_inputs_are_converted():
    m = wgpu_rnn.RNN(4, 5, seed=4)
    x = np.random.default_rng(3).standard_normal((6, 3, 8))[:, :, ::2]  # float64, strided
    want, _ = m(np.ascontiguousarray(x, np.float32))
    got, _ = m(x)
    np.testing.assert_array_equal(got, want)


def test_loaded_modules_take_their_sizes_from_the_file(tmp_path):
    for cls, kw in [(wgpu_rnn.RNN, {"nonlinearity": "relu"}), (wgpu_rnn.MinLSTM, {})]:
        m = cls(3, 5, num_layers=2, bias=False, bidirectional=True, **kw)
        p = tmp_path / "m.safetensors"
        m.save(p)
        back = wgpu_rnn.load(p, m._model.cell)
        got = (type(back), back.input_size, back.hidden_size, back.num_layers,
               back.bidirectional, back.bias, back.nonlinearity)
        assert got == (cls, 3, 5, 2, True, False, kw.get("nonlinearity", "tanh"))


def representable(v, precision):
    """Whether every value of a float32 array is exactly a value of `precision`."""
    if precision == "f16":
        return np.array_equal(v.astype(np.float16).astype(np.float32), v)
    return not (v.view(np.uint32) & 0xFFFF).any()  # bf16: the top half of an f32


@pytest.mark.parametrize("precision,dtype,unit", [("f16", "F16", 2.0 ** -11),
                                                  ("bf16", "BF16", 2.0 ** -8)])
def test_16bit_models_hold_rounded_weights_and_keep_their_dtype(tmp_path, precision, dtype,
                                                                   unit):
    m = wgpu_rnn.LSTM(6, 8, num_layers=2, seed=5, precision=precision)
    full = wgpu_rnn.LSTM(6, 8, num_layers=2, seed=5)
    assert (m.precision, full.precision) == (precision, "f32")
    sd, sd32 = m.state_dict(), full.state_dict()
    for k, v in sd.items():
        if k.startswith("weight_"):
            assert representable(v, precision), f"{k} not rounded to {precision}"
            assert (v != sd32[k]).any(), f"{k}: nothing was rounded"
            assert (np.abs(v - sd32[k]) <= unit * np.abs(sd32[k])).all(), f"{k}: off by more"
        else:
            np.testing.assert_array_equal(v, sd32[k])  # biases stay f32
    x = np.random.default_rng(5).standard_normal((7, 3, 6)).astype(np.float32)
    out = m(x)[0]
    # the f32 network on the rounded weights computes the same numbers...
    twin = wgpu_rnn.LSTM(6, 8, num_layers=2)
    twin.load_state_dict(sd)
    close(out, twin(x)[0], 1e-5, 1e-4, f"{precision} model vs f32 twin")
    # ...which sit within a few units of rounding of the unrounded model's
    moved = np.abs(out - full(x)[0]).max()
    assert 0 < moved < 20 * unit, f"{precision} moved the output by {moved}"
    # saved as F16/BF16 matrices and F32 biases; loaded back in the file's precision
    p = tmp_path / "m.safetensors"
    m.save(p)
    header = read_header(p)
    assert header["__metadata__"]["precision"] == precision
    for k in sd:
        assert header[k]["dtype"] == (dtype if k.startswith("weight_") else "F32"), k
    back = wgpu_rnn.load(p, "lstm")
    assert back.precision == precision
    widened = wgpu_rnn.load(p, "lstm", precision="f32")
    assert widened.precision == "f32"
    for k, v in sd.items():
        np.testing.assert_array_equal(back.state_dict()[k], v)
        np.testing.assert_array_equal(widened.state_dict()[k], v)
    np.testing.assert_array_equal(back(x)[0], out)
    # f32 values loaded into a 16-bit model are rounded the same way
    m.load_state_dict(sd32)
    for k, v in sd.items():
        np.testing.assert_array_equal(m.state_dict()[k], v)
    with pytest.raises(ValueError, match="unknown precision `f8`"):
        wgpu_rnn.GRU(3, 4, precision="f8")
    with pytest.raises(ValueError, match="unknown precision `half`"):
        wgpu_rnn.load(p, "lstm", precision="half")
