//! The soak's plot: one SVG of stacked panels sharing the time axis, a line per series, written
//! by hand (a few hundred bytes of markup per panel do not need a plotting crate).

use std::fmt::Write as _;

/// One line of a panel.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// `(minutes, value)` points in time order.
    pub points: Vec<(f64, f64)>,
}

/// One panel: a quantity over time.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Title, with the unit.
    pub title: String,
    /// Its lines.
    pub series: Vec<Series>,
}

const WIDTH: f64 = 900.0;
const PANEL_HEIGHT: f64 = 190.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 30.0;
const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// The SVG of `panels` over a shared time axis (minutes), titled `title`.
pub fn svg(title: &str, panels: &[Panel]) -> String {
    let end = panels
        .iter()
        .flat_map(|p| &p.series)
        .flat_map(|s| s.points.last())
        .map(|p| p.0)
        .fold(1.0_f64, f64::max);
    let height = 30.0 + panels.len() as f64 * PANEL_HEIGHT;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{}</text>
"#,
        escape(title)
    );
    for (i, panel) in panels.iter().enumerate() {
        draw_panel(&mut out, panel, 30.0 + i as f64 * PANEL_HEIGHT, end);
    }
    out.push_str("</svg>\n");
    out
}

fn draw_panel(out: &mut String, panel: &Panel, y0: f64, end: f64) {
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, PANEL_HEIGHT - TOP - BOTTOM);
    let top = y0 + TOP;
    let values = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1));
    let max = values.fold(0.0_f64, f64::max);
    let y_max = nice_ceiling(max);
    let x = |minutes: f64| LEFT + minutes / end * plot_w;
    let y = |value: f64| top + plot_h - value / y_max * plot_h;
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{}" font-weight="bold">{}</text>"#,
        top - 8.0,
        escape(&panel.title)
    );
    for step in 0..=4 {
        let value = y_max * f64::from(step) / 4.0;
        let (right, at, text_x) = (LEFT + plot_w, y(value), LEFT - 6.0);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{right}" y1="{at}" y2="{at}" stroke="#ddd"/><text x="{text_x}" y="{}" text-anchor="end">{}</text>"##,
            at + 4.0,
            label(value)
        );
    }
    for step in 0..=6 {
        let minutes = end * f64::from(step) / 6.0;
        let _ = writeln!(
            out,
            r##"<line x1="{0}" x2="{0}" y1="{1}" y2="{2}" stroke="#eee"/><text x="{0}" y="{3}" text-anchor="middle">{4} min</text>"##,
            x(minutes),
            top,
            top + plot_h,
            top + plot_h + 14.0,
            label(minutes)
        );
    }
    for (i, series) in panel.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = series
            .points
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.3" points="{}"/>"#,
            points.join(" ")
        );
        let legend_y = top + 12.0 + i as f64 * 15.0;
        let _ = writeln!(
            out,
            r#"<line x1="{0}" x2="{1}" y1="{2}" y2="{2}" stroke="{color}" stroke-width="3"/><text x="{3}" y="{4}">{5}</text>"#,
            LEFT + plot_w + 10.0,
            LEFT + plot_w + 28.0,
            legend_y,
            LEFT + plot_w + 33.0,
            legend_y + 4.0,
            escape(&series.name)
        );
    }
}

/// The smallest of 1, 2 or 5 × 10^k that is at least `value` (1 for nothing to show).
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let magnitude = 10_f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&c| c >= value)
        .unwrap_or(10.0 * magnitude)
}

fn label(value: f64) -> String {
    // Whole numbers and large ones need no decimal.
    if value == value.trunc() || value >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(27.3), 50.0);
        assert_eq!(nice_ceiling(20.0), 20.0);
        assert_eq!(nice_ceiling(0.13), 0.2);
    }

    #[test]
    fn every_series_is_drawn_and_named() {
        let panel = Panel {
            title: "RSS (MiB) <agents>".into(),
            series: vec![
                Series {
                    name: "agent-1".into(),
                    points: vec![(0.0, 20.0), (1.0, 21.0)],
                },
                Series {
                    name: "cairn ui".into(),
                    points: vec![(0.0, 30.0), (1.0, 30.0)],
                },
            ],
        };
        let svg = svg("soak", &[panel]);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("agent-1") && svg.contains("cairn ui"));
        assert!(svg.contains("&lt;agents&gt;"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    }
}
