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
    // Journeys.
    StepOrderGap = "IEF501", Error, "orchestration steps not numbered 1..N";
    NoSendClaims = "IEF502", Error, "user journey without a SendClaims step";
    ExchangeWithoutSelection = "IEF503", Error, "several claims exchanges without a preceding selection";
    SelectionNotFollowedByExchange = "IEF504", Error, "selection step not followed by a claims exchange";
    EmptyStep = "IEF505", Error, "step has nothing to run";
    DuplicateExchangeId = "IEF506", Error, "ClaimsExchange Id used twice in a journey";
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

    use miette::{LabeledSpan, NamedSource, SourceSpan};

    use super::{Diagnostic, Severity};
    use crate::source::SourceDb;

    /// A diagnostic with its file's text, ready for a miette report handler.
    #[derive(Debug)]
    pub struct Report {
        diagnostic: Diagnostic,
        source: NamedSource<String>,
        position: String,
    }

    impl Report {
        pub fn new(diagnostic: &Diagnostic, db: &SourceDb) -> Report {
            let file = db.file(diagnostic.span.file);
            let name = file.path.display().to_string();
            let position = format!("{name}:{}", db.position(diagnostic.span));
            Report {
                diagnostic: diagnostic.clone(),
                source: NamedSource::new(name, file.text.clone()).with_language("xml"),
                position,
            }
        }
    }

    impl fmt::Display for Report {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} ({})", self.diagnostic.message, self.position)
        }
    }

    impl std::error::Error for Report {}

    fn span(s: crate::source::Span) -> SourceSpan {
        SourceSpan::new((s.start as usize).into(), s.len())
    }

    impl miette::Diagnostic for Report {
        fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
            Some(Box::new(self.diagnostic.code.as_str()))
        }

        fn severity(&self) -> Option<miette::Severity> {
            Some(match self.diagnostic.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            })
        }

        fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
            self.diagnostic.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
        }

        fn source_code(&self) -> Option<&dyn miette::SourceCode> {
            Some(&self.source)
        }

        fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
            let d = &self.diagnostic;
            let primary = LabeledSpan::new_primary_with_span(Some(d.code.title().to_owned()), span(d.span));
            // Secondary labels can only be shown when they are in the same file.
            let others = d
                .labels
                .iter()
                .filter(|l| l.span.file == d.span.file)
                .map(|l| LabeledSpan::new_with_span(Some(l.message.clone()), span(l.span)));
            Some(Box::new(std::iter::once(primary).chain(others)))
        }
    }
}
