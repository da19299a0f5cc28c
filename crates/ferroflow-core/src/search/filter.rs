//! The tokenizer and clause parser shared by every search filter, plus the checks entity
//! modules use to accept or reject a clause.
//!
//! The grammar is MLflow's SQL-like subset (../shared/spec/mlflow-rest.md §16):
//!
//! ```text
//! filter     := clause ( AND clause )*
//! clause     := identifier comparator value
//!             | identifier IS [NOT] NULL
//!             | identifier [NOT] IN '(' value ( ',' value )* ')'
//! identifier := segment ( '.' segment )*        segment := bare word | `back-quoted` | "double-quoted"
//! value      := 'single-quoted' | "double-quoted" | number
//! ```
//!
//! This module knows nothing of entities: it produces [`RawClause`]s whose prefix is the first
//! identifier segment (lowercased) and whose key is the rest, so `tags.mlflow.runName` is
//! prefix `tags`, key `mlflow.runName` (the reference splits on the first dot only). Entity
//! modules map prefixes and keys to typed keys and decide which comparators and value types
//! each key takes, using [`check_clause`].

use super::{Comparator, Literal};
use crate::{Error, Result};

/// Choices the caller makes about the grammar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Accept `"double-quoted"` text as a string value. Strict SQL reads double quotes as an
    /// identifier, but the reference tolerates them as values and the datasets client sends
    /// `name = "qa-dataset"`, so most entities turn this on.
    pub allow_double_quoted_values: bool,
}

/// One clause as written, before an entity module gives its key a type.
#[derive(Debug, Clone, PartialEq)]
pub struct RawClause {
    /// The first identifier segment, lowercased, when the identifier has more than one.
    pub prefix: Option<String>,
    /// The rest of the identifier (segments joined with `.`), quotes removed, case kept.
    pub key: String,
    pub comparator: Comparator,
    /// `Str`/`Num` for plain comparators, `List` for `IN`/`NOT IN`, `None` for `IS [NOT] NULL`.
    pub value: Literal,
    /// Whether a string value was written in double quotes.
    pub value_double_quoted: bool,
}

impl RawClause {
    /// The identifier as the user would recognise it in an error message.
    pub fn identifier(&self) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}.{}", self.key),
            None => self.key.clone(),
        }
    }
}

/// One `order_by` entry as written: `<identifier> [ASC|DESC]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOrderBy {
    pub prefix: Option<String>,
    pub key: String,
    pub ascending: bool,
    /// Whether `ASC` or `DESC` was written (logged models take the direction elsewhere).
    pub direction_written: bool,
}

/// Parses a whole filter. Empty or blank text is no clause (it matches everything).
pub fn parse(filter: &str, options: ParseOptions) -> Result<Vec<RawClause>> {
    let tokens = tokenize(filter)?;
    let mut parser = Parser { tokens: &tokens, position: 0 };
    let mut clauses = Vec::new();
    if parser.at_end() {
        return Ok(clauses);
    }
    loop {
        clauses.push(parser.clause(options)?);
        match parser.next() {
            None => break,
            Some(token) if token.is_keyword("AND") => {
                if parser.at_end() {
                    return Err(Error::invalid(format!(
                        "Invalid filter string '{filter}': expected a clause after 'AND'"
                    )));
                }
            }
            // `OR`, a stray `)`, or anything else after a complete clause: the reference
            // reports the offending token the same way.
            Some(token) => return Err(invalid_clause(&token.source)),
        }
    }
    Ok(clauses)
}

/// Parses one `order_by` entry such as ``metrics.`my acc` DESC``, `start_time`,
/// `timestamp_ms ASC`. The direction defaults to ascending.
pub fn parse_order_by_item(text: &str) -> Result<RawOrderBy> {
    let bad = |detail: &str| Error::invalid(format!("Invalid order_by clause '{text}': {detail}"));
    let tokens = tokenize(text).map_err(|err| bad(&err.message))?;
    let mut parser = Parser { tokens: &tokens, position: 0 };
    if parser.at_end() {
        return Err(bad("expected an identifier"));
    }
    let (prefix, key) = parser.identifier().map_err(|err| bad(&err.message))?;
    let direction = parser.next();
    let ascending = match direction {
        None => true,
        Some(token) if token.is_keyword("ASC") => true,
        Some(token) if token.is_keyword("DESC") => false,
        Some(token) => return Err(bad(&format!("expected ASC or DESC, found '{}'", token.source))),
    };
    if let Some(token) = parser.next() {
        return Err(bad(&format!("unexpected '{}' after the sort direction", token.source)));
    }
    Ok(RawOrderBy { prefix, key, ascending, direction_written: direction.is_some() })
}

