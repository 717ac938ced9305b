//! A validating JSON scanner: it walks a record's text once, checks all of it, and builds nothing. The
//! projection ([`super::projection`]) drives it through the parts it reads and has it skip the rest.
//!
//! It accepts exactly the texts `serde_json::from_str::<serde_json::Value>` accepts (RFC 8259, at most 127
//! nested arrays or objects, paired `\u` surrogates, numbers that fit an `f64`) and refuses the others with
//! `serde_json`'s message, line and column (for example "expected `,` or `}` at line 1 column 17"). Skipping
//! never recurses: the containers it is inside are bits of one integer, so hostile nesting cannot overflow the
//! stack.

use std::borrow::Cow;
use std::fmt;

/// `serde_json` refuses the 128th nested array or object.
const MAX_DEPTH: u32 = 128;

/// A first key that makes `serde_json` read its object as JSON text embedded in a string (its `RawValue`
/// marker); [`scan`] leaves such texts to `serde_json`.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// What the text lacked, worded as `serde_json` words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorCode {
    EofWhileParsingList,
    EofWhileParsingObject,
    EofWhileParsingString,
    EofWhileParsingValue,
    ExpectedColon,
    ExpectedListCommaOrEnd,
    ExpectedObjectCommaOrEnd,
    ExpectedSomeIdent,
    ExpectedSomeValue,
    InvalidEscape,
    InvalidNumber,
    NumberOutOfRange,
    ControlCharacterWhileParsingString,
    KeyMustBeAString,
    LoneLeadingSurrogateInHexEscape,
    TrailingComma,
    TrailingCharacters,
    UnexpectedEndOfHexEscape,
    RecursionLimitExceeded,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorCode::EofWhileParsingList => "EOF while parsing a list",
            ErrorCode::EofWhileParsingObject => "EOF while parsing an object",
            ErrorCode::EofWhileParsingString => "EOF while parsing a string",
            ErrorCode::EofWhileParsingValue => "EOF while parsing a value",
            ErrorCode::ExpectedColon => "expected `:`",
            ErrorCode::ExpectedListCommaOrEnd => "expected `,` or `]`",
            ErrorCode::ExpectedObjectCommaOrEnd => "expected `,` or `}`",
            ErrorCode::ExpectedSomeIdent => "expected ident",
            ErrorCode::ExpectedSomeValue => "expected value",
            ErrorCode::InvalidEscape => "invalid escape",
            ErrorCode::InvalidNumber => "invalid number",
            ErrorCode::NumberOutOfRange => "number out of range",
            ErrorCode::ControlCharacterWhileParsingString => {
                "control character (\\u0000-\\u001F) found while parsing a string"
            }
            ErrorCode::KeyMustBeAString => "key must be a string",
            ErrorCode::LoneLeadingSurrogateInHexEscape => "lone leading surrogate in hex escape",
            ErrorCode::TrailingComma => "trailing comma",
            ErrorCode::TrailingCharacters => "trailing characters",
            ErrorCode::UnexpectedEndOfHexEscape => "unexpected end of hex escape",
            ErrorCode::RecursionLimitExceeded => "recursion limit exceeded",
        })
    }
}

/// Where a text stops being JSON: what was wrong, and the byte offset `serde_json` reports it at (its column
/// counts bytes from the start of the line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    code: ErrorCode,
    at: usize,
}

impl SyntaxError {
    /// The error as `serde_json` reports it: the same message, `at line L column C`.
    fn into_serde(self, text: &str) -> serde_json::Error {
        let before = text.as_bytes().get(..self.at).unwrap_or(text.as_bytes());
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |newline| newline + 1);
        let line = before.split(|&b| b == b'\n').count();
        let column = before.len() - line_start;
        <serde_json::Error as serde::de::Error>::custom(format_args!(
            "{} at line {line} column {column}",
            self.code
        ))
    }
}

/// What a value starts with, as [`Scanner::open`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    /// An object, now open: read its members with [`Scanner::next_key`].
    Object,
    /// An array, now open: read its elements with [`Scanner::next_element`].
    Array,
    /// Anything else, not consumed: skip it with [`Scanner::skip_value`].
    Scalar,
}

/// An object key as it is written in the text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key<'t> {
    /// The text between the quotes.
    raw: &'t str,
    /// The key has `\` escapes.
    escaped: bool,
}

impl<'t> Key<'t> {
    /// The key's value: borrowed from the text unless it has escapes.
    #[inline]
    pub(crate) fn as_str(&self) -> Cow<'t, str> {
        if self.escaped {
            Cow::Owned(unescape(self.raw))
        } else {
            Cow::Borrowed(self.raw)
        }
    }
}

/// Runs `read` over `text`, which must hold one JSON value and nothing after it but whitespace.
///
/// `read` drives the [`Scanner`] through that value; its errors, and any text after the value, come back as
/// `serde_json` reports them.
pub(crate) fn scan<'t, T>(
    text: &'t str,
    read: impl FnOnce(&mut Scanner<'t>) -> Result<T, SyntaxError>,
) -> Result<T, serde_json::Error> {
    let mut scanner = Scanner::new(text);
    let found = read(&mut scanner).and_then(|value| scanner.end().map(|()| value));
    if scanner.raw_value_token {
        // serde_json gives such an object a meaning of its own: let it decide whether the text is valid.
        serde_json::from_str::<serde_json::Value>(text)?;
    }
    found.map_err(|e| e.into_serde(text))
}

