//! SVG charts for run reports, drawn with `plotters` (SVG backend: no system fonts needed; text is
//! left to the viewer's `sans-serif`). Every function returns the SVG as a string, so the same
//! inputs give byte-identical files.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{BoldPoints, DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;

use crate::metrics::Calibration;
use crate::{Error, Result};

/// Colours of successive series (Tableau 10), chosen to stay distinct in print.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

const SIZE: (u32, u32) = (720, 440);

/// A tick label with at most 4 significant digits: `0.25`, `1500`, `3.2e-5`.
fn tick(v: &f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        return "0".to_string();
    }
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// One named curve or path.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// `(x, y)` points in order.
    pub points: Vec<(f64, f64)>,
    /// Draw each point as a marker instead of joining them with a line (see [`Series::markers`]).
    pub markers: bool,
}

impl Series {
    /// A series from `(x, y)` pairs.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series { name: name.into(), points, markers: false }
    }

    /// The same series drawn as separate markers (no line), e.g. runs marked as diverged.
    pub fn markers(self) -> Self {
        Series { markers: true, ..self }
    }

    /// A series from `y` values at x = 0, 1, 2, ...
    pub fn from_values(name: impl Into<String>, ys: &[f64]) -> Self {
        Series::new(name, ys.iter().enumerate().map(|(i, &y)| (i as f64, y)).collect())
    }
}

/// A line chart of one or more series.
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    /// Title above the chart.
    pub title: String,
    /// X-axis label.
    pub x_label: String,
    /// Y-axis label.
    pub y_label: String,
    /// Logarithmic x axis (e.g. a learning-rate sweep).
    pub log_x: bool,
    /// Logarithmic y axis (e.g. a loss spanning decades).
    pub log_y: bool,
    /// The curves.
    pub series: Vec<Series>,
}

fn plot_err(chart: &str) -> impl Fn(String) -> Error + '_ {
    move |message| Error::Plot { chart: chart.to_string(), message }
}

/// The finite range of values, padded; positive-only for log axes.
fn range(values: impl Iterator<Item = f64>, log: bool) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return None;
    }
    if log {
        if lo == hi {
            return Some((lo / 2.0, hi * 2.0));
        }
        let pad = (hi / lo).powf(0.05);
        let (a, b) = (lo / pad, hi * pad);
        if b / a <= 1e300 {
            return Some((a, b));
        }
        // Padded in log space, at most 300 decades wide (plotters loops forever once the ratio of
        // the bounds overflows); a wider range keeps its top 300 decades, where a diverging loss is.
        let (l, h) = (lo.log10(), hi.log10());
        let top = (h + 0.05 * (h - l)).min(300.0);
        let bottom = (l - 0.05 * (h - l)).max(top - 300.0);
        return Some((10f64.powf(bottom), 10f64.powf(top)));
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { lo.abs().max(1.0) * 0.5 };
    if (hi + pad) - (lo - pad) <= f64::MAX {
        return Some((lo - pad, hi + pad));
    }
    // Halved first so that the span of the two largest finite numbers cannot overflow.
    let pad = 0.1 * (hi / 2.0 - lo / 2.0);
    Some(((lo - pad).max(f64::MIN), (hi + pad).min(f64::MAX)))
}

/// A base-10 log axis: plotters' own, whose ticks fall only on powers of 10 and the multiples
/// above the first one, except when that gives fewer than three ticks (a range under a decade, or
/// barely over one): then ticks at 1-2-5 multiples of powers of 10, or at every multiple 1-9, or
/// at evenly spaced round numbers, whichever first gives three or more.
struct LogAxis {
    inner: LogCoord<f64>,
    /// The replacement ticks, when plotters' are too few.
    ticks: Option<Vec<f64>>,
}

impl LogAxis {
    fn new(lo: f64, hi: f64) -> Self {
        let inner: LogCoord<f64> = (lo..hi).log_scale().into();
        let theirs = inner.key_points(BoldPoints(10));
        let ticks = (theirs.len() < 3).then(|| log_ticks(lo, hi));
        LogAxis { inner, ticks }
    }
}

/// At least three round ticks in `[lo, hi]` (`0 < lo < hi`) for a log axis over a short range.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let inside = |v: f64| v >= lo * (1.0 - 1e-12) && v <= hi * (1.0 + 1e-12);
    let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    for mults in [&[1.0, 2.0, 5.0][..], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]] {
        let t: Vec<f64> = (k0..=k1)
            .flat_map(|k| mults.iter().map(move |m| m * 10f64.powi(k)))
            .filter(|&v| inside(v))
            .collect();
        if t.len() >= 3 {
            return t;
        }
    }
    // Round numbers 1, 2 or 5 × 10^k apart, about five of them.
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * mag).find(|&s| s >= raw).unwrap_or(10.0 * mag);
    let (a, b) = ((lo / step).ceil() as i64, (hi / step).floor() as i64);
    (a..=b).map(|i| i as f64 * step).filter(|&v| v > 0.0).collect()
}

