//! A multi-layer perceptron built from layer sizes and an activation.

use downhill_tensor::{Error, Float, ParamId, Params, Result, Site, Tape, Var};
use rand::Rng;

use crate::{Activation, Init, Linear, Module};

/// A multi-layer perceptron: `Linear → activation → … → Linear`.
///
/// `Mlp::new(&mut params, "mlp", &[4, 16, 16, 3], Activation::Relu, Init::HeNormal, &mut rng)`
/// builds three [`Linear`] layers named `mlp.0`, `mlp.1`, `mlp.2` (parameters `mlp.0.weight`
/// `[4, 16]`, `mlp.0.bias` `[1, 16]`, …) with the activation after every layer but the last.
/// The output layer is linear: feed its output to a loss that takes logits
/// ([`bce_with_logits_loss`](crate::loss::bce_with_logits_loss),
/// [`softmax_cross_entropy`](crate::loss::softmax_cross_entropy)) or to
/// [`mse_loss`](crate::loss::mse_loss) for regression.
///
/// Weights are drawn by `init` in layer order from `rng`; biases start at zero.
#[derive(Clone, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    activation: Activation,
}

impl Mlp {
    /// Builds the network; `sizes` lists the input width, every hidden width and the output
    /// width (at least two entries, none zero).
    #[track_caller]
    pub fn new<T: Float, R: Rng + ?Sized>(
        params: &mut Params<T>,
        name: &str,
        sizes: &[usize],
        activation: Activation,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        let at = Site::caller();
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(Error::InvalidArgument {
                op: "Mlp::new",
                message: format!(
                    "sizes must list the input width, the hidden widths and the output width (at least two, none zero, e.g. &[4, 16, 3]), got {sizes:?}"
                ),
                at,
            });
        }
        let prefix = |i: usize| if name.is_empty() { i.to_string() } else { format!("{name}.{i}") };
        let layer_names: Vec<String> = (0..sizes.len() - 1).map(prefix).collect();
        for n in &layer_names {
            for leaf in ["weight", "bias"] {
                let full = format!("{n}.{leaf}");
                if params.id(&full).is_ok() {
                    return Err(Error::DuplicateParam { name: full });
                }
            }
        }
        let mut layers = Vec::with_capacity(sizes.len() - 1);
        for (n, w) in layer_names.iter().zip(sizes.windows(2)) {
            layers.push(Linear::new(params, n, w[0], w[1], init, rng)?);
        }
        Ok(Mlp { layers, activation })
    }

    /// The ids of every layer's weight and bias, input layer first: the [`Module::params`] of
    /// the network, callable without naming the float type.
    pub fn params(&self) -> Vec<ParamId> {
        self.layers.iter().flat_map(Linear::params).collect()
    }

    /// The layers, input first.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// The activation between layers.
    pub fn activation(&self) -> Activation {
        self.activation
    }
}

impl<T: Float> Module<T> for Mlp {
    #[track_caller]
    fn forward<'t>(&self, tape: &'t Tape<T>, params: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        let mut h = x;
        let last = self.layers.len().saturating_sub(1);
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(tape, params, h);
            if i < last {
                h = self.activation.apply(h);
            }
        }
        h
    }

    fn params(&self) -> Vec<ParamId> {
        Mlp::params(self)
    }
}
