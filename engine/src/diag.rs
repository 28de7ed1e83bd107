//! Authoring diagnostics: stable code, severity, primary span, secondary labels and help.
//! They accumulate; nothing stops at the first one.

use std::fmt;

use crate::source::{SourceDb, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Declares the diagnostic codes once: variant, stable code, severity, one-line title.
macro_rules! codes {
    ($($variant:ident = $code:literal, $sev:ident, $title:literal;)*) => {
        /// Every diagnostic ief reports. Codes never change meaning once published.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($variant,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$sev,)* }
            }

            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }
        }
    };
}

codes! {
    // Reading files.
    ReadFailed = "IEF001", Error, "the file cannot be read";
    FileTooLarge = "IEF002", Error, "the file is larger than B2C's 1,024 KB limit";
    XmlSyntax = "IEF003", Error, "the file is not well-formed XML";
    DtdRefused = "IEF004", Error, "DTDs and entity declarations are refused";
    NotAPolicy = "IEF005", Error, "the root element is not a TrustFrameworkPolicy";
    // Schema (the 0.3.0.0 XSD), per file.
    UnexpectedElement = "IEF101", Error, "element not allowed here";
    ElementOrder = "IEF102", Error, "element out of order";
    MissingElement = "IEF103", Error, "required element missing";
    UnknownAttribute = "IEF104", Error, "attribute not allowed here";
    MissingAttribute = "IEF105", Error, "required attribute missing";
    InvalidAttributeValue = "IEF106", Error, "value not allowed by the schema";
    DuplicateKey = "IEF107", Error, "duplicate key in one file";
    TooManyElements = "IEF108", Error, "element repeated more often than allowed";
    // Inheritance chain.
    BaseNotFound = "IEF201", Error, "base policy not found";
    InheritanceCycle = "IEF202", Error, "inheritance cycle";
    ChainTooDeep = "IEF203", Error, "inheritance deeper than 10 levels";
    TenantMismatch = "IEF204", Error, "base policy belongs to another tenant";
    DuplicatePolicyId = "IEF205", Error, "two loaded files have the same PolicyId";
    PolicyIdPrefix = "IEF206", Warning, "PolicyId does not start with B2C_1A_";
    // Settings.
    UnknownSetting = "IEF301", Error, "setting not defined for the environment";
    UnusedSetting = "IEF302", Warning, "setting defined but never used";
    SettingsFile = "IEF303", Error, "appsettings.json is unusable";
    // References.
    UnknownClaimType = "IEF401", Error, "unknown ClaimType";
    UnknownClaimsTransformation = "IEF402", Error, "unknown ClaimsTransformation";
    UnknownTechnicalProfile = "IEF403", Error, "unknown TechnicalProfile";
    UnknownUserJourney = "IEF404", Error, "unknown UserJourney";
    UnknownContentDefinition = "IEF405", Error, "unknown ContentDefinition";
    UnknownSubJourney = "IEF406", Error, "unknown SubJourney";
    UnknownPredicate = "IEF407", Error, "unknown Predicate or PredicateValidation";
    UnknownDisplayControl = "IEF408", Error, "unknown DisplayControl";
    UnknownClaimsExchange = "IEF409", Error, "unknown ClaimsExchange";
    IncludeCycle = "IEF410", Error, "IncludeTechnicalProfile cycle";
    MissingProtocol = "IEF411", Error, "technical profile without a Protocol";
    MissingRelyingParty = "IEF412", Error, "relying party incomplete";
    InsecureRestInProduction = "IEF413", Error, "REST profile without authentication in a production policy";
    // Journeys.
    StepOrderGap = "IEF501", Error, "orchestration steps not numbered 1..N";
    NoSendClaims = "IEF502", Error, "user journey without a SendClaims step";
    ExchangeWithoutSelection = "IEF503", Error, "several claims exchanges without a preceding selection";
    SelectionNotFollowedByExchange = "IEF504", Error, "selection step not followed by a claims exchange";
    EmptyStep = "IEF505", Error, "step has nothing to run";
    DuplicateExchangeId = "IEF506", Error, "ClaimsExchange Id used twice in a journey";
    SeveralSubJourneyCandidates = "IEF507", Warning, "InvokeSubJourney step with several candidates";
    // Claims data flow and literals.
    InputClaimNotProduced = "IEF601", Error, "input claim not produced by an earlier step";
    RelyingPartyClaimNotProduced = "IEF602", Error, "relying-party output claim not produced by any step";
    SelfAssertedClaimWithoutSource = "IEF603", Error, "self-asserted output claim without a source";
    InvalidLiteral = "IEF604", Error, "literal does not parse for its DataType";
    InvalidPattern = "IEF605", Error, "regular expression does not compile";
    // Claims transformations against their methods.
    UnknownTransformationMethod = "IEF701", Error, "unknown TransformationMethod";
    TransformInputMismatch = "IEF702", Error, "InputClaims do not fit the method";
    TransformOutputMismatch = "IEF703", Error, "OutputClaims do not fit the method";
    TransformParameterMismatch = "IEF704", Error, "InputParameters do not fit the method";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secondary place that explains the primary one (the definition, the earlier duplicate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic { code, severity: code.severity(), message: message.into(), span, labels: Vec::new(), help: None }
    }

    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, message: message.into() });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `path:line:column: error[IEF401]: message` — the one-line form.
    pub fn display<'a>(&'a self, db: &'a SourceDb) -> impl fmt::Display + 'a {
        struct Line<'a>(&'a Diagnostic, &'a SourceDb);
        impl fmt::Display for Line<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let d = self.0;
                let pos = self.1.position(d.span);
                write!(
                    f,
                    "{}:{}: {}[{}]: {}",
                    self.1.path(d.span.file).display(),
                    pos,
                    d.severity.as_str(),
                    d.code,
                    d.message
                )
            }
        }
        Line(self, db)
    }
}

