//! A content definition's template (server-spec §2.1): our own built-in ones for B2C's `~/`
//! paths, a policy's file or http(s) `LoadUri` (bounded, cached, files reloaded on change),
//! sanitized as B2C sanitizes, with the page merged into its `<div id="api">`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use html5gum::{DefaultEmitter, Token, Tokenizer};
use ief_protocols::escape_html;

/// Largest template read or fetched.
pub(crate) const MAX_TEMPLATE_BYTES: usize = 512 * 1024;
/// How long a fetched template is reused.
const URL_TTL: Duration = Duration::from_secs(60);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Templates kept at once.
const MAX_CACHED: usize = 64;

/// Where a template comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// One of ours: the family of B2C's `~/tenant/…` path.
    Builtin(Family),
    File(PathBuf),
    Url(String),
}

/// B2C's template families: Classic, Ocean Blue, Slate Gray.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Default,
    AzureBlue,
    Msa,
}

impl Family {
    fn css(self) -> &'static str {
        match self {
            Family::Default => include_str!("default.css"),
            Family::AzureBlue => include_str!("azureblue.css"),
            Family::Msa => include_str!("msa.css"),
        }
    }

    fn class(self) -> &'static str {
        match self {
            Family::Default => "ief-default",
            Family::AzureBlue => "ief-azureblue",
            Family::Msa => "ief-msa",
        }
    }

    /// The family a `~/…` path names; `None` when it is none of B2C's.
    pub(crate) fn of(path: &str) -> Option<Family> {
        let lower = path.to_ascii_lowercase();
        let rest = lower.strip_prefix("~/").or_else(|| lower.strip_prefix("/static/")).unwrap_or(&lower);
        let file = rest.rsplit('/').next().unwrap_or_default();
        if !(file.ends_with(".cshtml") || file.ends_with(".html")) {
            return None;
        }
        if rest.starts_with("tenant/templates/azureblue/") {
            Some(Family::AzureBlue)
        } else if rest.starts_with("tenant/templates/msa/") {
            Some(Family::Msa)
        } else if rest.starts_with("tenant/default/") || rest.starts_with("common/") {
            Some(Family::Default)
        } else {
            None
        }
    }

    /// The template: a page frame around the `api` div, with the family's look (built once per
    /// family, shared by every page).
    pub(crate) fn html(self) -> Arc<String> {
        static BUILT: [OnceLock<Arc<String>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        Arc::clone(BUILT[self as usize].get_or_init(|| Arc::new(self.frame())))
    }

    fn frame(self) -> String {
        format!(
            "<!DOCTYPE html><html><head><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Sign in</title><style>{css}{base}</style></head><body class=\"{class}\"><main class=\"container\" role=\"main\">\
<div class=\"panel\"><div class=\"banner\" aria-hidden=\"true\"><span class=\"logo\">ief</span></div>\
<div id=\"api\"></div></div></main></body></html>",
            css = self.css(),
            base = include_str!("page.css"),
            class = self.class()
        )
    }
}

/// Why a template could not be had.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum TemplateError {
    #[error("the content definition's LoadUri '{0}' is neither a ~/ path, a file nor an http(s) URL")]
    Unsupported(String),
    #[error("cannot read the template {path}: {message}")]
    File { path: String, message: String },
    #[error("cannot fetch the template {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("the template {0} is larger than {MAX_TEMPLATE_BYTES} bytes")]
    TooLarge(String),
}

/// Resolves a `LoadUri` (claim resolvers already filled) against the policy's folder.
pub(crate) fn resolve(load_uri: &str, folder: &Path) -> Result<Source, TemplateError> {
    let uri = load_uri.trim();
    if uri.starts_with("~/") {
        return Ok(Source::Builtin(Family::of(uri).unwrap_or(Family::Default)));
    }
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return Ok(Source::Url(uri.to_owned()));
    }
    if uri.is_empty() || lower.contains("://") || lower.starts_with("data:") || lower.starts_with("javascript:") {
        return Err(TemplateError::Unsupported(uri.to_owned()));
    }
    // A file: the query (ContentDefinitionParameters) means nothing to it.
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    Ok(Source::File(folder.join(path)))
}

#[derive(Debug)]
struct Cached {
    text: Arc<String>,
    /// A file's modification time when read.
    modified: Option<SystemTime>,
    read: Instant,
}

