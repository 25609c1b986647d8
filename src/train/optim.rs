//! Optimizers with PyTorch's update rules (torch.optim.SGD, Adagrad, Adam), applied on the
//! GPU by shaders/optim.wgsl.

use crate::error::{Error, Result};
use crate::gpu::abi::OptParams;

/// An optimizer and its hyperparameters; its state (momentum, moments) lives on the GPU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// torch.optim.SGD without dampening or Nesterov.
    Sgd {
        /// Learning rate, > 0.
        lr: f32,
        /// Momentum in [0, 1); 0: plain SGD.
        momentum: f32,
    },
    /// torch.optim.Adagrad without learning-rate decay: p -= lr·g / (sqrt(Σg²) + eps).
    Adagrad {
        /// Learning rate, > 0.
        lr: f32,
        /// Added to the denominator, > 0.
        eps: f32,
    },
    /// torch.optim.Adam with bias correction, without weight decay or AMSGrad.
    Adam {
        /// Learning rate, > 0.
        lr: f32,
        /// Decay of the first moment, in [0, 1).
        beta1: f32,
        /// Decay of the second moment, in [0, 1).
        beta2: f32,
        /// Added to the denominator, > 0.
        eps: f32,
    },
}

impl Optimizer {
    /// Adam with PyTorch's defaults (betas 0.9, 0.999, eps 1e-8).
    pub fn adam(lr: f32) -> Self {
        Optimizer::Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }

    /// Fails with `Error::Config` unless lr is finite and > 0 and the other settings are in
    /// the ranges documented on each variant.
    pub fn validate(&self) -> Result<()> {
        let (lr, ok) = match *self {
            Optimizer::Sgd { lr, momentum } => (lr, (0.0..1.0).contains(&momentum)),
            Optimizer::Adagrad { lr, eps } => (lr, eps > 0.0),
            Optimizer::Adam { lr, beta1, beta2, eps } => {
                (lr, (0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2) && eps > 0.0)
            }
        };
        if lr.is_nan() || lr <= 0.0 || !lr.is_finite() || !ok {
            return Err(Error::Config(format!("invalid optimizer settings {self:?}")));
        }
        Ok(())
    }

    /// The uniform block of optim.wgsl for `n` elements at update number `step` (from 1).
    pub(crate) fn params(&self, n: usize, step: u64, clip_value: Option<f32>) -> OptParams {
        let mut p =
            OptParams { n: n as u32, clip_value: clip_value.unwrap_or(0.0), ..Default::default() };
        match *self {
            Optimizer::Sgd { lr, momentum } => {
                p.kind = 0;
                p.lr = lr;
                p.momentum = momentum;
            }
            Optimizer::Adagrad { lr, eps } => {
                p.kind = 1;
                p.lr = lr;
                p.eps = eps;
            }
            Optimizer::Adam { lr, beta1, beta2, eps } => {
                p.kind = 2;
                p.lr = lr;
                p.momentum = beta1;
                p.beta2 = beta2;
                p.eps = eps;
                p.bc1 = 1.0 - beta1.powi(step as i32);
                p.bc2 = 1.0 - beta2.powi(step as i32);
            }
        }
        p
    }
}
