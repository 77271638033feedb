//! The study's figures as SVG (plotters): ROC and PR curves, a calibration plot, learning curves.

use plotters::prelude::*;

use crate::EvalError;

/// One line of a chart: a name and its points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series named `name`.
    pub fn new(name: &str, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
        }
    }
}

/// The axes of a chart: labels and ranges.
#[derive(Debug, Clone, PartialEq)]
pub struct Axes {
    /// Horizontal axis label.
    pub x_label: String,
    /// Vertical axis label.
    pub y_label: String,
    /// Horizontal range.
    pub x_range: (f64, f64),
    /// Vertical range.
    pub y_range: (f64, f64),
}

impl Axes {
    /// Both axes over 0..1 (ROC, precision-recall, calibration).
    pub fn unit(x_label: &str, y_label: &str) -> Self {
        Self {
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_range: (0.0, 1.0),
            y_range: (0.0, 1.0),
        }
    }
}

fn failed(title: &str) -> impl Fn(String) -> EvalError + '_ {
    move |message| EvalError::Chart {
        title: title.into(),
        message,
    }
}

/// A line chart as SVG text; `diagonal` adds y = x (chance for ROC, perfect calibration for
/// reliability plots).
pub fn line_chart(
    title: &str,
    axes: &Axes,
    series: &[Series],
    diagonal: bool,
) -> Result<String, EvalError> {
    let fail = failed(title);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (420, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let (x, y) = (axes.x_range, axes.y_range);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(46)
            .build_cartesian_2d(x.0..x.1, y.0..y.1)
            .map_err(|e| fail(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc(axes.x_label.as_str())
            .y_desc(axes.y_label.as_str())
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        if diagonal {
            let (lo, hi) = (x.0.max(y.0), x.1.min(y.1));
            chart
                .draw_series(LineSeries::new(
                    vec![(lo, lo), (hi, hi)],
                    &RGBColor(170, 170, 170),
                ))
                .map_err(|e| fail(e.to_string()))?;
        }
        let palette = [
            RGBColor(31, 119, 180),
            RGBColor(214, 39, 40),
            RGBColor(44, 160, 44),
            RGBColor(148, 103, 189),
        ];
        for (i, line) in series.iter().enumerate() {
            let colour = palette[i % palette.len()];
            chart
                .draw_series(LineSeries::new(
                    line.points
                        .iter()
                        .copied()
                        .filter(|p| p.0.is_finite() && p.1.is_finite()),
                    colour.stroke_width(2),
                ))
                .map_err(|e| fail(e.to_string()))?
                .label(line.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    Ok(svg)
}

/// A bar chart as SVG text: one labelled bar per entry of `bars`, the bar at `highlight` in
/// red, the others in blue.
pub fn bar_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    bars: &[(String, f64)],
    highlight: Option<usize>,
) -> Result<String, EvalError> {
    let fail = failed(title);
    let top = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1e-9) * 1.1;
    let width = (60 + 28 * bars.len()).clamp(320, 1400) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, 280)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d((0..bars.len()).into_segmented(), 0.0..top)
            .map_err(|e| fail(e.to_string()))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_labels(bars.len().max(1))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                let colour = if Some(i) == highlight {
                    RGBColor(214, 39, 40)
                } else {
                    RGBColor(31, 119, 180)
                };
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), *v),
                    ],
                    colour.filled(),
                );
                bar.set_margin(0, 0, 3, 3);
                bar
            }))
            .map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    Ok(svg)
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
            &Axes::unit("false positive rate", "true positive rate"),
            &[Series::new(
                "model",
                vec![(0.0, 0.0), (0.2, 0.8), (1.0, 1.0)],
            )],
            true,
        )
        .unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("ROC") && svg.contains("model"));
        assert!(svg.contains("false positive rate"));
        let bars = bar_chart(
            "Slice importance",
            "slice",
            "share",
            &[("11".into(), 0.2), ("12".into(), 0.8)],
            Some(1),
        )
        .unwrap();
        // plotters writes each label on a line of its own inside its <text> element.
        assert!(bars.contains("\n11\n</text>") && bars.contains("\n12\n</text>"));
        assert!(bars.contains("\nshare\n</text>"));
        assert!(bars.contains("#D62728"), "the highlighted bar is red");
        assert_eq!(
            pr_curve(&[0.9, 0.1], &[true, false]),
            vec![(1.0, 1.0), (1.0, 0.5)]
        );
        let r = reliability(&[vec![0.9, 0.1], vec![0.8, 0.2]], &[0, 1], 10);
        assert_eq!(r.len(), 2);
    }
}