/// Parses every `order_by` entry with `to_key` giving each a typed key; the error names the
/// entry that failed.
pub(crate) fn parse_order_by_items<K>(
    items: &[String],
    to_key: impl Fn(&RawOrderBy) -> Result<K>,
) -> Result<Vec<super::OrderBy<K>>> {
    items
        .iter()
        .map(|item| {
            let raw = parse_order_by_item(item)?;
            let key = to_key(&raw)
                .map_err(|err| Error::invalid(format!("Invalid order_by clause '{item}': {}", err.message)))?;
            Ok(super::OrderBy { key, ascending: raw.ascending })
        })
        .collect()
}

/// What type of value a key compares against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    Text,
    Number,
    /// Either: assessments hold strings, numbers or booleans.
    TextOrNumber,
}

/// Comparator sets that recur across entities.
pub(crate) mod comparators {
    use super::Comparator::{self, *};

    pub const NUMERIC: &[Comparator] = &[Eq, Ne, Lt, Le, Gt, Ge];
    pub const EQUALITY_AND_LIKE: &[Comparator] = &[Eq, Ne, Like, ILike];
    pub const EQUALITY_LIKE_NULL: &[Comparator] = &[Eq, Ne, Like, ILike, IsNull, IsNotNull];
    pub const STRING_WITH_IN: &[Comparator] = &[Eq, Ne, Like, ILike, In, NotIn];
}

/// Checks that `raw` uses one of `allowed` and a value of `kind`, naming the key as `what`
/// (e.g. "metric 'loss'") in errors.
pub(crate) fn check_clause(raw: &RawClause, what: &str, allowed: &[Comparator], kind: ValueKind) -> Result<()> {
    if !allowed.contains(&raw.comparator) {
        let valid: Vec<&str> = allowed.iter().map(|comparator| comparator.as_str()).collect();
        return Err(Error::invalid(format!(
            "Invalid comparator '{}' for {what}; expected one of: {}",
            raw.comparator.as_str(),
            valid.join(", ")
        )));
    }
    match (&raw.value, kind) {
        (Literal::None | Literal::List(_), _) => Ok(()),
        (Literal::Str(_), ValueKind::Text | ValueKind::TextOrNumber) => Ok(()),
        (Literal::Num(_), ValueKind::Number | ValueKind::TextOrNumber) => Ok(()),
        (Literal::Num(number), ValueKind::Text) => {
            Err(Error::invalid(format!("Expected a quoted string value for {what}, got {number}")))
        }
        (Literal::Str(text), ValueKind::Number) => {
            Err(Error::invalid(format!("Expected a numeric value for {what}, got '{text}'")))
        }
    }
}

/// The error for a token that cannot start or continue a clause; the wording follows the
/// reference ("Invalid clause(s) in filter string: 'OR'").
fn invalid_clause(token: &str) -> Error {
    let hint = match token.to_ascii_uppercase().as_str() {
        "OR" => " (OR is not supported; combine clauses with AND)",
        "(" | ")" => " (parentheses are not supported; combine clauses with AND)",
        _ => "",
    };
    Error::invalid(format!("Invalid clause(s) in filter string: '{token}'{hint}"))
}

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    /// A bare word: an identifier segment or a keyword (AND, IN, LIKE, ...).
    Word,
    BackQuoted,
    DoubleQuoted,
    SingleQuoted,
    Number(f64),
    /// `=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`, and `==` (lexed only to be rejected by name).
    Operator,
    LeftParen,
    RightParen,
    Comma,
    Dot,
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    /// The content: unquoted and unescaped for quoted tokens, as written otherwise.
    text: String,
    /// The token as written, for error messages.
    source: String,
}

impl Token {
    fn is_keyword(&self, keyword: &str) -> bool {
        self.kind == TokenKind::Word && self.text.eq_ignore_ascii_case(keyword)
    }
}

