//! Limited-memory BFGS with a backtracking (Armijo) line search: the minimiser of the logistic
//! regression's smooth, convex objective. Written here because the objective is a dozen lines
//! and the available crates (argmin and friends) would bring a framework for one call.

/// Minimises `f` (returning value and gradient) from `x`; stops when the largest gradient
/// component is below `tolerance` or after `max_iter` iterations. Returns the point reached.
pub(crate) fn minimise(
    f: impl Fn(&[f64]) -> (f64, Vec<f64>),
    mut x: Vec<f64>,
    tolerance: f64,
    max_iter: usize,
) -> Vec<f64> {
    const MEMORY: usize = 10;
    let (mut value, mut grad) = f(&x);
    let mut history: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::new();
    for _ in 0..max_iter {
        if grad.iter().fold(0.0f64, |m, g| m.max(g.abs())) < tolerance {
            break;
        }
        // Two-loop recursion: the direction -H g.
        let mut q = grad.clone();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let a = rho * dot(s, &q);
            axpy(-a, y, &mut q);
            alphas.push(a);
        }
        if let Some((s, y, _)) = history.last() {
            let scale = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|v| *v *= scale);
        }
        for ((s, y, rho), a) in history.iter().zip(alphas.into_iter().rev()) {
            let b = rho * dot(y, &q);
            axpy(a - b, s, &mut q);
        }
        let mut direction: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&grad, &direction);
        if slope >= 0.0 {
            // Not a descent direction (a poor curvature pair): steepest descent, fresh memory.
            direction = grad.iter().map(|g| -g).collect();
            slope = -dot(&grad, &grad);
            history.clear();
        }
        let mut step = if history.is_empty() {
            1.0 / grad.iter().map(|g| g * g).sum::<f64>().sqrt().max(1.0)
        } else {
            1.0
        };
        let (next, next_value, next_grad) = loop {
            let candidate: Vec<f64> = x
                .iter()
                .zip(&direction)
                .map(|(a, d)| a + step * d)
                .collect();
            let (v, g) = f(&candidate);
            if v <= value + 1e-4 * step * slope || step < 1e-20 {
                break (candidate, v, g);
            }
            step *= 0.5;
        };
        let s: Vec<f64> = next.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = next_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        let progress = (value - next_value).abs();
        x = next;
        value = next_value;
        grad = next_grad;
        if sy > 1e-12 {
            history.push((s, y, 1.0 / sy));
            if history.len() > MEMORY {
                history.remove(0);
            }
        }
        if progress <= f64::EPSILON * value.abs().max(1.0) && step < 1e-20 {
            break;
        }
    }
    x
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    y.iter_mut().zip(x).for_each(|(v, &u)| *v += a * u);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_an_ill_conditioned_quadratic_and_rosenbrock() {
        let quad = |x: &[f64]| {
            let v = 0.5 * (x[0] - 3.0).powi(2) + 50.0 * (x[1] + 1.0).powi(2);
            (v, vec![x[0] - 3.0, 100.0 * (x[1] + 1.0)])
        };
        let x = minimise(quad, vec![0.0, 0.0], 1e-10, 200);
        assert!(
            (x[0] - 3.0).abs() < 1e-8 && (x[1] + 1.0).abs() < 1e-8,
            "{x:?}"
        );
        let rosen = |x: &[f64]| {
            let v = (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
            let g0 = -2.0 * (1.0 - x[0]) - 400.0 * x[0] * (x[1] - x[0] * x[0]);
            (v, vec![g0, 200.0 * (x[1] - x[0] * x[0])])
        };
        let x = minimise(rosen, vec![-1.2, 1.0], 1e-8, 1000);
        assert!(
            (x[0] - 1.0).abs() < 1e-5 && (x[1] - 1.0).abs() < 1e-5,
            "{x:?}"
        );
    }
}
