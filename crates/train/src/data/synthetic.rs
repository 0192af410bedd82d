//! Seeded synthetic datasets: the churn case study and 2-D toy classification sets.
//!
//! Every generator takes a seed and gives the same rows for the same seed (through
//! [`downhill_tensor::seeded_rng`]). The churn generator follows the design of the peer
//! benchmark's `make_data.py` (same features, distributions, clipping, rounding, coefficients and
//! intercept calibration) but draws from our own generator, so its numbers are not numpy's.

use rand::RngExt;
use rand::seq::IndexedRandom;
use rand_distr::{Distribution, Exp, Gamma, LogNormal, Normal, Poisson};

use super::Dataset;
use crate::{Error, Result};
use downhill_tensor::{SeededRng, seeded_rng};

/// The churn features in column order with their coefficient on the standardized feature.
pub const CHURN_FEATURES: [(&str, f64); 12] = [
    ("account_age_days", -0.55),
    ("monthly_revenue", 0.30),
    ("titles_watched_30d", -0.35),
    ("usage_hours_30d", -0.45),
    ("support_tickets_90d", 0.50),
    ("days_since_last_login", 0.70),
    ("payment_failures_12m", 0.45),
    ("num_profiles", -0.20),
    ("avg_session_minutes", -0.10),
    ("discount_pct", 0.15),
    ("contract_months_remaining", -0.60),
    ("autopay_enabled", -0.35),
];

/// The 8 derived features of the interactions variant, each highly correlated with an original.
pub const CHURN_INTERACTIONS: [&str; 8] = [
    "account_age_months",
    "annual_revenue_net",
    "lifetime_revenue",
    "usage_minutes_30d",
    "sessions_30d",
    "billing_trouble_score",
    "log1p_days_since_login",
    "engagement_score",
];

/// The churn rate the intercept is calibrated to.
pub const CHURN_RATE: f64 = 0.082;

fn dist<T>(r: std::result::Result<T, impl std::fmt::Display>, what: &str) -> Result<T> {
    r.map_err(|e| Error::InvalidArgument { op: "synthetic", message: format!("{what}: {e}") })
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let s = 10f64.powi(decimals);
    (x * s).round() / s
}

fn poisson(rng: &mut SeededRng, lambda: f64) -> Result<f64> {
    if lambda <= 0.0 {
        return Ok(0.0);
    }
    Ok(dist(Poisson::new(lambda), "poisson")?.sample(rng))
}

