//! Resume is bit-identical: N steps straight equal k steps + save + load into fresh objects +
//! N − k steps, for every optimizer and every schedule.

mod common;

use common::Problem;
use downhill_optim::schedule::{
    Constant, Cosine, Exponential, Join, LinearWarmup, ReduceOnPlateau, StepDecay,
};
use downhill_optim::*;
use downhill_tensor::io;

const N: usize = 9;
const K: usize = 4;

type Make = Box<dyn Fn() -> Box<dyn Optimizer<f64>>>;

fn cases() -> Vec<(&'static str, Make)> {
    vec![
        ("sgd", Box::new(|| Box::new(Sgd::new(SgdConfig::lr(0.1)).unwrap()))),
        (
            "sgd + decoupled decay + step decay",
            Box::new(|| {
                Box::new(
                    Sgd::new(SgdConfig { lr: 0.2, weight_decay: WeightDecay::Decoupled(0.1) })
                        .unwrap()
                        .with_schedule(StepDecay::with_gamma(0.2, 3, 0.5).unwrap()),
                )
            }),
        ),
        (
            "momentum ema + constant schedule",
            Box::new(|| {
                Box::new(
                    Momentum::new(MomentumConfig {
                        lr: 0.1,
                        beta: 0.9,
                        form: MomentumForm::Ema,
                        ..Default::default()
                    })
                    .unwrap()
                    .with_schedule(Constant::new(0.1).unwrap()),
                )
            }),
        ),
        (
            "momentum classical + L2 + exponential",
            Box::new(|| {
                Box::new(
                    Momentum::new(MomentumConfig {
                        lr: 0.1,
                        beta: 0.8,
                        weight_decay: WeightDecay::L2(0.01),
                        ..Default::default()
                    })
                    .unwrap()
                    .with_schedule(Exponential::new(0.1, 0.9).unwrap()),
                )
            }),
        ),
        (
            "nesterov + clip by global norm",
            Box::new(|| {
                Box::new(
                    Nesterov::new(NesterovConfig { lr: 0.1, ..Default::default() })
                        .unwrap()
                        .with_clip(Clip::GlobalNorm(0.05))
                        .unwrap(),
                )
            }),
        ),
        (
            "adagrad + linear warmup",
            Box::new(|| {
                Box::new(
                    Adagrad::new(AdagradConfig {
                        lr: 0.1,
                        initial_accumulator_value: 0.1,
                        ..Default::default()
                    })
                    .unwrap()
                    .with_schedule(LinearWarmup::with(0.1, 5, 0.0).unwrap()),
                )
            }),
        ),
        (
            "rmsprop centered + momentum + per-tensor clip",
            Box::new(|| {
                Box::new(
                    RmsProp::new(RmsPropConfig {
                        lr: 0.01,
                        momentum: 0.5,
                        centered: true,
                        ..Default::default()
                    })
                    .unwrap()
                    .with_clip(Clip::PerTensorNorm(0.1))
                    .unwrap(),
                )
            }),
        ),
        (
            "adam + cosine + clip by value",
            Box::new(|| {
                Box::new(
                    Adam::new(AdamConfig { lr: 0.05, ..Default::default() })
                        .unwrap()
                        .with_schedule(Cosine::with_floor(0.05, 6, 0.001).unwrap())
                        .with_clip(Clip::Value(0.1))
                        .unwrap(),
                )
            }),
        ),
        (
            "adamw + groups + join(warmup, cosine)",
            Box::new(|| {
                let s = Join::new(
                    vec![
                        Box::new(LinearWarmup::with(0.05, 3, 0.1).unwrap()),
                        Box::new(Cosine::new(0.05, 10).unwrap()),
                    ],
                    vec![3],
                )
                .unwrap();
                Box::new(
                    AdamW::new(AdamWConfig { lr: 0.05, weight_decay: 0.1, ..Default::default() })
                        .unwrap()
                        .with_group(ParamGroup::no_decay_on_biases().lr_scale(0.5))
                        .unwrap()
                        .with_schedule(s),
                )
            }),
        ),
    ]
}

/// Runs `steps` steps, feeding the loss to the plateau schedule (if any) after each.
fn run(p: &mut Problem, opt: &mut dyn Optimizer<f64>, plateau: &mut Option<ReduceOnPlateau>, steps: usize) {
    for _ in 0..steps {
        let loss = p.step(opt).unwrap();
        if let Some(pl) = plateau {
            opt.set_lr_scale(pl.observe(loss)).unwrap();
        }
    }
}