impl Ranged for LogAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        match &self.ticks {
            // Labels (bold points) only; no light lines between them.
            Some(_) if hint.weight().allow_light_points() => Vec::new(),
            Some(t) => t.clone(),
            None => self.inner.key_points(hint),
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

fn render(
    title: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(title)(e.to_string()))?;
        draw(&root)?;
        root.present().map_err(|e| plot_err(title)(e.to_string()))?;
    }
    Ok(svg)
}

impl LineChart {
    /// Renders the chart. Non-finite points (and non-positive ones on a log axis) are skipped and
    /// break the line there.
    pub fn to_svg(&self) -> Result<String> {
        let e = plot_err(&self.title);
        let pts = || self.series.iter().flat_map(|s| s.points.iter());
        let xr = range(pts().map(|p| p.0), self.log_x).unwrap_or((0.0, 1.0));
        let yr = range(pts().map(|p| p.1), self.log_y).unwrap_or((0.0, 1.0));
        render(&self.title, |root| {
            let mut b = ChartBuilder::on(root);
            b.caption(&self.title, ("sans-serif", 20)).margin(12).x_label_area_size(40).y_label_area_size(70);
            macro_rules! draw {
                ($chart:expr) => {{
                    let mut chart = $chart.map_err(|x| e(x.to_string()))?;
                    chart
                        .configure_mesh()
                        .x_desc(self.x_label.as_str())
                        .y_desc(self.y_label.as_str())
                        .x_label_formatter(&tick)
                        .y_label_formatter(&tick)
                        .max_light_lines(1)
                        .draw()
                        .map_err(|x| e(x.to_string()))?;
                    for (i, s) in self.series.iter().enumerate() {
                        let color = PALETTE[i % PALETTE.len()];
                        let ok = |p: &&(f64, f64)| {
                            p.0.is_finite()
                                && p.1.is_finite()
                                && (!self.log_x || p.0 > 0.0)
                                && (!self.log_y || p.1 > 0.0)
                        };
                        if s.markers {
                            let pts: Vec<(f64, f64)> = s.points.iter().filter(ok).copied().collect();
                            if !pts.is_empty() {
                                chart
                                    .draw_series(
                                        pts.into_iter().map(|p| Cross::new(p, 6, color.stroke_width(2))),
                                    )
                                    .map_err(|x| e(x.to_string()))?
                                    .label(s.name.as_str())
                                    .legend(move |(x, y)| Cross::new((x + 10, y), 6, color.stroke_width(2)));
                            }
                            continue;
                        }
                        // Split at skipped points so a gap is not drawn as a straight line.
                        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
                        for p in &s.points {
                            if ok(&p) {
                                runs.last_mut().map(|r| r.push(*p));
                            } else if runs.last().is_some_and(|r| !r.is_empty()) {
                                runs.push(Vec::new());
                            }
                        }
                        for (k, run) in runs.into_iter().filter(|r| !r.is_empty()).enumerate() {
                            let drawn = chart
                                .draw_series(LineSeries::new(run, color.stroke_width(2)))
                                .map_err(|x| e(x.to_string()))?;
                            if k == 0 {
                                drawn.label(s.name.as_str()).legend(move |(x, y)| {
                                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                                });
                            }
                        }
                    }
                    if !self.series.is_empty() {
                        chart
                            .configure_series_labels()
                            .background_style(WHITE.mix(0.8))
                            .border_style(BLACK)
                            .draw()
                            .map_err(|x| e(x.to_string()))?;
                    }
                }};
            }
            match (self.log_x, self.log_y) {
                (false, false) => draw!(b.build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)),
                (true, false) => draw!(b.build_cartesian_2d(LogAxis::new(xr.0, xr.1), yr.0..yr.1)),
                (false, true) => draw!(b.build_cartesian_2d(xr.0..xr.1, LogAxis::new(yr.0, yr.1))),
                (true, true) => {
                    draw!(b.build_cartesian_2d(LogAxis::new(xr.0, xr.1), LogAxis::new(yr.0, yr.1)))
                }
            }
            Ok(())
        })
    }
}