/// The churn case study: `n` subscribers (the course uses 200,000), 12 features on their natural
/// scales (account age 1..2190 days, monthly revenue 9.99..199.99, ...), target `churn` (1 for
/// about 8.2 % of rows) drawn from a logistic model of the standardized features plus Gaussian
/// noise (sd 0.5). With `interactions`, 8 derived features follow the 12, each highly correlated
/// with an original (|r| > 0.9 for most).
pub fn churn(n: usize, seed: u64, interactions: bool) -> Result<Dataset> {
    if n < 2 {
        return Err(Error::InvalidArgument {
            op: "churn",
            message: format!("needs at least 2 rows, got {n}"),
        });
    }
    let mut rng = seeded_rng(seed);
    let r = &mut rng;
    let exp250: Exp<f64> = dist(Exp::new(1.0 / 250.0), "exp")?;
    let revenue = dist(LogNormal::new(32f64.ln(), 0.65), "lognormal")?;
    let usage_d: Gamma<f64> = dist(Gamma::new(2.0, 15.0), "gamma")?;
    let watch_mult = dist(Gamma::new(4.0, 0.25), "gamma")?;
    let exp7: Exp<f64> = dist(Exp::new(1.0 / 7.0), "exp")?;
    let session = dist(LogNormal::new(35f64.ln(), 0.5), "lognormal")?;
    let noise = dist(Normal::new(0.0, 0.5), "normal")?;
    let discounts = [5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0];

    let d = 12;
    let mut x = vec![0.0; n * d];
    for i in 0..n {
        let row = &mut x[i * d..(i + 1) * d];
        let age = if r.random::<f64>() < 0.30 { exp250.sample(r) } else { r.random_range(1.0..2190.0) };
        row[0] = age.round().clamp(1.0, 2190.0);
        row[1] = round_to(revenue.sample(r).clamp(9.99, 199.99), 2);
        let usage = round_to(usage_d.sample(r).clamp(0.0, 400.0), 1);
        row[3] = usage;
        let rate = usage * 0.35 * watch_mult.sample(r);
        row[2] = poisson(r, rate)?.clamp(0.0, 47.0);
        row[4] = poisson(r, 0.6)?.clamp(0.0, 15.0);
        row[5] = exp7.sample(r).round().clamp(0.0, 365.0);
        row[6] = poisson(r, 0.25)?.clamp(0.0, 12.0);
        row[7] = r.random_range(1..6) as f64;
        row[8] = round_to(session.sample(r).clamp(1.0, 300.0), 1);
        row[9] = if r.random::<f64>() < 0.30 { discounts.choose(r).copied().unwrap_or(0.0) } else { 0.0 };
        row[10] = if r.random::<f64>() < 0.40 { r.random_range(1..25) as f64 } else { 0.0 };
        row[11] = f64::from(u8::from(r.random::<f64>() < 0.72));
    }
    // Linear predictor on standardized features, plus noise.
    let (mut mean, mut sd) = (vec![0.0; d], vec![0.0; d]);
    for row in x.chunks_exact(d) {
        for j in 0..d {
            mean[j] += row[j] / n as f64;
        }
    }
    for row in x.chunks_exact(d) {
        for j in 0..d {
            sd[j] += (row[j] - mean[j]).powi(2) / n as f64;
        }
    }
    sd.iter_mut().for_each(|s| *s = if *s > 0.0 { s.sqrt() } else { 1.0 });
    let eta: Vec<f64> = x
        .chunks_exact(d)
        .map(|row| {
            let z: f64 = (0..d).map(|j| (row[j] - mean[j]) / sd[j] * CHURN_FEATURES[j].1).sum();
            z + noise.sample(r)
        })
        .collect();
    // Calibrate the intercept so the realised rate is CHURN_RATE: draw the Bernoulli uniforms
    // first, then bisect on b0.
    let u: Vec<f64> = (0..n).map(|_| r.random::<f64>()).collect();
    let rate =
        |b0: f64| eta.iter().zip(&u).filter(|&(&e, &ui)| ui < sigmoid(e + b0)).count() as f64 / n as f64;
    let (mut lo, mut hi) = (-10.0, 5.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if rate(mid) < CHURN_RATE {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let y: Vec<f64> = eta.iter().zip(&u).map(|(&e, &ui)| f64::from(u8::from(ui < sigmoid(e + hi)))).collect();
    let mut names: Vec<String> = CHURN_FEATURES.iter().map(|(n, _)| n.to_string()).collect();
    if !interactions {
        return Dataset::new(names, "churn", x, y);
    }
    let extra = dist(Normal::new(0.0, 5.0), "normal")?;
    let w = d + CHURN_INTERACTIONS.len();
    let mut full = Vec::with_capacity(n * w);
    for row in x.chunks_exact(d) {
        full.extend_from_slice(row);
        let (age, rev, titles, usage) = (row[0], row[1], row[2], row[3]);
        let (tickets, login, fails, sess, disc) = (row[4], row[5], row[6], row[8], row[9]);
        full.push(round_to(age / 30.4375, 2));
        full.push(round_to(12.0 * rev * (1.0 - disc / 100.0), 2));
        full.push(round_to(rev * age / 30.4375, 2));
        full.push(round_to((usage * 60.0 + extra.sample(r)).max(0.0), 1));
        full.push(round_to(usage * 60.0 / sess, 2));
        full.push(tickets + 2.0 * fails + tickets * fails);
        full.push(round_to(login.ln_1p(), 5));
        full.push(round_to(0.5 * usage + titles + 0.02 * usage * titles, 3));
    }
    names.extend(CHURN_INTERACTIONS.iter().map(|s| s.to_string()));
    Dataset::new(names, "churn", full, y)
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 { 1.0 / (1.0 + (-z).exp()) } else { z.exp() / (1.0 + z.exp()) }
}

/// The 2-D toy classification sets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Toy {
    /// Two interleaving half circles (as scikit-learn's `make_moons`), labels 0/1.
    Moons,
    /// A circle inside a circle of radius ratio `factor` (scikit-learn's `make_circles`), 0/1.
    Circles {
        /// Inner radius / outer radius, in (0, 1).
        factor: f64,
    },
    /// `arms` interleaved spiral arms, labels 0..arms.
    Spiral {
        /// Number of arms (classes), at least 2.
        arms: usize,
    },
    /// Points uniform in [−1, 1]²; label 1 where x·y > 0.
    Xor,
}

/// `n` points of a toy set with Gaussian noise of sd `noise` added to both coordinates.
pub fn toy(kind: Toy, n: usize, noise: f64, seed: u64) -> Result<Dataset> {
    if !(noise.is_finite() && noise >= 0.0) {
        return Err(Error::InvalidArgument {
            op: "toy",
            message: format!("noise must be finite and >= 0, got {noise}"),
        });
    }
    let mut rng = seeded_rng(seed);
    let jitter = dist(Normal::new(0.0, noise), "normal")?;
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(n);
    let pi = std::f64::consts::PI;
    for i in 0..n {
        let (px, py, label) = match kind {
            Toy::Moons => {
                let t = rng.random::<f64>() * pi;
                if i % 2 == 0 { (t.cos(), t.sin(), 0.0) } else { (1.0 - t.cos(), 0.5 - t.sin(), 1.0) }
            }
            Toy::Circles { factor } => {
                if !(factor > 0.0 && factor < 1.0) {
                    return Err(Error::InvalidArgument {
                        op: "toy",
                        message: format!("circles need 0 < factor < 1, got {factor}"),
                    });
                }
                let t = rng.random::<f64>() * 2.0 * pi;
                if i % 2 == 0 { (t.cos(), t.sin(), 0.0) } else { (factor * t.cos(), factor * t.sin(), 1.0) }
            }
            Toy::Spiral { arms } => {
                if arms < 2 {
                    return Err(Error::InvalidArgument {
                        op: "toy",
                        message: format!("a spiral needs at least 2 arms, got {arms}"),
                    });
                }
                let arm = i % arms;
                let r = rng.random::<f64>();
                let t = 4.0 * r + 2.0 * pi * arm as f64 / arms as f64;
                (r * t.cos(), r * t.sin(), arm as f64)
            }
            Toy::Xor => {
                let (a, b): (f64, f64) = (rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0));
                (a, b, f64::from(u8::from(a * b > 0.0)))
            }
        };
        x.push(px + jitter.sample(&mut rng));
        x.push(py + jitter.sample(&mut rng));
        y.push(label);
    }
    Dataset::new(vec!["x".into(), "y".into()], "class", x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_matches_the_case_study_description() {
        let d = churn(20_000, 1, false).unwrap();
        assert_eq!(d.n_features(), 12);
        let rate = d.y.data().iter().sum::<f64>() / d.len() as f64;
        assert!((rate - CHURN_RATE).abs() < 0.002, "rate {rate}");
        let col = |j: usize| d.x.data().iter().skip(j).step_by(12).copied().collect::<Vec<_>>();
        let (age, rev) = (col(0), col(1));
        assert!(age.iter().all(|&a| (1.0..=2190.0).contains(&a)));
        assert!(rev.iter().all(|&m| (9.99..=199.99).contains(&m)));
        assert!(age.iter().any(|&a| a > 2000.0) && rev.iter().any(|&m| m < 15.0));
        assert_eq!(d, churn(20_000, 1, false).unwrap(), "same seed, same rows");
        assert_ne!(d.x, churn(20_000, 2, false).unwrap().x);
    }

    #[test]
    fn churn_interactions_are_highly_correlated_with_originals() {
        let d = churn(5_000, 3, true).unwrap();
        assert_eq!(d.n_features(), 20);
        let col = |j: usize| d.x.data().iter().skip(j).step_by(20).copied().collect::<Vec<_>>();
        let corr = |a: &[f64], b: &[f64]| {
            let n = a.len() as f64;
            let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
            let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
            let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
            let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
            cov / (va * vb).sqrt()
        };
        assert!(corr(&col(12), &col(0)) > 0.999, "account age months vs days");
        assert!(corr(&col(15), &col(3)) > 0.99, "usage minutes vs hours");
    }

    #[test]
    fn toys_have_the_right_labels_and_are_seeded() {
        let m = toy(Toy::Moons, 100, 0.1, 0).unwrap();
        assert_eq!(m.n_classes().unwrap(), 2);
        let s = toy(Toy::Spiral { arms: 3 }, 99, 0.0, 0).unwrap();
        assert_eq!(s.n_classes().unwrap(), 3);
        let x = toy(Toy::Xor, 50, 0.0, 5).unwrap();
        for (p, &l) in x.x.data().chunks(2).zip(x.y.data()) {
            assert_eq!(l == 1.0, p[0] * p[1] > 0.0);
        }
        assert_eq!(
            toy(Toy::Circles { factor: 0.5 }, 10, 0.05, 9).unwrap(),
            toy(Toy::Circles { factor: 0.5 }, 10, 0.05, 9).unwrap()
        );
        assert!(toy(Toy::Circles { factor: 1.5 }, 10, 0.0, 0).is_err());
        assert!(toy(Toy::Moons, 10, -1.0, 0).is_err());
    }
}
