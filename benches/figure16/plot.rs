//! Draws Figure 16 as an SVG: two panels of CDFs like the paper's, one step
//! line per timeout range, the paper's published figures as black marks.

use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;

use super::trials::RangeRun;

/// One figure the paper states in its text, drawn as a mark.
#[derive(Clone, Copy, Debug)]
pub struct PaperPoint {
    /// Where on the x axis, in milliseconds.
    pub x_ms: f64,
    /// Where on the y axis, in percent.
    pub y_percent: f64,
    /// What the legend says.
    pub label: &'static str,
}

/// One panel: its title, its curves, its x axis, the paper's marks.
pub struct Panel<'a> {
    /// The panel's title.
    pub title: &'a str,
    /// The ranges drawn, in legend order, each with its colour (the same
    /// range keeps its colour in both panels).
    pub runs: Vec<(&'a RangeRun, RGBColor)>,
    /// The x axis, in milliseconds.
    pub x_ms: std::ops::Range<f64>,
    /// Log scale (the top panel, as in the paper) or linear.
    pub log_x: bool,
    /// The paper's figures.
    pub paper: &'a [PaperPoint],
    /// Paper statements that are a bound, drawn as a dashed vertical line
    /// at this x (milliseconds) with this label.
    pub paper_bound: Option<(f64, &'static str)>,
    /// Lines of grey text under the legend: how the curves were made.
    pub notes: Vec<String>,
}

/// Ten colours that stay apart on white (Tableau 10), one per range.
pub const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

const WIDTH_PX: u32 = 1_240;
/// The legend column beside each chart, so that it hides no curve.
const LEGEND_WIDTH_PX: u32 = 380;
const PANEL_HEIGHT_PX: u32 = 560;
const LEGEND_ROW_PX: i32 = 22;

/// How an entry of the legend is marked.
enum Mark {
    Line(RGBColor),
    Dashed,
    Cross,
}

/// Writes the panels, stacked, to an SVG file at `path`.
pub fn draw(path: &Path, panels: &[Panel<'_>]) -> Result<(), Box<dyn Error>> {
    let height_px = PANEL_HEIGHT_PX * panels.len() as u32;
    let root = SVGBackend::new(path, (WIDTH_PX, height_px)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((panels.len(), 1));
    for (panel, area) in panels.iter().zip(&areas) {
        let (chart_area, legend_area) = area.split_horizontally(WIDTH_PX - LEGEND_WIDTH_PX);
        if panel.log_x {
            draw_chart(&chart_area, panel, panel.x_ms.clone().log_scale())?;
        } else {
            draw_chart(&chart_area, panel, panel.x_ms.clone())?;
        }
        draw_legend(&legend_area, &legend(panel), &panel.notes)?;
    }
    root.present()?;
    Ok(())
}

fn draw_chart<X>(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    panel: &Panel<'_>,
    x_spec: X,
) -> Result<(), Box<dyn Error>>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(x_spec, 0.0..100.0_f64)?;
    chart
        .configure_mesh()
        .x_desc("time to elect after the crash (ms)")
        .y_desc("cumulative percent of trials")
        .x_label_formatter(&|ms| format!("{ms:.0}"))
        .y_label_formatter(&|percent| format!("{percent:.0}%"))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let x_end = panel.x_ms.end;
    for (run, color) in &panel.runs {
        let steps = cdf_steps(run, x_end);
        chart.draw_series(LineSeries::new(steps, color.stroke_width(2)))?;
    }
    if let Some((x_ms, _)) = panel.paper_bound {
        chart.draw_series(DashedLineSeries::new(
            [(x_ms, 0.0), (x_ms, 100.0)],
            6,
            4,
            BLACK.stroke_width(2),
        ))?;
    }
    let marks = panel
        .paper
        .iter()
        .map(|point| (point.x_ms, point.y_percent));
    chart.draw_series(PointSeries::of_element(
        marks,
        7,
        BLACK.stroke_width(2),
        &|coord, size, style| EmptyElement::at(coord) + Cross::new((0, 0), size, style),
    ))?;
    Ok(())
}

/// The panel's legend entries: its ranges, then the paper's figures.
fn legend(panel: &Panel<'_>) -> Vec<(Mark, String)> {
    let mut entries: Vec<(Mark, String)> = panel
        .runs
        .iter()
        .map(|(run, color)| (Mark::Line(*color), legend_label(run, panel.x_ms.end)))
        .collect();
    if let Some((_, label)) = panel.paper_bound {
        entries.push((Mark::Dashed, label.to_owned()));
    }
    for point in panel.paper {
        entries.push((Mark::Cross, point.label.to_owned()));
    }
    entries
}

fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    entries: &[(Mark, String)],
    notes: &[String],
) -> Result<(), Box<dyn Error>> {
    let font = ("sans-serif", 14).into_font();
    // Level with the top of the plot, below the caption.
    let mut y = 48;
    for (mark, label) in entries {
        match mark {
            Mark::Line(color) => {
                area.draw(&PathElement::new([(8, y), (32, y)], color.stroke_width(3)))?;
            }
            Mark::Dashed => {
                area.draw(&PathElement::new([(8, y), (16, y)], BLACK.stroke_width(2)))?;
                area.draw(&PathElement::new([(22, y), (32, y)], BLACK.stroke_width(2)))?;
            }
            Mark::Cross => area.draw(&Cross::new((20, y), 6, BLACK.stroke_width(2)))?,
        }
        area.draw(&Text::new(label.clone(), (40, y - 7), font.clone()))?;
        y += LEGEND_ROW_PX;
    }
    let grey = ("sans-serif", 13).into_font().color(&RGBColor(90, 90, 90));
    y += LEGEND_ROW_PX / 2;
    for note in notes {
        area.draw(&Text::new(note.clone(), (8, y - 7), grey.clone()))?;
        y += LEGEND_ROW_PX - 4;
    }
    Ok(())
}

/// The range's CDF as a step line, in (ms, percent), cut at `x_end_ms`.
/// Capped trials have no point: the line stops below 100%.
fn cdf_steps(run: &RangeRun, x_end_ms: f64) -> Vec<(f64, f64)> {
    let total = run.trials.len().max(1) as f64;
    let mut times_ms: Vec<f64> = run
        .trials
        .iter()
        .filter_map(|trial| trial.lease_us)
        .map(|us| us as f64 / 1_000.0)
        .collect();
    times_ms.sort_by(f64::total_cmp);
    let mut steps = Vec::with_capacity(2 * times_ms.len() + 1);
    let mut percent = 0.0;
    for (index, ms) in times_ms.iter().enumerate() {
        if *ms > x_end_ms {
            break;
        }
        if steps.is_empty() {
            steps.push((*ms, 0.0));
        }
        steps.push((*ms, percent));
        percent = 100.0 * (index + 1) as f64 / total;
        steps.push((*ms, percent));
    }
    // Carry the last level to the edge, so a curve that ends early reads as
    // "no more trials below the edge".
    steps.push((x_end_ms, percent));
    steps
}

/// "150–155 ms", with what the panel cannot show: capped trials, trials
/// beyond the axis, and a run without check-quorum.
fn legend_label(run: &RangeRun, x_end_ms: f64) -> String {
    let mut label = run.range.label();
    if !run.lease_possible {
        label.push_str(": not run (lease < round trip)");
    }
    let capped = run.trials.iter().filter(|t| t.lease_us.is_none()).count();
    let beyond = run
        .trials
        .iter()
        .filter_map(|t| t.lease_us)
        .filter(|us| *us as f64 / 1_000.0 > x_end_ms)
        .count();
    if beyond > 0 {
        label.push_str(&format!(", {beyond} beyond {x_end_ms:.0} ms"));
    }
    if capped > 0 {
        label.push_str(&format!(", {capped}/{} capped", run.trials.len()));
    }
    label
}
