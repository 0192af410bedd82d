//! The learning-rate sweep agrees with the doctor's analytic bound: on the raw (unscaled)
//! diabetes features, full-batch gradient descent on half-MSE is stable exactly below 2/L, where
//! L is the largest eigenvalue of [1, x]ᵀ[1, x]/n that `doctor` reports.

use downhill::nn::LinearRegression;
use downhill::optim::{Sgd, SgdConfig};
use downhill::tensor::Params;
use downhill::train::data::diabetes_raw;
use downhill::train::doctor::{DataContext, check_data};
use downhill::train::fit::{FitConfig, Loss};
use downhill::train::sweep::{SweepConfig, lr_sweep};

#[test]
fn sweep_edge_brackets_the_doctors_bound() {
    let d = diabetes_raw().unwrap();
    let findings = check_data(&d, &DataContext { loss: Some("half_mse".into()), ..Default::default() });
    let l = findings.iter().find(|f| f.code == "max-stable-lr").expect("raw diabetes is badly scaled").score;
    let bound = 2.0 / l;
    // Nine rates a quarter decade apart, placed so that none falls on the bound itself:
    // bound·10^-1.125, ..., bound·10^-0.125, bound·10^0.125, ..., bound·10^0.875.
    let cfg = SweepConfig {
        lr_min: bound * 10f64.powf(-1.125),
        lr_max: bound * 10f64.powf(0.875),
        points: 9,
        steps: 200,
        fit: FitConfig { batch_size: usize::MAX, ..FitConfig::default() },
    };
    let s = lr_sweep(
        || {
            let mut p = Params::<f64>::new();
            Ok((LinearRegression::new(&mut p, "lin", 10)?, p))
        },
        |lr| Ok(Sgd::new(SgdConfig::lr(lr))?),
        Loss::HalfMse,
        &d,
        &cfg,
    )
    .unwrap();
    let largest = s.largest_stable.expect("rates below the bound are stable");
    assert!((largest / (bound * 10f64.powf(-0.125)) - 1.0).abs() < 1e-9, "largest {largest}, bound {bound}");
    for p in &s.points {
        assert_eq!(p.stable, p.lr < bound, "lr {} (bound {bound}): {:?}", p.lr, p.stop);
    }
    assert_eq!(s.suggested, Some(largest / 3.0));
}