/// Contour lines of a 2-D function with optimizer paths on top.
pub struct ContourChart<'a> {
    /// Title above the chart.
    pub title: String,
    /// The function to contour.
    pub f: &'a dyn Fn(f64, f64) -> f64,
    /// X range.
    pub x: (f64, f64),
    /// Y range.
    pub y: (f64, f64),
    /// Number of contour levels (spaced evenly in `ln(1 + f − min)`, so both the floor of a
    /// valley and its walls get lines).
    pub levels: usize,
    /// Paths drawn over the contours (e.g. one per optimizer).
    pub paths: Vec<Series>,
}

impl ContourChart<'_> {
    /// Renders the chart (a 121 × 121 grid; levels from the `contour` crate's marching squares),
    /// with axes labelled `x` and `y`; [`ContourChart::to_svg_with_labels`] names them.
    pub fn to_svg(&self) -> Result<String> {
        self.to_svg_with_labels("x", "y")
    }

    /// [`ContourChart::to_svg`] with the axes labelled `x_label` and `y_label` (e.g. the two
    /// parameters, `w` and `b`).
    pub fn to_svg_with_labels(&self, x_label: &str, y_label: &str) -> Result<String> {
        let e = plot_err(&self.title);
        let n = 121usize;
        let (dx, dy) = ((self.x.1 - self.x.0) / (n - 1) as f64, (self.y.1 - self.y.0) / (n - 1) as f64);
        let mut grid = Vec::with_capacity(n * n);
        for j in 0..n {
            for i in 0..n {
                grid.push((self.f)(self.x.0 + i as f64 * dx, self.y.0 + j as f64 * dy));
            }
        }
        let finite = grid.iter().copied().filter(|v| v.is_finite());
        let lo = finite.clone().fold(f64::INFINITY, f64::min);
        let hi = finite.fold(f64::NEG_INFINITY, f64::max);
        if !(lo.is_finite() && hi.is_finite()) || self.levels == 0 {
            return Err(e(
                "the function has no finite values on the grid, or no levels were asked for".to_string()
            ));
        }
        // Levels evenly spaced in ln(1 + f - lo).
        let top = (hi - lo).ln_1p();
        let thresholds: Vec<f64> =
            (1..=self.levels).map(|k| lo + (top * k as f64 / (self.levels + 1) as f64).exp_m1()).collect();
        let values: Vec<f64> = grid.iter().map(|v| if v.is_finite() { *v } else { hi }).collect();
        let lines = contour::ContourBuilder::new(n, n, true)
            .x_origin(self.x.0)
            .y_origin(self.y.0)
            .x_step(dx)
            .y_step(dy)
            .lines(&values, &thresholds)
            .map_err(|x| e(x.to_string()))?;
        render(&self.title, |root| {
            let mut chart = ChartBuilder::on(root)
                .caption(&self.title, ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(50)
                .build_cartesian_2d(self.x.0..self.x.1, self.y.0..self.y.1)
                .map_err(|x| e(x.to_string()))?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .x_label_formatter(&tick)
                .y_label_formatter(&tick)
                .draw()
                .map_err(|x| e(x.to_string()))?;
            let grey = RGBColor(170, 170, 170);
            for line in &lines {
                for ls in line.geometry() {
                    let pts: Vec<(f64, f64)> = ls.points().map(|p| (p.x(), p.y())).collect();
                    chart
                        .draw_series(LineSeries::new(pts, grey.stroke_width(1)))
                        .map_err(|x| e(x.to_string()))?;
                }
            }
            for (i, s) in self.paths.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let inside: Vec<(f64, f64)> =
                    s.points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
                chart
                    .draw_series(LineSeries::new(inside.clone(), color.stroke_width(2)))
                    .map_err(|x| e(x.to_string()))?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
                chart
                    .draw_series(inside.into_iter().map(|p| Circle::new(p, 2, color.filled())))
                    .map_err(|x| e(x.to_string()))?;
            }
            if !self.paths.is_empty() {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|x| e(x.to_string()))?;
            }
            Ok(())
        })
    }
}

