//! Eigenvalues of a small symmetric matrix (cyclic Jacobi rotations), for condition numbers of
//! standardized design matrices: `d` is the feature count, so a few dozen at most.

/// Eigenvalues of the symmetric `d × d` row-major matrix `a`, ascending. Converges to machine
/// precision in a handful of sweeps for the sizes doctor uses.
pub fn symmetric_eigenvalues(a: &[f64], d: usize) -> Vec<f64> {
    let mut m = a.to_vec();
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * d + j].powi(2))
            .sum();
        let diag: f64 = (0..d).map(|i| m[i * d + i].powi(2)).sum();
        if off <= 1e-30 * diag.max(1e-300) {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = m[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                let (app, aqq) = (m[p * d + p], m[q * d + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (m[k * d + p], m[k * d + q]);
                    m[k * d + p] = c * akp - s * akq;
                    m[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (m[p * d + k], m[q * d + k]);
                    m[p * d + k] = c * apk - s * aqk;
                    m[q * d + k] = s * apk + c * aqk;
                }
            }
        }
    }
    let mut ev: Vec<f64> = (0..d).map(|i| m[i * d + i]).collect();
    ev.sort_by(f64::total_cmp);
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_spectra() {
        let ev = symmetric_eigenvalues(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((ev[0] - 1.0).abs() < 1e-12 && (ev[1] - 3.0).abs() < 1e-12, "{ev:?}");
        // Tridiagonal [2 -1; -1 2 -1; -1 2]: 2 - √2, 2, 2 + √2.
        let ev = symmetric_eigenvalues(&[2.0, -1.0, 0.0, -1.0, 2.0, -1.0, 0.0, -1.0, 2.0], 3);
        let s = 2f64.sqrt();
        for (a, b) in ev.iter().zip([2.0 - s, 2.0, 2.0 + s]) {
            assert!((a - b).abs() < 1e-12, "{ev:?}");
        }
        assert_eq!(symmetric_eigenvalues(&[5.0], 1), vec![5.0]);
    }
}