/// A cursor over a JSON text that validates everything it passes.
#[derive(Debug)]
pub(crate) struct Scanner<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    /// Arrays and objects open around `pos`.
    depth: u32,
    /// An object's first key was [`RAW_VALUE_TOKEN`].
    raw_value_token: bool,
}

// The functions every token goes through are `inline(always)`: their results then stay in registers instead of
// going through memory, which made scanning a referral about 15% faster than with `inline` hints alone.
#[allow(clippy::inline_always)]
impl<'t> Scanner<'t> {
    fn new(text: &'t str) -> Scanner<'t> {
        Scanner {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
            raw_value_token: false,
        }
    }

    /// The byte offset reached.
    #[inline]
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Skips whitespace and returns where the next value starts.
    #[inline]
    pub(crate) fn value_start(&mut self) -> usize {
        self.whitespace();
        self.pos
    }

    /// Enters the next value if it is an object or an array.
    #[inline]
    pub(crate) fn open(&mut self) -> Result<Opened, SyntaxError> {
        match self.whitespace() {
            Some(b'{') => {
                self.enter()?;
                Ok(Opened::Object)
            }
            Some(b'[') => {
                self.enter()?;
                Ok(Opened::Array)
            }
            _ => Ok(Opened::Scalar),
        }
    }

    /// The next key of the open object (`first`: none was read yet), with the `:` and the whitespace after it
    /// consumed; `None` when the object ends (the `}` is consumed).
    #[inline(always)]
    pub(crate) fn next_key(&mut self, first: bool) -> Result<Option<Key<'t>>, SyntaxError> {
        match self.whitespace() {
            Some(b'}') => {
                self.leave();
                return Ok(None);
            }
            Some(b'"') if first => {}
            Some(b',') if !first => {
                self.pos += 1;
                match self.whitespace() {
                    Some(b'"') => {}
                    Some(b'}') => return Err(self.peek_error(ErrorCode::TrailingComma)),
                    Some(_) => return Err(self.peek_error(ErrorCode::KeyMustBeAString)),
                    None => return Err(self.peek_error(ErrorCode::EofWhileParsingValue)),
                }
            }
            Some(_) if first => return Err(self.peek_error(ErrorCode::KeyMustBeAString)),
            Some(_) => return Err(self.peek_error(ErrorCode::ExpectedObjectCommaOrEnd)),
            None => return Err(self.peek_error(ErrorCode::EofWhileParsingObject)),
        }
        // At the key's opening quote.
        self.pos += 1;
        let start = self.pos;
        let escaped = self.string()?;
        let raw = self.text.get(start..self.pos - 1).unwrap_or_default();
        let key = Key { raw, escaped };
        if first && raw.len() >= RAW_VALUE_TOKEN.len() && key.as_str() == RAW_VALUE_TOKEN {
            self.raw_value_token = true;
        }
        match self.whitespace() {
            Some(b':') => {
                self.pos += 1;
                self.whitespace();
                Ok(Some(key))
            }
            Some(_) => Err(self.peek_error(ErrorCode::ExpectedColon)),
            None => Err(self.peek_error(ErrorCode::EofWhileParsingObject)),
        }
    }

    /// Whether the open array has another element (`first`: none was read yet); `false` when it ends (the
    /// `]` is consumed).
    #[inline(always)]
    pub(crate) fn next_element(&mut self, first: bool) -> Result<bool, SyntaxError> {
        match self.whitespace() {
            Some(b']') => {
                self.leave();
                Ok(false)
            }
            Some(_) if first => Ok(true),
            Some(b',') => {
                self.pos += 1;
                match self.whitespace() {
                    Some(b']') => Err(self.peek_error(ErrorCode::TrailingComma)),
                    Some(_) => Ok(true),
                    None => Err(self.peek_error(ErrorCode::EofWhileParsingValue)),
                }
            }
            Some(_) => Err(self.peek_error(ErrorCode::ExpectedListCommaOrEnd)),
            None => Err(self.peek_error(ErrorCode::EofWhileParsingList)),
        }
    }

    /// Skips the next value, validating all of it, and returns its byte span (without the whitespace around
    /// it).
    #[inline(always)]
    pub(crate) fn skip_value(&mut self) -> Result<(usize, usize), SyntaxError> {
        let start = self.value_start();
        if let Some(b'{' | b'[') = self.bytes.get(self.pos) {
            return self.skip_nested(start);
        }
        self.scalar()?;
        Ok((start, self.pos))
    }