/// A reliability diagram: fraction of positives against mean predicted probability per bin, with
/// the diagonal of perfect calibration; the title carries the expected calibration error, and
/// each bin's point is labelled with its row count (a bin of 3 rows says little, one of 300 a
/// lot).
pub fn reliability_svg(cal: &Calibration, title: &str) -> Result<String> {
    let title = format!("{title} (ECE {:.4})", cal.ece);
    let e = plot_err(&title);
    render(&title, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(&title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("mean predicted probability (labels: rows in the bin)")
            .y_desc("fraction positive")
            .draw()
            .map_err(|x| e(x.to_string()))?;
        chart
            .draw_series(LineSeries::new(vec![(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.4)))
            .map_err(|x| e(x.to_string()))?;
        let bins: Vec<(f64, f64, usize)> = cal
            .bins
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| (b.mean_predicted, b.fraction_positive, b.count))
            .collect();
        chart
            .draw_series(LineSeries::new(bins.iter().map(|b| (b.0, b.1)), PALETTE[0].stroke_width(2)))
            .map_err(|x| e(x.to_string()))?;
        chart
            .draw_series(bins.iter().map(|&(x, y, n)| {
                // The count above the point, or below it near the top edge.
                let dy = if y > 0.9 { 8 } else { -20 };
                EmptyElement::at((x, y))
                    + Circle::new((0, 0), 4, PALETTE[0].filled())
                    + Text::new(n.to_string(), (-6, dy), ("sans-serif", 12))
            }))
            .map_err(|x| e(x.to_string()))?;
        Ok(())
    })
}

