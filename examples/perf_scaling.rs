//! Scaling of the benchmark workloads (issue 6): W1 step time against the row count (25k..400k
//! rows of the peers' churn data, repeated or cut) and W2 step time against the hidden size
//! (784 → hidden → 10, batch 128), each plotted on log-log axes with the fitted slope.
//!
//! ```sh
//! cargo run --release --example perf_scaling            # writes book/src/generated/perf/
//! cargo run --release --example perf_scaling -- DIR     # or into DIR
//! ```
//!
//! Needs `$PEERS_WORK/data/churn_200k.csv` (default `$HOME/peers-work`; the peers' `make_data.py`
//! writes it). Times are medians of single steps on a shared machine, so they carry its noise;
//! the slope of log(time) against log(size) is the point (1 = linear).

#[path = "../benches/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Instant;

use downhill::train::plot::{LineChart, Series};
use support::{Logreg, LogregData, Mlp2, MlpShape, W2B};

/// The median time of `steps` calls of `step`, in milliseconds, after `warmup` calls.
fn median_ms(warmup: usize, steps: usize, mut step: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        step();
    }
    let mut t: Vec<f64> = (0..steps)
        .map(|_| {
            let s = Instant::now();
            step();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// The least-squares slope of log(y) against log(x).
fn loglog_slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (lx, ly): (Vec<f64>, Vec<f64>) = points.iter().map(|&(x, y)| (x.ln(), y.ln())).unzip();
    let (mx, my) = (lx.iter().sum::<f64>() / n, ly.iter().sum::<f64>() / n);
    let sxy: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = lx.iter().map(|x| (x - mx).powi(2)).sum();
    sxy / sxx
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).map_or_else(|| PathBuf::from("book/src/generated/perf"), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    let churn = LogregData::read_csv(&support::churn_csv_path())?;
    let threads = downhill::tensor::threads();

    let mut w1 = Vec::new();
    for rows in [25_000, 50_000, 100_000, 200_000, 400_000] {
        let data = churn.resized(rows);
        let mut m = Logreg::<f64>::new(&data);
        let ms = median_ms(3, 40, || {
            m.step();
        });
        println!("W1 f64 {rows:>7} rows: {ms:8.3} ms/step");
        w1.push((rows as f64, ms));
    }
    let mut w2 = Vec::new();
    for hidden in [64, 128, 256, 512, 1024] {
        let mut m = Mlp2::new(MlpShape { nhid: hidden, ..W2B });
        let ms = median_ms(5, 60, || {
            m.step();
        });
        println!("W2 784-{hidden}-10 batch 128: {ms:8.3} ms/step");
        w2.push((hidden as f64, ms));
    }
    let (s1, s2) = (loglog_slope(&w1), loglog_slope(&w2));
    println!("slopes (log time / log size): W1 {s1:.2}, W2 {s2:.2}");

    let chart = |title: String, x: &str, pts: &[(f64, f64)]| LineChart {
        title,
        x_label: x.to_string(),
        y_label: "ms per step (median)".to_string(),
        log_x: true,
        log_y: true,
        series: vec![Series::new("downhill", pts.to_vec())],
    };
    std::fs::write(
        out.join("w1_rows.svg"),
        chart(format!("W1 f64 GD step vs rows (slope {s1:.2})"), "rows", &w1).to_svg()?,
    )?;
    std::fs::write(
        out.join("w2_hidden.svg"),
        chart(format!("W2 Adam step vs hidden size, 784-h-10 (slope {s2:.2})"), "hidden units", &w2)
            .to_svg()?,
    )?;
    let mut md = format!(
        "Step time against problem size ({threads} thread(s); medians of single steps; \
         `cargo run --release --example perf_scaling`).\n\n| W1 rows | ms/step |\n|---|---|\n"
    );
    for (x, y) in &w1 {
        md += &format!("| {x} | {y:.3} |\n");
    }
    md += &format!("\nW1 slope (log time vs log rows): **{s1:.2}**.\n\n| W2 hidden | ms/step |\n|---|---|\n");
    for (x, y) in &w2 {
        md += &format!("| {x} | {y:.3} |\n");
    }
    md += &format!("\nW2 slope (log time vs log hidden): **{s2:.2}**.\n");
    std::fs::write(out.join("scaling.md"), md)?;
    println!("wrote {}", out.display());
    Ok(())
}
