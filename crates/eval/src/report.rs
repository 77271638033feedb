//! A self-contained HTML page: tables, SVG figures and PNG images inline (no network fetch).

use base64::Engine;

/// A table of a report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// Its heading.
    pub heading: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

/// A chart of a report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figure {
    /// Its caption.
    pub caption: String,
    /// SVG text.
    pub svg: String,
}

/// A picture of a report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Image {
    /// Its caption.
    pub caption: String,
    /// PNG bytes.
    pub png: Vec<u8>,
}

/// The parts of a report page.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Title.
    pub title: String,
    /// Paragraphs under the title (plain text, escaped).
    pub notes: Vec<String>,
    /// Tables, in order.
    pub tables: Vec<Table>,
    /// Charts, in order.
    pub figures: Vec<Figure>,
    /// The heading over the pictures.
    pub images_heading: String,
    /// Pictures, in order.
    pub images: Vec<Image>,
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Page {
    /// The page as one HTML document.
    pub fn to_html(&self) -> String {
        let mut html = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}\
td,th{{border:1px solid #bbb;padding:4px 10px;text-align:right}}th{{background:#eee}}\
figure{{display:inline-block;margin:0.5em;vertical-align:top}}img{{max-width:420px}}\
.note{{background:#fff3cd;padding:0.6em;border:1px solid #e0c36c}}</style></head><body>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        for note in &self.notes {
            html += &format!("<p class=\"note\">{}</p>\n", escape(note));
        }
        for table in &self.tables {
            html += &format!("<h2>{}</h2>\n<table><tr>", escape(&table.heading));
            for h in &table.header {
                html += &format!("<th>{}</th>", escape(h));
            }
            html += "</tr>\n";
            for row in &table.rows {
                html += "<tr>";
                for cell in row {
                    html += &format!("<td>{}</td>", escape(cell));
                }
                html += "</tr>\n";
            }
            html += "</table>\n";
        }
        if !self.figures.is_empty() {
            html += "<h2>Figures</h2>\n";
        }
        for figure in &self.figures {
            html += &format!(
                "<figure>{}<figcaption>{}</figcaption></figure>\n",
                figure.svg,
                escape(&figure.caption)
            );
        }
        if !self.images.is_empty() {
            html += &format!("<h2>{}</h2>\n", escape(&self.images_heading));
        }
        for image in &self.images {
            let data = base64::engine::general_purpose::STANDARD.encode(&image.png);
            html += &format!(
                "<figure><img alt=\"{0}\" src=\"data:image/png;base64,{data}\"><figcaption>{0}</figcaption></figure>\n",
                escape(&image.caption)
            );
        }
        // Marks how many images decoded, for headless checks (`--dump-dom`).
        html += "<script>window.addEventListener('load',()=>{const i=[...document.images];\
document.body.setAttribute('data-images-loaded',i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length);});</script>\n";
        html + "</body></html>\n"
    }
}

/// An AUC with its interval as tables print it: `0.912 (0.870-0.950)`, the AUC alone where
/// there is no interval, `n/a (one class)` where it is undefined.
pub fn auc_with_interval(auc: Option<f64>, interval: Option<[f64; 2]>) -> String {
    match (auc, interval) {
        (Some(a), Some([lo, hi])) => format!("{a:.3} ({lo:.3}-{hi:.3})"),
        (Some(a), None) => format!("{a:.3}"),
        _ => "n/a (one class)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_self_contained_and_escaped() {
        let page = Page {
            title: "run <1>".into(),
            notes: vec!["synthetic".into()],
            tables: vec![Table {
                heading: "metrics".into(),
                header: vec!["a".into()],
                rows: vec![vec!["0.5".into()]],
            }],
            figures: vec![Figure {
                caption: "roc".into(),
                svg: "<svg></svg>".into(),
            }],
            images_heading: "errors <3>".into(),
            images: vec![Image {
                caption: "err".into(),
                png: vec![1, 2, 3],
            }],
        };
        let html = page.to_html();
        assert!(html.contains("run &lt;1&gt;") && html.contains("<svg></svg>"));
        assert!(html.contains("data:image/png;base64,AQID"));
        assert!(html.contains("<h2>errors &lt;3&gt;</h2>"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }
}