/// The diagnostics of one run, in the order found; sorted for output.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// Sorted by file, position and code, with exact repeats removed (a base file shared by
    /// several relying parties is reported once).
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by(|a, b| (a.span, a.code, &a.message).cmp(&(b.span, b.code, &b.message)));
        self.items.dedup();
        self.items
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// The closest candidate to a misspelt name, for "did you mean".
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.88)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Rendering through miette, enabled by the `miette` feature (the CLI turns it on).
#[cfg(feature = "miette")]
pub mod report {
    use std::fmt;
    use std::ops::Range;

    use miette::{LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

    use super::{Diagnostic, Severity};
    use crate::source::{SourceDb, SourceFile, Span};

    /// Lines longer than this (in bytes) are shown as a window around the span: miette pads to
    /// the column, and a whole minified file repeated per diagnostic costs too much.
    const MAX_LINE: usize = 240;
    /// Bytes shown before the span in such a window.
    const WINDOW_BEFORE: usize = 80;
    /// A label covers at most this many lines.
    const MAX_LABEL_LINES: u32 = 8;

    /// A diagnostic with its file's text, ready for a miette report handler. Borrows the text
    /// and reads only the lines around each label, so rendering one costs the same in any file.
    #[derive(Debug)]
    pub struct Report<'a> {
        diagnostic: &'a Diagnostic,
        source: Excerpts<'a>,
        position: String,
    }

