//! Markdown to HTML a browser can show safely: an analysis summary quotes alert titles and
//! command output, which anyone able to send an alert controls.
//!
//! Raw HTML in the text is shown as text, never passed through; links keep only `http`,
//! `https` and `mailto` targets (never `javascript:` or `data:`); images become their alt
//! text, so a summary cannot make the browser fetch anything. The console's
//! Content-Security-Policy forbids inline script besides.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

/// The HTML of `markdown`, safe to insert into a page.
pub(crate) fn to_safe_html(markdown: &str) -> String {
    let mut in_image = 0usize;
    let events = Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    )
    .filter_map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Some(Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        })),
        // An image's alt text arrives as the events between its start and end: keep those.
        Event::Start(Tag::Image { .. }) => {
            in_image += 1;
            None
        }
        Event::End(TagEnd::Image) => {
            in_image = in_image.saturating_sub(1);
            None
        }
        other => Some(other),
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

/// `url` when its scheme is one a link may have (or it has none: a relative link), else an
/// empty target.
fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let scheme = url
        .split_once(':')
        .map(|(scheme, _)| scheme)
        // A colon after a slash, `?` or `#` is part of a relative path, not a scheme.
        .filter(|scheme| !scheme.contains(['/', '?', '#']));
    match scheme {
        None => url,
        Some(scheme)
            if ["http", "https", "mailto"]
                .iter()
                .any(|allowed| scheme.trim().eq_ignore_ascii_case(allowed)) =>
        {
            url
        }
        Some(_) => CowStr::Borrowed(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_html() {
        let html = to_safe_html("## Likely root cause\n\n1. **Deploy** of `checkout` — 80%\n");
        assert!(html.contains("<h2>Likely root cause</h2>"), "{html}");
        assert!(html.contains("<strong>Deploy</strong>"), "{html}");
        assert!(html.contains("<code>checkout</code>"), "{html}");
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        for attack in [
            "<script>alert(1)</script>",
            "before <img src=x onerror=alert(1)> after",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<a href=\"javascript:alert(1)\">x</a>",
        ] {
            let html = to_safe_html(attack);
            assert!(!html.contains("<script"), "{attack} → {html}");
            assert!(!html.contains("<img"), "{attack} → {html}");
            assert!(!html.contains("<iframe"), "{attack} → {html}");
            assert!(!html.contains("<a "), "{attack} → {html}");
            assert!(html.contains("&lt;"), "{attack} → {html}");
        }
    }

    #[test]
    fn links_keep_only_safe_targets() {
        assert!(
            to_safe_html("[runbook](https://runbooks.example/db)")
                .contains("href=\"https://runbooks.example/db\"")
        );
        assert!(to_safe_html("[incident](/incidents/1)").contains("href=\"/incidents/1\""));
        for attack in [
            "[x](javascript:alert(1))",
            "[x](JavaScript:alert(1))",
            "[x]( javascript:alert(1))",
            "[x](data:text/html,<script>alert(1)</script>)",
            "[x](vbscript:msgbox)",
        ] {
            let html = to_safe_html(attack);
            assert!(html.contains("href=\"\""), "{attack} → {html}");
        }
    }

    #[test]
    fn images_become_their_alt_text() {
        let html = to_safe_html("![graph of errors](https://tracker.example/pixel.png)");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("tracker.example"), "{html}");
        assert!(html.contains("graph of errors"), "{html}");
    }
}
