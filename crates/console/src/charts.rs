//! Charts as SVG made on the server: no script, no library. Every text put in is escaped,
//! each chart has a `<title>` for screen readers and a table of its figures under
//! `<details>` (rendered by the page), and a fixed size with `viewBox`, so it scales on a
//! phone without stretching across a wide screen.

use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 30.0;

/// One point of a series: its label on the x axis and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub label: String,
    pub value: f64,
}

/// `&`, `<`, `>`, `"` and `'` as entities.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A round number at or above `max` for the top of the y axis (1, 2 or 5 times a power of ten).
fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|v| *v >= max).unwrap_or(10.0 * power)
}

fn frame(out: &mut String, id: &str, title: &str, top: f64, unit: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" id="{id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" preserveAspectRatio="xMinYMin meet" role="img" aria-labelledby="{id}-title"><title id="{id}-title">{}</title>"#,
        escape(title)
    );
    let plot_h = HEIGHT - TOP - BOTTOM;
    for i in 0..=4 {
        let y = TOP + plot_h * f64::from(i) / 4.0;
        let value = top * f64::from(4 - i) / 4.0;
        let shown = if value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value:.1}") };
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#d9dee5"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end" fill="#5b6675">{shown}{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            escape(unit)
        );
    }
}

/// Labels under the x axis: at most about 12, evenly spread.
fn x_labels(out: &mut String, points: &[Point], x_of: impl Fn(usize) -> f64) {
    let every = points.len().div_ceil(12).max(1);
    for (i, p) in points.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{}" font-size="11" text-anchor="middle" fill="#5b6675">{}</text>"##,
            x_of(i),
            HEIGHT - 10.0,
            escape(&p.label)
        );
    }
}

/// A bar chart of counts (throughput): one bar a point.
pub fn bars(id: &str, title: &str, points: &[Point]) -> String {
    let top = nice_ceiling(points.iter().map(|p| p.value).fold(4.0, f64::max));
    let mut out = String::new();
    frame(&mut out, id, title, top, "");
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / points.len().max(1) as f64;
    let x_of = |i: usize| LEFT + slot * (i as f64 + 0.5);
    for (i, p) in points.iter().enumerate() {
        let h = (p.value.max(0.0) / top) * plot_h;
        let _ = write!(
            out,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#1f5f8b"><title>{}: {}</title></rect>"##,
            x_of(i) - slot * 0.35,
            TOP + plot_h - h,
            slot * 0.7,
            escape(&p.label),
            p.value
        );
    }
    x_labels(&mut out, points, x_of);
    out.push_str("</svg>");
    out
}

/// A line of percentages (delivery rate), 0 to 100; a point with no value (`NaN`: nothing
/// ended in that period) breaks the line.
pub fn percent_line(id: &str, title: &str, points: &[Point]) -> String {
    let mut out = String::new();
    frame(&mut out, id, title, 100.0, "%");
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = if points.len() > 1 { plot_w / (points.len() - 1) as f64 } else { 0.0 };
    let x_of = |i: usize| if points.len() > 1 { LEFT + step * i as f64 } else { LEFT + plot_w / 2.0 };
    let y_of = |v: f64| TOP + plot_h - (v.clamp(0.0, 100.0) / 100.0) * plot_h;
    let mut path = String::new();
    let mut pen_down = false;
    for (i, p) in points.iter().enumerate() {
        if p.value.is_nan() {
            pen_down = false;
            continue;
        }
        let _ = write!(path, "{}{:.1},{:.1} ", if pen_down { "L" } else { "M" }, x_of(i), y_of(p.value));
        pen_down = true;
        let _ = write!(
            out,
            r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#1d7a46"><title>{}: {:.1}%</title></circle>"##,
            x_of(i),
            y_of(p.value),
            escape(&p.label),
            p.value
        );
    }
    if !path.is_empty() {
        let _ = write!(out, r##"<path d="{}" fill="none" stroke="#1d7a46" stroke-width="2"/>"##, path.trim_end());
    }
    x_labels(&mut out, points, x_of);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(values: &[f64]) -> Vec<Point> {
        values.iter().enumerate().map(|(i, v)| Point { label: format!("{i:02}h"), value: *v }).collect()
    }

    #[test]
    fn bars_scale_to_a_round_top_and_escape_their_texts() {
        let svg = bars("t", "Messages <b>\"x\"</b>", &points(&[0.0, 3.0, 7.0]));
        assert!(svg.starts_with("<svg class=\"chart\" id=\"t\""));
        assert!(svg.contains("<title id=\"t-title\">Messages &lt;b&gt;&quot;x&quot;&lt;/b&gt;</title>"));
        assert!(!svg.contains("<b>"));
        assert_eq!(svg.matches("<rect").count(), 3);
        // The top of the axis is 10 (the round number over 7): the 7 bar is 70 % of the plot.
        let plot_h = HEIGHT - TOP - BOTTOM;
        assert!(svg.contains(&format!("height=\"{:.1}\"", 0.7 * plot_h)), "{svg}");
        assert!(svg.contains(">10</text>"));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn a_percentage_line_breaks_where_nothing_ended() {
        let svg = percent_line("d", "Delivery rate", &points(&[100.0, f64::NAN, 50.0, 75.0]));
        assert_eq!(svg.matches("<circle").count(), 3);
        let path = svg.split("<path d=\"").nth(1).and_then(|p| p.split('"').next()).expect("path");
        assert_eq!(path.matches('M').count(), 2, "the gap starts a new stroke: {path}");
        assert!(svg.contains(">100%</text>"));
    }

    #[test]
    fn round_tops() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(480.0), 500.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
    }
}
