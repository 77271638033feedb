//! The study's figures as SVG (plotters): ROC and PR curves, a calibration plot, learning curves.

use plotters::prelude::*;

/// One line of a chart: a name and its points.
pub type Series = (String, Vec<(f64, f64)>);

/// A line chart over `[0, x_max] x [y_min, y_max]` as SVG text; `diagonal` adds y = x (chance
/// for ROC, perfect calibration for reliability plots).
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    x_range: (f64, f64),
    y_range: (f64, f64),
    diagonal: bool,
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (420, 320)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(46)
            .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1);
        if let Ok(mut chart) = chart {
            let _ = chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .draw();
            if diagonal {
                let lo = x_range.0.max(y_range.0);
                let hi = x_range.1.min(y_range.1);
                let _ = chart.draw_series(LineSeries::new(
                    vec![(lo, lo), (hi, hi)],
                    &RGBColor(170, 170, 170),
                ));
            }
            let palette = [
                RGBColor(31, 119, 180),
                RGBColor(214, 39, 40),
                RGBColor(44, 160, 44),
                RGBColor(148, 103, 189),
            ];
            for (i, (name, points)) in series.iter().enumerate() {
                let colour = palette[i % palette.len()];
                if let Ok(drawn) = chart.draw_series(LineSeries::new(
                    points.iter().copied(),
                    colour.stroke_width(2),
                )) {
                    drawn
                        .label(name.as_str())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
                }
            }
            let _ = chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw();
        }
        let _ = root.present();
    }
    svg
}

/// Reliability points `(mean confidence, accuracy)` of the top class over `bins` equal bins.
pub fn reliability(probabilities: &[Vec<f64>], actual: &[usize], bins: usize) -> Vec<(f64, f64)> {
    let mut sums = vec![(0.0, 0.0, 0usize); bins];
    for (p, &a) in probabilities.iter().zip(actual) {
        let top = crate::metrics::argmax(p);
        let confidence = p.get(top).copied().unwrap_or(0.0);
        let bin = ((confidence * bins as f64).ceil() as usize).clamp(1, bins) - 1;
        sums[bin].0 += confidence;
        sums[bin].1 += f64::from(u8::from(top == a));
        sums[bin].2 += 1;
    }
    sums.iter()
        .filter(|b| b.2 > 0)
        .map(|&(c, h, n)| (c / n as f64, h / n as f64))
        .collect()
}

/// Precision-recall points at each distinct threshold, highest first.
pub fn pr_curve(scores: &[f64], positive: &[bool]) -> Vec<(f64, f64)> {
    let pos = positive.iter().filter(|&&p| p).count() as f64;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut out = Vec::new();
    for (n, &i) in order.iter().enumerate() {
        if positive[i] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        if pos > 0.0 && order.get(n + 1).is_none_or(|&j| scores[j] != scores[i]) {
            out.push((tp / pos, tp / (tp + fp)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_labels() {
        let svg = line_chart(
            "ROC",
            "false positive rate",
            "true positive rate",
            &[("model".into(), vec![(0.0, 0.0), (0.2, 0.8), (1.0, 1.0)])],
            (0.0, 1.0),
            (0.0, 1.0),
            true,
        );
        assert!(svg.starts_with("<svg") && svg.contains("ROC") && svg.contains("model"));
        assert_eq!(
            pr_curve(&[0.9, 0.1], &[true, false]),
            vec![(1.0, 1.0), (1.0, 0.5)]
        );
        let r = reliability(&[vec![0.9, 0.1], vec![0.8, 0.2]], &[0, 1], 10);
        assert_eq!(r.len(), 2);
    }
}
