//! The course's analytic loss surfaces, written with tape ops so their gradients come from
//! autodiff like any model's. Each takes a point `v` of shape `[dim]` and returns a scalar.

use downhill_tensor::{Float, Var};

/// A named test function for optimizers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Surface {
    /// `(x − 3)²` in 1-D; minimum at 3.
    Parabola,
    /// `(x − 1)² + 5(y + 2)²`; minimum at (1, −2); condition number 5.
    Bowl,
    /// `½(x² + κ·y²)`: a bowl with condition number κ (≥ 1); minimum at the origin.
    Conditioned {
        /// The condition number (ratio of the largest to the smallest curvature).
        kappa: f64,
    },
    /// Rosenbrock `(1 − x)² + 100(y − x²)²`; minimum at (1, 1) at the end of a curved valley.
    Rosenbrock,
    /// The saddle `x² − y²`: a stationary point at the origin that is not a minimum.
    Saddle,
    /// `x⁴ + y⁴`: minimum at the origin with zero curvature there (gradient descent crawls).
    Flat,
}

impl Surface {
    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        if matches!(self, Surface::Parabola) { 1 } else { 2 }
    }

    /// The minimizer, if the surface has one.
    pub fn minimum(&self) -> Option<Vec<f64>> {
        match self {
            Surface::Parabola => Some(vec![3.0]),
            Surface::Bowl => Some(vec![1.0, -2.0]),
            Surface::Conditioned { .. } | Surface::Flat => Some(vec![0.0, 0.0]),
            Surface::Rosenbrock => Some(vec![1.0, 1.0]),
            Surface::Saddle => None,
        }
    }

    /// A short name for plots and reports.
    pub fn name(&self) -> String {
        match self {
            Surface::Parabola => "(x - 3)^2".to_string(),
            Surface::Bowl => "(x - 1)^2 + 5(y + 2)^2".to_string(),
            Surface::Conditioned { kappa } => format!("(x^2 + {kappa} y^2) / 2"),
            Surface::Rosenbrock => "rosenbrock".to_string(),
            Surface::Saddle => "x^2 - y^2".to_string(),
            Surface::Flat => "x^4 + y^4".to_string(),
        }
    }

    /// The value at `v` (shape `[dim]`) as a scalar on the tape.
    #[track_caller]
    pub fn eval<'t, T: Float>(&self, v: Var<'t, T>) -> Var<'t, T> {
        let c = |x: f64| T::of(x);
        // The two coordinates of a 2-D point, each of shape [1].
        let xy = || (v.narrow(0, 0, 1), v.narrow(0, 1, 1));
        let f = match *self {
            Surface::Parabola => (v - c(3.0)).square(),
            Surface::Bowl => {
                let (x, y) = xy();
                (x - c(1.0)).square() + (y + c(2.0)).square() * c(5.0)
            }
            Surface::Conditioned { kappa } => {
                let (x, y) = xy();
                (x.square() + y.square() * c(kappa)) * c(0.5)
            }
            Surface::Rosenbrock => {
                let (x, y) = xy();
                (x - c(1.0)).square() + (y - x.square()).square() * c(100.0)
            }
            Surface::Saddle => {
                let (x, y) = xy();
                x.square() - y.square()
            }
            Surface::Flat => {
                let (x, y) = xy();
                x.pow(c(4.0)) + y.pow(c(4.0))
            }
        };
        f.sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use downhill_tensor::{Params, Tape, Tensor};

    fn value_and_grad(s: Surface, at: &[f64]) -> (f64, Vec<f64>) {
        let mut p = Params::new();
        let id = p.insert("v", Tensor::vector(at)).unwrap();
        let tape = Tape::new();
        let f = s.eval(tape.param(&p, id));
        let g = f.backward().unwrap();
        (f.item().unwrap(), g.get(id).unwrap().data().to_vec())
    }

    #[test]
    fn values_and_gradients_match_the_formulas() {
        assert_eq!(value_and_grad(Surface::Parabola, &[5.0]), (4.0, vec![4.0]));
        assert_eq!(value_and_grad(Surface::Bowl, &[0.0, 0.0]), (21.0, vec![-2.0, 20.0]));
        assert_eq!(value_and_grad(Surface::Conditioned { kappa: 10.0 }, &[1.0, 1.0]), (5.5, vec![1.0, 10.0]));
        assert_eq!(value_and_grad(Surface::Rosenbrock, &[1.0, 1.0]), (0.0, vec![0.0, 0.0]));
        assert_eq!(value_and_grad(Surface::Rosenbrock, &[0.0, 0.0]), (1.0, vec![-2.0, 0.0]));
        assert_eq!(value_and_grad(Surface::Saddle, &[1.0, 2.0]), (-3.0, vec![2.0, -4.0]));
        assert_eq!(value_and_grad(Surface::Flat, &[1.0, -1.0]), (2.0, vec![4.0, -4.0]));
        for s in [Surface::Parabola, Surface::Bowl, Surface::Rosenbrock, Surface::Flat] {
            let m = s.minimum().unwrap();
            assert_eq!(value_and_grad(s, &m).1, vec![0.0; s.dim()], "{}", s.name());
        }
    }
}