/// Templates read or fetched, shared by every request.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    entries: Mutex<HashMap<String, Cached>>,
    /// The client that fetches URL templates, built at the first fetch and kept.
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl Cache {
    /// The template's text: built in, from its file (read again when it changed) or from its
    /// URL (fetched again after a minute).
    pub(crate) async fn load(&self, source: &Source) -> Result<Arc<String>, TemplateError> {
        match source {
            Source::Builtin(family) => Ok(family.html()),
            Source::File(path) => {
                let key = path.display().to_string();
                let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
                if let Some(text) = self.fresh(&key, |c| modified.is_some() && c.modified == modified) {
                    return Ok(text);
                }
                let text = read_file(path)?;
                Ok(self.put(key, text, modified))
            }
            Source::Url(url) => {
                if let Some(text) = self.fresh(url, |c| c.read.elapsed() < URL_TTL) {
                    return Ok(text);
                }
                let client = self.client().map_err(|message| TemplateError::Fetch { url: url.clone(), message })?;
                let text = fetch(client, url).await?;
                Ok(self.put(url.clone(), text, None))
            }
        }
    }

    fn client(&self) -> Result<&reqwest::Client, String> {
        let built = self.client.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .redirect(reqwest::redirect::Policy::limited(3))
                .build()
                .map_err(|e| e.to_string())
        });
        built.as_ref().map_err(Clone::clone)
    }

    fn fresh(&self, key: &str, valid: impl Fn(&Cached) -> bool) -> Option<Arc<String>> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(key).filter(|c| valid(c)).map(|c| Arc::clone(&c.text))
    }

    fn put(&self, key: String, text: String, modified: Option<SystemTime>) -> Arc<String> {
        let text = Arc::new(text);
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= MAX_CACHED && !entries.contains_key(&key) {
            let oldest = entries.iter().min_by_key(|(_, c)| c.read).map(|(k, _)| k.clone());
            oldest.map(|k| entries.remove(&k));
        }
        entries.insert(key, Cached { text: Arc::clone(&text), modified, read: Instant::now() });
        text
    }
}

