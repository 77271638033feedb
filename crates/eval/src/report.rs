//! A self-contained HTML page: tables, SVG figures and PNG images inline (no network fetch).

use base64::Engine;

/// The parts of a report page.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Title.
    pub title: String,
    /// Paragraphs under the title (plain text, escaped).
    pub notes: Vec<String>,
    /// `(heading, header cells, rows)`.
    pub tables: Vec<(String, Vec<String>, Vec<Vec<String>>)>,
    /// `(caption, SVG text)`.
    pub figures: Vec<(String, String)>,
    /// `(caption, PNG bytes)`.
    pub images: Vec<(String, Vec<u8>)>,
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
figure{{display:inline-block;margin:0.5em;vertical-align:top}}img{{image-rendering:pixelated;width:256px}}\
.note{{background:#fff3cd;padding:0.6em;border:1px solid #e0c36c}}</style></head><body>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        for note in &self.notes {
            html += &format!("<p class=\"note\">{}</p>\n", escape(note));
        }
        for (heading, header, rows) in &self.tables {
            html += &format!("<h2>{}</h2>\n<table><tr>", escape(heading));
            for h in header {
                html += &format!("<th>{}</th>", escape(h));
            }
            html += "</tr>\n";
            for row in rows {
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
        for (caption, svg) in &self.figures {
            html += &format!(
                "<figure>{svg}<figcaption>{}</figcaption></figure>\n",
                escape(caption)
            );
        }
        if !self.images.is_empty() {
            html += "<h2>Most confident errors</h2>\n";
        }
        for (caption, png) in &self.images {
            let data = base64::engine::general_purpose::STANDARD.encode(png);
            html += &format!(
                "<figure><img alt=\"{0}\" src=\"data:image/png;base64,{data}\"><figcaption>{0}</figcaption></figure>\n",
                escape(caption)
            );
        }
        // Marks how many images decoded, for headless checks (`--dump-dom`).
        html += "<script>window.addEventListener('load',()=>{const i=[...document.images];\
document.body.setAttribute('data-images-loaded',i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length);});</script>\n";
        html + "</body></html>\n"
    }
}

/// PNG bytes of an RGB image.
pub fn png_bytes(image: &crate::visualize::RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, image.width as u32, image.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        if let Ok(mut w) = encoder.write_header() {
            let _ = w.write_image_data(&image.pixels);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_self_contained_and_escaped() {
        let page = Page {
            title: "run <1>".into(),
            notes: vec!["synthetic".into()],
            tables: vec![("metrics".into(), vec!["a".into()], vec![vec!["0.5".into()]])],
            figures: vec![("roc".into(), "<svg></svg>".into())],
            images: vec![("err".into(), vec![1, 2, 3])],
        };
        let html = page.to_html();
        assert!(html.contains("run &lt;1&gt;") && html.contains("<svg></svg>"));
        assert!(html.contains("data:image/png;base64,AQID"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }
}