    /// Skips the array or object at `start`. Nested arrays and objects are followed with a stack of bits, one
    /// per level, never by recursion.
    fn skip_nested(&mut self, start: usize) -> Result<(usize, usize), SyntaxError> {
        // Bit `i` tells whether the `i`-th innermost container opened here is an object.
        let mut objects: u128 = 0;
        let mut levels = 0u32;
        loop {
            // At the first byte of a value: whitespace was skipped by `value_start`, `next_key` or
            // `next_element`.
            let opened = match self.bytes.get(self.pos) {
                Some(b'{') => {
                    self.enter()?;
                    self.next_key(true)?.is_some().then_some(true)
                }
                Some(b'[') => {
                    self.enter()?;
                    self.next_element(true)?.then_some(false)
                }
                _ => {
                    self.scalar()?;
                    None
                }
            };
            if let Some(object) = opened {
                objects = (objects << 1) | u128::from(object);
                levels += 1;
                continue;
            }
            // A value ended: go on in the innermost container that has more, closing the others.
            loop {
                if levels == 0 {
                    return Ok((start, self.pos));
                }
                let more = if objects & 1 == 1 {
                    self.next_key(false)?.is_some()
                } else {
                    self.next_element(false)?
                };
                if more {
                    break;
                }
                objects >>= 1;
                levels -= 1;
            }
        }
    }

    /// Checks that only whitespace follows the value.
    fn end(&mut self) -> Result<(), SyntaxError> {
        match self.whitespace() {
            Some(_) => Err(self.peek_error(ErrorCode::TrailingCharacters)),
            None => Ok(()),
        }
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    fn whitespace(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes.get(self.pos) {
            if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    /// Consumes the `{` or `[` at `pos`, one level deeper.
    #[inline]
    fn enter(&mut self) -> Result<(), SyntaxError> {
        if self.depth + 1 >= MAX_DEPTH {
            return Err(self.peek_error(ErrorCode::RecursionLimitExceeded));
        }
        self.depth += 1;
        self.pos += 1;
        Ok(())
    }

    /// Consumes the `}` or `]` at `pos`, one level up.
    #[inline]
    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.pos += 1;
    }

    /// An error about the byte at `pos`, not consumed (`serde_json`'s `peek_error`).
    #[cold]
    fn peek_error(&self, code: ErrorCode) -> SyntaxError {
        SyntaxError {
            code,
            at: (self.pos + 1).min(self.bytes.len()),
        }
    }

    /// An error about the byte before `pos`, consumed (`serde_json`'s `error`).
    #[cold]
    fn error(&self, code: ErrorCode) -> SyntaxError {
        SyntaxError { code, at: self.pos }
    }

    /// A string, number or literal at `pos`.
    #[inline(always)]
    fn scalar(&mut self) -> Result<(), SyntaxError> {
        match self.bytes.get(self.pos) {
            Some(b'"') => {
                self.pos += 1;
                self.string().map(|_| ())
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(_) => Err(self.peek_error(ErrorCode::ExpectedSomeValue)),
            None => Err(self.peek_error(ErrorCode::EofWhileParsingValue)),
        }
    }

    /// The rest of a string whose opening quote was consumed, up to and including its closing quote; returns
    /// whether it has escapes.
    #[inline(always)]
    fn string(&mut self) -> Result<bool, SyntaxError> {
        let mut escaped = false;
        loop {
            self.pos = special_byte(self.bytes, self.pos);
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape()?;
                    escaped = true;
                }
                Some(_) => {
                    self.pos += 1;
                    return Err(self.error(ErrorCode::ControlCharacterWhileParsingString));
                }
                None => return Err(self.error(ErrorCode::EofWhileParsingString)),
            }
        }
    }

    /// An escape whose `\` was consumed.
    #[inline(never)]
    fn escape(&mut self) -> Result<(), SyntaxError> {
        let Some(&c) = self.bytes.get(self.pos) else {
            return Err(self.error(ErrorCode::EofWhileParsingString));
        };
        self.pos += 1;
        match c {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(()),
            b'u' => self.unicode_escape(),
            _ => Err(self.error(ErrorCode::InvalidEscape)),
        }
    }

    /// A `\u` escape whose `\u` was consumed: a character, or a leading surrogate followed by a `\u` escape
    /// of a trailing one.
    fn unicode_escape(&mut self) -> Result<(), SyntaxError> {
        let unit = self.hex_escape()?;
        if (0xDC00..=0xDFFF).contains(&unit) {
            return Err(self.error(ErrorCode::LoneLeadingSurrogateInHexEscape));
        }
        if !(0xD800..=0xDBFF).contains(&unit) {
            return Ok(());
        }
        for next in [b'\\', b'u'] {
            match self.bytes.get(self.pos) {
                Some(&b) => {
                    self.pos += 1;
                    if b != next {
                        return Err(self.error(ErrorCode::UnexpectedEndOfHexEscape));
                    }
                }
                None => return Err(self.error(ErrorCode::EofWhileParsingString)),
            }
        }
        if (0xDC00..=0xDFFF).contains(&self.hex_escape()?) {
            Ok(())
        } else {
            Err(self.error(ErrorCode::LoneLeadingSurrogateInHexEscape))
        }
    }

    /// The four hex digits of a `\u` escape.
    fn hex_escape(&mut self) -> Result<u16, SyntaxError> {
        let Some(digits) = self.bytes.get(self.pos..self.pos + 4) else {
            self.pos = self.bytes.len();
            return Err(self.error(ErrorCode::EofWhileParsingString));
        };
        self.pos += 4;
        hex_value(digits).ok_or_else(|| self.error(ErrorCode::InvalidEscape))
    }

    /// A number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, whose value must fit an `f64`.
    #[inline]
    fn number(&mut self) -> Result<(), SyntaxError> {
        let start = self.pos;
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let integer = self.pos;
        match self.bytes.get(self.pos) {
            Some(b'0') => {
                self.pos += 1;
                if self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    return Err(self.peek_error(ErrorCode::InvalidNumber));
                }
            }
            Some(b'1'..=b'9') => {
                self.pos += 1;
                self.digits();
            }
            Some(_) => {
                self.pos += 1;
                return Err(self.error(ErrorCode::InvalidNumber));
            }
            None => return Err(self.error(ErrorCode::EofWhileParsingValue)),
        }
        // Up to 19 digits serde_json holds in a `u64`, and a fraction only divides: the value can be out of
        // range only with more digits or an exponent.
        let mut may_overflow = self.pos - integer > 19;
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(match self.bytes.get(self.pos) {
                    Some(_) => self.peek_error(ErrorCode::InvalidNumber),
                    None => self.peek_error(ErrorCode::EofWhileParsingValue),
                });
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            may_overflow = true;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            match self.bytes.get(self.pos) {
                Some(b'0'..=b'9') => {
                    self.pos += 1;
                    self.digits();
                }
                Some(_) => {
                    self.pos += 1;
                    return Err(self.error(ErrorCode::InvalidNumber));
                }
                None => return Err(self.error(ErrorCode::EofWhileParsingValue)),
            }
        }
        if may_overflow {
            self.check_range(start)?;
        }
        Ok(())
    }

    /// Checks that the number from `start` to `pos` fits an `f64` the way `serde_json` computes it: `serde_json`
    /// reads it, and its error column (the number is one line) is the offset from `start`.
    #[cold]
    fn check_range(&self, start: usize) -> Result<(), SyntaxError> {
        let number = self.text.get(start..self.pos).unwrap_or_default();
        match serde_json::from_str::<serde_json::Value>(number) {
            Ok(_) => Ok(()),
            Err(e) => Err(SyntaxError {
                code: ErrorCode::NumberOutOfRange,
                at: start + e.column(),
            }),
        }
    }

    /// Consumes ASCII digits and returns how many.
    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `true`, `false` or `null` at `pos`.
    #[inline]
    fn literal(&mut self, word: &[u8]) -> Result<(), SyntaxError> {
        // Its first byte is known: compare the last four at once.
        let end = self.pos + word.len();
        let tail = self.bytes.get(end.saturating_sub(4)..end);
        if tail.and_then(|t| t.first_chunk::<4>()) == word.last_chunk::<4>() {
            self.pos = end;
            return Ok(());
        }
        // Find the first wrong byte, as serde_json reads it.
        self.pos += 1;
        for &want in word.iter().skip(1) {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.error(ErrorCode::EofWhileParsingValue));
            };
            self.pos += 1;
            if b != want {
                return Err(self.error(ErrorCode::ExpectedSomeIdent));
            }
        }
        Ok(())
    }
}

