//! Syntax highlighting for reviewers: the code split into classed spans by the same lexers
//! analysis parses it with (rustpython's for Python, sqlparser's for SQL), so what a reviewer
//! sees coloured is what the gateway understood. Spans cover the source exactly, in order;
//! joining their text gives back the code byte for byte. Where a lexer gives up (a syntax
//! error), the rest is one plain span.

use airlock_gateway_domain::execution::Language;
use rustpython_parser::{lexer::lex, Mode, Tok};
use sqlparser::{
    dialect::GenericDialect,
    tokenizer::{Token, Tokenizer, Whitespace},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Plain,
    Keyword,
    Name,
    String,
    Number,
    Comment,
    Operator,
}

impl Class {
    /// The CSS class the console styles it with.
    pub fn css(self) -> &'static str {
        match self {
            Class::Plain => "",
            Class::Keyword => "kw",
            Class::Name => "nm",
            Class::String => "st",
            Class::Number => "nu",
            Class::Comment => "co",
            Class::Operator => "op",
        }
    }
}

/// `code` as (class, text) spans.
pub fn highlight(language: Language, code: &str) -> Vec<(Class, &str)> {
    let starts = match language {
        Language::Python => python(code),
        Language::Sql => sql(code),
        Language::Bash | Language::Javascript => vec![],
    };
    spans(code, starts)
}

/// Turns (start byte, class) marks into spans covering all of `code`.
fn spans(code: &str, mut marks: Vec<(usize, Class)>) -> Vec<(Class, &str)> {
    marks.retain(|(at, _)| *at <= code.len() && code.is_char_boundary(*at));
    marks.sort_by_key(|(at, _)| *at);
    marks.dedup_by_key(|(at, _)| *at);
    let mut out = vec![];
    let mut pos = 0;
    let mut class = Class::Plain;
    for (at, next) in marks {
        if at > pos {
            out.push((class, &code[pos..at]));
        }
        pos = at.max(pos);
        class = next;
    }
    if pos < code.len() {
        out.push((class, &code[pos..]));
    }
    out
}

fn python(code: &str) -> Vec<(usize, Class)> {
    let mut marks = vec![];
    // Comments are not tokens of this lexer (without its `full-lexer` feature): a `#` between
    // tokens starts one, to the end of its line (a `#` inside a string is inside a token).
    let mut gap_from = 0;
    let comments = |from: usize, to: usize, marks: &mut Vec<(usize, Class)>| {
        let gap = code.get(from..to).unwrap_or("");
        let mut at = 0;
        while let Some(i) = gap[at..].find('#') {
            let start = at + i;
            let end = gap[start..].find('\n').map_or(gap.len(), |n| start + n);
            marks.push((from + start, Class::Comment));
            marks.push((from + end, Class::Plain));
            at = end;
        }
    };
    for tok in lex(code, Mode::Module) {
        let Ok((tok, range)) = tok else {
            break; // the rest stays as the last class, then plain below
        };
        let (start, end) = (usize::from(range.start()), usize::from(range.end()));
        if start >= gap_from {
            comments(gap_from, start, &mut marks);
            gap_from = end;
        }
        let text = code.get(start..end).unwrap_or("");
        let class = match tok {
            Tok::Name { .. } => Class::Name,
            Tok::Int { .. } | Tok::Float { .. } | Tok::Complex { .. } => Class::Number,
            Tok::String { .. } => Class::String,
            Tok::Newline | Tok::Indent | Tok::Dedent => continue,
            _ if text.chars().all(|c| c.is_ascii_alphabetic()) && !text.is_empty() => {
                Class::Keyword
            }
            _ => Class::Operator,
        };
        marks.push((start, class));
        marks.push((end, Class::Plain));
    }
    if marks.last().is_none_or(|(at, _)| *at >= gap_from) {
        comments(gap_from, code.len(), &mut marks);
    }
    marks
}

fn sql(code: &str) -> Vec<(usize, Class)> {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, code).tokenize_with_location() else {
        return vec![];
    };
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(code.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    // Locations are 1-based lines and 1-based columns in characters.
    let byte_at = |line: u64, column: u64| -> Option<usize> {
        let start = *line_starts.get(usize::try_from(line).ok()?.checked_sub(1)?)?;
        let col = usize::try_from(column).ok()?.checked_sub(1)?;
        let rest = code.get(start..)?;
        Some(start + rest.char_indices().nth(col).map_or(rest.len(), |(i, _)| i))
    };
    let mut marks = vec![];
    for t in tokens {
        let class = match &t.token {
            Token::Word(w) if w.keyword != sqlparser::keywords::Keyword::NoKeyword => {
                Class::Keyword
            }
            Token::Word(_) => Class::Name,
            Token::Number(..) => Class::Number,
            Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::HexStringLiteral(_) => Class::String,
            Token::Whitespace(Whitespace::SingleLineComment { .. })
            | Token::Whitespace(Whitespace::MultiLineComment(_)) => Class::Comment,
            Token::Whitespace(_) | Token::EOF => Class::Plain,
            _ => Class::Operator,
        };
        if let Some(at) = byte_at(t.span.start.line, t.span.start.column) {
            marks.push((at, class));
        }
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(spans: &[(Class, &str)]) -> String {
        spans.iter().map(|(_, t)| *t).collect()
    }

    #[test]
    fn python_spans_cover_the_code_and_class_its_tokens() {
        let code = "import os  # why\nx = \"é\" + 42\ndef f():\n    return x\n";
        let s = highlight(Language::Python, code);
        assert_eq!(joined(&s), code);
        assert!(s.contains(&(Class::Keyword, "import")));
        assert!(s.contains(&(Class::Comment, "# why")));
        assert!(s.contains(&(Class::String, "\"é\"")));
        assert!(s.contains(&(Class::Number, "42")));
        assert!(s.contains(&(Class::Name, "os")));
        assert!(s.contains(&(Class::Keyword, "return")));
    }

    #[test]
    fn sql_spans_cover_the_code_across_lines() {
        let code = "SELECT name, 'ø' -- note\nFROM t\nWHERE id = 7";
        let s = highlight(Language::Sql, code);
        assert_eq!(joined(&s), code);
        assert!(s.contains(&(Class::Keyword, "SELECT")));
        assert!(s.contains(&(Class::String, "'ø'")));
        assert!(s.contains(&(Class::Keyword, "WHERE")));
        assert!(s.contains(&(Class::Number, "7")));
    }

    #[test]
    fn code_that_does_not_lex_is_still_shown_whole() {
        for (lang, code) in [
            (Language::Python, "x = 'unterminated\nprint(1)"),
            (Language::Sql, "SELECT 'open"),
            (Language::Bash, "echo hi"),
        ] {
            assert_eq!(joined(&highlight(lang, code)), code);
        }
    }
}