fn check(
    name: &str,
    make: &dyn Fn() -> Box<dyn Optimizer<f64>>,
    plateau: Option<ReduceOnPlateau>,
    via_file: bool,
) {
    // Straight.
    let mut a = Problem::new();
    let mut opt_a = make();
    let mut pl_a = plateau.clone();
    run(&mut a, opt_a.as_mut(), &mut pl_a, N);

    // K steps, save weights and state, drop everything.
    let (weights, state) = {
        let mut b = Problem::new();
        let mut opt_b = make();
        let mut pl_b = plateau.clone();
        run(&mut b, opt_b.as_mut(), &mut pl_b, K);
        let mut st = opt_b.state(&b.params).unwrap();
        if let Some(pl) = &pl_b {
            pl.save_into(&mut st);
        }
        let weights = io::to_bytes(b.params.iter().map(|(_, n, t)| (n, t)), &Default::default()).unwrap();
        let state = if via_file {
            let path = std::env::temp_dir().join(format!(
                "downhill-resume-{}-{}.safetensors",
                std::process::id(),
                name.len()
            ));
            st.save(&path).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            std::fs::remove_file(&path).unwrap();
            bytes
        } else {
            st.to_bytes().unwrap()
        };
        (weights, state)
    };

    // Fresh objects, load, continue.
    let mut c = Problem::new();
    io::assign(&mut c.params, io::from_bytes(&weights, "<bytes>").unwrap(), "<bytes>").unwrap();
    let mut opt_c = make();
    let st = OptimizerState::from_bytes(&state).unwrap();
    opt_c.load_state(&st, &c.params).unwrap();
    let mut pl_c = plateau.clone();
    if let Some(pl) = &mut pl_c {
        pl.load_from(&st).unwrap();
    }
    assert_eq!(opt_c.step_count(), K as u64, "{name}");
    run(&mut c, opt_c.as_mut(), &mut pl_c, N - K);

    assert_eq!(a.bits(), c.bits(), "{name}: resumed parameters differ from the straight run");
    assert_eq!(opt_a.step_count(), opt_c.step_count(), "{name}");
    assert_eq!(opt_a.lr().to_bits(), opt_c.lr().to_bits(), "{name}");
    let mut sa = opt_a.state(&a.params).unwrap();
    let mut sc = opt_c.state(&c.params).unwrap();
    if let (Some(x), Some(y)) = (&pl_a, &pl_c) {
        x.save_into(&mut sa);
        y.save_into(&mut sc);
    }
    assert_eq!(sa.to_bytes().unwrap(), sc.to_bytes().unwrap(), "{name}: final states differ");
}

#[test]
fn every_optimizer_and_schedule_resumes_bit_for_bit() {
    for (i, (name, make)) in cases().iter().enumerate() {
        check(name, make.as_ref(), None, i % 2 == 1);
    }
}

#[test]
fn reduce_on_plateau_resumes_bit_for_bit() {
    // Patience 0 and a high threshold make it reduce during the run, before and after the split.
    let plateau = ReduceOnPlateau::new().patience(0).threshold(0.3).factor(0.5);
    let make: Make = Box::new(|| Box::new(Adam::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap()));
    check("adam + plateau", make.as_ref(), Some(plateau.clone()), true);
    // The plateau really reduced the learning rate before and after the split.
    let mut p = Problem::new();
    let mut opt = make();
    let mut pl = Some(plateau);
    run(&mut p, opt.as_mut(), &mut pl, K);
    let at_split = opt.lr_scale();
    run(&mut p, opt.as_mut(), &mut pl, N - K);
    assert!(at_split < 1.0 && opt.lr_scale() < at_split, "{at_split} {}", opt.lr_scale());
}

#[test]
fn resuming_without_the_state_would_differ() {
    // The comparison above is sensitive: a fresh Adam (moments and step counter lost) diverges.
    let mut a = Problem::new();
    let mut opt = Adam::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    let mut none = None;
    run(&mut a, &mut opt, &mut none, N);
    let mut c = Problem::new();
    let mut opt_c = Adam::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    run(&mut c, &mut opt_c, &mut none, K);
    let mut opt_fresh = Adam::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    run(&mut c, &mut opt_fresh, &mut none, N - K);
    assert_ne!(a.bits(), c.bits());
}

#[test]
fn lbfgs_resumes_bit_for_bit() {
    for line_search in [LineSearch::None, LineSearch::StrongWolfe] {
        let cfg = LbfgsConfig { lr: 0.5, max_iter: 2, history_size: 3, line_search, ..Default::default() };
        let steps = |p: &mut Problem, opt: &mut Lbfgs<f64>, n: usize| {
            for _ in 0..n {
                let mut params = p.params.clone();
                opt.step(&mut params, |q| p.eval(q)).unwrap();
                p.params = params;
            }
        };
        let mut a = Problem::new();
        let mut opt_a = Lbfgs::new(cfg).unwrap();
        steps(&mut a, &mut opt_a, 5);

        let mut b = Problem::new();
        let mut opt_b = Lbfgs::new(cfg).unwrap();
        steps(&mut b, &mut opt_b, 2);
        let bytes = opt_b.state(&b.params).unwrap().to_bytes().unwrap();
        let weights = io::to_bytes(b.params.iter().map(|(_, n, t)| (n, t)), &Default::default()).unwrap();
        drop((b, opt_b));

        let mut c = Problem::new();
        io::assign(&mut c.params, io::from_bytes(&weights, "<bytes>").unwrap(), "<bytes>").unwrap();
        let mut opt_c = Lbfgs::new(cfg).unwrap();
        opt_c.load_state(&OptimizerState::from_bytes(&bytes).unwrap(), &c.params).unwrap();
        steps(&mut c, &mut opt_c, 3);

        assert_eq!(a.bits(), c.bits(), "{line_search:?}");
        assert_eq!((opt_a.iterations(), opt_a.evaluations()), (opt_c.iterations(), opt_c.evaluations()));
        assert_eq!(
            opt_a.state(&a.params).unwrap().to_bytes().unwrap(),
            opt_c.state(&c.params).unwrap().to_bytes().unwrap()
        );

        // Without the state, L-BFGS restarts from steepest descent and differs.
        let mut d = Problem::new();
        io::assign(&mut d.params, io::from_bytes(&weights, "<bytes>").unwrap(), "<bytes>").unwrap();
        let mut opt_d = Lbfgs::new(cfg).unwrap();
        steps(&mut d, &mut opt_d, 3);
        assert_ne!(a.bits(), d.bits());
    }
}