fn is_word_char(ch: char) -> bool {
    // `-`, `/` and `:` appear in real metric and tag keys (`eval/loss`, `val-acc`); no operator
    // starts with them, so accepting them in bare words is unambiguous.
    ch.is_alphanumeric() || matches!(ch, '_' | '-' | '/' | ':')
}

fn tokenize(input: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens: Vec<Token> = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let ch = chars[index];
        if ch.is_whitespace() {
            index += 1;
            continue;
        }
        let start = index;
        let previous_is_dot = tokens.last().is_some_and(|token| token.kind == TokenKind::Dot);
        let previous_is_identifier = tokens.last().is_some_and(|token| {
            matches!(token.kind, TokenKind::Word | TokenKind::BackQuoted | TokenKind::DoubleQuoted)
        });
        let next = chars.get(index + 1).copied();
        let (kind, text) = match ch {
            '\'' | '"' | '`' => {
                let (text, end) = quoted(&chars, index)?;
                index = end;
                let kind = match ch {
                    '\'' => TokenKind::SingleQuoted,
                    '"' => TokenKind::DoubleQuoted,
                    _ => TokenKind::BackQuoted,
                };
                (kind, text)
            }
            '(' | ')' | ',' => {
                index += 1;
                let kind = match ch {
                    '(' => TokenKind::LeftParen,
                    ')' => TokenKind::RightParen,
                    _ => TokenKind::Comma,
                };
                (kind, ch.to_string())
            }
            '=' | '!' | '<' | '>' => {
                let two: String = chars[index..(index + 2).min(chars.len())].iter().collect();
                let operator = if matches!(two.as_str(), "<=" | ">=" | "!=" | "<>" | "==") {
                    two
                } else if ch == '!' {
                    return Err(Error::invalid(format!("Invalid filter string '{input}': unexpected '!'")));
                } else {
                    ch.to_string()
                };
                index += operator.chars().count();
                (TokenKind::Operator, operator)
            }
            // A dot right after an identifier separates segments; otherwise it may start `.5`.
            '.' if previous_is_identifier || !next.is_some_and(|next| next.is_ascii_digit()) => {
                index += 1;
                (TokenKind::Dot, ".".to_string())
            }
            // After a dot every run of word characters is a key segment, even `tags.123`.
            _ if previous_is_dot && is_word_char(ch) => {
                while index < chars.len() && is_word_char(chars[index]) {
                    index += 1;
                }
                (TokenKind::Word, chars[start..index].iter().collect())
            }
            _ if ch.is_ascii_digit()
                || ch == '.'
                || (matches!(ch, '-' | '+') && next.is_some_and(|next| next.is_ascii_digit() || next == '.')) =>
            {
                let (number, end) = number(input, &chars, index)?;
                index = end;
                (TokenKind::Number(number), chars[start..end].iter().collect())
            }
            _ if ch.is_alphanumeric() || ch == '_' => {
                while index < chars.len() && is_word_char(chars[index]) {
                    index += 1;
                }
                (TokenKind::Word, chars[start..index].iter().collect())
            }
            _ => return Err(Error::invalid(format!("Invalid filter string '{input}': unexpected character '{ch}'"))),
        };
        tokens.push(Token { kind, text, source: chars[start..index].iter().collect() });
    }
    Ok(tokens)
}

/// Reads a quoted token starting at `start`; returns its unescaped content and the index past
/// the closing quote. A doubled quote (`'it''s'`) and a backslash-escaped quote (`'it\'s'`)
/// both stand for the quote character; `\\` is one backslash. Other backslashes stay as
/// written so that LIKE escapes such as `\_` reach the store intact.
fn quoted(chars: &[char], start: usize) -> Result<(String, usize)> {
    let quote = chars[start];
    let mut text = String::new();
    let mut index = start + 1;
    while index < chars.len() {
        let ch = chars[index];
        let next = chars.get(index + 1).copied();
        if ch == quote {
            if next == Some(quote) {
                text.push(quote);
                index += 2;
                continue;
            }
            return Ok((text, index + 1));
        }
        if ch == '\\' && (next == Some(quote) || next == Some('\\')) {
            text.push(next.unwrap_or('\\'));
            index += 2;
            continue;
        }
        text.push(ch);
        index += 1;
    }
    let written: String = chars[start..].iter().collect();
    Err(Error::invalid(format!("Invalid filter string: unterminated quoted string {written}")))
}

