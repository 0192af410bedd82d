//! Every optimizer against PyTorch's `torch.optim`: 5 steps on a fixed problem in f64, compared
//! with the trajectories in `fixtures/golden.json` (made by `fixtures/make_golden.py`) to 1e-12.

mod common;

use common::{Problem, golden};
use downhill_optim::schedule::{Cosine, StepDecay};
use downhill_optim::*;
use serde_json::Value;

const TOL: f64 = 1e-12;

fn f(h: &Value, k: &str) -> f64 {
    h[k].as_f64().unwrap_or_else(|| panic!("hyper {k} missing in {h}"))
}

fn decay(h: &Value) -> WeightDecay {
    match h["weight_decay"].as_f64() {
        Some(l) if l > 0.0 => WeightDecay::L2(l),
        _ => WeightDecay::None,
    }
}

fn first_order(name: &str, h: &Value) -> Box<dyn Optimizer<f64>> {
    match name {
        "sgd" | "sgd_l2" => Box::new(Sgd::new(SgdConfig { lr: f(h, "lr"), weight_decay: decay(h) }).unwrap()),
        "momentum_classical" | "momentum_classical_l2" | "momentum_ema" => {
            let form = if name == "momentum_ema" { MomentumForm::Ema } else { MomentumForm::Classical };
            Box::new(
                Momentum::new(MomentumConfig {
                    lr: f(h, "lr"),
                    beta: f(h, "momentum"),
                    form,
                    weight_decay: decay(h),
                })
                .unwrap(),
            )
        }
        "nesterov" | "nesterov_l2" => Box::new(
            Nesterov::new(NesterovConfig { lr: f(h, "lr"), beta: f(h, "momentum"), weight_decay: decay(h) })
                .unwrap(),
        ),
        "sgd_step_decay" => Box::new(Sgd::new(SgdConfig::lr(f(h, "lr"))).unwrap().with_schedule(
            StepDecay::with_gamma(f(h, "lr"), h["step_size"].as_u64().unwrap(), f(h, "gamma")).unwrap(),
        )),
        "adagrad" | "adagrad_l2_init" => Box::new(
            Adagrad::new(AdagradConfig {
                lr: f(h, "lr"),
                eps: f(h, "eps"),
                initial_accumulator_value: f(h, "initial_accumulator_value"),
                weight_decay: decay(h),
            })
            .unwrap(),
        ),
        "rmsprop" | "rmsprop_centered_momentum_l2" => Box::new(
            RmsProp::new(RmsPropConfig {
                lr: f(h, "lr"),
                alpha: f(h, "alpha"),
                eps: f(h, "eps"),
                momentum: f(h, "momentum"),
                centered: h["centered"].as_bool().unwrap(),
                weight_decay: decay(h),
            })
            .unwrap(),
        ),
        "adam" | "adam_l2" => Box::new(
            Adam::new(AdamConfig {
                lr: f(h, "lr"),
                beta1: h["betas"][0].as_f64().unwrap(),
                beta2: h["betas"][1].as_f64().unwrap(),
                eps: f(h, "eps"),
                weight_decay: decay(h),
            })
            .unwrap(),
        ),
        "adamw" => Box::new(
            AdamW::new(AdamWConfig {
                lr: f(h, "lr"),
                beta1: h["betas"][0].as_f64().unwrap(),
                beta2: h["betas"][1].as_f64().unwrap(),
                eps: f(h, "eps"),
                weight_decay: f(h, "weight_decay"),
            })
            .unwrap(),
        ),
        "adamw_groups" => Box::new(
            AdamW::new(AdamWConfig {
                lr: f(h, "lr"),
                beta1: h["betas"][0].as_f64().unwrap(),
                beta2: h["betas"][1].as_f64().unwrap(),
                eps: f(h, "eps"),
                weight_decay: f(h, "weight_decay"),
            })
            .unwrap()
            .with_group(
                ParamGroup::no_decay_on_biases()
                    .weight_decay(WeightDecay::Decoupled(f(h, "bias_weight_decay")))
                    .lr_scale(f(h, "bias_lr_scale")),
            )
            .unwrap(),
        ),
        "adam_cosine" => {
            Box::new(Adam::new(AdamConfig { lr: f(h, "lr"), ..Default::default() }).unwrap().with_schedule(
                Cosine::with_floor(f(h, "lr"), h["total_steps"].as_u64().unwrap(), f(h, "floor")).unwrap(),
            ))
        }
        other => panic!("golden case {other:?} has no Rust counterpart: add it here"),
    }
}

fn lbfgs(h: &Value) -> Lbfgs<f64> {
    let d = LbfgsConfig::default();
    Lbfgs::new(LbfgsConfig {
        lr: h["lr"].as_f64().unwrap_or(d.lr),
        max_iter: h["max_iter"].as_u64().unwrap_or(d.max_iter),
        history_size: h["history_size"].as_u64().unwrap_or(d.history_size),
        line_search: if h["line_search_fn"].as_str() == Some("strong_wolfe") {
            LineSearch::StrongWolfe
        } else {
            LineSearch::None
        },
        ..d
    })
    .unwrap()
}

fn max_diff(a: &[f64], b: &Value) -> f64 {
    let b: Vec<f64> = b.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(a.len(), b.len());
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn every_optimizer_matches_pytorch_to_1e_12() {
    let g = golden();
    let steps = g["steps"].as_u64().unwrap() as usize;
    let mut report = Vec::new();
    let mut worst = 0.0f64;
    for case in g["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let h = &case["hyper"];
        let mut p = Problem::new();
        let mut diff = 0.0f64;
        let mut loss_diff = 0.0f64;
        if name.starts_with("lbfgs") {
            let mut opt = lbfgs(h);
            for k in 0..steps {
                let mut params = p.params.clone();
                let loss = opt.step(&mut params, |q| p.eval(q)).unwrap();
                p.params = params;
                diff = diff.max(max_diff(&p.flat(), &case["trajectory"][k]));
                loss_diff = loss_diff.max((loss - case["losses"][k].as_f64().unwrap()).abs());
            }
            assert_eq!(opt.evaluations(), case["func_evals"].as_u64().unwrap(), "{name}: evaluations");
            assert_eq!(opt.iterations(), case["n_iter"].as_u64().unwrap(), "{name}: iterations");
        } else {
            let mut opt = first_order(name, h);
            for k in 0..steps {
                let loss = p.step(opt.as_mut()).unwrap();
                diff = diff.max(max_diff(&p.flat(), &case["trajectory"][k]));
                loss_diff = loss_diff.max((loss - case["losses"][k].as_f64().unwrap()).abs());
            }
            assert_eq!(opt.step_count(), steps as u64);
        }
        report.push(format!("{name:32} max |Δθ| = {diff:.3e}   max |Δloss| = {loss_diff:.3e}"));
        worst = worst.max(diff).max(loss_diff);
    }
    println!("{}", report.join("\n"));
    println!("worst: {worst:.3e}");
    assert!(worst <= TOL, "a trajectory differs from PyTorch's by {worst:e}:\n{}", report.join("\n"));
}
