//! The growth of a sampled quantity: an ordinary least-squares slope, and the spread of the
//! samples around it, so that a slope is read together with its noise.

use serde::Serialize;

/// A straight line fitted to `(x, y)` samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Fit {
    /// Change of y per unit of x.
    pub slope: f64,
    /// y at x = 0.
    pub intercept: f64,
    /// Standard error of the slope (0 with fewer than three samples).
    pub slope_error: f64,
    /// Samples fitted.
    pub samples: usize,
}

/// The least-squares line through `points`; `None` with fewer than two distinct x values.
pub fn fit(points: &[(f64, f64)]) -> Option<Fit> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if points.len() < 2 || sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let residuals: f64 = points
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    let slope_error = if points.len() > 2 {
        (residuals / (n - 2.0) / sxx).sqrt()
    } else {
        0.0
    };
    Some(Fit {
        slope,
        intercept,
        slope_error,
        samples: points.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_found_exactly() {
        let points: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 + 2.0 * x as f64)).collect();
        let line = fit(&points).unwrap();
        assert!((line.slope - 2.0).abs() < 1e-9 && (line.intercept - 3.0).abs() < 1e-9);
        assert!(line.slope_error < 1e-9);
    }

    #[test]
    fn flat_noise_has_a_slope_near_zero_and_an_error() {
        let points: Vec<(f64, f64)> = (0..100)
            .map(|x| (x as f64, if x % 2 == 0 { 10.0 } else { 11.0 }))
            .collect();
        let line = fit(&points).unwrap();
        assert!(line.slope.abs() < 0.01, "{line:?}");
        assert!(line.slope_error > 0.0);
    }

    #[test]
    fn one_x_fits_nothing() {
        assert_eq!(fit(&[(1.0, 2.0), (1.0, 3.0)]), None);
        assert_eq!(fit(&[]), None);
    }
}