/// Reads a number (`1`, `-2`, `1.5`, `.5`, `1e-3`) starting at `start`; returns it and the
/// index past it. Letters glued to a number (`1abc`) are an error rather than two tokens.
fn number(input: &str, chars: &[char], start: usize) -> Result<(f64, usize)> {
    let mut index = start;
    if matches!(chars[index], '-' | '+') {
        index += 1;
    }
    while index < chars.len() && chars[index].is_ascii_digit() {
        index += 1;
    }
    if index < chars.len() && chars[index] == '.' {
        index += 1;
        while index < chars.len() && chars[index].is_ascii_digit() {
            index += 1;
        }
    }
    if index < chars.len() && matches!(chars[index], 'e' | 'E') {
        let mut exponent_end = index + 1;
        if exponent_end < chars.len() && matches!(chars[exponent_end], '-' | '+') {
            exponent_end += 1;
        }
        if exponent_end < chars.len() && chars[exponent_end].is_ascii_digit() {
            index = exponent_end;
            while index < chars.len() && chars[index].is_ascii_digit() {
                index += 1;
            }
        }
    }
    let mut end = index;
    while end < chars.len() && is_word_char(chars[end]) {
        end += 1;
    }
    let written: String = chars[start..end].iter().collect();
    if end != index {
        return Err(Error::invalid(format!("Invalid filter string '{input}': invalid number '{written}'")));
    }
    written
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
        .map(|number| (number, end))
        .ok_or_else(|| Error::invalid(format!("Invalid filter string '{input}': invalid number '{written}'")))
}

struct Parser<'a> {
    tokens: &'a [Token],
    position: usize,
}

impl<'a> Parser<'a> {
    fn at_end(&self) -> bool {
        self.position >= self.tokens.len()
    }

    fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<&'a Token> {
        let token = self.tokens.get(self.position);
        if token.is_some() {
            self.position += 1;
        }
        token
    }

    /// `segment ( '.' segment )*` → (lowercased prefix, key) split at the first dot.
    fn identifier(&mut self) -> Result<(Option<String>, String)> {
        let mut segments = vec![self.segment()?];
        while self.peek().is_some_and(|token| token.kind == TokenKind::Dot) {
            self.position += 1;
            segments.push(self.segment()?);
        }
        if segments.len() == 1 {
            return Ok((None, segments.remove(0)));
        }
        let prefix = segments.remove(0).to_lowercase();
        Ok((Some(prefix), segments.join(".")))
    }

    fn segment(&mut self) -> Result<String> {
        match self.next() {
            Some(token) if matches!(token.kind, TokenKind::Word | TokenKind::BackQuoted | TokenKind::DoubleQuoted) => {
                if token.text.is_empty() {
                    return Err(Error::invalid("Invalid filter string: empty quoted identifier"));
                }
                Ok(token.text.clone())
            }
            Some(token) => Err(invalid_clause(&token.source)),
            None => Err(Error::invalid("Invalid filter string: expected an identifier after '.'")),
        }
    }

    fn clause(&mut self, options: ParseOptions) -> Result<RawClause> {
        let (prefix, key) = self.identifier()?;
        let identifier = match &prefix {
            Some(prefix) => format!("{prefix}.{key}"),
            None => key.clone(),
        };
        let comparator = self.comparator(&identifier)?;
        let mut value_double_quoted = false;
        let value = match comparator {
            Comparator::IsNull | Comparator::IsNotNull => Literal::None,
            Comparator::In | Comparator::NotIn => Literal::List(self.list(&identifier, options)?),
            _ => {
                let (value, double_quoted) = self.value(&identifier, comparator, options)?;
                value_double_quoted = double_quoted;
                value
            }
        };
        Ok(RawClause { prefix, key, comparator, value, value_double_quoted })
    }

    fn comparator(&mut self, identifier: &str) -> Result<Comparator> {
        let Some(token) = self.next() else {
            return Err(Error::invalid(format!("Invalid filter string: expected a comparator after '{identifier}'")));
        };
        let comparator = match (&token.kind, token.text.to_ascii_uppercase().as_str()) {
            (TokenKind::Operator, "=") => Comparator::Eq,
            (TokenKind::Operator, "!=" | "<>") => Comparator::Ne,
            (TokenKind::Operator, "<") => Comparator::Lt,
            (TokenKind::Operator, "<=") => Comparator::Le,
            (TokenKind::Operator, ">") => Comparator::Gt,
            (TokenKind::Operator, ">=") => Comparator::Ge,
            (TokenKind::Word, "LIKE") => Comparator::Like,
            (TokenKind::Word, "ILIKE") => Comparator::ILike,
            (TokenKind::Word, "RLIKE") => Comparator::RLike,
            (TokenKind::Word, "IN") => Comparator::In,
            (TokenKind::Word, "NOT") => match self.next() {
                Some(next) if next.is_keyword("IN") => Comparator::NotIn,
                Some(next) => {
                    return Err(Error::invalid(format!(
                        "Invalid comparator 'NOT {}' after '{identifier}'; only NOT IN is supported",
                        next.source
                    )))
                }
                None => {
                    return Err(Error::invalid(format!("Invalid filter string: expected IN after '{identifier} NOT'")))
                }
            },
            (TokenKind::Word, "IS") => {
                let negated = self.peek().is_some_and(|next| next.is_keyword("NOT"));
                if negated {
                    self.position += 1;
                }
                match self.next() {
                    Some(next) if next.is_keyword("NULL") => {
                        if negated {
                            Comparator::IsNotNull
                        } else {
                            Comparator::IsNull
                        }
                    }
                    _ => {
                        return Err(Error::invalid(format!(
                            "Invalid filter string: expected NULL or NOT NULL after '{identifier} IS'"
                        )))
                    }
                }
            }
            _ => return Err(Error::invalid(format!("Invalid comparator '{}' after '{identifier}'", token.source))),
        };
        Ok(comparator)
    }

    /// A single value: a quoted string or a number. Returns it and whether it was double-quoted.
    fn value(&mut self, identifier: &str, comparator: Comparator, options: ParseOptions) -> Result<(Literal, bool)> {
        let written = format!("{identifier} {}", comparator.as_str());
        match self.next() {
            Some(token) => match token.kind {
                TokenKind::SingleQuoted => Ok((Literal::Str(token.text.clone()), false)),
                TokenKind::DoubleQuoted if options.allow_double_quoted_values => {
                    Ok((Literal::Str(token.text.clone()), true))
                }
                TokenKind::Number(number) => Ok((Literal::Num(number), false)),
                TokenKind::DoubleQuoted => Err(Error::invalid(format!(
                    "Invalid value {} after '{written}': string values must be single-quoted",
                    token.source
                ))),
                _ => Err(Error::invalid(format!(
                    "Invalid value '{}' after '{written}': expected a single-quoted string or a number",
                    token.source
                ))),
            },
            None => Err(Error::invalid(format!("Invalid filter string: missing value after '{written}'"))),
        }
    }

    /// `'(' value ( ',' value )* ')'`, every value as text.
    fn list(&mut self, identifier: &str, options: ParseOptions) -> Result<Vec<String>> {
        let bad = |detail: String| Error::invalid(format!("Invalid IN list after '{identifier}': {detail}"));
        match self.next() {
            Some(token) if token.kind == TokenKind::LeftParen => {}
            Some(token) => return Err(bad(format!("expected '(', found '{}'", token.source))),
            None => return Err(bad("expected '('".to_string())),
        }
        if self.peek().is_some_and(|token| token.kind == TokenKind::RightParen) {
            return Err(bad("the list is empty".to_string()));
        }
        let mut values = Vec::new();
        loop {
            match self.next() {
                Some(token) => match token.kind {
                    TokenKind::SingleQuoted => values.push(token.text.clone()),
                    TokenKind::DoubleQuoted if options.allow_double_quoted_values => values.push(token.text.clone()),
                    TokenKind::Number(_) => values.push(token.source.clone()),
                    _ => return Err(bad(format!("expected a quoted string or a number, found '{}'", token.source))),
                },
                None => return Err(bad("unterminated list".to_string())),
            }
            match self.next() {
                Some(token) if token.kind == TokenKind::Comma => {}
                Some(token) if token.kind == TokenKind::RightParen => return Ok(values),
                Some(token) => return Err(bad(format!("expected ',' or ')', found '{}'", token.source))),
                None => return Err(bad("unterminated list".to_string())),
            }
        }
    }
}