    impl<'a> Report<'a> {
        pub fn new(diagnostic: &'a Diagnostic, db: &'a SourceDb) -> Report<'a> {
            let file = db.file(diagnostic.span.file);
            let name = file.path.display().to_string();
            let position = format!("{name}:{}", db.position(diagnostic.span));
            Report { diagnostic, source: Excerpts { name, file }, position }
        }
    }

    impl fmt::Display for Report<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} ({})", self.diagnostic.message, self.position)
        }
    }

    impl std::error::Error for Report<'_> {}

    impl miette::Diagnostic for Report<'_> {
        fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
            Some(Box::new(self.diagnostic.code.as_str()))
        }

        fn severity(&self) -> Option<miette::Severity> {
            Some(match self.diagnostic.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            })
        }

        fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
            self.diagnostic.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
        }

        fn source_code(&self) -> Option<&dyn SourceCode> {
            Some(&self.source)
        }

        fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
            let d = self.diagnostic;
            let span = |s| self.source.shown(s);
            let primary = LabeledSpan::new_primary_with_span(Some(d.code.title().to_owned()), span(d.span));
            // Secondary labels can only be shown when they are in the same file.
            let others = d
                .labels
                .iter()
                .filter(|l| l.span.file == d.span.file)
                .map(move |l| LabeledSpan::new_with_span(Some(l.message.clone()), span(l.span)));
            Some(Box::new(std::iter::once(primary).chain(others)))
        }
    }

    /// One file's text as miette reads it, line by line through the file's line index.
    #[derive(Debug)]
    struct Excerpts<'a> {
        name: String,
        file: &'a SourceFile,
    }

    impl Excerpts<'_> {
        fn line(&self, line: u32) -> Option<Range<usize>> {
            self.file.line_range(line)
        }

        fn is_long(&self, line: u32) -> bool {
            self.line(line).is_some_and(|r| r.len() > MAX_LINE)
        }

        /// The part of a long line shown around `at`.
        fn window(&self, line: Range<usize>, at: usize) -> Range<usize> {
            let text = &self.file.text;
            let end_of_line = line.start + text[line.clone()].trim_end_matches(['\n', '\r']).len();
            let start = self.file.char_boundary(at.saturating_sub(WINDOW_BEFORE).max(line.start));
            let mut end = (start + MAX_LINE).min(end_of_line);
            while !text.is_char_boundary(end) {
                end += 1;
            }
            start..end
        }

        /// A label's span as shown: within its line's window when the line is long, and never
        /// running into a long line or past `MAX_LABEL_LINES` lines.
        fn shown(&self, span: Span) -> SourceSpan {
            let start = self.file.char_boundary(span.start as usize);
            let mut end = self.file.char_boundary(span.end as usize).max(start);
            let first = self.file.line_of(start);
            match self.line(first) {
                Some(r) if r.len() > MAX_LINE => end = end.min(self.window(r, start).end),
                _ => {
                    let last = (first..first + MAX_LABEL_LINES)
                        .take_while(|&l| !self.is_long(l) && self.line(l).is_some())
                        .last()
                        .unwrap_or(first);
                    end = end.min(self.line(last).map_or(end, |r| r.end));
                }
            }
            // A span starting in a line end ends where it starts.
            SourceSpan::new(start.into(), end.saturating_sub(start))
        }
    }

    impl SourceCode for Excerpts<'_> {
        fn read_span<'b>(
            &'b self,
            span: &SourceSpan,
            before: usize,
            after: usize,
        ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
            let text = &self.file.text;
            let (start, end) = (span.offset(), span.offset() + span.len());
            if end > text.len() {
                return Err(MietteError::OutOfBounds);
            }
            let first = self.file.line_of(start);
            let last = self.file.line_of(end.saturating_sub(1).max(start));
            let name = self.name.clone();
            if (first..=last).any(|l| self.is_long(l)) {
                let window = self.line(first).map(|r| self.window(r, start)).ok_or(MietteError::OutOfBounds)?;
                if first != last || end > window.end {
                    return Err(MietteError::OutOfBounds);
                }
                let line_start = self.line(first).map_or(0, |r| r.start);
                // The column is the span's, as miette gives it for the header.
                return Ok(Box::new(MietteSpanContents::new_named(
                    name,
                    &text.as_bytes()[window.clone()],
                    (window.start, window.len()).into(),
                    first as usize,
                    start - line_start,
                    first as usize + 1,
                )));
            }
            // Labels cover at most MAX_LABEL_LINES lines; a longer span is miette asking to join
            // two labels' snippets, which would print every line between them.
            if last - first > 2 * MAX_LABEL_LINES {
                return Err(MietteError::OutOfBounds);
            }
            // Context lines stop before a long line; miette reads the rest from this slice
            // exactly as it would from the whole file.
            let before = (1..=before as u32).take_while(|&n| n <= first && !self.is_long(first - n)).count() as u32;
            let after = (1..=after as u32)
                .take_while(|&n| self.line(last + n).is_some() && !self.is_long(last + n))
                .count() as u32;
            let from = self.line(first - before).map_or(0, |r| r.start);
            let to = self.line(last + after).map_or(text.len(), |r| r.end);
            let slice = &text.as_bytes()[from..to];
            let inner = slice.read_span(&(start - from, end - start).into(), before as usize, after as usize)?;
            let shift = (first - before) as usize;
            Ok(Box::new(MietteSpanContents::new_named(
                name,
                inner.data(),
                (inner.span().offset() + from, inner.span().len()).into(),
                inner.line() + shift,
                inner.column(),
                inner.line_count() + shift,
            )))
        }
    }
}
