//! A fair optimizer comparison on real data (standardized breast cancer, logistic regression):
//! equal updates, three seeds, deterministic tables; and the tuning log built from fit results.

use downhill::nn::LogisticRegression;
use downhill::optim::{Adam, AdamConfig, Momentum, MomentumConfig, Sgd, SgdConfig};
use downhill::tensor::Params;
use downhill::train::compare::{Budget, CompareConfig, Contender, compare};
use downhill::train::data::{Dataset, SplitOptions, StandardScaler, breast_cancer};
use downhill::train::fit::{FitConfig, Loss, fit};
use downhill::train::tuning::{TuningLog, TuningRow};

fn data() -> (Dataset, Dataset) {
    let d = breast_cancer().unwrap();
    let (tr, va, _) = d.split(&SplitOptions { val: 0.2, test: 0.0, seed: 0, stratify: true }).unwrap();
    let s = StandardScaler::fit(&tr.x).unwrap();
    let scale = |d: Dataset| Dataset { x: s.transform(&d.x).unwrap(), ..d };
    (scale(tr), scale(va))
}

fn contenders() -> Vec<Contender<'static, f64>> {
    vec![
        Contender::new("sgd lr 0.1", || Ok(Sgd::new(SgdConfig::lr(0.1))?)),
        Contender::new("momentum lr 0.1", || {
            Ok(Momentum::new(MomentumConfig { lr: 0.1, ..MomentumConfig::default() })?)
        }),
        Contender::new("adam lr 0.01", || Ok(Adam::new(AdamConfig { lr: 0.01, ..AdamConfig::default() })?)),
    ]
}

#[test]
fn equal_update_comparison_on_breast_cancer() {
    let (tr, va) = data();
    let cfg = CompareConfig {
        seeds: vec![0, 1, 2],
        budget: Budget::Updates(150),
        fit: FitConfig { batch_size: 32, ..FitConfig::default() },
        target_loss: Some(0.1),
        pilot_steps: 1,
    };
    let run = || {
        compare(
            |_seed| {
                let mut p = Params::<f64>::new();
                Ok((LogisticRegression::new(&mut p, "logreg", 30)?, p))
            },
            &mut contenders(),
            Loss::BceWithLogits,
            &tr,
            Some(&va),
            &cfg,
        )
        .unwrap()
    };
    let c = run();
    assert_eq!(c.runs.len(), 9);
    for s in &c.summaries {
        assert_eq!((s.runs, s.diverged, s.mean_steps), (3, 0, 150.0), "{s:?}");
        // Zero init: seeds change only the batch order, so the spread is small but not zero.
        let t = s.train_loss.unwrap();
        assert!(t.std > 0.0 && t.std < 0.2 * t.mean, "{t:?}");
        assert!(t.mean < 0.15, "{} {t:?}", s.optimizer);
    }
    // Momentum takes bigger effective steps than plain SGD at the same rate: lower loss at the
    // same budget, and it reaches the target in fewer steps.
    let (sgd, mom) = (&c.summaries[0], &c.summaries[1]);
    assert!(mom.train_loss.unwrap().mean < sgd.train_loss.unwrap().mean);
    assert!(mom.steps_to_target.unwrap().mean <= sgd.steps_to_target.map_or(f64::INFINITY, |s| s.mean));
    // Byte-identical on a rerun.
    let again = run();
    assert_eq!(c.to_markdown(), again.to_markdown());
    assert_eq!(c.summary_csv().unwrap(), again.summary_csv().unwrap());
    assert_eq!(c.runs_csv().unwrap(), again.runs_csv().unwrap());
    insta::assert_snapshot!("breast_cancer_comparison", c.to_markdown());
}

#[test]
fn tuning_log_from_fit_results() {
    let (tr, va) = data();
    let mut log = TuningLog::new();
    for (lr, batch) in [(0.01, 32), (0.1, 32), (0.1, usize::MAX)] {
        let mut p = Params::<f64>::new();
        let m = LogisticRegression::new(&mut p, "logreg", 30).unwrap();
        let mut opt = Sgd::new(SgdConfig::lr(lr)).unwrap();
        let cfg = FitConfig { epochs: 5, batch_size: batch, ..FitConfig::default() };
        let r = fit(&m, &mut p, &mut opt, Loss::BceWithLogits, &tr, Some(&va), &cfg).unwrap();
        let batch = if batch == usize::MAX { "full".to_string() } else { batch.to_string() };
        log.push(
            TuningRow::from_fit(format!("sgd {lr} / {batch}"), &r).hyper("lr", lr).hyper("batch", batch),
        );
    }
    let md = log.to_markdown();
    let header = md.lines().next().unwrap();
    assert!(
        header.starts_with("| run | batch | lr | epochs | final_train_loss | final_val_loss |"),
        "{header}"
    );
    assert!(header.ends_with("| val_recall | stop |"), "{header}");
    // A larger rate learns more in 5 epochs; full batch takes one step per epoch and learns least.
    let val = |i: usize| log.rows[i].metrics["final_val_loss"];
    assert!(val(1) < val(0) && val(0) < val(2), "{} {} {}", val(0), val(1), val(2));
    insta::assert_snapshot!("breast_cancer_tuning_log", md);
    let csv = log.to_csv().unwrap();
    assert_eq!(csv.lines().count(), 4);
}