fn read_file(path: &Path) -> Result<String, TemplateError> {
    use std::io::Read;
    let shown = path.display().to_string();
    let error = |e: std::io::Error| TemplateError::File { path: shown.clone(), message: e.to_string() };
    let file = std::fs::File::open(path).map_err(error)?;
    let mut bytes = Vec::new();
    file.take(MAX_TEMPLATE_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(error)?;
    if bytes.len() > MAX_TEMPLATE_BYTES {
        return Err(TemplateError::TooLarge(shown));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<String, TemplateError> {
    let error = |message: String| TemplateError::Fetch { url: url.to_owned(), message };
    let mut response = client.get(url).send().await.map_err(|e| error(e.to_string()))?;
    if !response.status().is_success() {
        return Err(error(format!("HTTP {}", response.status())));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| error(e.to_string()))? {
        if bytes.len() + chunk.len() > MAX_TEMPLATE_BYTES {
            return Err(TemplateError::TooLarge(url.to_owned()));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// What goes into the template.
#[derive(Debug)]
pub(crate) struct Merge<'a> {
    /// `<html lang>`.
    pub(crate) lang: &'a str,
    /// Put first in `<head>`: the page's globals and script.
    pub(crate) head: &'a str,
    /// The `api` div's attributes after `id="api"`, and its content.
    pub(crate) api_attributes: &'a str,
    pub(crate) api: &'a str,
    /// `ScriptExecution=Allow` on a JavaScript-enabled page contract.
    pub(crate) scripts: bool,
}

/// Elements removed with their content, whatever the template says.
const DROPPED: [&str; 9] = ["iframe", "frame", "frameset", "object", "embed", "applet", "base", "title", "noembed"];
/// Elements removed, their content kept.
const UNWRAPPED: [&str; 1] = ["form"];
/// Elements whose content is raw text.
const RAW: [&str; 3] = ["script", "style", "textarea"];
const VOID: [&str; 14] =
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"];

/// The template sanitized as B2C does (no frames, forms or event handlers; scripts only when
/// allowed; no meta refresh or `link rel=import`), with the page merged in: `lang` on `<html>`,
/// `head` first in `<head>`, the page in the first `<div id="api">`. A template without one
/// gets it at the end of its body.
pub(crate) fn merge(template: &str, m: &Merge<'_>) -> String {
    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    let mut out = String::with_capacity(template.len() + m.api.len() + m.head.len() + 256);
    // Inside a dropped element: its name and nesting.
    let mut skipping: Option<(String, usize)> = None;
    // Inside the api div: the div nesting still open.
    let mut in_api: Option<usize> = None;
    let mut raw: Option<String> = None;
    let (mut had_html, mut had_head, mut had_api) = (false, false, false);
    // Where the head goes when the template has none: after `<html>`, else first.
    let mut head_at = 0;
    let head = |out: &mut String| out.push_str(m.head);
    for token in Tokenizer::new_with_emitter(template, emitter) {
        let Ok(token) = token;
        match token {
            Token::StartTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                if let Some((skipped, depth)) = &mut skipping {
                    if *skipped == name && !tag.self_closing {
                        *depth += 1;
                    }
                    continue;
                }
                if let Some(depth) = &mut in_api {
                    if name == "div" && !tag.self_closing {
                        *depth += 1;
                    }
                    continue;
                }
                let attr =
                    |key: &str| tag.attributes.get(key.as_bytes()).map(|v| String::from_utf8_lossy(v).into_owned());
                let dropped = DROPPED.contains(&name.as_str())
                    || (name == "script" && !m.scripts)
                    || (name == "meta" && attr("http-equiv").is_some_and(|v| v.eq_ignore_ascii_case("refresh")))
                    || (name == "link" && attr("rel").is_some_and(|v| v.to_ascii_lowercase().contains("import")));
                if dropped {
                    if !tag.self_closing && !VOID.contains(&name.as_str()) {
                        skipping = Some((name, 1));
                    }
                    continue;
                }
                if UNWRAPPED.contains(&name.as_str()) {
                    continue;
                }
                if name == "div" && attr("id").as_deref() == Some("api") && !had_api {
                    had_api = true;
                    out.push_str(&format!("<div id=\"api\"{}>{}</div>", m.api_attributes, m.api));
                    if !tag.self_closing {
                        in_api = Some(1);
                    }
                    continue;
                }
                out.push('<');
                out.push_str(&name);
                if name == "html" {
                    had_html = true;
                    out.push_str(&format!(" lang=\"{}\"", escape_html(m.lang)));
                }
                for (key, value) in &tag.attributes {
                    let key = String::from_utf8_lossy(key).to_ascii_lowercase();
                    let value = String::from_utf8_lossy(value);
                    if (name == "html" && key == "lang") || !attribute_allowed(&name, &key, &value) {
                        continue;
                    }
                    out.push_str(&format!(" {}=\"{}\"", key, escape_html(&value)));
                }
                if tag.self_closing {
                    out.push('/');
                }
                out.push('>');
                if name == "html" {
                    head_at = out.len();
                }
                if name == "head" && !had_head {
                    had_head = true;
                    head(&mut out);
                }
                if RAW.contains(&name.as_str()) && !tag.self_closing {
                    raw = Some(name);
                }
            }
            Token::EndTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                if let Some((skipped, depth)) = &mut skipping {
                    if *skipped == name {
                        *depth -= 1;
                        if *depth == 0 {
                            skipping = None;
                        }
                    }
                    continue;
                }
                if let Some(depth) = &mut in_api {
                    if name == "div" {
                        *depth -= 1;
                        if *depth == 0 {
                            in_api = None;
                        }
                    }
                    continue;
                }
                if UNWRAPPED.contains(&name.as_str()) {
                    continue;
                }
                if raw.as_deref() == Some(name.as_str()) {
                    raw = None;
                }
                if name == "body" && !had_api {
                    had_api = true;
                    out.push_str(&format!("<div id=\"api\"{}>{}</div>", m.api_attributes, m.api));
                }
                if name == "head" && !had_head {
                    had_head = true;
                    head(&mut out);
                }
                out.push_str(&format!("</{name}>"));
            }
            Token::String(text) => {
                if skipping.is_some() || in_api.is_some() {
                    continue;
                }
                let text = String::from_utf8_lossy(&text);
                match raw.as_deref() {
                    // Raw text as written: the tokenizer ends it at its end tag only.
                    Some("script" | "style") => out.push_str(&text),
                    _ => out.push_str(&escape_html(&text)),
                }
            }
            Token::Doctype(_) => out.push_str("<!DOCTYPE html>"),
            Token::Comment(_) | Token::Error(_) => {}
        }
    }
    if !had_api {
        out.push_str(&format!("<div id=\"api\"{}>{}</div>", m.api_attributes, m.api));
    }
    if !had_head {
        out.insert_str(head_at, m.head);
    }
    if !had_html {
        out = format!("<!DOCTYPE html><html lang=\"{}\">{out}</html>", escape_html(m.lang));
    }
    out
}

/// Drops event handlers, script URLs and inline frames' documents.
fn attribute_allowed(element: &str, key: &str, value: &str) -> bool {
    if key.starts_with("on") || key == "srcdoc" || key == "formaction" || key == "action" {
        return false;
    }
    if !key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')) || key.is_empty() {
        return false;
    }
    if matches!(key, "href" | "src" | "xlink:href" | "poster" | "background" | "data") {
        let squeezed: String =
            value.chars().filter(|c| !c.is_whitespace() && !c.is_control()).collect::<String>().to_ascii_lowercase();
        if squeezed.starts_with("javascript:") || squeezed.starts_with("vbscript:") {
            return false;
        }
        if squeezed.starts_with("data:") && !(element == "img" && squeezed.starts_with("data:image/")) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(template: &str, scripts: bool) -> String {
        merge(
            template,
            &Merge {
                lang: "fr",
                head: "<script id=\"ours\">var SETTINGS = {};</script>",
                api_attributes: " data-name=\"X\"",
                api: "<p>page</p>",
                scripts,
            },
        )
    }

    #[test]
    fn the_page_goes_into_the_api_div_and_lang_onto_html() {
        let out = merged(
            "<html lang=en><head><title>t</title></head><body><h1>Hi &amp; welcome</h1><div id=\"api\"><p>old</p><div>x</div></div><footer>f</footer></body></html>",
            false,
        );
        assert!(out.starts_with("<html lang=\"fr\"><head><script id=\"ours\">"), "{out}");
        assert!(out.contains("<div id=\"api\" data-name=\"X\"><p>page</p></div><footer>f</footer>"), "{out}");
        assert!(!out.contains("old") && !out.contains("<title>"), "{out}");
        assert!(out.contains("Hi &amp; welcome"), "{out}");
    }

    #[test]
    fn frames_forms_handlers_and_scripts_are_removed_unless_scripts_are_allowed() {
        let template = "<html><head><script src=\"https://cdn.example/x.js\" defer></script><meta http-equiv=\"refresh\" content=\"0;url=https://evil\">\
<link rel=\"import\" href=\"x\"><link rel=\"stylesheet\" href=\"https://cdn.example/s.css\"></head>\
<body onload=\"steal()\"><iframe src=\"https://evil\"><p>in</p></iframe><form action=\"https://evil\"><div id=\"api\"></div></form>\
<a href=\" javascript:alert(1)\">x</a><img src=\"data:image/png;base64,AA\" onerror=\"alert(1)\"><style>b{color:red}</style></body></html>";
        let out = merged(template, false);
        for bad in ["x.js", "refresh", "import", "onload", "iframe", "<p>in</p>", "<form", "javascript", "onerror"] {
            assert!(!out.contains(bad), "{bad} in {out}");
        }
        assert!(
            out.contains("https://cdn.example/s.css") && out.contains("data:image/png") && out.contains("b{color:red}"),
            "{out}"
        );
        assert!(out.contains("<div id=\"api\" data-name=\"X\"><p>page</p></div>"), "{out}");
        let allowed = merged(template, true);
        assert!(allowed.contains("<script defer=\"\" src=\"https://cdn.example/x.js\"></script>"), "{allowed}");
        assert!(!allowed.contains("onload") && !allowed.contains("iframe"), "{allowed}");
    }

    #[test]
    fn a_template_without_an_api_div_gets_one() {
        let out = merged("<p>just text</p>", false);
        assert!(out.starts_with("<!DOCTYPE html><html lang=\"fr\"><script id=\"ours\">"), "{out}");
        assert!(out.ends_with("<p>just text</p><div id=\"api\" data-name=\"X\"><p>page</p></div></html>"), "{out}");
        let body_only = merged("<html><body><div id=\"api\"></div></body></html>", false);
        assert!(body_only.starts_with("<html lang=\"fr\"><script id=\"ours\">"), "{body_only}");
    }

    #[test]
    fn load_uris_resolve_to_built_ins_files_and_urls() {
        let folder = Path::new("/p");
        assert_eq!(
            resolve("~/tenant/templates/AzureBlue/unified.cshtml", folder),
            Ok(Source::Builtin(Family::AzureBlue))
        );
        assert_eq!(resolve("~/tenant/templates/MSA/selfAsserted.cshtml", folder), Ok(Source::Builtin(Family::Msa)));
        assert_eq!(resolve("~/tenant/default/unified.cshtml", folder), Ok(Source::Builtin(Family::Default)));
        assert_eq!(
            resolve("pages/unified.html?campaign=x", folder),
            Ok(Source::File(PathBuf::from("/p/pages/unified.html")))
        );
        assert_eq!(resolve("https://t.example/u.html", folder), Ok(Source::Url("https://t.example/u.html".into())));
        assert!(matches!(resolve("ftp://x/y", folder), Err(TemplateError::Unsupported(_))));
        assert_eq!(Family::of("/static/tenant/templates/AzureBlue/unified.cshtml"), Some(Family::AzureBlue));
        assert_eq!(Family::of("/static/tenant/other/x.cshtml"), None);
    }
}
