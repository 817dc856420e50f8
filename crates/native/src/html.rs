//! Self-contained HTML reports (`eval --html`, `reproduce --html`): one file, its style inline,
//! no script and nothing fetched, so it can be mailed, archived or opened offline. Bars are
//! `div`s sized in percent; every value shown is also written as a number.

/// Escapes text for HTML content and attribute values.
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

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;\
padding:0 1em;color:#1b1b1b}h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}\
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .6em;\
text-align:right}th:first-child,td:first-child{text-align:left}thead th{background:#f2f2f2}\
.bars td{border:none;padding:.1em .4em}.track{display:inline-block;width:240px;text-align:left}.bar{height:.9em;background:#3b73b9;display:inline-block}\
.bar.alt{background:#c0722d}.outside{color:#a31515}.within{color:#19701d}\
.confusion td{min-width:3em}small,.trace{color:#555}.trace{font-size:.85em;word-break:break-all}";

/// A whole page: `title` and the body's HTML.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\
         <style>{STYLE}</style></head><body>\n<h1>{}</h1>\n{body}</body></html>\n",
        escape(title),
        escape(title)
    )
}

/// A table with a header row; cells are HTML already (escape text first).
pub fn table(class: &str, header: &[String], rows: &[Vec<String>]) -> String {
    let mut out = format!("<table class=\"{class}\"><thead><tr>");
    for h in header {
        out += &format!("<th>{h}</th>");
    }
    out += "</tr></thead><tbody>\n";
    for row in rows {
        out += "<tr>";
        for cell in row {
            out += &format!("<td>{cell}</td>");
        }
        out += "</tr>\n";
    }
    out + "</tbody></table>\n"
}

/// A bar for a share in 0..=1, with the value beside it.
pub fn bar(share: f64, alternate: bool) -> String {
    let width = (share.clamp(0.0, 1.0) * 240.0).round();
    format!(
        "<span class=\"track\"><span class=\"bar{}\" style=\"width:{width}px\"></span></span> \
         {share:.4}",
        if alternate { " alt" } else { "" }
    )
}

/// A confusion matrix: rows are gold labels, columns predicted labels, both in `labels` order.
pub fn confusion(labels: &[String], matrix: &[Vec<u64>]) -> String {
    let mut header = vec!["gold \\ predicted".to_string()];
    header.extend(labels.iter().map(|l| escape(l)));
    let rows: Vec<Vec<String>> = labels
        .iter()
        .zip(matrix)
        .map(|(label, counts)| {
            let mut row = vec![escape(label)];
            row.extend(counts.iter().map(u64::to_string));
            row
        })
        .collect();
    table("confusion", &header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bounds() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert!(bar(1.5, false).contains("width:240px"));
        assert!(bar(-1.0, true).contains("width:0px"));
        let page = page("a <b>", "<p>x</p>");
        assert!(page.contains("<title>a &lt;b&gt;</title>"));
        assert!(!page.contains("http"), "nothing fetched: {page}");
    }
}