/// The offset of the first `"`, `\` or control character at or after `from` (or the length of `bytes`),
/// eight bytes at a time.
#[inline]
fn special_byte(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(chunk);
        // The high bit of a byte is set where it is below 0x20, or equal to `"` or `\` (bytes after the first
        // match may be flagged wrongly by borrows; the first is exact).
        let control = word.wrapping_sub(ONES * 0x20) & !word;
        let quote = word ^ (ONES * u64::from(b'"'));
        let quote = quote.wrapping_sub(ONES) & !quote;
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let backslash = backslash.wrapping_sub(ONES) & !backslash;
        let found = (control | quote | backslash) & HIGH;
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&b) = bytes.get(at) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            break;
        }
        at += 1;
    }
    at
}

/// The value of four hex digits.
fn hex_value(digits: &[u8]) -> Option<u16> {
    digits.iter().try_fold(0u16, |value, &d| {
        let digit = char::from(d).to_digit(16)?;
        Some((value << 4) | digit as u16)
    })
}

/// The value of a validated string's text between its quotes, escapes decoded.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(backslash) = rest.find('\\') {
        out.push_str(rest.get(..backslash).unwrap_or_default());
        let escape = rest.get(backslash + 1..).unwrap_or_default();
        let mut used = 1;
        match escape.as_bytes().first() {
            Some(b'b') => out.push('\u{8}'),
            Some(b'f') => out.push('\u{c}'),
            Some(b'n') => out.push('\n'),
            Some(b'r') => out.push('\r'),
            Some(b't') => out.push('\t'),
            Some(b'u') => {
                let unit = |at: usize| escape.as_bytes().get(at..at + 4).and_then(hex_value);
                let high = u32::from(unit(1).unwrap_or(0xFFFD));
                used = 5;
                let code = if (0xD800..=0xDBFF).contains(&high) {
                    // Validated: a `\u` escape of a trailing surrogate follows.
                    used = 11;
                    let low = u32::from(unit(7).unwrap_or(0xDC00));
                    0x1_0000 + ((high - 0xD800) << 10) + (low.saturating_sub(0xDC00) & 0x3FF)
                } else {
                    high
                };
                out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
            // `"`, `\` and `/` stand for themselves.
            Some(&c) => out.push(char::from(c)),
            None => {}
        }
        rest = escape.get(used..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scanner's verdict on `text`, as text.
    fn scanned(text: &str) -> Result<(), String> {
        scan(text, |s| s.skip_value().map(|_| ())).map_err(|e| e.to_string())
    }

    /// `serde_json`'s verdict on `text`, as text.
    fn serde(text: &str) -> Result<(), String> {
        serde_json::from_str::<serde_json::Value>(text)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The scanner and `serde_json` agree on `text`; returns the verdict.
    fn same(text: &str) -> Result<(), String> {
        let verdict = scanned(text);
        assert_eq!(verdict, serde(text), "on {text:?}");
        verdict
    }

    fn ok(text: &str) {
        assert_eq!(same(text), Ok(()), "on {text:?}");
    }

    fn err(text: &str, message: &str) {
        assert_eq!(same(text), Err(message.to_owned()), "on {text:?}");
    }

    #[test]
    fn numbers() {
        for text in [
            "0",
            "-0",
            "1",
            "-1",
            "10",
            "0.5",
            "-0.5",
            "1e5",
            "1E5",
            "1e+5",
            "1e-5",
            "1.25e-3",
            "0e0",
            "123456789012345678901234567890",
            "1e-400",
            "-1e-400",
            "0e99999999999999999999",
            "18446744073709551615",
            "18446744073709551616",
            "1.7976931348623157e308",
        ] {
            ok(text);
        }
        err("01", "invalid number at line 1 column 2");
        err("-01", "invalid number at line 1 column 3");
        err("1.", "EOF while parsing a value at line 1 column 2");
        err("1.e5", "invalid number at line 1 column 3");
        err("1e", "EOF while parsing a value at line 1 column 2");
        err("1e+", "EOF while parsing a value at line 1 column 3");
        err("1ex", "invalid number at line 1 column 3");
        err("-", "EOF while parsing a value at line 1 column 1");
        err("-a", "invalid number at line 1 column 2");
        err("+1", "expected value at line 1 column 1");
        err(".5", "expected value at line 1 column 1");
        err("1e400", "number out of range at line 1 column 5");
        err("-1e400", "number out of range at line 1 column 6");
        err("[1.8e308]", "number out of range at line 1 column 8");
        err(&"9".repeat(400), "number out of range at line 1 column 400");
        err(
            "1e99999999999999999999",
            "number out of range at line 1 column 12",
        );
        err("1.5.3", "trailing characters at line 1 column 4");
        err("[1 2]", "expected `,` or `]` at line 1 column 4");
    }

    #[test]
    fn escapes() {
        for text in [
            r#""\" \\ \/ \b \f \n \r \t""#,
            r#""\u0041\u00e9\u4e2D""#,
            r#""\uD83D\uDE80""#,
            r#""é ü 中文 🚀""#,
            r#""""#,
        ] {
            ok(text);
        }
        err(r#""\x""#, "invalid escape at line 1 column 3");
        err(r#""\u12G4""#, "invalid escape at line 1 column 7");
        err(r#""\u12""#, "EOF while parsing a string at line 1 column 6");
        err(r#""\"#, "EOF while parsing a string at line 1 column 2");
        err(
            r#""\uD800""#,
            "unexpected end of hex escape at line 1 column 8",
        );
        err(
            r#""\uD800\n""#,
            "unexpected end of hex escape at line 1 column 9",
        );
        err(
            r#""\uD800\u0041""#,
            "lone leading surrogate in hex escape at line 1 column 13",
        );
        err(
            r#""\uDC00""#,
            "lone leading surrogate in hex escape at line 1 column 7",
        );
        err(
            r#""\uD800"#,
            "EOF while parsing a string at line 1 column 7",
        );
        // In a skipped member too, as serde_json parses every string of a `Value`.
        err(
            r#"{"a":"\uDFFF"}"#,
            "lone leading surrogate in hex escape at line 1 column 12",
        );
        err(
            r#"{"\uD800":1}"#,
            "unexpected end of hex escape at line 1 column 9",
        );
    }

    #[test]
    fn control_characters_and_unterminated_strings() {
        err(
            "\"a\u{0}b\"",
            "control character (\\u0000-\\u001F) found while parsing a string at line 1 column 3",
        );
        err(
            "{\"a\":\"\n\"}",
            "control character (\\u0000-\\u001F) found while parsing a string at line 2 column 0",
        );
        err(
            "\"a\u{1f}\"",
            "control character (\\u0000-\\u001F) found while parsing a string at line 1 column 3",
        );
        ok("\"a\u{7f}\"");
        err("\"abc", "EOF while parsing a string at line 1 column 4");
        err(
            "\"abcdefghijklmnop",
            "EOF while parsing a string at line 1 column 17",
        );
    }

    #[test]
    fn literals() {
        for text in ["true", "false", "null", " [true,false,null] "] {
            ok(text);
        }
        err("tru", "EOF while parsing a value at line 1 column 3");
        err("trux", "expected ident at line 1 column 4");
        err("nul", "EOF while parsing a value at line 1 column 3");
        err("fals e", "expected ident at line 1 column 5");
        err("True", "expected value at line 1 column 1");
        err("nulll", "trailing characters at line 1 column 5");
    }

    #[test]
    fn whitespace_is_space_tab_newline_and_return_only() {
        ok(" \t\n\r{ \"a\" \t:\n[ 1 ,\r2 ] } \n");
        err("\u{c}1", "expected value at line 1 column 1");
        err("[1,\u{a0}2]", "expected value at line 1 column 4");
        err("{\n\"a\":\n1\n,}", "trailing comma at line 4 column 2");
        err("[\n\n  1 2]", "expected `,` or `]` at line 3 column 5");
    }

    #[test]
    fn structure() {
        for text in ["{}", "[]", "[[]]", r#"{"a":{}}"#, r#"{"a":1,"a":2}"#] {
            ok(text);
        }
        err("", "EOF while parsing a value at line 1 column 0");
        err("   ", "EOF while parsing a value at line 1 column 3");
        err("1 2", "trailing characters at line 1 column 3");
        err("{} x", "trailing characters at line 1 column 4");
        err("[1,]", "trailing comma at line 1 column 4");
        err(r#"{"a":1,}"#, "trailing comma at line 1 column 8");
        err("[,1]", "expected value at line 1 column 2");
        err("[1,,2]", "expected value at line 1 column 4");
        err("{,}", "key must be a string at line 1 column 2");
        err(r#"{"a":1,2}"#, "key must be a string at line 1 column 8");
        err(r#"{"a" 1}"#, "expected `:` at line 1 column 6");
        err(r#"{"a":1 "b":2}"#, "expected `,` or `}` at line 1 column 8");
        err("{1:2}", "key must be a string at line 1 column 2");
        err("{", "EOF while parsing an object at line 1 column 1");
        err(r#"{"a""#, "EOF while parsing an object at line 1 column 4");
        err(r#"{"a":"#, "EOF while parsing a value at line 1 column 5");
        err(
            r#"{"a":1"#,
            "EOF while parsing an object at line 1 column 6",
        );
        err(r#"{"a":1,"#, "EOF while parsing a value at line 1 column 7");
        err("[", "EOF while parsing a list at line 1 column 1");
        err("[1", "EOF while parsing a list at line 1 column 2");
        err("[1,", "EOF while parsing a value at line 1 column 3");
        err("]", "expected value at line 1 column 1");
        err("[}", "expected value at line 1 column 2");
    }

    #[test]
    fn depth_127_is_accepted_and_128_refused() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        ok(&nested(127));
        err(
            &nested(128),
            "recursion limit exceeded at line 1 column 128",
        );
        let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
        ok(&objects(127));
        err(
            &objects(128),
            "recursion limit exceeded at line 1 column 636",
        );
        // Siblings do not add up.
        ok(&format!("[{}]", vec![nested(126); 300].join(",")));
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_stack_overflow() {
        for open in ["[", "{\"a\":", "[{\"a\":"] {
            let text = open.repeat(100_000);
            assert!(
                scanned(&text)
                    .is_err_and(|e| e.starts_with("recursion limit exceeded at line 1 column")),
                "{open}"
            );
            same(&text).expect_err("too deep");
        }
    }

    #[test]
    fn raw_value_marker_is_left_to_serde_json() {
        ok(r#"{"$serde_json::private::RawValue":"[1,2]"}"#);
        err(
            r#"{"$serde_json::private::RawValue":"[1,2]","b":1}"#,
            "trailing comma at line 1 column 42",
        );
        same(r#"[{"$serde_json::private::RawValue":"[1,"}]"#).expect_err("invalid inside");
        same(r#"{"$serde_json::private::Raw\u0056alue":5}"#).expect_err("not a string");
        ok(r#"{"b":1,"$serde_json::private::RawValue":5}"#);
    }

    #[test]
    fn spans_exclude_whitespace() {
        let text = " \n [ 1 , {\"a\" : [ ] } ] \t";
        let span = scan(text, Scanner::skip_value).expect("valid");
        assert_eq!(text.get(span.0..span.1), Some("[ 1 , {\"a\" : [ ] } ]"));
    }

    #[test]
    fn keys_are_unescaped() {
        let text = r#"{"na\u006De":1,"\uD83D\uDE80\n\"\\\/\b\f\r\t":2,"plain":3}"#;
        let keys = scan(text, |s| {
            assert_eq!(s.open()?, Opened::Object);
            let mut keys = Vec::new();
            while let Some(key) = s.next_key(keys.is_empty())? {
                keys.push(key.as_str().into_owned());
                s.skip_value()?;
            }
            Ok(keys)
        })
        .expect("valid");
        assert_eq!(keys, ["name", "🚀\n\"\\/\u{8}\u{c}\r\t", "plain"]);
    }

    #[test]
    fn special_bytes_are_found_in_every_lane() {
        for len in 0..20 {
            for special in ["\"", "\\", "\u{1}"] {
                let text = format!("{}{special}é", "a".repeat(len));
                assert_eq!(special_byte(text.as_bytes(), 0), len, "{text:?}");
            }
            let text = "é".repeat(len);
            assert_eq!(special_byte(text.as_bytes(), 0), text.len());
        }
    }
}

/// The projected scan against `serde_json`, on arbitrary JSON written with arbitrary whitespace, key order and
/// escapes, on arbitrary damage to it, and on nesting around the depth limit: both accept the same texts (and
/// refuse the others with the same message), and every slot holds what `serde_json` finds at its path.
#[cfg(test)]
mod differential {
    use proptest::prelude::*;
    use proptest::sample::Index;
    use serde_json::Value;

    use crate::model::projection::{Projection, Slot};

    /// Text leaning on what a scanner gets wrong: escapes, control characters, non-ASCII, astral characters.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,10}",
            "[\\x00-\\x1f\"\\\\/a\u{7f}\u{e9}\u{2028}\u{1F680}]{0,6}",
            prop::sample::select(vec!["", "name", "na/me", "~1", "\u{1F680}", "é ü 中文"])
                .prop_map(str::to_owned),
        ]
    }

    /// Object keys: few, so that projections find them, and some that need escaping in a pointer.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-d]",
            1 => prop::sample::select(vec!["", "name", "id", "a/b", "~", "é", "\u{1F680}", "\"q\""])
                .prop_map(str::to_owned),
        ]
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 48, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..5)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    /// Choices for writing a value (whitespace, key order, escapes, number spellings) from a seed.
    struct Noise(u64);

    impl Noise {
        fn below(&mut self, n: u64) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }

        fn whitespace(&mut self, out: &mut String) {
            if self.below(3) == 0 {
                for _ in 0..=self.below(3) {
                    out.push([' ', '\t', '\n', '\r'][self.below(4) as usize]);
                }
            }
        }

        fn write(&mut self, value: &Value, out: &mut String) {
            self.whitespace(out);
            match value {
                Value::Null => out.push_str("null"),
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Number(n) => {
                    out.push_str(&n.to_string());
                    if !n.is_f64() {
                        out.push_str(
                            ["", "", ".0", "e0", "E+00", ".50e-1"][self.below(6) as usize],
                        );
                    }
                }
                Value::String(s) => self.string(s, out),
                Value::Array(items) => {
                    out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        self.write(item, out);
                    }
                    self.whitespace(out);
                    out.push(']');
                }
                Value::Object(members) => {
                    let mut members: Vec<_> = members.iter().collect();
                    for i in (1..members.len()).rev() {
                        members.swap(i, self.below(i as u64 + 1) as usize);
                    }
                    out.push('{');
                    for (i, (key, item)) in members.into_iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        self.whitespace(out);
                        self.string(key, out);
                        self.whitespace(out);
                        out.push(':');
                        self.write(item, out);
                    }
                    self.whitespace(out);
                    out.push('}');
                }
            }
            self.whitespace(out);
        }

        fn string(&mut self, s: &str, out: &mut String) {
            out.push('"');
            for c in s.chars() {
                let short = match c {
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    '\n' => Some('n'),
                    '\t' => Some('t'),
                    '\r' => Some('r'),
                    '\u{8}' => Some('b'),
                    '\u{c}' => Some('f'),
                    '/' if self.below(2) == 0 => Some('/'),
                    _ => None,
                };
                let must = c < ' ' || c == '"' || c == '\\';
                match short {
                    Some(e) if !must || self.below(2) == 0 => {
                        out.push('\\');
                        out.push(e);
                    }
                    _ if must || self.below(6) == 0 => {
                        for unit in c.encode_utf16(&mut [0; 2]) {
                            let hex = format!("\\u{unit:04x}");
                            out.push_str(&if self.below(2) == 0 {
                                hex
                            } else {
                                hex.to_uppercase().replace("\\U", "\\u")
                            });
                        }
                    }
                    _ => out.push(c),
                }
            }
            out.push('"');
        }
    }

    /// Every path in `value`, parents first.
    fn paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(prefix.clone());
        let children: Vec<(String, &Value)> = match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            Value::Object(members) => members.iter().map(|(k, v)| (k.clone(), v)).collect(),
            _ => Vec::new(),
        };
        for (segment, child) in children {
            prefix.push(segment);
            paths(child, prefix, out);
            prefix.pop();
        }
    }

    /// A projection of paths picked from `value` (some bent to be absent or to go through a scalar), each
    /// with its `merge` mark.
    fn projection(
        value: &Value,
        picks: &[(Index, u8, bool)],
    ) -> (Projection, Vec<(Vec<String>, bool)>) {
        let mut all = Vec::new();
        paths(value, &mut Vec::new(), &mut all);
        let mut projection = Projection::new();
        let mut added = Vec::new();
        for (index, bend, merge) in picks {
            let mut path = index.get(&all).clone();
            match bend % 5 {
                1 => path.push("a".to_owned()),
                2 => path.push("0".to_owned()),
                3 if !path.is_empty() => {
                    path.pop();
                    path.push("zz".to_owned());
                }
                _ => {}
            }
            projection.add_path(&path, *merge);
            added.push((path, *merge));
        }
        (projection, added)
    }

    fn pointer(path: &[String]) -> String {
        path.iter().fold(String::new(), |mut out, segment| {
            out.push('/');
            out.push_str(&segment.replace('~', "~0").replace('/', "~1"));
            out
        })
    }

    /// Scans `text` and checks the verdict against `serde_json`; the slots when both accept it.
    fn scan_both(
        text: &str,
        projection: &Projection,
        merge_only: bool,
    ) -> Result<Option<(Vec<Slot>, Value)>, TestCaseError> {
        match (
            projection.scan(text, merge_only),
            serde_json::from_str::<Value>(text),
        ) {
            (Ok(slots), Ok(value)) => Ok(Some((slots, value))),
            (Err(ours), Err(theirs)) => {
                prop_assert_eq!(ours.to_string(), theirs.to_string(), "on {:?}", text);
                Ok(None)
            }
            (ours, theirs) => Err(TestCaseError::fail(format!(
                "on {text:?}: scan {:?}, serde_json {:?}",
                ours.map(|_| ()),
                theirs.map(|_| ())
            ))),
        }
    }

    /// Every slot of `added`'s paths and their parents holds what `serde_json` finds at the path.
    fn check_slots(
        text: &str,
        value: &Value,
        slots: &[Slot],
        projection: &Projection,
        added: &[(Vec<String>, bool)],
        merge_only: bool,
    ) -> Result<(), TestCaseError> {
        for (path, _) in added {
            for len in 0..=path.len() {
                let prefix = &path[..len];
                let slot = projection.slot_of(prefix).expect("a projected path");
                let leaf = added.iter().any(|(p, _)| p == prefix);
                let read = !merge_only
                    || prefix.is_empty()
                    || added.iter().any(|(p, m)| *m && p.starts_with(prefix));
                let target = if read {
                    value.pointer(&pointer(prefix))
                } else {
                    None
                };
                match (slots[slot], target) {
                    (Slot::Span(a, b), Some(target)) if leaf => {
                        let span = &text[a as usize..b as usize];
                        prop_assert_eq!(span.trim_matches([' ', '\t', '\n', '\r']), span);
                        let found: Value = serde_json::from_str(span).expect("a span is JSON");
                        prop_assert_eq!(&found, target, "at {:?} in {:?}", prefix, text);
                    }
                    (slot, target) => {
                        let container = matches!(target, Some(Value::Array(_) | Value::Object(_)));
                        let expected = if container && !leaf {
                            Slot::Container
                        } else {
                            Slot::Absent
                        };
                        prop_assert!(
                            slot == expected && !(leaf && target.is_some()),
                            "at {:?} (leaf: {}) in {:?}: {:?}, serde_json {:?}",
                            prefix,
                            leaf,
                            text,
                            slot,
                            target
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Damages `text`: deletes, inserts structural and tricky pieces, truncates, repeats.
    fn damage(text: &str, ops: &[(u8, Index, Index)]) -> String {
        const PIECES: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "\\",
            " ",
            "0",
            "-",
            "e",
            ".",
            "+",
            "t",
            "null",
            "\u{0}",
            "\n",
            "\\u",
            "\\uD800",
            "\\uDC00",
            "é",
            "1e999",
            "[[[[",
            "}}}}",
            "\"$serde_json::private::RawValue\":",
        ];
        let mut out = text.to_owned();
        for (kind, at, what) in ops {
            let mut at = at.index(out.len() + 1);
            while !out.is_char_boundary(at) {
                at -= 1;
            }
            match kind % 4 {
                0 => {
                    let mut end = (at + 1 + what.index(4)).min(out.len());
                    while !out.is_char_boundary(end) {
                        end += 1;
                    }
                    out.replace_range(at..end, "");
                }
                1 => out.insert_str(at, PIECES[what.index(PIECES.len())]),
                2 => out.truncate(at),
                _ => {
                    let piece = out[at..].chars().take(what.index(8)).collect::<String>();
                    out.insert_str(at, &piece);
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn written_json_scans_like_serde_json(
            value in json(),
            seed in any::<u64>(),
            picks in prop::collection::vec((any::<Index>(), any::<u8>(), any::<bool>()), 1..8),
            merge_only in any::<bool>(),
        ) {
            let mut text = String::new();
            Noise(seed | 1).write(&value, &mut text);
            let (projection, added) = projection(&value, &picks);
            let (slots, parsed) = scan_both(&text, &projection, merge_only)?.expect("written JSON is valid");
            check_slots(&text, &parsed, &slots, &projection, &added, merge_only)?;
        }

        #[test]
        fn damaged_json_is_refused_like_serde_json(
            value in json(),
            seed in any::<u64>(),
            picks in prop::collection::vec((any::<Index>(), any::<u8>(), any::<bool>()), 1..6),
            ops in prop::collection::vec((any::<u8>(), any::<Index>(), any::<Index>()), 1..4),
        ) {
            let mut text = String::new();
            Noise(seed | 1).write(&value, &mut text);
            let (projection, _) = projection(&value, &picks);
            scan_both(&damage(&text, &ops), &projection, false)?;
        }

        #[test]
        fn nesting_around_the_limit_scans_like_serde_json(
            depth in 120usize..135,
            kinds in any::<u128>(),
            read in 0usize..135,
            damaged in any::<bool>(),
        ) {
            let (mut text, mut path) = (String::new(), Vec::new());
            for level in 0..depth {
                let object = kinds >> (level % 128) & 1 == 1;
                text.push_str(if object { "{\"k\":" } else { "[" });
                if level < read {
                    path.push(if object { "k" } else { "0" });
                }
            }
            text.push_str(if damaged { "tru" } else { "true" });
            for level in (0..depth).rev() {
                text.push(if kinds >> (level % 128) & 1 == 1 { '}' } else { ']' });
            }
            let mut projection = Projection::new();
            projection.add_path(&path, true);
            let added = vec![(path.iter().map(|s| (*s).to_owned()).collect(), true)];
            if let Some((slots, parsed)) = scan_both(&text, &projection, true)? {
                check_slots(&text, &parsed, &slots, &projection, &added, true)?;
            }
        }
    }
}