/// An `RLIKE` pattern must compile before it reaches a store: a store evaluates it inside its
/// query, where a bad pattern fails the whole search (PostgreSQL even with no rows to match).
/// The `regex` crate's syntax is the SQLite store's; PostgreSQL refuses the few patterns it
/// reads differently with the same error code.
pub fn check_regex(pattern: &str) -> Result<()> {
    regex::Regex::new(pattern).map(|_| ()).map_err(|error| {
        let text = error.to_string();
        // The crate's message draws the pattern with a caret; its last line says what is wrong.
        let reason = text.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or_default();
        let reason = reason.trim().trim_start_matches("error: ");
        Error::invalid(format!("Invalid regular expression '{pattern}' in filter: {reason}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LENIENT: ParseOptions = ParseOptions { allow_double_quoted_values: true };

    /// Parses `filter` and renders each clause as `prefix|key|comparator|value`, or the error.
    fn render(filter: &str, options: ParseOptions) -> String {
        match parse(filter, options) {
            Ok(clauses) => clauses
                .iter()
                .map(|clause| {
                    let value = match &clause.value {
                        Literal::Str(text) if clause.value_double_quoted => format!("\"{text}\""),
                        Literal::Str(text) => format!("'{text}'"),
                        Literal::Num(number) => number.to_string(),
                        Literal::List(items) => format!("{items:?}"),
                        Literal::None => "-".to_string(),
                    };
                    format!(
                        "{}|{}|{}|{}",
                        clause.prefix.as_deref().unwrap_or(""),
                        clause.key,
                        clause.comparator.as_str(),
                        value
                    )
                })
                .collect::<Vec<_>>()
                .join(" ; "),
            Err(err) => format!("error: {}", err.message),
        }
    }

    fn check(filter: &str, expected: &str) {
        assert_eq!(render(filter, LENIENT), expected, "filter: {filter}");
    }

    fn check_error(filter: &str, expected_part: &str) {
        let rendered = render(filter, LENIENT);
        assert!(
            rendered.starts_with("error: ") && rendered.contains(expected_part),
            "filter: {filter}\nexpected an error containing: {expected_part}\ngot: {rendered}"
        );
    }

    #[test]
    fn empty_filter_is_no_clause() {
        check("", "");
        check("   \n\t", "");
    }

    #[test]
    fn clauses_and_comparators() {
        check(
            "metrics.loss < 1 and params.model = 'tiny' and tags.stage = 'dev'",
            "metrics|loss|<|1 ; params|model|=|'tiny' ; tags|stage|=|'dev'",
        );
        check(
            "a != 'x' AND b <> 'y' And c <= 1 aNd d >= 2 AND e > 3",
            "|a|!=|'x' ; |b|!=|'y' ; |c|<=|1 ; |d|>=|2 ; |e|>|3",
        );
        check(
            "name like 'a%' AND name ILike 'b%' AND name RLIKE '^c'",
            "|name|LIKE|'a%' ; |name|ILIKE|'b%' ; |name|RLIKE|'^c'",
        );
        check("tags.x IS NULL AND tags.y is not null", "tags|x|IS NULL|- ; tags|y|IS NOT NULL|-");
        check("status IN ('OK','ERROR')", "|status|IN|[\"OK\", \"ERROR\"]");
        check("run_id not in ('a', \"b\", 3)", "|run_id|NOT IN|[\"a\", \"b\", \"3\"]");
    }

    #[test]
    fn no_spaces_needed() {
        check("name='active-agent'", "|name|=|'active-agent'");
        check("metrics.a>=1", "metrics|a|>=|1");
        check("metrics.a>-1.5e3", "metrics|a|>|-1500");
        check("a='x'AND b='y'", "|a|=|'x' ; |b|=|'y'");
        check("status IN('OK')", "|status|IN|[\"OK\"]");
    }

    #[test]
    fn identifiers_split_on_first_dot() {
        check("tags.mlflow.runName = 'r'", "tags|mlflow.runName|=|'r'");
        check("tags.`mlflow.prompt.is_prompt` != 'true'", "tags|mlflow.prompt.is_prompt|!=|'true'");
        check("metrics.`my acc` > 0.5", "metrics|my acc|>|0.5");
        check("metrics.\"my acc\" > 0.5", "metrics|my acc|>|0.5");
        check("TAGS.Stage = 'dev'", "tags|Stage|=|'dev'");
        check("`run name` = 'x'", "|run name|=|'x'");
        check("span.attributes.model LIKE '%gpt%'", "span|attributes.model|LIKE|'%gpt%'");
        check("span.attributes.`llm.model` = 'x'", "span|attributes.llm.model|=|'x'");
        check("tags.123 = 'x'", "tags|123|=|'x'");
        check("metrics.eval/loss < 1", "metrics|eval/loss|<|1");
        check("metrics.val-acc>-1", "metrics|val-acc|>|-1");
    }

    #[test]
    fn values() {
        check("a = 'it''s'", "|a|=|'it's'");
        check(r"a = 'it\'s'", "|a|=|'it's'");
        check(r"a LIKE '%\_%'", r"|a|LIKE|'%\_%'");
        check(r"a = 'back\\slash'", r"|a|=|'back\slash'");
        check("a = ''", "|a|=|''");
        check("name = \"qa-dataset\"", "|name|=|\"qa-dataset\"");
        check("a = 1700000000000", "|a|=|1700000000000");
        check("a = .5 AND b = 5. AND c = +2 AND d = 1E2", "|a|=|0.5 ; |b|=|5 ; |c|=|2 ; |d|=|100");
    }

    #[test]
    fn structural_errors() {
        check_error("a = 'x' OR b = 'y'", "Invalid clause(s) in filter string: 'OR'");
        check_error("(a = 'x')", "Invalid clause(s) in filter string: '('");
        check_error("a = 'x' AND (b = 'y')", "'('");
        check_error("a = 'x' foo", "Invalid clause(s) in filter string: 'foo'");
        check_error("a = 'x' AND", "expected a clause after 'AND'");
        check_error("a = 'x' AND AND b = 'y'", "'AND'");
        check_error("a", "expected a comparator after 'a'");
        check_error("metrics.a >", "missing value after 'metrics.a >'");
        check_error("a = 'abc", "unterminated quoted string 'abc");
        check_error("tags.`abc = 'x'", "unterminated quoted string `abc");
        check_error("a IN ()", "the list is empty");
        check_error("a IN ('x'", "unterminated list");
        check_error("a IN 'x'", "expected '('");
        check_error("a IN ('x' 'y')", "expected ',' or ')'");
        check_error("a == 'x'", "Invalid comparator '=='");
        check_error("a NOT LIKE 'x'", "only NOT IN is supported");
        check_error("a IS 'x'", "expected NULL or NOT NULL");
        check_error("a = FINISHED", "expected a single-quoted string or a number");
        check_error("a = 1abc", "invalid number '1abc'");
        check_error("a = 'x' ; b = 'y'", "unexpected character ';'");
        check_error("tags. = 'x'", "'='");
        check_error("a ! 'x'", "unexpected '!'");
    }

    #[test]
    fn double_quoted_values_follow_the_option() {
        assert!(render("name = \"x\"", ParseOptions::default()).contains("must be single-quoted"));
        assert_eq!(render("name = 'x'", ParseOptions::default()), "|name|=|'x'");
        assert!(render("name IN (\"x\")", ParseOptions::default()).contains("expected a quoted string"));
    }

    #[test]
    fn order_by_items() {
        let check_order = |text: &str, expected: &str| {
            let rendered = match parse_order_by_item(text) {
                Ok(item) => format!(
                    "{}|{}|{}",
                    item.prefix.as_deref().unwrap_or(""),
                    item.key,
                    if item.ascending { "ASC" } else { "DESC" }
                ),
                Err(err) => format!("error: {}", err.message),
            };
            assert_eq!(rendered, expected, "order_by: {text}");
        };
        check_order("metrics.`my acc` DESC", "metrics|my acc|DESC");
        check_order("start_time", "|start_time|ASC");
        check_order("timestamp_ms ASC", "|timestamp_ms|ASC");
        check_order("tags.mlflow.runName desc", "tags|mlflow.runName|DESC");
        check_order("attributes.start_time  DESC ", "attributes|start_time|DESC");
        check_order("", "error: Invalid order_by clause '': expected an identifier");
        check_order("name UP", "error: Invalid order_by clause 'name UP': expected ASC or DESC, found 'UP'");
        check_order(
            "name ASC DESC",
            "error: Invalid order_by clause 'name ASC DESC': unexpected 'DESC' after the sort direction",
        );
        check_order(
            "metrics.`x ASC",
            "error: Invalid order_by clause 'metrics.`x ASC': Invalid filter string: unterminated quoted string `x ASC",
        );
    }
}