/// Residuals (target − prediction) against predictions, with the zero line.
pub fn residual_svg(pred: &[f64], target: &[f64], title: &str) -> Result<String> {
    let e = plot_err(title);
    if pred.len() != target.len() {
        return Err(e(format!("{} predictions but {} targets", pred.len(), target.len())));
    }
    let pts: Vec<(f64, f64)> = pred
        .iter()
        .zip(target)
        .map(|(&p, &t)| (p, t - p))
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let xr = range(pts.iter().map(|p| p.0), false).unwrap_or((0.0, 1.0));
    let yr = range(pts.iter().map(|p| p.1).chain([0.0]), false).unwrap_or((-1.0, 1.0));
    render(title, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("prediction")
            .y_desc("residual")
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .max_light_lines(1)
            .draw()
            .map_err(|x| e(x.to_string()))?;
        chart
            .draw_series(LineSeries::new(vec![(xr.0, 0.0), (xr.1, 0.0)], BLACK.mix(0.5)))
            .map_err(|x| e(x.to_string()))?;
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 2, PALETTE[0].mix(0.6).filled())))
            .map_err(|x| e(x.to_string()))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::calibration;

    #[test]
    fn ticks_are_short() {
        let t = |v: f64| tick(&v);
        assert_eq!(
            [t(0.6000000000001), t(0.25), t(1500.0), t(3.2e-5), t(0.0), t(-2.0)],
            ["0.6", "0.25", "1500", "3.2e-5", "0", "-2"]
        );
    }

    #[test]
    fn log_axes_over_hundreds_of_decades_render() {
        // A diverging run: the loss climbs from 1e-5 past 1e300 (plotters hung on the padded,
        // overflowing range).
        let loss: Vec<f64> = (0..70).map(|k| 1e-5 * 1e5_f64.powi(k)).collect();
        for log_x in [false, true] {
            let chart = LineChart {
                title: "diverged".into(),
                x_label: "step".into(),
                y_label: "loss".into(),
                log_x,
                log_y: true,
                series: vec![
                    Series::from_values("train", &loss),
                    Series::from_values("tiny", &[1e-300, 1e-290]),
                ],
            };
            let svg = chart.to_svg().unwrap();
            assert!(svg.contains("train") && !svg.contains("NaN") && !svg.contains("inf"));
        }
        assert_eq!(range([1e-5, 1e300].into_iter(), true).map(|r| r.1.is_finite()), Some(true));
        assert_eq!(range([1.0, f64::MAX].into_iter(), true).map(|r| r.1.is_finite()), Some(true));
        assert_eq!(range([-f64::MAX, f64::MAX].into_iter(), false).map(|r| r.1.is_finite()), Some(true));
    }

    #[test]
    fn line_chart_is_deterministic_and_skips_bad_points() {
        let chart = LineChart {
            title: "loss".into(),
            x_label: "step".into(),
            y_label: "loss".into(),
            log_x: false,
            log_y: true,
            series: vec![
                Series::from_values("train", &[1.0, 0.5, f64::NAN, 0.2, 0.1]),
                Series::from_values("validation", &[1.1, 0.6, 0.4, 0.0, 0.3]),
            ],
        };
        let a = chart.to_svg().unwrap();
        assert_eq!(a, chart.to_svg().unwrap());
        assert!(a.starts_with("<svg") && a.contains("train") && a.contains("validation"));
        assert!(!a.contains("NaN"), "non-finite points are skipped");
        let sweep = LineChart { log_x: true, log_y: false, ..chart.clone() };
        assert!(sweep.to_svg().is_ok());
        let empty = LineChart { series: vec![], ..chart };
        assert!(empty.to_svg().is_ok());
    }

    #[test]
    fn contour_reliability_and_residuals_render() {
        let bowl = |x: f64, y: f64| (x - 1.0).powi(2) + 5.0 * (y + 2.0).powi(2);
        let c = ContourChart {
            title: "bowl".into(),
            f: &bowl,
            x: (-2.0, 4.0),
            y: (-4.0, 1.0),
            levels: 12,
            paths: vec![Series::new("gd", vec![(-1.5, 0.5), (0.0, -1.0), (1.0, -2.0)])],
        };
        let svg = c.to_svg().unwrap();
        assert!(svg.contains("gd") && svg.matches("<polyline").count() > 12, "contour lines drawn");
        let texts = |svg: &str| -> Vec<String> {
            svg.split("<text")
                .filter_map(|t| Some(t.split('>').nth(1)?.split('<').next()?.trim().to_string()))
                .collect()
        };
        assert!(texts(&svg).contains(&"x".to_string()) && texts(&svg).contains(&"y".to_string()));
        let named = texts(&c.to_svg_with_labels("weight w", "bias b").unwrap());
        assert!(
            named.contains(&"weight w".to_string()) && named.contains(&"bias b".to_string()),
            "{named:?}"
        );
        assert!(!named.contains(&"x".to_string()), "{named:?}");
        let cal = calibration(&[0.1, 0.4, 0.8, 0.9], &[0.0, 1.0, 1.0, 1.0], 10).unwrap();
        let svg = reliability_svg(&cal, "reliability").unwrap();
        assert!(svg.contains("ECE"));
        let cal = calibration(&[0.15, 0.15, 0.15, 0.85], &[0.0, 0.0, 1.0, 1.0], 10).unwrap();
        let svg = reliability_svg(&cal, "reliability").unwrap();
        let labels: Vec<&str> = svg
            .split("<text")
            .filter_map(|t| t.split('>').nth(1)?.split('<').next())
            .map(str::trim)
            .collect();
        assert!(labels.contains(&"3") && labels.contains(&"1"), "the bin counts 3 and 1: {labels:?}");
        assert!(residual_svg(&[1.0, 2.0], &[1.5, 1.0], "residuals").is_ok());
        assert!(residual_svg(&[1.0], &[1.5, 1.0], "residuals").is_err());
    }

    /// The y-axis tick labels of an SVG chart (the right-aligned texts), as numbers.
    fn y_labels(svg: &str) -> Vec<f64> {
        svg.split("<text")
            .skip(1)
            .filter(|t| t.contains("text-anchor=\"end\""))
            .filter_map(|t| t.split('>').nth(1)?.split('<').next()?.trim().parse().ok())
            .collect()
    }

    #[test]
    fn a_log_axis_under_a_decade_still_gets_readable_ticks() {
        let chart = |ys: &[f64]| LineChart {
            title: "loss".into(),
            x_label: "step".into(),
            y_label: "loss".into(),
            log_x: false,
            log_y: true,
            series: vec![Series::from_values("train", ys)],
        };
        // 0.22 to 0.69: no power of 10 inside, so plotters alone labels nothing.
        let labels = y_labels(&chart(&[0.69, 0.5, 0.3, 0.25, 0.22]).to_svg().unwrap());
        assert_eq!(labels, [0.3, 0.4, 0.5, 0.6, 0.7]);
        // 1430 to 14355 (a loss falling by 10x): plotters alone labels only 10000.
        let labels = y_labels(&chart(&[14355.0, 5000.0, 2000.0, 1430.0]).to_svg().unwrap());
        assert_eq!(labels, [2000.0, 5000.0, 10000.0]);
        // A narrow range: evenly spaced round numbers.
        let labels = y_labels(&chart(&[1436.0, 1440.0, 1450.0]).to_svg().unwrap());
        assert!(labels.len() >= 3 && labels.iter().all(|v| v.fract() == 0.0), "{labels:?}");
        // Several decades: plotters' own ticks, unchanged.
        let labels = y_labels(&chart(&[1e-4, 1e-2, 1.0]).to_svg().unwrap());
        assert!(labels.contains(&0.01) && labels.contains(&1.0), "{labels:?}");
        let t = log_ticks(0.4, 0.45);
        assert_eq!(t.iter().map(tick).collect::<Vec<_>>(), ["0.4", "0.41", "0.42", "0.43", "0.44", "0.45"]);
    }
}
