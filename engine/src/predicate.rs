//! PredicateValidations (policy-spec b.2): which groups and predicates a value fails. A
//! self-asserted page words the failures for the user; CopyClaimIfPredicateMatch only asks
//! whether there are any.

use chrono::NaiveDate;
use ief_transforms::dotnet;
use ief_transforms::value::parse_date;

use crate::model::{Policy, Predicate, PredicateGroup, PredicateValidation};

/// A group the value fails, with the group's predicates that it fails.
#[derive(Debug)]
pub struct GroupFailure<'p> {
    pub group: &'p PredicateGroup,
    pub predicates: Vec<&'p Predicate>,
}

impl Policy {
    /// The PredicateValidation of that Id, if the policy has one.
    pub fn predicate_validation(&self, id: &str) -> Option<&PredicateValidation> {
        self.predicate_validations.iter().find(|v| v.id.value == id)
    }

    /// The groups of `validation` that `text` fails: a group passes when at least
    /// `MatchAtLeast` of its predicates (all of them without it) pass. `today` is the clock's
    /// date for `IsDateRange`'s `Today`.
    pub fn predicate_failures<'p>(
        &'p self,
        validation: &'p PredicateValidation,
        text: &str,
        today: NaiveDate,
    ) -> Vec<GroupFailure<'p>> {
        let mut failures = Vec::new();
        for group in &validation.groups {
            let results: Vec<(&Predicate, bool)> = group
                .predicates
                .iter()
                .filter_map(|r| self.predicates.iter().find(|p| p.id.value == r.value))
                .map(|p| (p, evaluate(p, text, today)))
                .collect();
            let needed = group.match_at_least.map_or(results.len(), |m| m as usize);
            if results.iter().filter(|(_, ok)| *ok).count() < needed {
                let predicates = results.into_iter().filter(|(_, ok)| !*ok).map(|(p, _)| p).collect();
                failures.push(GroupFailure { group, predicates });
            }
        }
        failures
    }
}

fn param<'p>(p: &'p Predicate, id: &str) -> Option<&'p str> {
    p.parameters.iter().find(|(k, _)| k == id).map(|(_, v)| v.trim())
}

/// One predicate on one value. An unknown method fails, so a typo never lets values through.
pub fn evaluate(p: &Predicate, text: &str, today: NaiveDate) -> bool {
    match p.method.value.as_str() {
        "IsLengthRange" => {
            // .NET counts UTF-16 code units.
            let len = text.encode_utf16().count();
            let min = param(p, "Minimum").map_or(Some(0), |m| m.parse::<usize>().ok());
            let max = param(p, "Maximum").map_or(Some(usize::MAX), |m| m.parse::<usize>().ok());
            matches!((min, max), (Some(min), Some(max)) if (min..=max).contains(&len))
        }
        "MatchesRegex" => param(p, "RegularExpression").is_some_and(|re| dotnet::is_match(re, text)),
        "IncludesCharacters" => param(p, "CharacterSet").is_some_and(|set| {
            let ranges = parse_char_set(set);
            text.chars().any(|c| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)))
        }),
        "IsDateRange" => {
            let bound = |name: &str| -> Option<Option<NaiveDate>> {
                match param(p, name) {
                    None => Some(None),
                    Some(t) if t.eq_ignore_ascii_case("Today") => Some(Some(today)),
                    Some(t) => parse_date(t).map(Some),
                }
            };
            let (Some(min), Some(max), Some(date)) = (bound("Minimum"), bound("Maximum"), parse_date(text.trim()))
            else {
                return false;
            };
            min.is_none_or(|m| date >= m) && max.is_none_or(|m| date <= m)
        }
        _ => false,
    }
}

/// A regex-class-like character set (`a-z`, `0-9`, `@#$%^&*\-_+=[]{}|\:',?/`~"();!`) as
/// inclusive ranges: `x-y` is a range, a backslash makes the next character literal.
pub fn parse_char_set(set: &str) -> Vec<(char, char)> {
    let mut items: Vec<(char, bool)> = Vec::new();
    let mut chars = set.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    items.push((n, true));
                }
            }
            _ => items.push((c, false)),
        }
    }
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < items.len() {
        if i + 2 < items.len() && items[i + 1] == ('-', false) {
            ranges.push((items[i].0, items[i + 2].0));
            i += 3;
        } else {
            ranges.push((items[i].0, items[i].0));
            i += 1;
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::parse_char_set;

    #[test]
    fn character_sets_read_ranges_and_escapes() {
        assert_eq!(parse_char_set("a-z0-9"), [('a', 'z'), ('0', '9')]);
        assert_eq!(parse_char_set(r"\-_+"), [('-', '-'), ('_', '_'), ('+', '+')]);
        assert_eq!(parse_char_set("-a"), [('-', '-'), ('a', 'a')]);
        assert_eq!(parse_char_set(r"[]\:"), [('[', '['), (']', ']'), (':', ':')]);
    }
}
